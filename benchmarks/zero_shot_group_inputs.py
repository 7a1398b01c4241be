"""The zero-shot runs of ``run_all.py`` evaluated again without their group inputs.

Loads the trained zero-shot runs behind the zero-shot tables of ``docs/benchmarks.md``
(``RUNS/DATASET/seedS/MODEL``, written by ``run_all.py``) and evaluates each on its
in-distribution test and held-out crystals twice: as trained, and with the group-specific
inputs of its encoder left out (:func:`spacegroup_nn.diagnostics.without_group_inputs`: the
Fourier features and group context, what group dropout leaves out in training; elements,
volume and geometry stay). Nothing is trained. The evaluation as trained must give the
recorded held-out MAE, else the runs were trained on other crystals and the script stops.
The held-out MAE is reported per crystal system too.

Usage::

    python benchmarks/zero_shot_group_inputs.py --dataset carbon_24 --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from spacegroup_nn.diagnostics import group_input_encoders, without_group_inputs
from spacegroup_nn.training import GraphCache, TrainConfig, build_model, load_checkpoint, predictions
from spacegroup_nn.workflows import load_dataset
from spacegroup_nn.zero_shot import group_errors, zero_shot_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import (  # the settings
    DATASETS,
    ROOT,
    ZERO_SHOT_MODELS,
    dataset_path,
    run_screen,
    screen_arguments,
)

#: Per model and seed: MAE as trained, MAE without group inputs, on each part of the split,
#: and the held-out MAE per crystal system (``{system: mae}``), as trained and without.
KEYS = (
    "in_distribution_mae",
    "held_out_mae",
    "in_distribution_mae_without",
    "held_out_mae_without",
    "held_out_per_system",
    "held_out_per_system_without",
)


def has_group_inputs(name: str) -> bool:
    return bool(group_input_encoders(build_model(TrainConfig.for_model(name))))


def screen(args: argparse.Namespace) -> dict:
    """MAE with and without group inputs of every model of ``args.models`` and seed of ``args.seeds``."""
    path, _ = dataset_path(args.dataset, args.data_dir)  # the zero-shot protocol splits itself
    target = DATASETS[args.dataset].target
    crystals = list(load_dataset(path, target, limit=args.limit, cache=args.cache))
    graphs = GraphCache()  # prepared as in training, so the MAE as trained is the recorded one
    runs: dict = {name: {key: [] for key in KEYS} for name in args.models}
    held_out_groups = []
    for seed in args.seeds:
        directory = args.runs / args.dataset / f"seed{seed}"
        recorded = json.loads((directory / "zero_shot.json").read_text())
        held_out_groups.append(recorded["protocol"]["held_out_groups"])
        for name in args.models:
            model, config = load_checkpoint(directory / name)
            split = zero_shot_split(graphs(crystals, config), recorded["protocol"]["fraction"], seed)
            parts = {"in_distribution_mae": split.test, "held_out_mae": split.held_out}
            for key, data in parts.items():
                truth = torch.cat([crystal.y.view(-1).float() for crystal in data])
                for suffix, inputs in (("", nullcontext()), ("_without", without_group_inputs(model))):
                    with inputs:
                        errors = (predictions(model, config, data) - truth).abs()
                    runs[name][key + suffix].append(float(errors.mean()))
                    if key == "held_out_mae":
                        systems = group_errors(data, errors.tolist())["system"]  # (mae, count)
                        per_system = {system: mae for system, (mae, _) in systems.items()}
                        runs[name]["held_out_per_system" + suffix].append(per_system)
            expected, found = recorded["models"][name]["held_out_mae"], runs[name]["held_out_mae"][-1]
            same_groups = split.held_out_groups == held_out_groups[-1]
            if not same_groups or not math.isclose(found, expected, rel_tol=1e-5):
                raise ValueError(
                    f"{directory / name}: held-out MAE {found:.6g} recomputed, {expected:.6g} recorded; "
                    f"the run was not trained on these crystals"
                )
    return {"dataset": args.dataset, "seeds": args.seeds, "held_out_groups": held_out_groups, "runs": runs}


def table(result: dict) -> str:
    """Means over the seeds; the ratio is the mean of the per-seed ratios, as in run_all.py."""
    lines = [
        "| model | in-distribution MAE: with / without | held-out MAE: with / without "
        "| held-out / in-distribution: with / without |",
        "|---|---|---|---|",
    ]
    for name, run in result["runs"].items():
        cells = []
        for key in ("in_distribution_mae", "held_out_mae"):
            cells.append(" / ".join(f"{np.mean(run[key + suffix]):.4g}" for suffix in ("", "_without")))
        ratios = [
            np.mean(np.divide(run[f"held_out_mae{suffix}"], run[f"in_distribution_mae{suffix}"]))
            for suffix in ("", "_without")
        ]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {ratios[0]:.3g} / {ratios[1]:.3g} |")
    return "\n".join(lines + ["", per_system_table(result)])


def per_system_table(result: dict) -> str:
    """Held-out MAE per crystal system, with / without group inputs: the mean over the seeds
    whose held-out groups include that system (each seed holds out its own groups)."""
    systems = sorted(
        {s for run in result["runs"].values() for seed in run["held_out_per_system"] for s in seed}
    )
    lines = ["| model | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
    for name, run in result["runs"].items():
        cells = []
        for system in systems:
            means = [
                np.mean([seed[system] for seed in run["held_out_per_system" + suffix] if system in seed])
                for suffix in ("", "_without")
            ]
            cells.append(" / ".join(f"{mean:.3g}" for mean in means))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    zero_shot = [name for name, dataset in DATASETS.items() if dataset.zero_shot]
    parser.add_argument("--dataset", default="carbon_24", choices=zero_shot)
    with_inputs = [name for name in ZERO_SHOT_MODELS if has_group_inputs(name)]
    parser.add_argument("--models", default=",".join(with_inputs), help="comma-separated, with group inputs")
    parser.add_argument(
        "--runs",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "run_all" / "zero_shot",
        help="run_all.py's zero-shot runs (OUT/zero_shot of its --out)",
    )
    screen_arguments(parser, "zero_shot_group_inputs", training=False)
    args = parser.parse_args(argv)
    args.models = args.models.split(",")
    if without := [name for name in args.models if name not in with_inputs]:
        parser.error(f"--models: {without} have no group inputs to leave out; choose from {with_inputs}")
    args.seeds = [int(seed) for seed in args.seeds.split(",")]
    return run_screen("zero_shot_group_inputs", screen, table, args, argv)


if __name__ == "__main__":
    main()
