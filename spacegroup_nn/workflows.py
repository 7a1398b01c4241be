"""Data loading shared by the command line and the benchmarks: a source path becomes splits."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from torch_geometric.data import Data, Dataset

from .data import from_structure
from .datasets import (
    DEFAULT_SYMPREC,
    SYNTHETIC_TARGET,
    CrystalDataset,
    DatasetError,
    Reject,
    ShardedCrystalDataset,
    SyntheticCrystals,
    random_split,
    read_records,
)
from .datasets.readers import ID_PROP, reject
from .errors import StructureError
from .groups.reading import TEXT_FORMAT_PATTERNS, text_format

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = [
    "SYNTHETIC",
    "is_dataset",
    "load_dataset",
    "load_splits",
    "load_structures",
    "load_subsets",
    "split_subset",
]

AnyDataset = CrystalDataset | ShardedCrystalDataset | SyntheticCrystals

#: ``--data synthetic`` selects the built-in set of all 230 groups.
SYNTHETIC = "synthetic"
#: Suffixes of dataset files; any other file is a structure file.
DATASET_SUFFIXES = (".csv", ".json")


def load_dataset(
    source: str | os.PathLike,
    target: str | None,
    *,
    symprec: float = DEFAULT_SYMPREC,
    split: str | os.PathLike | None = None,
    limit: int | None = None,
    cache: str | os.PathLike | None = None,
    num_per_group: int = 5,
    seed: int = 0,
    shard_size: int | None = None,
    log: bool = True,
) -> AnyDataset:
    """The dataset of ``source`` (a path, or ``"synthetic"``), standardized and cached.

    With ``shard_size`` a :class:`~spacegroup_nn.datasets.ShardedCrystalDataset` (shards of
    ``shard_size`` rows on disk, loaded lazily) instead of the in-memory
    :class:`~spacegroup_nn.datasets.CrystalDataset`. ``log`` prints the summary and split
    reports to stderr.
    """
    if str(source) == SYNTHETIC:
        if target not in (None, SYNTHETIC_TARGET):
            raise ValueError(f"the synthetic set has one target, {SYNTHETIC_TARGET!r}, not {target!r}")
        if shard_size is not None:
            raise ValueError("the synthetic set is built in memory; --shard-size needs a dataset source")
        if split is not None:
            raise DatasetError(f"the synthetic set takes no split ({split}); it is split at random by --seed")
        return SyntheticCrystals(cache, num_per_group=num_per_group, seed=seed, log=log)
    if target is None:
        raise ValueError(f"{source}: name the target property with --target")
    if shard_size is not None:
        return ShardedCrystalDataset(
            source, target, cache, symprec, split, limit=limit, shard_size=shard_size, log=log
        )
    return CrystalDataset(source, target, cache, symprec, split, limit=limit, log=log)


def load_subsets(dataset: AnyDataset, seed: int = 0) -> dict[str, Dataset]:
    """Train / val / test views of the dataset (no copy): its split, or a seeded 80/10/10 one."""
    return dataset.splits or dataset.subsets(random_split(list(dataset.ids), seed=seed))


def load_splits(dataset: AnyDataset, seed: int = 0) -> dict[str, list[Data]]:
    """The subsets of :func:`load_subsets` as lists of crystals."""
    return {name: list(subset) for name, subset in load_subsets(dataset, seed).items()}


def split_subset(subsets: Mapping[str, Dataset], name: str, split: str | os.PathLike) -> Dataset:
    """The subset ``name`` of a split.

    Raises
    ------
    DatasetError
        The split has no subset ``name``; the message names ``split`` and lists its subsets.
    """
    if name not in subsets:
        raise DatasetError(f"{split}: no subset {name!r}; the split has {sorted(subsets)}")
    return subsets[name]


def is_dataset(source: str | os.PathLike) -> bool:
    """Whether ``source`` is a dataset rather than structure files.

    A dataset is ``"synthetic"``, a ``.csv`` or ``.json`` file, a folder with an
    ``id_prop.csv`` (CGCNN, ALIGNN), or a folder of CSV or JSON files without structure files
    (CDVAE, mp_elastic). A folder of structure files stays one when other files lie beside
    them (e.g. a ``predictions.csv``): those are rejected as items of the folder.
    """
    path = Path(source)
    if str(source) == SYNTHETIC or path.suffix.lower() in DATASET_SUFFIXES:
        return True
    if not path.is_dir():
        return False
    if (path / ID_PROP).is_file():
        return True
    files = [entry for entry in path.iterdir() if entry.is_file()]
    tables = any(entry.suffix.lower() in DATASET_SUFFIXES for entry in files)
    return tables and not any(text_format(entry) for entry in files)


def load_structures(
    source: str | os.PathLike, symprec: float = DEFAULT_SYMPREC, *, limit: int | None = None
) -> tuple[list[str], list[Data], list[Reject]]:
    """Unlabelled crystals for prediction: a structure file, a folder of them, or a dataset.

    No target is read: rows of a dataset without a label are predicted like the others.

    Parameters
    ----------
    source : str or os.PathLike
        A structure file (any name; CIF and POSCAR as in
        :func:`~spacegroup_nn.groups.reading.read_structure`), a folder of them, or a
        dataset (see :func:`is_dataset`).
    symprec : float
        spglib tolerance in Å of the standardization.
    limit : int, optional
        Use only the first ``limit`` rows of a dataset or entries of a folder (name order).

    Returns
    -------
    ids : list[str]
        The ids of the good items: file names, or the row ids of a dataset.
    crystals : list[Data]
        Their standardized crystals (:func:`~spacegroup_nn.data.from_structure`).
    rejects : list[Reject]
        ``(id, reason)`` of every other item: ``len(ids) + len(rejects)`` is the number of
        items. In a folder, the files that are CIF or POSCAR by name
        (:func:`~spacegroup_nn.groups.reading.text_format`: ``*.cif*``, ``*.mcif*``,
        ``*POSCAR*``, ``*CONTCAR*``, ``*.vasp*``, any case) are read; every other entry is
        rejected with its reason, except hidden ones (names starting with ``.``), which are
        not items.

    Raises
    ------
    StructureError
        A single structure file that cannot be used (the message names it).
    DatasetError
        An unusable dataset source, or a folder without any entries.
    """
    path = Path(source)
    if str(source) == SYNTHETIC:
        dataset = load_dataset(SYNTHETIC, None, log=False)
        ids = list(dataset.ids)[:limit]
        return ids, [dataset[i] for i in range(len(ids))], list(dataset.rejects)
    if is_dataset(path):
        rows = read_records(path, limit=limit)
        return _standardized((r if isinstance(r, Reject) else (r.id, r.structure) for r in rows), symprec)
    if not path.is_dir():
        return [path.name], [from_structure(path, symprec=symprec, name=path.name)], []
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))[:limit]
    if not entries:
        raise DatasetError(f"{path}: an empty folder, no CIF or POSCAR files")
    return _standardized((_structure_file(entry) for entry in entries), symprec)


def _structure_file(path: Path) -> tuple[str, Path] | Reject:
    """``(name, path)`` of a CIF or POSCAR file (by its name), else its :class:`Reject`."""
    if text_format(path) is None:
        patterns = ", ".join(pattern for patterns in TEXT_FORMAT_PATTERNS.values() for pattern in patterns)
        return Reject(path.name, f"not a CIF or POSCAR file: the name matches none of {patterns}")
    return path.name, path


def _standardized(
    items: Iterable[tuple[str, Structure | Path] | Reject], symprec: float
) -> tuple[list[str], list[Data], list[Reject]]:
    """Ids and crystals of the ``(id, structure or file)`` items, and every reject, in order."""
    ids, crystals, rejects = [], [], []
    for item in items:
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        name, structure = item
        try:
            crystals.append(from_structure(structure, symprec=symprec, name=name))
        except StructureError as error:
            rejects.append(reject(name, error))
            continue
        ids.append(name)
    return ids, crystals, rejects
