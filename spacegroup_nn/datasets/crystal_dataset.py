"""``CrystalDataset``: any supported source, standardized, cached, with reported rejects."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data
from tqdm.auto import tqdm

from ..data import from_standard_crystal
from ..errors import StructureError
from ..groups import StandardCrystal, standardize
from ._base import CachedCrystalDataset, SplitLike, config_hash, target_array
from .errors import DatasetError
from .readers import RecordReader, Reject, _parse_row, _Row, detect_format, read_records, reject

__all__ = ["DEFAULT_SYMPREC", "CrystalDataset"]

#: Default spglib distance tolerance (Å) for real DFT data; the measurements behind it are in
#: the ``symprec`` entry of :class:`CrystalDataset`.
DEFAULT_SYMPREC = 0.1


class _CrystalSource:
    """Options, cache configuration and reader of a dataset read from a source (shared)."""

    source: Path
    target: str
    format: str
    _reader: RecordReader | None
    _cache_name: str

    def _configure(
        self,
        source: str | os.PathLike,
        target: str,
        symprec: float,
        format: str | None,
        limit: int | None,
        angle_tolerance: float,
        min_distance: float,
        dtype: torch.dtype,
        content_hash: bool,
        num_workers: int,
        progress: bool | None,
        pre_transform: Callable[[Data], Data] | None,
        reader_kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        """Check and store the options; the configuration of the cache key (without ``kind``)."""
        import pymatgen.core
        import spglib

        from .. import __version__

        if not (symprec > 0):
            raise DatasetError(f"symprec must be positive, got {symprec}")
        if limit is not None and limit < 0:
            raise DatasetError(f"limit must be non-negative, got {limit}")
        self.source = Path(source).resolve()
        self.target = target
        self.format = format or detect_format(self.source)
        self.symprec = float(symprec)
        self.angle_tolerance = float(angle_tolerance)
        self.min_distance = float(min_distance)
        self.limit = limit
        self.dtype = dtype
        self.num_workers = num_workers
        self.progress = progress
        self.reader_kwargs = dict(reader_kwargs)
        self._reader = None
        self._cache_name = _safe_name(f"{self.source.stem}-{target}")
        return {
            "version": __version__,
            "spglib": spglib.__version__,
            "pymatgen": getattr(pymatgen.core, "__version__", "?"),
            "source": str(self.source),
            "files": _fingerprint(self.source, self.format, content_hash),
            "format": self.format,
            "reader_kwargs": sorted(self.reader_kwargs.items()),
            "target": target,
            "symprec": self.symprec,
            "angle_tolerance": self.angle_tolerance,
            "min_distance": self.min_distance,
            "dtype": str(dtype),
            "limit": limit,
            "pre_transform": repr(pre_transform),
        }

    @property
    def reader(self) -> RecordReader:
        """The :class:`RecordReader` of the source (made on first use)."""
        if self._reader is None:
            self._reader = read_records(self.source, self.format, limit=self.limit, **self.reader_kwargs)
        return self._reader

    @property
    def _options(self) -> tuple:
        """Options of :func:`_standardize_row`."""
        return (self.target, self.symprec, self.angle_tolerance, self.min_distance)

    def _check_target(self, rows: Sequence[_Row]) -> None:
        """Raise :class:`DatasetError` if no row of the source has the target.

        ``rows`` are the first rows (or all): only when none of them has the target is the
        whole source scanned.
        """
        if not rows or any(self.target in row.targets for row in rows):
            return
        names = self.reader.target_names
        if self.target not in names:
            raise DatasetError(f"{self.source}: no target {self.target!r}; available: {list(names)}")


class CrystalDataset(_CrystalSource, CachedCrystalDataset):
    r"""A crystal dataset read from a file or folder, standardized and cached.

    Every row is parsed with pymatgen, standardized to the canonical setting of its detected
    space group with ``spacegroup_nn.standardize(structure, symprec=symprec, name=id)`` and
    converted with :func:`spacegroup_nn.data.from_standard_crystal`. Rows that cannot be used
    (unparsable structure, missing / NaN / non-numeric target, any
    :class:`~spacegroup_nn.errors.StructureError` such as disorder or overlapping atoms) are
    excluded and listed in :attr:`rejects`; ``num_good + len(rejects) == num_rows`` always,
    and a line ``"N good + M rejected = T rows"`` is printed to stderr (with ``log=True``).

    Parameters
    ----------
    source : str or os.PathLike
        A CSV / JSON file or a folder (see :func:`~spacegroup_nn.datasets.detect_format`).
    target : str
        Name of the target, e.g. ``"heat_ref"``, ``"energy_per_atom"``, ``"log10_K_Voigt"``,
        ``"elasticity.elastic_tensor"``, or ``"target"`` for CGCNN / ALIGNN folders.
    root : str or os.PathLike, optional
        Cache folder; processed files go to ``root/processed``. Default
        ``$SPACEGROUP_NN_CACHE`` or ``~/.cache/spacegroup_nn``.
    symprec : float
        spglib distance tolerance in Å (default :data:`DEFAULT_SYMPREC` = 0.1, the tolerance
        the Materials Project uses for its symmetry labels). The benchmark CIFs are relaxed
        DFT structures written in P1, atoms slightly off their ideal sites (0.007 Å in the
        first perov_5 row). At spglib's 1e-5, 3844 of the 4062 carbon_24 crystals stay in P1
        (2 groups in all); at 0.01, 1400 (50 groups); at 0.1, 414 (48 groups). On
        mp_elastic, 0.1 gives 102 groups (as its README states) and the Materials Project
        crystal system for all 1211 rows (97.5 % at 1e-5, 99.8 % at 0.01, 98.8 % at 0.2);
        perov_5 has its 5 groups from 0.01 on. Reproduce with
        ``python -m spacegroup_nn.datasets.survey PATH``.
    split : path or mapping, optional
        A ``split.json`` path or ``{name: [ids]}``; :attr:`splits` then holds the subsets
        (see :meth:`subsets`).
    format : str, optional
        Force a reader (``"csv"``, ``"json"``, ``"cgcnn"``, ``"alignn"``).
    limit : int, optional
        Use only the first ``limit`` input rows (fast previews and tests).
    angle_tolerance : float
        spglib angle tolerance in degrees; negative selects spglib's default.
    min_distance : float
        Atoms closer than this (Å) are rejected as overlapping (default 0.5).
    dtype : torch.dtype
        Floating dtype of ``pos``, ``frac``, ``cell`` (default float32). ``y`` is float32.
    content_hash : bool
        Key the cache on a sha256 of the source files instead of their size and mtime.
    num_workers : int
        Processes used to parse and standardize (0: in this process).
    progress : bool, optional
        Show a tqdm progress bar; by default only on a terminal.
    transform, pre_transform : callable, optional
        As in PyG (``pre_transform`` runs before caching; its ``repr`` is part of the key).
    log : bool
        Print the summary and split reports to stderr.
    force_reload : bool
        Rebuild even if a cache file exists.
    **reader_kwargs
        Passed to the reader, e.g. ``id_column="id"`` for :func:`read_csv`.

    Attributes
    ----------
    rejects, num_rows, num_good, from_cache, splits, split_missing
        See :class:`~spacegroup_nn.datasets._base.CachedCrystalDataset`.
    source : pathlib.Path
        The resolved source path.
    target : str
        The target name.

    Notes
    -----
    Each item is a ``Data`` with, for a crystal of ``N`` atoms in its standardized
    conventional cell: ``z [N]`` long, ``pos [N, 3]``, ``frac [N, 3]``, ``cell [1, 3, 3]``
    (rows are lattice vectors, Å), ``space_group [1]`` long (the detected group),
    ``y [1]`` float32 (``[1, ...]`` for tensor targets, e.g. ``[1, 6, 6]``), and ``id`` (str).

    The cache key is a sha256 of the library version, the spglib / pymatgen versions, the
    resolved source path with the size and mtime (or content hash) of every source file,
    the format, reader options, target, ``symprec``, ``angle_tolerance``, ``min_distance``,
    ``dtype``, ``limit`` and the ``repr`` of ``pre_transform``.

    Examples
    --------
    >>> data = CrystalDataset("datasets/mp_elastic", "log10_K_Voigt", root="cache",
    ...                       split="datasets/mp_elastic/split.json")  # doctest: +SKIP
    >>> train = data.splits["train"]  # doctest: +SKIP
    """

    def __init__(
        self,
        source: str | os.PathLike,
        target: str,
        root: str | os.PathLike | None = None,
        symprec: float = DEFAULT_SYMPREC,
        split: SplitLike | None = None,
        *,
        format: str | None = None,
        limit: int | None = None,
        angle_tolerance: float = -1.0,
        min_distance: float = 0.5,
        dtype: torch.dtype = torch.float32,
        content_hash: bool = False,
        num_workers: int = 0,
        progress: bool | None = None,
        transform: Callable[[Data], Data] | None = None,
        pre_transform: Callable[[Data], Data] | None = None,
        log: bool = True,
        force_reload: bool = False,
        **reader_kwargs: Any,
    ) -> None:
        config = self._configure(
            source,
            target,
            symprec,
            format,
            limit,
            angle_tolerance,
            min_distance,
            dtype,
            content_hash,
            num_workers,
            progress,
            pre_transform,
            reader_kwargs,
        )
        config["kind"] = "CrystalDataset"
        self._cache_key = config_hash(config)
        super().__init__(
            root, transform=transform, pre_transform=pre_transform, log=log, force_reload=force_reload
        )
        self._set_split(split)

    def build(self) -> tuple[list[Data], list[Reject], int, dict[str, Any]]:
        rows = list(self.reader._iter_rows())
        self._check_target(rows)
        bar = {"total": len(rows), "desc": self._cache_name, "disable": _disable(self.progress)}
        if self.num_workers > 0 and len(rows) > 1:
            with ProcessPoolExecutor(self.num_workers, mp_context=get_context()) as pool:
                chunk = max(1, min(256, len(rows) // (4 * self.num_workers)))
                results = pool.map(_standardize_row, rows, [self._options] * len(rows), chunksize=chunk)
                items = list(tqdm(results, **bar))
        else:
            items = [_standardize_row(row, self._options) for row in tqdm(rows, **bar)]
        data_list, rejects, _ = _to_data(items, self.target, self.dtype, self.pre_transform)
        self._reader = None
        return data_list, rejects, len(rows), {"format": self.format}


def _to_data(
    items: Iterable[tuple[str, StandardCrystal, np.ndarray] | Reject],
    target: str,
    dtype: torch.dtype,
    pre_transform: Callable[[Data], Data] | None,
    shape: tuple[int, ...] | None = None,
) -> tuple[list[Data], list[Reject], tuple[int, ...] | None]:
    """Convert the results of :func:`_standardize_row` to ``Data``, in order.

    Returns ``(data_list, rejects, shape)``: a good row whose target shape differs from
    ``shape`` (by default the shape of the first good row) is rejected.
    """
    data_list: list[Data] = []
    rejects: list[Reject] = []
    first = ""  # the id of the first good row, when it is one of ``items``
    for item in items:
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        row_id, crystal, y = item
        if shape is None:
            shape, first = y.shape, f" ({row_id})"
        if y.shape != shape:
            reason = f"target {target!r} has shape {y.shape}, not {shape} like the first good row{first}"
            rejects.append(Reject(row_id, reason))
            continue
        data = from_standard_crystal(crystal, dtype=dtype)
        data.y = torch.tensor(y, dtype=torch.float32).reshape(1, *y.shape)
        data.id = row_id
        if pre_transform is not None:
            data = pre_transform(data)
        data_list.append(data)
    return data_list, rejects, shape


def _standardize_row(row: _Row, options: tuple) -> tuple[str, StandardCrystal, np.ndarray] | Reject:
    """Parse one row, check its target and standardize it (also runs in worker processes).

    Returns ``(id, crystal, y)`` with ``y`` a float64 array of the target's shape (``()`` for
    scalars), or a :class:`Reject`. No torch objects: they would cross process boundaries
    through shared-memory file descriptors.
    """
    target, symprec, angle_tolerance, min_distance = options
    record = _parse_row(row)
    if isinstance(record, Reject):
        return record
    y = target_array(record.targets, target)
    if isinstance(y, str):
        return Reject(record.id, y)
    try:
        crystal = standardize(
            record.structure,
            symprec=symprec,
            angle_tolerance=angle_tolerance,
            min_distance=min_distance,
            name=record.id,
        )
    except StructureError as error:
        return reject(record.id, error)
    return record.id, crystal, y


def _fingerprint(source: Path, format: str, content_hash: bool) -> list[tuple[str, Any]]:
    """``(name, size, mtime_ns)`` or ``(name, sha256)`` of every file a source may read."""
    if source.is_file():
        files = [source]
    elif format == "csv":
        files = sorted(source.glob("*.csv"))
    elif format == "json":
        files = sorted(p for p in source.glob("*.json") if p.name != "split.json")
    else:
        files = sorted(p for p in source.iterdir() if p.is_file() and p.name != "split.json")
    result: list[tuple[str, Any]] = []
    for file in files:
        if content_hash:
            result.append((file.name, hashlib.sha256(file.read_bytes()).hexdigest()))
        else:
            stat = file.stat()
            result.append((file.name, stat.st_size, stat.st_mtime_ns))
    return result


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]


def _disable(progress: bool | None) -> bool | None:
    """tqdm's ``disable``: ``None`` shows the bar only on a terminal."""
    return None if progress is None else not progress
