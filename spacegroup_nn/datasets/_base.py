"""Machinery shared by the crystal datasets: cache keys, atomic checksummed files, rejects, splits.

Processed files hold plain tensors, lists and dictionaries, and are read with
``torch.load(weights_only=True)`` only: a cache folder is never a way to run code. A file
that does not load that way counts as damaged, and is rebuilt.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data, Dataset, InMemoryDataset
from torch_geometric.data.dataset import files_exist

from .errors import DatasetError
from .readers import InvalidTarget, Reject
from .splits import check_split, load_split

__all__ = ["CachedCrystalDataset", "DatasetReports", "default_cache_dir", "write_rejects"]

# Bump when the content of processed files changes for the same configuration.
# 2: plain {"data": dict, "slices": dict} files instead of PyG's pickled (dict, slices, class)
CACHE_SCHEMA = 2

SplitLike = str | os.PathLike | Mapping[str, Sequence[str]]


def default_cache_dir() -> Path:
    """``$SPACEGROUP_NN_CACHE``, else ``~/.cache/spacegroup_nn``: the default ``root`` of datasets."""
    return Path(os.environ.get("SPACEGROUP_NN_CACHE", Path.home() / ".cache" / "spacegroup_nn"))


def write_rejects(rejects: Sequence[tuple[str, str]], path: str | os.PathLike) -> Path:
    """Write ``(id, reason)`` pairs to a CSV file with header ``id,reason``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "reason"])
        writer.writerows((str(i), str(reason)) for i, reason in rejects)
    return path


def _sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    The rename is atomic on one file system, so a reader (or a second builder of the same
    cache entry) sees either the old file or the complete new one, never a partial file.
    """
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json_atomic(path: str | os.PathLike, content: Any) -> None:
    """Write ``content`` as JSON to ``path`` with :func:`atomic_write`."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(content, indent=1), encoding="utf-8"))


def save_checksummed(data_list: Sequence[Data], path: str | os.PathLike) -> str:
    """Collate ``data_list`` and save it atomically as plain tensors; its sha256.

    The file holds ``{"data": Data.to_dict(), "slices": slices}`` (tensors, strings, lists,
    dictionaries: no class), as :func:`load_collated` reads it. The checksum is taken of the
    temporary file before the rename, so it is the checksum of the bytes this call wrote.
    """
    data, slices = InMemoryDataset.collate(data_list)
    payload = {"data": data.to_dict(), "slices": slices}
    digest: list[str] = []

    def write(tmp: str) -> None:
        torch.save(payload, tmp)
        digest.append(_sha256(tmp))

    atomic_write(path, write)
    return digest[0]


def load_collated(path: str | os.PathLike) -> tuple[Data, dict[str, Any] | None]:
    """The collated ``Data`` and slices of a file written by :func:`save_checksummed`.

    Read with ``torch.load(weights_only=True)``, which never unpickles an object: a file that
    holds anything but tensors and plain containers raises (``pickle.UnpicklingError``), and
    so does a file of another layout (``ValueError``).
    """
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or set(payload) != {"data", "slices"}:
        raise ValueError(f"{Path(path).name} is not a processed dataset file")
    return Data.from_dict(payload["data"]), payload["slices"]


def check_checksum(path: str | os.PathLike, expected: str | None) -> None:
    """Raise ``ValueError`` unless the sha256 of ``path`` is ``expected`` (``OSError`` if missing)."""
    if expected is None or _sha256(path) != expected:
        raise ValueError(f"checksum mismatch of {Path(path).name}")


def config_hash(config: Mapping[str, Any]) -> str:
    """Hex sha256 of a JSON-serializable configuration (keys sorted)."""
    text = json.dumps({**config, "cache_schema": CACHE_SCHEMA}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class SafeProcessing:
    """PyG's processing step without its pickled side files (mixin of the cached datasets).

    PyG's ``Dataset._process`` reads ``processed/pre_transform.pt`` and ``pre_filter.pt``
    with ``torch.load(weights_only=False)``, which runs whatever code a stranger put into
    those files. The ``repr`` of ``pre_transform`` is part of our cache keys, so the files
    are not needed: this version only builds the processed files that are missing.
    """

    force_reload: bool

    def _process(self) -> None:
        if not self.force_reload and files_exist(self.processed_paths):  # type: ignore[attr-defined]
            return
        os.makedirs(self.processed_dir, exist_ok=True)  # type: ignore[attr-defined]
        self.process()  # type: ignore[attr-defined]


class DatasetReports:
    """Reports and splits shared by :class:`CachedCrystalDataset` and the sharded dataset.

    The class using it is a PyG ``Dataset`` that sets ``rejects``, ``num_rows``,
    ``num_good``, ``_cache_name`` and ``_log_enabled`` and implements :meth:`_stored_ids`.
    """

    rejects: list[Reject]
    num_rows: int
    num_good: int
    splits: dict[str, Dataset]
    split_missing: dict[str, list[Reject]]
    _cache_name: str
    _log_enabled: bool

    def _stored_ids(self) -> Sequence[str]:
        """Ids of every crystal of the full dataset, in order."""
        raise NotImplementedError

    def summary(self) -> str:
        """``"N good + M rejected = T rows"`` of the full dataset."""
        return f"{self.num_good} good + {len(self.rejects)} rejected = {self.num_rows} rows"

    def write_rejects(self, path: str | os.PathLike) -> Path:
        """Write :attr:`rejects` as a CSV file ``id,reason``; returns the path."""
        return write_rejects(self.rejects, path)

    @property
    def ids(self) -> list[str]:
        """Ids of the crystals of this (sub)set, in order."""
        stored = self._stored_ids()
        return [stored[i] for i in self.indices()]  # type: ignore[attr-defined]

    # -- Splits ------------------------------------------------------------------------------

    def subsets(self, split: SplitLike | None = None) -> dict[str, Dataset]:
        """The subsets of a split, ``{name: dataset}``, each in the split's id order.

        Parameters
        ----------
        split : path, mapping or None
            A ``split.json`` path (see :func:`~spacegroup_nn.datasets.load_split`) or a
            mapping ``{name: [ids]}``; by default the split given at construction.

        Returns
        -------
        dict[str, Dataset]
            Views made with ``index_select`` (no copy of the data).

        Notes
        -----
        Ids of the split that are not in the dataset are never dropped silently: they are
        listed in :attr:`split_missing` with their reason (the reject reason of the row, or
        ``"not in the source"``) and counted in a printed line per split.
        """
        if split is None:
            if getattr(self, "_split", None) is None:
                raise DatasetError(f"{self._cache_name}: no split given")
            split = self._split
        split = load_split(split) if isinstance(split, (str, os.PathLike)) else check_split(split)
        position = {item: i for i, item in enumerate(self.ids)}
        reasons = {}
        for item, reason in self.rejects:
            reasons.setdefault(item, reason)
        result: dict[str, Dataset] = {}
        missing: dict[str, list[Reject]] = {}
        used = 0
        for name, ids in split.items():
            index = [position[i] for i in ids if i in position]
            missing[name] = [
                Reject(i, f"rejected: {reasons[i]}" if i in reasons else "not in the source")
                for i in ids
                if i not in position
            ]
            used += len(index)
            result[name] = self.index_select(index)
            rejected = sum(1 for r in missing[name] if r.reason.startswith("rejected: "))
            unknown = [r.id for r in missing[name] if not r.reason.startswith("rejected: ")]
            examples = f" (e.g. {', '.join(map(repr, unknown[:3]))})" if unknown else ""
            self._log(
                f"{self._cache_name} split {name!r}: {len(index)} of {len(ids)} ids kept, "
                f"{rejected} rejected, {len(unknown)} not in the source{examples}"
            )
        if used < len(position):
            self._log(f"{self._cache_name}: {len(position) - used} crystals are in no split")
        self.split_missing = missing
        return result

    def _set_split(self, split: SplitLike | None) -> None:
        self._split = split
        if split is not None:
            self.splits = self.subsets(split)

    def _log(self, message: str) -> None:
        if self._log_enabled:
            print(message, file=sys.stderr)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)})"  # type: ignore[arg-type]


class CachedCrystalDataset(SafeProcessing, DatasetReports, InMemoryDataset):
    """Base class: an ``InMemoryDataset`` cached under a configuration hash, with rejects.

    Subclasses set ``self._cache_name`` and ``self._cache_key`` before calling
    ``super().__init__`` and implement :meth:`build`. Processed files are
    ``root/processed/<name>-<key>.pt`` (the collated data) and ``<name>-<key>.json`` (rejects
    and counts); a configuration change gives a new key, hence a new file. The data file is
    read with ``torch.load(weights_only=True)`` only (see :func:`load_collated`); a file that
    fails its checksum or that load is rebuilt, never unpickled.

    Attributes
    ----------
    rejects : list[Reject]
        ``(id, reason)`` of every input row that was excluded, in input order.
    num_rows : int
        Number of input rows: ``num_good + len(rejects)``.
    num_good : int
        Number of crystals kept (the length of the full dataset).
    from_cache : bool
        ``True`` when this instance loaded processed files instead of building them.
    splits : dict[str, Dataset]
        The subsets of the ``split`` given at construction (empty without one).
    split_missing : dict[str, list[Reject]]
        Ids of the last :meth:`subsets` call that are not in the dataset, with the reason
        (the row's reject reason, or ``"not in the source"``), per split name.
    """

    _cache_name: str
    _cache_key: str

    def __init__(
        self,
        root: str | os.PathLike | None,
        *,
        transform: Any = None,
        pre_transform: Any = None,
        log: bool = True,
        force_reload: bool = False,
    ) -> None:
        self.from_cache = True
        self._log_enabled = log
        root = default_cache_dir() if root is None else Path(root)
        super().__init__(os.fspath(root), transform, pre_transform, log=log, force_reload=force_reload)
        meta = self._load_verified()
        self.rejects: list[Reject] = [Reject(str(i), str(reason)) for i, reason in meta["rejects"]]
        self.num_rows: int = int(meta["num_rows"])
        self.num_good: int = int(meta["num_good"])
        self.meta: dict[str, Any] = meta.get("extra", {})
        self.splits: dict[str, Dataset] = {}
        self.split_missing: dict[str, list[Reject]] = {}
        self._log(f"{self._cache_name}: {self.summary()}" + (" (cached)" if self.from_cache else ""))

    # -- PyG hooks ---------------------------------------------------------------------------

    @property
    def raw_file_names(self) -> list[str]:
        return []

    @property
    def processed_file_names(self) -> list[str]:
        stem = f"{self._cache_name}-{self._cache_key[:20]}"
        return [f"{stem}.pt", f"{stem}.json"]

    def process(self) -> None:
        self.from_cache = False
        data_list, rejects, num_rows, extra = self.build()
        if len(data_list) + len(rejects) != num_rows:
            raise RuntimeError(
                f"internal error: {len(data_list)} good + {len(rejects)} rejected != {num_rows} rows"
            )
        if not num_rows:
            raise DatasetError(f"{self._cache_name}: the source has no rows")
        if not data_list:
            preview = "; ".join(f"{i}: {reason}" for i, reason in rejects[:3])
            raise DatasetError(f"{self._cache_name}: all {num_rows} rows were rejected ({preview} ...)")
        data_path, meta_path = self.processed_paths
        meta = {
            "sha256": save_checksummed(data_list, data_path),
            "rejects": [list(r) for r in rejects],
            "num_rows": num_rows,
            "num_good": len(data_list),
            "extra": extra,
        }
        write_json_atomic(meta_path, meta)

    def _load_verified(self) -> dict[str, Any]:
        """Load the processed files; rebuild them once if they are corrupt, truncated or unsafe."""
        data_path, meta_path = self.processed_paths
        try:
            meta = json.loads(Path(meta_path).read_text(encoding="utf-8"))
            check_checksum(data_path, meta.get("sha256"))
            self.data, self.slices = load_collated(data_path)
        except Exception as error:  # any damage to the cache means: build it again
            self._log(
                f"{self._cache_name}: cache in {Path(data_path).parent} is damaged ({error}); rebuilding"
            )
            self.process()
            meta = json.loads(Path(meta_path).read_text(encoding="utf-8"))
            self.data, self.slices = load_collated(data_path)
        return meta

    def build(self) -> tuple[list[Data], list[Reject], int, dict[str, Any]]:
        """``(data_list, rejects, num_rows, extra)``; ``extra`` is stored as ``self.meta``."""
        raise NotImplementedError

    def _stored_ids(self) -> Sequence[str]:
        stored = self._data.id
        return [stored] if isinstance(stored, str) else list(stored)


def target_array(targets: Mapping[str, Any], name: str) -> np.ndarray | str:
    """float64 array of a target value (shape ``()`` for numbers), or the reason it is unusable.

    Unusable: missing, an :class:`InvalidTarget`, text, NaN, empty, non-finite, or beyond the
    float32 range of the stored ``y``.
    """
    if name not in targets:
        return f"no value for target {name!r}"
    value = targets[name]
    if isinstance(value, InvalidTarget):
        return value.reason
    if isinstance(value, str):
        return f"target {name!r} is not a number ({value[:40]!r})"
    if isinstance(value, float) and math.isnan(value):
        return f"target {name!r} is NaN"
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return f"target {name!r} is not a number or a rectangular array of numbers"
    if array.size == 0:
        return f"target {name!r} is empty"
    if not np.isfinite(array).all():
        return f"target {name!r} has non-finite values"
    if np.abs(array).max() > np.finfo(np.float32).max:  # y is stored as float32: it would be inf
        return f"target {name!r} has values beyond the float32 range (|y| = {np.abs(array).max():.3g})"
    return array
