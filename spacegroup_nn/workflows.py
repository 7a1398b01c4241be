"""Data loading shared by the command line and the benchmarks: a source path becomes splits."""

from __future__ import annotations

import os
from pathlib import Path

from torch_geometric.data import Data, Dataset

from .data import from_structure
from .datasets import (
    DEFAULT_SYMPREC,
    SYNTHETIC_TARGET,
    CrystalDataset,
    Reject,
    ShardedCrystalDataset,
    SyntheticCrystals,
    random_split,
)
from .datasets.readers import reject
from .errors import StructureError, StructureParseError

__all__ = ["SYNTHETIC", "load_dataset", "load_splits", "load_structures", "load_subsets"]

AnyDataset = CrystalDataset | ShardedCrystalDataset | SyntheticCrystals

#: ``--data synthetic`` selects the built-in set of all 230 groups.
SYNTHETIC = "synthetic"
STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar")


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


def load_structures(
    source: str | os.PathLike, symprec: float = DEFAULT_SYMPREC
) -> tuple[list[str], list[Data], list[Reject]]:
    """Unlabelled crystals for prediction: one structure file, or a folder of them.

    Returns the ids (file names) and the converted crystals of the good files, and the
    rejected files of a folder (file name, ``"Type: message"``): ``len(ids) + len(rejects)``
    is the number of structure files. A single file that cannot be used raises its typed
    :class:`~spacegroup_nn.errors.StructureError`, naming the file.
    """
    path = Path(source)
    if not path.is_dir():
        return [path.name], [from_structure(path, symprec=symprec, name=path.name)], []
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in STRUCTURE_SUFFIXES or p.name == "POSCAR")
    if not files:
        raise StructureParseError(f"{path}: no CIF or POSCAR files in this folder")
    ids, crystals, rejects = [], [], []
    for file in files:
        try:
            crystals.append(from_structure(file, symprec=symprec, name=file.name))
        except StructureError as error:
            rejects.append(reject(file.name, error))
            continue
        ids.append(file.name)
    return ids, crystals, rejects
