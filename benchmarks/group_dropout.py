"""Zero-shot error of our transformer at several group-dropout rates.

Runs the zero-shot protocol of ``run_all.py`` (the settings of ``transformer``'s property
table: the dataset's epochs and the learning rate and batch size ``run_all.py --tune`` chose;
the same seeds and so the same held-out groups) with ``transformer`` trained at each
``group_dropout`` of ``--rates``, and reports in-distribution and held-out MAE per rate (mean
over the seeds). The rate of :data:`spacegroup_nn.training.GROUP_DROPOUT` reproduces the
zero-shot table's own runs.

Usage::

    python benchmarks/group_dropout.py --dataset carbon_24 --threads 1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

from spacegroup_nn.nn import SpaceGroupTransformer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import (  # the settings
    DATASETS,
    ROOT,
    registered_models,
    run_screen,
    screen_arguments,
    screen_values,
    zero_shot_runs,
    zero_shot_summary,
)


def _transformer(out_channels: int, rate: float) -> SpaceGroupTransformer:
    return SpaceGroupTransformer(out_channels=out_channels, group_dropout=rate)


def screen(args: argparse.Namespace) -> dict:
    """In-distribution and held-out MAE of every rate of ``args.rates`` and seed of ``args.seeds``."""
    names = {f"{rate:g}": f"transformer_group_dropout{rate:g}" for rate in args.rates}
    factories = {names[f"{rate:g}"]: partial(_transformer, rate=rate) for rate in args.rates}
    with registered_models(factories) as models:
        tuned_as = dict.fromkeys(models, "transformer")  # every rate trains at ours' settings
        runs = zero_shot_runs(args.dataset, models, args.out / "group_dropout" / args.dataset, args, tuned_as)
    summary = zero_shot_summary(runs, models)
    return {
        "dataset": args.dataset,
        "seeds": args.seeds,
        "held_out_groups": [run["protocol"]["held_out_groups"] for run in runs],
        "runs": {rate: summary[name] for rate, name in names.items()},
    }


def table(result: dict) -> str:
    """The screen as a markdown table, the lowest mean held-out MAE in bold."""
    means = {rate: float(np.mean(run["held_out_mae"])) for rate, run in result["runs"].items()}
    lines = [
        "| group dropout | in-distribution MAE | held-out MAE per seed | held-out mean |",
        "|---|---|---|---|",
    ]
    for rate, run in result["runs"].items():
        held_out = f"**{means[rate]:.4g}**" if rate == min(means, key=means.get) else f"{means[rate]:.4g}"
        per_seed = ", ".join(f"{value:.4g}" for value in run["held_out_mae"])
        lines.append(f"| {rate} | {np.mean(run['in_distribution_mae']):.4g} | {per_seed} | {held_out} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    zero_shot = [name for name, dataset in DATASETS.items() if dataset.zero_shot]
    parser.add_argument("--dataset", default="carbon_24", choices=zero_shot)
    parser.add_argument("--rates", default="0,0.25,0.5,0.75", help="comma-separated rates in [0, 1)")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "run_all",
        help="the benchmark's results, whose tuned settings are used; runs go to OUT/group_dropout/DATASET",
    )
    screen_arguments(parser, "group_dropout")
    args = parser.parse_args(argv)
    args.rates = screen_values(parser, args.rates, "--rates", lambda rate: _transformer(1, rate))
    args.seeds = [int(seed) for seed in args.seeds.split(",")]
    return run_screen("group_dropout", screen, table, args, argv)


if __name__ == "__main__":
    main()
