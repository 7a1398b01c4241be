"""``ShardedCrystalDataset``: a crystal dataset processed in shards, stored on disk, loaded lazily."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler
from torch_geometric.data import Data, Dataset, InMemoryDataset
from tqdm.auto import tqdm

from ._base import (
    DatasetReports,
    SafeProcessing,
    SplitLike,
    check_checksum,
    config_hash,
    default_cache_dir,
    load_collated,
    save_checksummed,
    write_json_atomic,
)
from .crystal_dataset import DEFAULT_SYMPREC, _CrystalSource, _disable, _standardize_row, _to_data
from .errors import DatasetError
from .readers import Reject, _Row

__all__ = ["ShardSampler", "ShardedCrystalDataset", "shard_order"]


class ShardedCrystalDataset(_CrystalSource, SafeProcessing, DatasetReports, Dataset):
    r"""A crystal dataset processed in shards of ``shard_size`` input rows, loaded lazily.

    The same items, rejects and cache key options as
    :class:`~spacegroup_nn.datasets.CrystalDataset` (item ``i`` of both is the same
    ``Data``), for sources too large to hold in memory. The input rows are streamed (see
    :mod:`~spacegroup_nn.datasets.readers`; JSON sources are the exception, read whole) and
    cut into shards of ``shard_size`` consecutive rows; each shard is standardized,
    collated and saved on its own (``shard-000000.pt``, with its checksum, ids and rejects
    in ``shard-000000.json``), so no process ever holds more than one shard of processed
    data. A ``manifest.json`` is written once every shard is done. Items are read from the
    shards on demand, with the last ``cache_shards`` shards kept in memory.

    Guarantees (as for the in-memory datasets):

    * every rejected row is listed with its id and reason (:attr:`rejects`), and
      ``num_good + len(rejects) == num_rows``;
    * the cache entry is keyed by the library version and every parameter, including
      ``shard_size``; each shard is checksummed (sha256) and rebuilt when it is missing,
      truncated or corrupted (checked when the dataset is opened, by size, and when a shard
      is loaded, by checksum);
    * shards are read with ``torch.load(weights_only=True)`` only: a file that needs
      unpickling is never executed, it counts as damaged and is rebuilt;
    * all writes are atomic (temporary file, then rename), so two processes building the
      same entry both end with a valid cache;
    * processing resumes after an interruption: shards completed (and verified) are kept.

    Parameters
    ----------
    source, target, root, symprec, split
        As in :class:`~spacegroup_nn.datasets.CrystalDataset`.
    shard_size : int
        Input rows per shard (default 1000; a shard of CDVAE-size crystals is about
        1-2 MB on disk).
    cache_shards : int
        Shards kept in memory by the item cache (least recently used first out; default 2).
    num_workers : int
        Processes that build shards in parallel (0: in this process). At most
        ``2 * num_workers`` shards of raw input rows wait in the queue. A ``pre_transform``
        must be picklable to run in workers.
    format, limit, angle_tolerance, min_distance, dtype, content_hash, progress
        As in :class:`~spacegroup_nn.datasets.CrystalDataset`.
    transform, pre_transform, log, force_reload, **reader_kwargs
        As in :class:`~spacegroup_nn.datasets.CrystalDataset`.

    Attributes
    ----------
    rejects, num_rows, num_good, from_cache, splits, split_missing
        As in :class:`~spacegroup_nn.datasets.CrystalDataset`.
    num_shards : int
        Number of shards (``ceil(num_rows / shard_size)``).
    shard_dir : pathlib.Path
        The folder of the shards and the manifest, ``root/processed/<name>-<key>``.

    Notes
    -----
    ``spacegroup_nn.training.fit`` (and ``spacegroup-nn train --shard-size N``) trains on
    this dataset or its splits without holding them in memory: it iterates a
    ``torch_geometric.loader.DataLoader`` with a :class:`ShardSampler`, which shuffles
    shards and the crystals within each shard, so that every shard is loaded once per
    epoch instead of once per item, and evaluates shard by shard.
    """

    def __init__(
        self,
        source: str | os.PathLike,
        target: str,
        root: str | os.PathLike | None = None,
        symprec: float = DEFAULT_SYMPREC,
        split: SplitLike | None = None,
        *,
        shard_size: int = 1000,
        cache_shards: int = 2,
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
        if shard_size < 1:
            raise DatasetError(f"shard_size must be at least 1, got {shard_size}")
        if cache_shards < 1:
            raise DatasetError(f"cache_shards must be at least 1, got {cache_shards}")
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
        config.update(kind="ShardedCrystalDataset", shard_size=int(shard_size))
        self._cache_key = config_hash(config)
        self.shard_size = int(shard_size)
        self.cache_shards = int(cache_shards)
        self.from_cache = True
        self._log_enabled = log
        self._cache: OrderedDict[int, InMemoryDataset] = OrderedDict()
        self._ids: list[str] | None = None
        self._resume = not force_reload  # force_reload rebuilds the completed shards too
        root = default_cache_dir() if root is None else Path(root)
        super().__init__(os.fspath(root), transform, pre_transform, log=log, force_reload=force_reload)
        manifest = self._open()
        self.num_rows: int = int(manifest["num_rows"])
        self.num_good: int = int(manifest["num_good"])
        self.num_shards: int = len(manifest["shards"])
        self.rejects: list[Reject] = [Reject(str(i), str(reason)) for i, reason in manifest["rejects"]]
        self.meta: dict[str, Any] = manifest.get("extra", {})
        self._manifest = manifest
        counts = [shard["num_good"] for shard in manifest["shards"]]
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.splits: dict[str, Dataset] = {}
        self.split_missing: dict[str, list[Reject]] = {}
        cached = " (cached)" if self.from_cache else ""
        self._log(f"{self._cache_name}: {self.summary()} in {self.num_shards} shards{cached}")
        self._set_split(split)

    # -- PyG hooks ---------------------------------------------------------------------------

    @property
    def raw_file_names(self) -> list[str]:
        return []

    @property
    def processed_file_names(self) -> list[str]:
        return [f"{self._cache_name}-{self._cache_key[:20]}/manifest.json"]

    @property
    def shard_dir(self) -> Path:
        return Path(self.processed_paths[0]).parent

    def len(self) -> int:
        return self.num_good

    def get(self, idx: int) -> Data:
        shard = int(np.searchsorted(self._starts, idx, side="right")) - 1
        return self._shard(shard)[int(idx - self._starts[shard])]

    def process(self) -> None:
        """Build every shard that is not complete yet, then write the manifest."""
        self.from_cache = False
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        summaries: dict[int, dict[str, Any]] = {}
        bar = tqdm(desc=self._cache_name, unit=" rows", disable=_disable(self.progress))
        shape: list[tuple[int, ...] | None] = []  # the reference target shape, found when needed

        def tasks() -> Iterator[tuple]:
            for index, rows in enumerate(_batches(self.reader._iter_rows(), self.shard_size)):
                if index == 0:
                    self._check_target(rows)
                done = self._completed(index, len(rows)) if self._resume else None
                if done is not None:
                    collect(done)
                    continue
                if not shape:
                    shape.append(self._reference_shape())
                yield (index, rows, self._options, self.dtype, self.pre_transform, shape[0], self.shard_dir)

        def collect(summary: dict[str, Any]) -> None:
            summaries[summary["index"]] = summary
            bar.update(summary["num_rows"])

        with bar:
            if self.num_workers > 0:
                with ProcessPoolExecutor(self.num_workers, mp_context=get_context()) as pool:
                    pending: set[Future] = set()
                    for task in tasks():
                        while len(pending) >= 2 * self.num_workers:
                            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                            for future in finished:
                                collect(future.result())
                        pending.add(pool.submit(_process_shard, task))
                    for future in wait(pending)[0]:
                        collect(future.result())
            else:
                for task in tasks():
                    collect(_process_shard(task))
        self._reader = None
        self._resume = True
        self._write_manifest([summaries[k] for k in range(len(summaries))], shape[0] if shape else None)

    # -- Shards ------------------------------------------------------------------------------

    def _paths(self, index: int) -> tuple[Path, Path]:
        stem = self.shard_dir / f"shard-{index:06d}"
        return stem.with_suffix(".pt"), stem.with_suffix(".json")

    def _completed(self, index: int, num_rows: int) -> dict[str, Any] | None:
        """The summary of a shard already built and intact, else ``None``."""
        data_path, meta_path = self._paths(index)
        try:
            summary = json.loads(meta_path.read_text(encoding="utf-8"))
            if summary["num_rows"] != num_rows:
                return None
            if summary["num_good"]:
                check_checksum(data_path, summary["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return summary

    def _reference_shape(self) -> tuple[int, ...] | None:
        """Target shape of the first good row of the source (the rule of ``CrystalDataset``)."""
        for row in self.reader._iter_rows():
            item = _standardize_row(row, self._options)
            if not isinstance(item, Reject):
                return tuple(item[2].shape)
        return None

    def _write_manifest(self, summaries: list[dict[str, Any]], shape: tuple[int, ...] | None) -> None:
        num_rows = sum(s["num_rows"] for s in summaries)
        num_good = sum(s["num_good"] for s in summaries)
        rejects = [r for s in summaries for r in s["rejects"]]
        if num_good + len(rejects) != num_rows:
            raise RuntimeError(
                f"internal error: {num_good} good + {len(rejects)} rejected != {num_rows} rows"
            )
        if not num_good:
            preview = "; ".join(f"{i}: {reason}" for i, reason in rejects[:3])
            raise DatasetError(f"{self._cache_name}: all {num_rows} rows were rejected ({preview} ...)")
        if shape is None:  # every shard was complete: take the shape they were built with
            shape = next(tuple(s["target_shape"]) for s in summaries if s["target_shape"] is not None)
        shards = [{k: s[k] for k in ("num_rows", "num_good", "bytes")} for s in summaries]
        manifest = {
            "shard_size": self.shard_size,
            "num_rows": num_rows,
            "num_good": num_good,
            "target_shape": list(shape),
            "shards": shards,
            "rejects": rejects,
            "extra": {"format": self.format},
        }
        write_json_atomic(self.processed_paths[0], manifest)

    def _open(self) -> dict[str, Any]:
        """Read the manifest; resume the build if it or any shard is missing or has the wrong size."""
        try:
            manifest = json.loads(Path(self.processed_paths[0]).read_text(encoding="utf-8"))
            for index, shard in enumerate(manifest["shards"]):
                data_path, meta_path = self._paths(index)
                size = data_path.stat().st_size if shard["num_good"] else 0
                if not meta_path.is_file() or size != shard["bytes"]:
                    raise ValueError(f"shard {index} is missing or truncated")
        except Exception as error:  # any damage to the cache means: build what is missing again
            self._log(f"{self._cache_name}: cache in {self.shard_dir} is damaged ({error}); rebuilding")
            self.process()
            manifest = json.loads(Path(self.processed_paths[0]).read_text(encoding="utf-8"))
        return manifest

    def _shard(self, index: int) -> InMemoryDataset:
        """Shard ``index`` from the LRU cache, loading (and if need be rebuilding) it."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        data_path, meta_path = self._paths(index)
        shard = InMemoryDataset()
        try:
            check_checksum(data_path, json.loads(meta_path.read_text(encoding="utf-8"))["sha256"])
            shard.data, shard.slices = load_collated(data_path)
        except Exception as error:  # corrupt, truncated or unsafe (never unpickled)
            self._log(f"{self._cache_name}: shard {index} is damaged ({error}); rebuilding it")
            self._rebuild(index)
            shard.data, shard.slices = load_collated(data_path)
        self._cache[index] = shard
        while len(self._cache) > self.cache_shards:
            self._cache.popitem(last=False)
        return shard

    def _rebuild(self, index: int) -> None:
        """Build shard ``index`` again from its rows of the source; it must come out the same."""
        self.from_cache = False
        expected = self._manifest["shards"][index]
        rows = list(islice(self.reader._iter_rows(), index * self.shard_size, (index + 1) * self.shard_size))
        shape = tuple(self._manifest["target_shape"])
        task = (index, rows, self._options, self.dtype, self.pre_transform, shape, self.shard_dir)
        summary = _process_shard(task)
        if (summary["num_rows"], summary["num_good"]) != (expected["num_rows"], expected["num_good"]):
            raise DatasetError(
                f"{self._cache_name}: shard {index} rebuilt from {self.source} differs from the cache "
                "(the source changed?); use force_reload=True"
            )

    def _stored_ids(self) -> list[str]:
        if self._ids is None:
            ids: list[str] = []
            for index, shard in enumerate(self._manifest["shards"]):
                if shard["num_good"]:
                    meta = json.loads(self._paths(index)[1].read_text(encoding="utf-8"))
                    ids += meta["ids"]
            self._ids = ids
        return self._ids

    def shard_of(self, positions: Iterable[int] | None = None) -> np.ndarray:
        """Shard index of each position of this (sub)set (default: all), ``int64``."""
        indices = np.asarray(self.indices(), dtype=np.int64)
        if positions is not None:
            indices = indices[np.asarray(list(positions), dtype=np.int64)]
        return np.searchsorted(self._starts, indices, side="right") - 1

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers under "spawn" pickle the dataset: not the reader (it holds
        # generator functions) nor the loaded shards.
        state = self.__dict__.copy()
        state.update(_reader=None, _cache=OrderedDict())
        return state


class ShardSampler(Sampler[int]):
    """Random order that reads one shard at a time: shards shuffled, then crystals within each.

    With a :class:`ShardedCrystalDataset` (or a subset of it) a plain random sampler loads a
    shard for nearly every item; this sampler loads each shard once per epoch and still
    gives a fresh random order every epoch.

    Parameters
    ----------
    dataset : ShardedCrystalDataset
        The dataset or one of its subsets (``dataset.splits["train"]``).
    shuffle : bool
        Shuffle (default); otherwise the dataset order.
    seed : int
        Epoch ``e`` uses ``numpy.random.default_rng([seed, e])``; the epoch counts the
        iterations, or is set with :meth:`set_epoch`.
    num_replicas, rank : int
        For distributed training (as ``DistributedSampler``): every rank draws the same
        order of the epoch, padded by repeating its start to a multiple of
        ``num_replicas``, and takes the positions ``rank, rank + num_replicas, ...``
        (default: one replica, every item once).

    Examples
    --------
    >>> loader = DataLoader(data, batch_size=64, sampler=ShardSampler(data))  # doctest: +SKIP
    """

    def __init__(
        self,
        dataset: ShardedCrystalDataset,
        shuffle: bool = True,
        seed: int = 0,
        *,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in 0..{num_replicas - 1}, got {rank}")
        self.shards = dataset.shard_of()
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.num_replicas = num_replicas
        self.rank = rank

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch`` on the next iteration."""
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.shards) // self.num_replicas)

    def __iter__(self) -> Iterator[int]:
        order = np.resize(self._epoch_order(), len(self) * self.num_replicas)
        yield from (int(i) for i in order[self.rank :: self.num_replicas])

    def _epoch_order(self) -> np.ndarray:
        """``(N,)`` int64 positions of one epoch (and advance the epoch when shuffling)."""
        if not self.shuffle:
            return np.arange(len(self.shards))
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        order = shard_order(self.shards)
        bounds = np.flatnonzero(np.diff(self.shards[order])) + 1
        groups = np.split(order, bounds) if len(order) else []
        shuffled = [rng.permutation(groups[i]) for i in rng.permutation(len(groups))]
        return np.concatenate(shuffled) if shuffled else order


def shard_order(shards: np.ndarray) -> np.ndarray:
    """Positions ``(N,)`` int64 that sort the shard indices ``shards`` (stable): one shard at a time."""
    return np.argsort(shards, kind="stable")


def _batches(rows: Iterator[_Row], size: int) -> Iterator[list[_Row]]:
    """Consecutive lists of ``size`` rows (the last may be shorter)."""
    while batch := list(islice(rows, size)):
        yield batch


def _process_shard(task: tuple) -> dict[str, Any]:
    """Standardize, convert, collate and save one shard (also runs in worker processes).

    Writes ``shard-<index>.pt`` (when a row is good) and ``shard-<index>.json``, both
    atomically, the JSON last; returns the summary (counts, rejects, checksum).
    """
    index, rows, options, dtype, pre_transform, shape, directory = task
    items = [_standardize_row(row, options) for row in rows]
    data_list, rejects, _ = _to_data(items, options[0], dtype, pre_transform, shape)
    data_path = Path(directory) / f"shard-{index:06d}.pt"
    summary: dict[str, Any] = {
        "index": index,
        "num_rows": len(rows),
        "num_good": len(data_list),
        "rejects": [list(r) for r in rejects],
        "target_shape": None if shape is None else list(shape),
        "sha256": save_checksummed(data_list, data_path) if data_list else None,
        "bytes": data_path.stat().st_size if data_list else 0,
    }
    write_json_atomic(data_path.with_suffix(".json"), {**summary, "ids": [data.id for data in data_list]})
    return summary
