"""Crystal datasets: readers of common layouts, standardized cached datasets, splits, synthetic set.

Readers (:func:`read_records` and the format-specific ``read_*``) yield ``(id, structure,
targets)`` records and report every rejected row; :class:`CrystalDataset` standardizes and
caches any supported source; :class:`ShardedCrystalDataset` does the same in shards on disk,
loaded lazily, for sources larger than memory; :class:`SyntheticCrystals` is a built-in set
over all 230 space groups labelled with pymatgen's Ewald energy.
"""

from ._base import CachedCrystalDataset, default_cache_dir, write_rejects
from .crystal_dataset import DEFAULT_SYMPREC, CrystalDataset
from .errors import DatasetError
from .readers import (
    CSV_CHUNK_ROWS,
    FORMATS,
    InvalidTarget,
    Record,
    RecordReader,
    Reject,
    detect_format,
    read_alignn,
    read_cgcnn,
    read_csv,
    read_json,
    read_records,
)
from .sharded import ShardedCrystalDataset, ShardSampler
from .splits import SPLIT_NAMES, check_split, load_split, random_split
from .survey import SymmetrySurvey, symmetry_survey
from .synthetic import ANIONS, CATIONS, SYNTHETIC_TARGET, SyntheticCrystals

__all__ = [
    "ANIONS",
    "CATIONS",
    "CSV_CHUNK_ROWS",
    "DEFAULT_SYMPREC",
    "FORMATS",
    "SPLIT_NAMES",
    "SYNTHETIC_TARGET",
    "CachedCrystalDataset",
    "CrystalDataset",
    "DatasetError",
    "InvalidTarget",
    "Record",
    "RecordReader",
    "Reject",
    "ShardSampler",
    "ShardedCrystalDataset",
    "SymmetrySurvey",
    "SyntheticCrystals",
    "check_split",
    "default_cache_dir",
    "detect_format",
    "load_split",
    "random_split",
    "read_alignn",
    "read_cgcnn",
    "read_csv",
    "read_json",
    "read_records",
    "symmetry_survey",
    "write_rejects",
]
