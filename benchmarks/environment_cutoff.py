"""Validation MAE of our transformer at several radii of its local atomic environments.

Trains ``transformer`` (ours) with ``environment_cutoff`` set to each value of ``--cutoffs``,
at the property table's settings for one dataset (its epochs and the learning rate and batch
size ``run_all.py --tune`` chose), for every seed of ``--seeds``, and reports validation MAE
per radius (mean and std over the seeds); the test split is not read. The pair features keep
their 6 Angstrom cutoff, so every radius trains on the same periodic graphs (searched once).
A run at the model's default radius is the property table's run of that seed.

Usage::

    python benchmarks/environment_cutoff.py --dataset carbon_24 --threads 1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

from spacegroup_nn.nn import SpaceGroupTransformer
from spacegroup_nn.training import GROUP_DROPOUT, GraphCache, TrainConfig, fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import (  # the settings
    DATASETS,
    ROOT,
    _budget,
    _splits,
    registered_models,
    run_screen,
    screen_arguments,
    screen_values,
)

OURS = "transformer"


def _transformer(out_channels: int, cutoff: float) -> SpaceGroupTransformer:
    """``transformer`` of :data:`~spacegroup_nn.training.MODELS` with another environment radius."""
    return SpaceGroupTransformer(
        out_channels=out_channels, environment_cutoff=cutoff, group_dropout=GROUP_DROPOUT
    )


def screen(args: argparse.Namespace) -> dict:
    """Validation MAE of every radius of ``args.cutoffs`` and seed of ``args.seeds``, with the
    training CPU seconds of each run."""
    name = args.dataset
    splits = _splits(name, args)
    budget = _budget(name, OURS, args)
    graphs = GraphCache()
    runs = {}
    names = {cutoff: f"{OURS}_environment{cutoff:g}" for cutoff in args.cutoffs}
    with registered_models({names[cutoff]: partial(_transformer, cutoff=cutoff) for cutoff in names}):
        for cutoff, model in names.items():
            runs[f"{cutoff:g}"] = entry = {"val_mae": [], "cpu_seconds": []}
            for seed in args.seeds:
                config = TrainConfig.for_model(model, target=DATASETS[name].target, seed=seed, **budget)
                train, val = graphs(splits["train"], config), graphs(splits["val"], config)
                out = args.out / "environment_cutoff" / name / f"cutoff{cutoff:g}" / f"seed{seed}"
                metrics = fit(config, train, val, out, progress=args.progress, resume=True)
                entry["val_mae"].append(metrics["val_mae"])
                entry["cpu_seconds"].append(metrics["cpu_seconds"])
    mean = {cutoff: float(np.mean(entry["val_mae"])) for cutoff, entry in runs.items()}
    return {
        "dataset": name,
        "seeds": args.seeds,
        **budget,
        "runs": runs,
        "best": float(min(mean, key=mean.get)),
        "graph_cpu_seconds": graphs.cpu_seconds,
    }


def table(result: dict) -> str:
    """The screen as a markdown table, the lowest mean validation MAE in bold."""
    lines = ["| environment cutoff (A) | validation MAE per seed | mean ± std | CPU s |", "|---|---|---|---|"]
    for cutoff, run in result["runs"].items():
        mae = f"{np.mean(run['val_mae']):.4g} ± {np.std(run['val_mae']):.2g}"
        per_seed = ", ".join(f"{value:.4g}" for value in run["val_mae"])
        bold = float(cutoff) == result["best"]
        lines.append(
            f"| {cutoff} | {per_seed} | {f'**{mae}**' if bold else mae} | {sum(run['cpu_seconds']):.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="carbon_24", choices=[n for n, d in DATASETS.items() if d.property_table]
    )
    parser.add_argument("--cutoffs", default="3,3.5,4,5", help="comma-separated radii in Angstrom")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "run_all",
        help="the benchmark's results, whose tuned settings are used; runs go to OUT/environment_cutoff",
    )
    screen_arguments(parser, "environment_cutoff")
    args = parser.parse_args(argv)
    args.cutoffs = screen_values(parser, args.cutoffs, "--cutoffs", lambda cutoff: _transformer(1, cutoff))
    args.seeds = [int(seed) for seed in args.seeds.split(",")]
    return run_screen("environment_cutoff", screen, table, args, argv)


if __name__ == "__main__":
    main()
