"""Training, checkpoints, prediction and evaluation for crystal property models.

One loop serves every model in :data:`MODELS`, so baselines and our models get the same
splits, epochs, optimizer and target normalization. Checkpoints are plain dictionaries of
tensors and numbers, written atomically and read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler, RandomSampler, Sampler
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from tqdm.auto import tqdm

from . import __version__
from .data import with_radius_graphs
from .datasets import DatasetError, ShardedCrystalDataset, ShardSampler
from .datasets.sharded import shard_order
from .diagnostics import random_description, symmetry_loss
from .errors import SpacegroupNNError
from .nn import CrystalGraphNetwork, SpaceGroupTransformer

__all__ = [
    "MODELS",
    "CheckpointError",
    "DivergenceError",
    "GraphCache",
    "TrainConfig",
    "build_model",
    "deterministic",
    "evaluate",
    "fit",
    "is_main_process",
    "load_checkpoint",
    "mean_absolute_error",
    "predict",
    "predictions",
    "save_checkpoint",
]

CHECKPOINT = "best.pt"
LAST = "last.pt"
METRICS = "metrics.json"

#: Crystals for training and evaluation: a sequence or any map-style dataset of ``Data``.
Crystals = Sequence[Data] | Dataset

#: Share of crystals that train without their group inputs at each step (``group_dropout`` of
#: :class:`~spacegroup_nn.nn.AtomEncoder`), for every model that has them: it lowered the
#: held-out error of the zero-shot protocol on carbon_24 (docs/benchmarks.md).
GROUP_DROPOUT = 0.5
#: Model name -> constructor taking ``out_channels``.
MODELS: dict[str, Callable[[int], nn.Module]] = {
    # ours: normalizer-invariant symmetrized features, weights shared by all groups
    "transformer": lambda out: SpaceGroupTransformer(out_channels=out, group_dropout=GROUP_DROPOUT),
    # CGCNN with the settings of Xie & Grossman 2018 (12 nearest neighbours), with and without
    # our symmetrized features as extra atom inputs
    "cgcnn_fourier": lambda out: CrystalGraphNetwork(
        out_channels=out, fourier=True, max_neighbors=12, smooth=False, group_dropout=GROUP_DROPOUT
    ),
    # baselines
    "cgcnn": lambda out: CrystalGraphNetwork(out_channels=out, fourier=False, max_neighbors=12, smooth=False),
    "transformer_raw": lambda out: SpaceGroupTransformer(
        out_channels=out, invariance="none", group_dropout=GROUP_DROPOUT
    ),
    "transformer_onehot": lambda out: SpaceGroupTransformer(
        out_channels=out, invariance="group", group_embedding=True, group_dropout=GROUP_DROPOUT
    ),
}


#: Suffix of a model name trained with random-description augmentation (``TrainConfig.augment``).
AUGMENTED = "_augmented"


class CheckpointError(SpacegroupNNError, ValueError):
    """A checkpoint is missing, unreadable, or from another version or configuration."""


class DivergenceError(SpacegroupNNError, ValueError):
    """Training produced a non-finite loss or validation MAE (e.g. a learning rate too high)."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in every checkpoint).

    Attributes
    ----------
    model : str
        A key of :data:`MODELS`.
    target : str
        Name of the target property (for the record).
    epochs, batch_size, lr, weight_decay, seed : int, int, float, float, int
        Optimization settings: AdamW with cosine decay, L1 loss on normalized targets.
    augment : bool
        Put every crystal in a random equivalent description at every step: a random
        element of its group's Euclidean normalizer (an operation of the group, another
        origin or axis setting) and a random shift along free axes
        (:func:`spacegroup_nn.diagnostics.random_description`). The augmentation baseline;
        a no-op for exactly invariant models. Operations of the group alone would change
        nothing for a periodic model that reads atoms as a set: they only permute atoms.
    symmetry_weight : float
        Weight λ of the soft invariance penalty
        (:func:`spacegroup_nn.diagnostics.symmetry_loss` over random equivalent
        descriptions, one per crystal and step, on normalized outputs) added to the L1 loss;
        0 turns it off (zero for exactly invariant models).
    target_mean, target_std : float
        Target normalization, set from the training split by :func:`fit`.
    """

    model: str = "transformer"
    target: str = "y"
    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-5
    seed: int = 0
    augment: bool = False
    symmetry_weight: float = 0.0
    target_mean: float = 0.0
    target_std: float = 1.0

    @classmethod
    def for_model(cls, name: str, **fields: object) -> TrainConfig:
        """The config of a benchmark model name: a key of :data:`MODELS`, or one with the
        suffix ``_augmented`` (that model with ``augment=True``)."""
        augmented = name.endswith(AUGMENTED)
        return cls(model=name.removesuffix(AUGMENTED), augment=augmented, **fields)

    @property
    def name(self) -> str:
        """The benchmark model name of this config, the one :meth:`for_model` reads."""
        return self.model + AUGMENTED if self.augment else self.model

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {sorted(MODELS)}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs and batch_size must be >= 1 and lr > 0")
        if not self.symmetry_weight >= 0:
            raise ValueError(f"symmetry_weight must be >= 0, got {self.symmetry_weight}")


def build_model(config: TrainConfig) -> nn.Module:
    """A freshly initialized model for ``config`` (seeded by ``config.seed``)."""
    torch.manual_seed(config.seed)
    return MODELS[config.model](1)


def _atomic_save(payload: dict, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def save_checkpoint(model: nn.Module, config: TrainConfig, path: Path, **info: float) -> None:
    """Write ``model``'s weights, the config and ``info`` atomically to ``path``."""
    payload = {"version": __version__, "config": asdict(config), "state_dict": model.state_dict(), **info}
    _atomic_save(payload, path)


def load_checkpoint(directory: str | os.PathLike) -> tuple[nn.Module, TrainConfig]:
    """The best model of a training directory, in eval mode, and its config.

    Raises
    ------
    CheckpointError
        If the checkpoint is missing or unreadable, was written by another library version,
        or does not match its configuration.
    """
    path = Path(directory) / CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint (train a model with `spacegroup-nn train` first)")
    payload = _read_checked(path)
    config = TrainConfig(**_known_fields(payload["config"]))
    model = build_model(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not fit model {config.model!r}: {error}") from None
    return model.eval(), config


@torch.no_grad()
def _predict_normalized(model: nn.Module, data: Crystals, batch_size: int) -> Tensor:
    model.eval()
    device = next(model.parameters()).device
    return _in_order(data, batch_size, lambda batch: model(batch.to(device)).view(-1).cpu())


def _targets(data: Crystals, target: str = "y", batch_size: int = 256) -> Tensor:
    """The targets of ``data`` in its order, ``(N,)`` float32.

    Raises
    ------
    DatasetError
        A crystal has no ``y``, or a ``y`` of more than one value (a tensor target such as
        ``elasticity.elastic_tensor``); the message names ``target``, the crystal and the shape.
    """

    def values(batch: Batch) -> Tensor:
        if batch.y is None or batch.y.numel() != batch.num_graphs:
            raise _not_scalar(batch, target)
        return batch.y.view(-1).float()

    return _in_order(data, batch_size, values)


def _not_scalar(batch: Batch, target: str) -> DatasetError:
    """The error of the first crystal of ``batch`` whose ``y`` is not one value."""
    crystals = batch.to_data_list()
    bad = (c for c in crystals if c.y is None or c.y.numel() != 1)
    crystal = next(bad, None)
    if crystal is None:  # each looks scalar, yet the batch does not: name the batch
        return DatasetError(
            f"target {target!r}: a batch of {len(crystals)} crystals has {batch.y.numel()} target "
            "values; the models predict one value per crystal (y of shape (1,))"
        )
    name = getattr(crystal, "id", None) or getattr(crystal, "name", None)
    found = "no y" if crystal.y is None else f"y of shape {tuple(crystal.y.shape)}"
    return DatasetError(
        f"target {target!r}: crystal {name or '(unnamed)'} has {found}; the models predict one "
        "value per crystal (y of shape (1,))"
    )


def _in_order(data: Crystals, batch_size: int, compute: Callable[[Batch], Tensor]) -> Tensor:
    """``compute(batch)`` over batches of ``data``, flattened and concatenated in its order.

    A :class:`~spacegroup_nn.datasets.ShardedCrystalDataset` is read one shard at a time
    (each shard loaded once) and the results are put back in the dataset's order; every
    crystal must give the same number of values.
    """
    sharded = isinstance(data, ShardedCrystalDataset)
    order = shard_order(data.shard_of()) if sharded else None
    loader = DataLoader(data, batch_size=batch_size, sampler=None if order is None else order.tolist())
    outputs = [compute(batch).reshape(-1) for batch in loader]
    values = torch.cat(outputs) if outputs else torch.empty(0)
    if order is None or not len(values):
        return values
    rows = values.view(len(order), -1)
    restored = torch.empty_like(rows)
    restored[torch.from_numpy(order)] = rows
    return restored.view(-1)


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Use PyTorch's deterministic kernels inside the block (restored afterwards).

    Some CPU kernels (sums with repeated indices) are otherwise order-dependent across
    threads, and two runs with one seed would differ in the last bits.
    """
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def fit(
    config: TrainConfig,
    train_data: Crystals,
    val_data: Crystals,
    out_dir: str | os.PathLike,
    *,
    test_data: Crystals | None = None,
    progress: bool = True,
    resume: bool = False,
) -> dict:
    """Train ``config.model`` and keep the checkpoint with the best validation MAE.

    Parameters
    ----------
    config : TrainConfig
    train_data, val_data, test_data : sequences of Data
        Crystals from :func:`spacegroup_nn.data.from_structure` with a scalar ``y`` (one
        value per crystal).
    out_dir : path
        Receives ``best.pt`` and ``metrics.json``.
    progress : bool
        Show progress bars with the live loss and validation MAE.
    resume : bool
        Continue from ``last.pt`` (written after every epoch) if it exists. Model, optimizer,
        schedule and random states are restored, so on CPU a run killed at any point and
        resumed ends with the same metrics as an uninterrupted one; at most the epoch in
        progress is repeated.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``: MAE in the target's own units for the best
        epoch on validation (and test), the history, seconds per epoch and CPU seconds of
        training. On CPU the same config and data give identical metrics (deterministic
        kernels, seeded shuffling), timings aside.

    Raises
    ------
    DatasetError
        Before training, if a crystal of any split has no ``y`` or a ``y`` of more than one
        value (a tensor target); the message names ``config.target``, the crystal and the shape.
    DivergenceError
        At the first non-finite training loss or validation MAE, naming the epoch (e.g. a
        learning rate too high).
    """
    with deterministic():
        return _fit(config, train_data, val_data, Path(out_dir), test_data, progress, resume)


def _fit(
    config: TrainConfig,
    train_data: Crystals,
    val_data: Crystals,
    out: Path,
    test_data: Crystals | None,
    progress: bool,
    resume: bool,
) -> dict:
    targets = _targets(train_data, config.target)
    for data in (val_data, test_data):  # before any training, not at the first evaluation
        if data is not None:
            _targets(data, config.target)
    out.mkdir(parents=True, exist_ok=True)
    config.target_mean = float(targets.mean())
    config.target_std = float(targets.std()) if len(targets) > 1 and float(targets.std()) > 0 else 1.0
    world = _Distributed()
    model = build_model(config).to(world.device)
    # fused: Adam's element-wise steps in one pass per parameter, cheaper on CPU than foreach
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
    )
    shuffle = torch.Generator().manual_seed(config.seed)
    sampler = _train_sampler(train_data, config, world, shuffle)
    # gradients are averaged over the ranks, each of which trains on its share of every epoch
    trained = world.wrap(model)
    progress = progress and world.rank == 0
    steps = config.epochs * math.ceil(len(sampler) / config.batch_size)  # batches of the loader below
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps))
    )
    augment_rng = np.random.default_rng(config.seed)
    history, best, first, elapsed, cpu, sessions = [], math.inf, 0, 0.0, 0.0, []
    if resume and (out / LAST).is_file():
        state = _load_state(out / LAST, config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        shuffle.set_state(state["shuffle"])
        augment_rng.bit_generator.state = state["augment"]
        if "torch_rng" in state:  # the global generator of dropout masks (group_dropout)
            torch.set_rng_state(state["torch_rng"])
        history, best, first, elapsed = state["history"], state["best"], state["epoch"], state["elapsed"]
        cpu = state.get("cpu_seconds")  # absent in states written before it was recorded
        sessions = state.get("sessions", [[1, first]])  # likewise
        if progress:
            tqdm.write(f"{out}: resuming after epoch {first} of {config.epochs} ({LAST})", file=sys.stderr)
    if first < config.epochs:
        sessions = [*sessions, [first + 1, first]]  # epochs this process trains: first + 1..
    epochs = tqdm(range(first, config.epochs), desc=config.model, disable=not progress, unit="epoch")
    start = time.perf_counter() - elapsed
    cpu_start = time.process_time() - (cpu or 0.0)
    if _keeps_preparation(model, config):  # prepare every crystal once (timed)
        train_data, val_data, test_data = (
            _prepared(data, model) for data in (train_data, val_data, test_data)
        )
    # the loader draws a seed per epoch from its generator: `shuffle`, saved in last.pt
    loader = DataLoader(train_data, batch_size=config.batch_size, sampler=sampler, generator=shuffle)
    for epoch in epochs:
        model.train()
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        losses = []
        for batch in tqdm(loader, leave=False, disable=not progress, desc=f"epoch {epoch + 1}"):
            if config.augment:
                batch = random_description(batch, augment_rng)
            batch = batch.to(world.device)
            normalized = (batch.y.view(-1).float() - config.target_mean) / config.target_std
            output = trained(batch)
            loss = (output.view(-1).float() - normalized).abs().mean()
            if config.symmetry_weight > 0:
                # operations drawn from the augmentation generator, which resuming restores; the
                # moved copy goes through the bare model (one DDP forward per step)
                loss = loss + symmetry_loss(
                    model,
                    batch,
                    weight=config.symmetry_weight,
                    seed=augment_rng,
                    reference=output,
                    over="normalizer",
                )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                raise _diverged(config, f"the training loss is {losses[-1]}", epoch, len(losses))
        world.check_in_sync(model)
        # each evaluation loader draws its base seed from the global generator, which also
        # draws the group-dropout masks: the passes made here are part of every run's stream
        val_mae = mean_absolute_error(model, config, val_data)
        if not math.isfinite(val_mae):
            raise _diverged(config, f"the validation MAE is {val_mae}", epoch)
        history.append(
            {"epoch": epoch + 1, "train_loss": world.mean(float(np.mean(losses))), "val_mae": val_mae}
        )
        sessions[-1][1] = epoch + 1
        if val_mae < best:
            best = val_mae
            if world.rank == 0:
                save_checkpoint(model, config, out / CHECKPOINT, epoch=epoch + 1, val_mae=val_mae)
        epochs.set_postfix(loss=f"{np.mean(losses):.4f}", val_mae=f"{val_mae:.4g}", best=f"{best:.4g}")
        elapsed = time.perf_counter() - start
        cpu = None if cpu is None else time.process_time() - cpu_start
        state = {
            "version": __version__,
            "config": asdict(config),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "shuffle": shuffle.get_state(),
            "augment": augment_rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "history": history,
            "best": best,
            "epoch": epoch + 1,
            "elapsed": elapsed,
            "cpu_seconds": cpu,
            "sessions": sessions,
        }
        if world.rank == 0:
            _atomic_save(state, out / LAST)
    # training time over all epochs, resumed ones included, as of the end of the last one: a
    # finished run evaluated again (graph search included) keeps its record. CPU time, unlike
    # wall time, barely depends on the machine's load (None when an earlier version trained
    # part of the run)
    seconds, cpu_seconds = elapsed, cpu
    if world.rank != 0:
        return {"rank": world.rank, "history": history}
    best_model, _ = load_checkpoint(out)
    best_epoch = min(history, key=lambda h: h["val_mae"])["epoch"]
    metrics = {
        "model": config.model,
        "target": config.target,
        "seed": config.seed,
        "epochs": config.epochs,
        "best_epoch": best_epoch,
        "val_mae": best,
        "test_mae": mean_absolute_error(best_model, config, test_data) if test_data else None,
        "seconds_per_epoch": seconds / config.epochs,
        "cpu_seconds": cpu_seconds,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "sizes": {"train": len(train_data), "val": len(val_data), "test": len(test_data or [])},
        "history": history,
        "world_size": world.size,
        "sessions": sessions,
    }
    (out / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _diverged(config: TrainConfig, what: str, epoch: int, step: int | None = None) -> DivergenceError:
    """The error of a run that went non-finite in ``epoch`` (from 0), at ``step`` of it if given."""
    where = f"epoch {epoch + 1}" if step is None else f"step {step} of epoch {epoch + 1}"
    return DivergenceError(
        f"training {config.model!r} diverged: {what} at {where} (lr {config.lr:g}); lower the "
        "learning rate (--lr)"
    )


#: The periodic graph a model reads: its cutoff and neighbour cap (``None``: every neighbour).
Graph = tuple[float, int | None]


def _graph_of(model: nn.Module) -> Graph | None:
    """The graph of ``model`` (``model.cutoff``, ``model.max_neighbors``); ``None`` without one."""
    cutoff = getattr(model, "cutoff", None)
    return None if cutoff is None else (cutoff, getattr(model, "max_neighbors", None))


#: What a model computes once per crystal: its graph and the key of its stored geometry.
Preparation = tuple[Graph | None, tuple[float, ...] | None]


def _preparation_of(model: nn.Module) -> Preparation:
    """The graph of ``model`` and the key of the geometry its ``prepare`` stores, if any
    (:meth:`~spacegroup_nn.nn.SpaceGroupTransformer.prepare`)."""
    return _graph_of(model), getattr(model, "geometry_key", None)


def _prepared(data: Crystals | None, model: nn.Module) -> Crystals | None:
    """In-memory crystals with what ``model`` computes once per crystal stored: the
    parameter-free geometry of a model with a ``prepare`` method (which searches the graph
    itself and stores only the geometry, so batches carry no edges they do not use), else the
    graph it reads (only the nearest edges for a capped one).

    The models read either only while it matches the positions
    (:func:`~spacegroup_nn.nn.geometry.stored_geometry`, :func:`~spacegroup_nn.data.stored_graph`);
    sharded data, streamed from disk, is left as is.
    """
    graph = _graph_of(model)
    if data is None or graph is None or isinstance(data, ShardedCrystalDataset):
        return data
    if hasattr(model, "prepare"):
        return model.prepare(data)
    cutoff, max_neighbors = graph
    return with_radius_graphs(data, cutoff, max_neighbors=max_neighbors)


def _keeps_preparation(model: nn.Module, config: TrainConfig) -> bool:
    """Whether crystals prepared for ``model`` stay prepared while it trains: their positions
    never change, or only by the isometries of augmentation, which carry a stored geometry
    along (:func:`~spacegroup_nn.nn.geometry.carry_geometry`) but not a stored graph."""
    return not config.augment or hasattr(model, "prepare")


class GraphCache:
    """Crystals prepared once for each model: its periodic graph stored, or for a transformer
    the geometry it computes from that graph (:func:`_prepared`).

    :func:`fit` prepares every crystal it is given for its model, unless the crystal already
    stores what the model reads. Runs of several models and seeds on the
    same crystals pass them through one cache, which prepares each sequence once per distinct
    graph and geometry and gives every later run the same prepared crystals. Prepared crystals
    are shallow copies: the inputs are untouched, and a run trains on identical inputs either
    way.

    Attributes
    ----------
    cpu_seconds : float
        CPU time of the preparations so far, which the ``cpu_seconds`` of the runs given
        prepared crystals no longer contain.
    """

    def __init__(self) -> None:
        self.cpu_seconds = 0.0
        self._models: dict[str, nn.Module] = {}
        # (id of the input, preparation) -> (the input, kept alive so that its id stays its own; copy)
        self._stored: dict[tuple[int, Preparation], tuple[Crystals, Crystals]] = {}

    def __call__(self, data: Crystals, config: TrainConfig) -> Crystals:
        """``data`` prepared for ``config.model``; ``data`` itself where the preparation would
        not last (:func:`_keeps_preparation`), for models without a graph and for sharded data
        (streamed from disk)."""
        if config.model not in self._models:
            with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG as it was
                self._models[config.model] = MODELS[config.model](1)
        model = self._models[config.model]
        if not _keeps_preparation(model, config):
            return data
        key = (id(data), _preparation_of(model))
        if key not in self._stored:
            start = time.process_time()
            self._stored[key] = (data, _prepared(data, model))
            self.cpu_seconds += time.process_time() - start
        return self._stored[key][1]


def _train_sampler(
    data: Crystals, config: TrainConfig, world: _Distributed, generator: torch.Generator
) -> Sampler[int]:
    """The training order: shard by shard for sharded data, this rank's share under DDP.

    One process: a random permutation per epoch from ``generator`` (saved in ``last.pt``).
    Several: every rank draws the same permutation of epoch ``e`` from ``[seed, e]`` and
    takes its share (``DistributedSampler``, or :class:`ShardSampler` for shards).
    """
    if isinstance(data, ShardedCrystalDataset):
        return ShardSampler(data, seed=config.seed, num_replicas=world.size, rank=world.rank)
    if world.size > 1:
        return DistributedSampler(data, world.size, world.rank, shuffle=True, seed=config.seed)
    return RandomSampler(data, generator=generator)


def is_main_process() -> bool:
    """``False`` in the non-zero ranks of a ``torchrun`` launch (``RANK``), which stay silent."""
    return int(os.environ.get("RANK", "0")) == 0


def _backend_and_device(world_size: int, local_rank: int, cuda: bool) -> tuple[str, torch.device]:
    """Process-group backend and training device of one rank.

    ``("nccl", cuda:local_rank)`` for a multi-process launch on a machine with CUDA (one GPU
    per local rank, as ``torchrun`` numbers them), otherwise ``("gloo", cpu)``. A single
    process trains on the CPU, where runs are deterministic.
    """
    if world_size > 1 and cuda:
        return "nccl", torch.device("cuda", local_rank)
    return "gloo", torch.device("cpu")


class _Distributed:
    """The process group of a ``torchrun`` launch, or one process; see :func:`_backend_and_device`."""

    def __init__(self) -> None:
        self.size = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.backend, self.device = _backend_and_device(self.size, local_rank, torch.cuda.is_available())
        if self.size > 1 and not dist.is_initialized():
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)  # before the group: nccl binds to it
            dist.init_process_group(self.backend)
        self.rank = dist.get_rank() if self.size > 1 else 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in ``DistributedDataParallel`` on this rank's device (itself for one process)."""
        if self.size == 1:
            return model
        device_ids = [self.device] if self.device.type == "cuda" else None
        with warnings.catch_warnings():  # torch 2.13 renames the option; the behaviour is the same
            warnings.filterwarnings("ignore", "`broadcast_buffers` is deprecated", FutureWarning)
            return DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False)

    def mean(self, value: float) -> float:
        """``value`` averaged over the ranks."""
        if self.size == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return float(tensor) / self.size

    def check_in_sync(self, model: nn.Module) -> None:
        """Raise if the ranks' parameters differ (they must, after averaged gradients, not)."""
        if self.size == 1:
            return
        flat = torch.cat([p.detach().double().flatten() for p in model.parameters()])
        low, high = flat.clone(), flat.clone()
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        if not torch.equal(low, high):
            raise RuntimeError(f"parameters differ across ranks by {float((high - low).max()):.3g}")
        dist.barrier()


def _read_checked(path: Path) -> dict:
    """A checkpoint file read without unpickling objects, written by this library version."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unpickling failure means a bad file
        raise CheckpointError(f"{path}: unreadable checkpoint ({error})") from None
    if payload.get("version") != __version__:
        raise CheckpointError(
            f"{path}: written by spacegroup_nn {payload.get('version')}, this is {__version__}"
        )
    return payload


def _known_fields(saved: dict) -> dict:
    """The fields of a saved :class:`TrainConfig` that this version has.

    Removed fields are left out: ``extra``, an unused dictionary (always empty) that
    checkpoints wrote until it was removed.
    """
    known = {f.name for f in fields(TrainConfig)}
    return {k: v for k, v in saved.items() if k in known}


def _load_state(path: Path, config: TrainConfig) -> dict:
    """The training state in ``path``, checked against this run's version and config.

    Fields the saved configuration lacks (added to :class:`TrainConfig` later) count as their
    defaults, so a state from before a new option resumes unless the option is used.
    """
    state = _read_checked(path)
    saved = {**asdict(TrainConfig()), **_known_fields(state["config"])}
    if saved != asdict(config):
        changed = sorted(k for k, v in asdict(config).items() if saved.get(k) != v)
        raise CheckpointError(f"{path}: cannot resume, the configuration changed ({', '.join(changed)})")
    return state


def predictions(model: nn.Module, config: TrainConfig, data: Crystals, batch_size: int = 64) -> Tensor:
    """Predictions in the target's own units, ``(len(data),)`` float32."""
    return _predict_normalized(model, data, batch_size).float() * config.target_std + config.target_mean


def mean_absolute_error(model: nn.Module, config: TrainConfig, data: Crystals, batch_size: int = 64) -> float:
    """MAE of ``model`` on ``data`` in the target's own units (``batch_size`` crystals at a time)."""
    return float((predictions(model, config, data, batch_size) - _targets(data, config.target)).abs().mean())


def predict(model_dir: str | os.PathLike, data: Crystals) -> Tensor:
    """Predictions of the best checkpoint in ``model_dir`` for ``data``."""
    model, config = load_checkpoint(model_dir)
    return predictions(model, config, data)


def evaluate(model_dir: str | os.PathLike, data: Crystals) -> dict:
    """MAE and count of the best checkpoint in ``model_dir`` on labelled ``data``."""
    model, config = load_checkpoint(model_dir)
    return {"mae": mean_absolute_error(model, config, data), "count": len(data), "target": config.target}
