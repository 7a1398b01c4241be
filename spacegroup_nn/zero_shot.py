"""Zero-shot group evaluation: hold out whole space groups, train on the rest.

Protocol (seeded, documented in ``docs/benchmarks.md``):

1. Among the groups present in the data, hold out ``ceil(fraction * n_f)`` groups of every
   crystal family ``f`` that has at least two groups (so every family keeps training data),
   drawn with ``numpy.random.default_rng(seed)``; at least ``fraction`` of all groups overall.
2. Crystals of held-out groups form the zero-shot set; they never enter training or
   validation. The other crystals are split at random (same seed) into train / validation /
   in-distribution test.
3. Report MAE on the held-out set against the in-distribution test MAE, per group and per
   crystal system.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from .datasets.errors import DatasetError
from .groups import SpaceGroup
from .training import GraphCache, TrainConfig, fit, load_checkpoint, predictions

__all__ = [
    "ZeroShotSplit",
    "format_table",
    "group_errors",
    "holdout_groups",
    "plot",
    "run_zero_shot",
    "zero_shot_split",
]


def holdout_groups(numbers: Sequence[int], fraction: float = 0.2, seed: int = 0) -> list[int]:
    """Held-out space-group numbers, stratified by crystal family (see the module docstring)."""
    present = sorted(set(int(n) for n in numbers))
    by_family: dict[str, list[int]] = defaultdict(list)
    for number in present:
        by_family[SpaceGroup(number).crystal_family].append(number)
    rng = np.random.default_rng(seed)
    held_out = []
    for family in sorted(by_family):
        groups = by_family[family]
        if len(groups) >= 2:
            take = min(len(groups) - 1, math.ceil(fraction * len(groups)))
            held_out += rng.choice(groups, size=take, replace=False).tolist()
    return sorted(int(n) for n in held_out)


@dataclass
class ZeroShotSplit:
    """Train / validation / in-distribution test / held-out crystals and the held-out groups."""

    train: list[Data]
    val: list[Data]
    test: list[Data]
    held_out: list[Data]
    held_out_groups: list[int]


def zero_shot_split(
    data: Sequence[Data],
    fraction: float = 0.2,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> ZeroShotSplit:
    """Split crystals by :func:`holdout_groups`, then the rest at random.

    Raises
    ------
    DatasetError
        If a fraction lies outside (0, 1), or a part of the split would be empty: no family
        of the data has two groups to hold one out from, or too few crystals remain for
        training, validation and test.
    """
    for name, value in (
        ("fraction", fraction),
        ("val_fraction", val_fraction),
        ("test_fraction", test_fraction),
    ):
        if not 0 < value < 1:
            raise DatasetError(f"zero-shot {name} must lie in (0, 1), got {value}")
    groups = [int(crystal.space_group) for crystal in data]
    held = set(holdout_groups(groups, fraction, seed))
    if not held:
        raise DatasetError(
            f"no group can be held out of groups {sorted(set(groups))}: no crystal family of the "
            "data has two groups, and every family keeps one for training"
        )
    inside = [i for i, g in enumerate(groups) if g not in held]
    order = np.random.default_rng(seed).permutation(inside)
    n_val, n_test = round(val_fraction * len(order)), round(test_fraction * len(order))
    if min(n_val, n_test, len(order) - n_val - n_test) < 1:
        raise DatasetError(
            f"{len(order)} crystals outside the held-out groups are too few for training, "
            f"validation and test at fractions {val_fraction} and {test_fraction}"
        )
    return ZeroShotSplit(
        train=[data[i] for i in order[n_val + n_test :]],
        val=[data[i] for i in order[:n_val]],
        test=[data[i] for i in order[n_val : n_val + n_test]],
        held_out=[data[i] for i, g in enumerate(groups) if g in held],
        held_out_groups=sorted(held),
    )


def group_errors(data: Sequence[Data], errors: Sequence[float]) -> dict[str, dict]:
    """Mean absolute error per space group and per crystal system.

    Returns
    -------
    dict
        ``{"group": {number: (mae, count)}, "system": {name: (mae, count)}}``.
    """
    per_group: dict[int, list[float]] = defaultdict(list)
    per_system: dict[str, list[float]] = defaultdict(list)
    for crystal, error in zip(data, errors, strict=True):
        number = int(crystal.space_group)
        per_group[number].append(float(error))
        per_system[SpaceGroup(number).crystal_system].append(float(error))
    return {
        "group": {n: (float(np.mean(v)), len(v)) for n, v in sorted(per_group.items())},
        "system": {s: (float(np.mean(v)), len(v)) for s, v in sorted(per_system.items())},
    }


def run_zero_shot(
    data: Sequence[Data],
    models: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    target: str = "y",
    fraction: float = 0.2,
    seed: int = 0,
    progress: bool = True,
    resume: bool = False,
    graphs: GraphCache | None = None,
    model_options: Mapping[str, Mapping[str, float]] | None = None,
    **train_options: float,
) -> dict:
    """Train every model on the in-distribution groups; compare held-out and in-distribution MAE.

    Parameters
    ----------
    data : sequence of Data
        Labelled crystals (scalar ``y``).
    models : sequence of str
        Keys of :data:`spacegroup_nn.training.MODELS`, optionally with the suffix
        ``_augmented`` (see :meth:`~spacegroup_nn.training.TrainConfig.for_model`).
    out_dir : path
        One training directory per model, plus ``zero_shot.json``.
    resume : bool
        Continue each model's run from its ``last.pt`` (see :func:`~spacegroup_nn.training.fit`);
        a finished run is only evaluated again.
    graphs : GraphCache, optional
        Prepares ``data`` once per model (its periodic graph, or a transformer's geometry):
        pass one cache to the calls of several seeds on the same ``data`` to share the
        preparations; by default the models of this call share a cache of their own.
    model_options : mapping, optional
        Per model name, :class:`~spacegroup_nn.training.TrainConfig` fields of that model
        alone (e.g. its tuned lr and batch_size); they take precedence over ``train_options``.
    train_options
        Further :class:`~spacegroup_nn.training.TrainConfig` fields (epochs, batch_size, lr)
        of every model.

    Returns
    -------
    dict
        Held-out groups, split sizes and, per model, in-distribution test MAE, held-out MAE,
        their ratio, per-group and per-system held-out errors, seconds per epoch and the
        training settings (epochs, lr, batch_size), and the
        CPU seconds of the preparations of this call (graph searches, a transformer's
        geometry: :class:`~spacegroup_nn.training.GraphCache`), which the models' own do not
        contain.
    """
    graphs = GraphCache() if graphs is None else graphs
    searched = graphs.cpu_seconds
    split = zero_shot_split(data, fraction, seed)
    results: dict = {
        "protocol": {"fraction": fraction, "seed": seed, "held_out_groups": split.held_out_groups},
        "sizes": {k: len(getattr(split, k)) for k in ("train", "val", "test", "held_out")},
        "models": {},
    }
    for name in models:
        options = {**train_options, **(model_options or {}).get(name, {})}
        config = TrainConfig.for_model(name, target=target, seed=seed, **options)
        directory = Path(out_dir) / name
        prepared = zero_shot_split(graphs(data, config), fraction, seed)  # the same split, graphs stored
        metrics = fit(
            config,
            prepared.train,
            prepared.val,
            directory,
            test_data=prepared.test,
            progress=progress,
            resume=resume,
        )
        model, config = load_checkpoint(directory)
        truth = torch.cat([crystal.y.view(-1).float() for crystal in prepared.held_out])
        errors = (predictions(model, config, prepared.held_out) - truth).abs().tolist()
        breakdown = group_errors(prepared.held_out, errors)
        held_out_mae = float(np.mean(errors))
        results["models"][name] = {
            "in_distribution_mae": metrics["test_mae"],
            "held_out_mae": held_out_mae,
            "ratio": held_out_mae / metrics["test_mae"],
            "per_group": breakdown["group"],
            "per_system": breakdown["system"],
            "seconds_per_epoch": metrics["seconds_per_epoch"],
            "cpu_seconds": metrics["cpu_seconds"],
            "epochs": config.epochs,
            "lr": config.lr,
            "batch_size": config.batch_size,
        }
    results["graph_cpu_seconds"] = graphs.cpu_seconds - searched
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "zero_shot.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def format_table(results: dict) -> str:
    """A markdown table: per model, in-distribution and held-out MAE, and per-system held-out MAE."""
    systems = sorted({s for entry in results["models"].values() for s in entry["per_system"]})
    header = ["model", "in-distribution MAE", "held-out MAE", "ratio", *systems]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, entry in results["models"].items():
        cells = [
            name,
            f"{entry['in_distribution_mae']:.4g}",
            f"{entry['held_out_mae']:.4g}",
            f"{entry['ratio']:.2f}",
        ]
        cells += [f"{entry['per_system'][s][0]:.4g}" if s in entry["per_system"] else "" for s in systems]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, path: str | os.PathLike) -> None:
    """Bar chart of in-distribution vs held-out MAE per model (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["models"])
    positions = np.arange(len(names))
    figure, axis = plt.subplots(figsize=(1.8 * len(names) + 2, 3.5))
    for offset, key, label in (
        (-0.2, "in_distribution_mae", "in-distribution test"),
        (0.2, "held_out_mae", "held-out groups"),
    ):
        axis.bar(positions + offset, [results["models"][n][key] for n in names], width=0.4, label=label)
    axis.set_xticks(positions, names)
    axis.set_ylabel("MAE")
    axis.set_title(f"Zero-shot: {len(results['protocol']['held_out_groups'])} held-out space groups")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
