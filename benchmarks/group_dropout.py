"""Zero-shot error of our transformer at several group-dropout rates.

Runs the zero-shot protocol of ``run_all.py`` (the dataset's epochs and batch size, the
same seeds and so the same held-out groups) with ``transformer`` trained at each
``group_dropout`` of ``--rates``, and reports in-distribution and held-out MAE per rate (mean
over the seeds). The rate of :data:`spacegroup_nn.training.GROUP_DROPOUT` reproduces the
zero-shot table's own runs.

Usage::

    python benchmarks/group_dropout.py --dataset carbon_24 --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch

from spacegroup_nn.nn import SpaceGroupTransformer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import (  # the settings
    DATASETS,
    DEFAULT_DATA,
    ROOT,
    registered_models,
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
        runs = zero_shot_runs(args.dataset, models, args.out / "group_dropout" / args.dataset, args)
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
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, help="default: the dataset's own")
    parser.add_argument("--batch-size", type=int, help="default: the dataset's own")
    parser.add_argument("--limit", type=int, help="first LIMIT rows only")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "runs", help="checkpoints go to OUT/group_dropout/DATASET"
    )
    parser.add_argument("--json", type=Path, help="default: benchmarks/results/group_dropout_DATASET.json")
    parser.add_argument("--cache", type=Path, help="dataset cache directory")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args(argv)
    args.rates = [float(value) for value in args.rates.split(",")]
    if len({f"{rate:g}" for rate in args.rates}) < len(args.rates):
        parser.error(f"--rates repeats a rate: {args.rates}")
    for rate in args.rates:  # the model's own check, before any data is loaded
        try:
            _transformer(1, rate)
        except ValueError as error:
            parser.error(f"--rates: {error}")
    args.seeds = [int(seed) for seed in args.seeds.split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.process_time()
    result = screen(args)
    arguments = argv if argv is not None else sys.argv[1:]
    result["command"] = "python benchmarks/group_dropout.py " + " ".join(arguments)
    result["cpu_seconds"] = time.process_time() - start
    path = args.json or ROOT / "benchmarks" / "results" / f"group_dropout_{args.dataset}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
