"""Learning curves of exact invariance, augmentation, a soft loss, averaging and no constraint.

Writes docs/benchmarks_learning_curves.md and its figures:

    python benchmarks/learning_curves.py                               # the full experiment
    python benchmarks/learning_curves.py --datasets perov_5            # one dataset; merged
    python benchmarks/learning_curves.py --render-only                 # docs and plots from JSON
    python benchmarks/learning_curves.py --smoke --out /tmp/lc         # tiny, seconds, no data

Protocol
--------
Every method trains the same transformer (:data:`spacegroup_nn.training.MODELS`) with
:func:`spacegroup_nn.training.fit` (AdamW, cosine schedule, L1 loss on normalized targets,
best validation epoch kept):

* ``exact``: ``transformer``, our exactly invariant features;
* ``augmentation``: ``transformer_raw`` (raw plane waves of the wrapped fractional
  coordinates) with every crystal put in a random equivalent description at every step
  (:func:`spacegroup_nn.diagnostics.random_description`: a random element of the Euclidean
  normalizer of its group, which contains the group, plus a random shift along free axes);
* ``soft_loss``: ``transformer_raw`` plus ``symmetry_weight`` times the squared change of
  the normalized output under one such random description per crystal and step;
* ``unconstrained``: ``transformer_raw`` as is;
* ``test_time_averaging``: the ``unconstrained`` runs, evaluated through
  ``GroupAveraged(model, over="normalizer")`` (no retraining).

Why the normalizer and not the group alone: ``transformer_raw`` reads atoms as a periodic,
unordered set, so an operation of the crystal's own group, which only permutes the atoms up
to lattice vectors, leaves its output unchanged (its "group" invariance error is round-off).
Augmentation, a soft loss or averaging over group operations would reproduce the
unconstrained model exactly. What it lacks is independence of the description: origin, axis
setting, shifts along polar axes.

For seed ``s`` the training set of size ``n`` is the first ``n`` crystals of a permutation of
the training split drawn with seed ``s`` (nested across sizes); the seed also initializes the
model, so the spread over seeds covers both. Validation (model selection) and test use fixed
subsets of the dataset's splits, the same for every method, size and seed. Epochs at size
``n``: ``max(epochs, ceil(min_steps / ceil(n / batch_size)))``, so every run takes at least
``min_steps`` optimizer steps and the largest sizes still see ``epochs`` passes. A dataset
with a property table (``property_<dataset>.json`` of ``--tuned-from``, written by
``run_all.py``) sets these per method from the table's model (``transformer`` for exact,
``transformer_raw_augmented`` for augmentation, ``transformer_raw`` for the soft loss and
unconstrained): its tuned learning rate and batch size, its ``epochs``, and as ``min_steps``
the steps of its full run (``epochs * ceil(n_train / batch_size)``). Every size then sees as
many crystals as the table's full run, and the full-split point trains at that run's
settings and step count (selected on the validation subset, not the whole split). Without a table
(the synthetic set) every method uses lr 1e-3 and the ``--batch-size``, ``--epochs`` and
``--min-steps`` given.

Power law: ``MAE = a n^-b`` fitted by least squares to the log of the seed-mean test MAE
against ``log n``; the uncertainty of ``b`` is the standard error of that fit and, as a
second estimate, the 16-84 % range of ``b`` over 1,000 bootstrap resamples of the seeds at
every size. Invariance errors are :func:`spacegroup_nn.diagnostics.invariance_error` of the
first seed's model at every size (kinds ``group`` with 8 sampled operations, ``rigid``,
``description``) on a few test crystals, on normalized outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Data

from spacegroup_nn.datasets import SyntheticCrystals
from spacegroup_nn.diagnostics import GroupAveraged, invariance_error
from spacegroup_nn.groups import SpaceGroup, euclidean_normalizer
from spacegroup_nn.training import TrainConfig, fit, load_checkpoint, mean_absolute_error
from spacegroup_nn.workflows import SYNTHETIC, load_dataset, load_splits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import DATASETS, DEFAULT_DATA, dataset_path  # the benchmark's dataset table

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("group", "rigid", "description")
#: Groups of the smoke test's synthetic set: small orders, so it trains in seconds.
SMOKE_GROUPS = (1, 2, 3, 4, 14, 19, 33, 143, 144, 147)
#: Defaults of ``--smoke``: 40 synthetic crystals, 3 sizes, 2 seeds, 1 epoch.
SMOKE = {
    "datasets": "synthetic",
    "sizes": "8,16,32",
    "seeds": "0,1",
    "epochs": 1,
    "min_steps": 1,
    "batch_size": 8,
    "val_size": 4,
    "test_size": 4,
    "diagnostic_crystals": 1,
    "tuned_from": None,
}


@dataclass(frozen=True)
class Method:
    """How one compared method is trained and evaluated.

    Attributes
    ----------
    model : str
        A key of :data:`spacegroup_nn.training.MODELS`.
    tuned_as : str, optional
        The property table's model whose tuned settings this method trains at (None for a
        method that reuses another's runs).
    augment : bool
        Random group operation at every step.
    soft : bool
        Add the soft symmetry loss (weight ``--symmetry-weight``).
    averaged : bool
        Evaluate through :class:`GroupAveraged`.
    trained_as : str, optional
        Reuse the runs of this method instead of training (test-time averaging).
    """

    model: str
    tuned_as: str | None = None
    augment: bool = False
    soft: bool = False
    averaged: bool = False
    trained_as: str | None = None


METHODS = {
    "exact": Method("transformer", tuned_as="transformer"),
    "augmentation": Method("transformer_raw", tuned_as="transformer_raw_augmented", augment=True),
    "soft_loss": Method("transformer_raw", tuned_as="transformer_raw", soft=True),
    "test_time_averaging": Method("transformer_raw", averaged=True, trained_as="unconstrained"),
    "unconstrained": Method("transformer_raw", tuned_as="transformer_raw"),
}


@dataclass(frozen=True)
class Budget:
    """Optimizer settings of one trained method on one dataset.

    Attributes
    ----------
    lr, batch_size : float, int
        AdamW learning rate and batch size.
    epochs, min_steps : int
        Every run takes at least ``epochs`` epochs and ``min_steps`` optimizer steps.
    """

    lr: float
    batch_size: int
    epochs: int
    min_steps: int

    def epochs_for(self, size: int) -> int:
        """Epochs at training-set size ``size``."""
        return max(self.epochs, math.ceil(self.min_steps / math.ceil(size / self.batch_size)))


def trained_methods() -> list[str]:
    """The methods that train their own runs (test-time averaging reuses another's)."""
    return [name for name, method in METHODS.items() if method.trained_as is None]


def budgets_for(name: str, train_size: int, args: argparse.Namespace) -> tuple[dict[str, Budget], str | None]:
    """Each trained method's :class:`Budget` on dataset ``name`` (training split of
    ``train_size`` crystals), and the name of the property table it was read from (None: no
    table, the command line's settings for every method)."""
    path = args.tuned_from / f"property_{name}.json" if args.tuned_from else None
    if path is None or not path.is_file():
        default = Budget(TrainConfig.lr, args.batch_size, args.epochs, args.min_steps)
        return {method: default for method in trained_methods()}, None
    table = json.loads(path.read_text())
    if table["sizes"]["train"] != train_size:
        raise SystemExit(
            f"{path}: trained on {table['sizes']['train']} crystals, but {name}'s training split "
            f"has {train_size}; rerun its property table or pass another --tuned-from"
        )
    print(f"{name}: settings of {path}; --batch-size, --epochs and --min-steps do not apply", file=sys.stderr)
    needed = {METHODS[method].trained_as or method for method in args.methods}
    budgets = {}
    for method in trained_methods():
        model = METHODS[method].tuned_as
        if model not in table["models"]:
            if method in needed:
                raise SystemExit(f"{path}: no model {model!r}, whose settings method {method!r} takes")
            continue  # a table of some models serves the methods that train as them
        lr, batch = table["models"][model]["lr"], table["models"][model]["batch_size"]
        steps = table["epochs"] * math.ceil(train_size / batch)
        budgets[method] = Budget(lr, batch, table["epochs"], steps)
    return budgets, path.name


def load(name: str, args: argparse.Namespace) -> dict[str, list[Data]]:
    """Train / val / test crystals of benchmark dataset ``name`` (synthetic: at most
    ``args.synthetic_max_atoms`` atoms per standardized cell, if given)."""
    target = DATASETS[name].target
    if DATASETS[name].source != SYNTHETIC:
        path, split = dataset_path(name, args.data_dir)
        return load_splits(load_dataset(path, target, split=split, cache=args.cache))
    if args.smoke:
        dataset = SyntheticCrystals(args.cache, num_per_group=4, groups=SMOKE_GROUPS, progress=False)
    else:
        dataset = load_dataset(SYNTHETIC, target, cache=args.cache, num_per_group=args.synthetic_per_group)
    splits = load_splits(dataset)
    if args.synthetic_max_atoms is None:
        return splits
    return {
        key: [c for c in crystals if c.num_nodes <= args.synthetic_max_atoms]
        for key, crystals in splits.items()
    }


def diagnostic_crystals(test: Sequence[Data], count: int) -> list[Data]:
    """Up to ``count`` test crystals of distinct groups, highest order first (at most 48
    operations and 48 atoms, to bound the cost of averaging)."""
    order = {int(c.space_group): SpaceGroup(int(c.space_group)).order for c in test}
    eligible = [c for c in test if order[int(c.space_group)] <= 48 and c.num_nodes <= 48]
    chosen, seen = [], set()
    for crystal in sorted(eligible, key=lambda c: -order[int(c.space_group)]):
        if int(crystal.space_group) not in seen:
            chosen.append(crystal)
            seen.add(int(crystal.space_group))
    return chosen[:count]


def run_one(
    name: str,
    method_name: str,
    subset: Sequence[Data],
    seed: int,
    data: dict[str, list[Data]],
    budget: Budget,
    args: argparse.Namespace,
    runs: Path,
) -> dict:
    """Train (or reuse, from ``runs``) one run under ``budget`` and evaluate it: test MAE,
    times, invariance errors."""
    method = METHODS[method_name]
    size = len(subset)
    config = TrainConfig(
        model=method.model,
        target=DATASETS[name][1],
        epochs=budget.epochs_for(size),
        batch_size=budget.batch_size,
        lr=budget.lr,
        seed=seed,
        augment=method.augment,
        symmetry_weight=args.symmetry_weight if method.soft else 0.0,
    )
    directory = runs / (method.trained_as or method_name) / f"n{size}_seed{seed}"
    # resume=True reuses a finished run (the unconstrained one, for averaging)
    metrics = fit(config, subset, data["val"], directory, progress=args.progress, resume=True)
    model, config = load_checkpoint(directory)
    predictor: nn.Module = GroupAveraged(model, over="normalizer") if method.averaged else model
    began = time.perf_counter()
    test_mae = mean_absolute_error(predictor, config, data["test"], batch_size=16)
    run = {
        "method": method_name,
        "size": size,
        "seed": seed,
        "epochs": config.epochs,
        "steps": config.epochs * math.ceil(size / config.batch_size),
        "test_mae": test_mae,
        "val_mae": metrics["val_mae"],
        "train_seconds": metrics["seconds_per_epoch"] * config.epochs,
        "test_seconds": time.perf_counter() - began,
        "command": args.command,
    }
    if seed == args.seeds[0] and data["probes"]:
        run["invariance"] = {
            kind: invariance_error(
                predictor, data["probes"], kind, num_samples=8 if kind == "group" else None
            )
            for kind in KINDS
        }
    return run


def run_dataset(name: str, args: argparse.Namespace, path: Path) -> dict:
    """Train and evaluate every size, seed and method on one dataset, merging into ``path``.

    A record of ``path`` made under another protocol (step rule, batch, tuned settings,
    soft-loss weight, validation or test subset) is replaced, not merged; checkpoints are kept per protocol
    (a directory named by its hash under ``args.runs / name``).

    Sizes are the outer loop, in the order given, and the record is written after every run,
    so an interrupted experiment leaves complete seeds for the sizes it finished (and rerunning it reuses the
    finished runs).
    """
    start = time.perf_counter()
    splits = load(name, args)
    fixed = np.random.default_rng(0)
    val = [splits["val"][i] for i in fixed.permutation(len(splits["val"]))[: args.val_size]]
    test = [splits["test"][i] for i in fixed.permutation(len(splits["test"]))[: args.test_size]]
    data = {
        "val": val,
        # averaging pads every batch to its largest normalizer: batch crystals of similar order
        "test": sorted(test, key=lambda c: euclidean_normalizer(SpaceGroup(int(c.space_group))).order),
        "probes": diagnostic_crystals(test, args.diagnostic_crystals),
    }
    train = splits["train"]
    permutations = {seed: np.random.default_rng(seed).permutation(len(train)) for seed in args.seeds}
    budgets, tuned_from = budgets_for(name, len(train), args)
    settings = {"symmetry_weight": args.symmetry_weight,
                "synthetic_per_group": args.synthetic_per_group if name == "synthetic" else None,
                "synthetic_max_atoms": args.synthetic_max_atoms if name == "synthetic" else None,
                "smoke": args.smoke}  # fmt: skip
    protocol = {"val_used": len(val), "test_used": len(test)}
    if tuned_from is None:
        budget = budgets["exact"]  # one for every method
        protocol["settings"] = {"batch_size": budget.batch_size, "epochs": budget.epochs,
                                "min_steps": budget.min_steps, **settings}  # fmt: skip
    else:
        protocol["settings"] = {"tuned_from": tuned_from, **settings}
        protocol["budgets"] = {method: asdict(budget) for method, budget in budgets.items()}
    record = json.loads(path.read_text()) if path.is_file() else None
    if record is not None and any(record.get(key) != value for key, value in protocol.items()):
        # runs of another step rule or evaluation subset do not belong on the same curves
        print(f"{path}: recorded under another protocol; starting a new record", file=sys.stderr)
        record = None
    if record is None:
        record = {"runs": [], "invocations": []}
    tag = hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:12]
    runs = args.runs / name / f"protocol-{tag}"
    record.update(
        dataset=name,
        target=DATASETS[name][1],
        unit=DATASETS[name][2],
        split_sizes={key: len(value) for key, value in splits.items()},
        num_groups=len({int(c.space_group) for crystals in splits.values() for c in crystals}),
        diagnostic_groups=[int(c.space_group) for c in data["probes"]],
        **protocol,
    )
    invocation = {"command": args.command, "wall_seconds": 0.0}
    record["invocations"].append(invocation)
    # in the order given (e.g. extremes first, so a cut-short run still spans the range)
    for size in dict.fromkeys(min(size, len(train)) for size in args.sizes):
        for seed in args.seeds:
            subset = [train[i] for i in permutations[seed][:size]]
            for method in args.methods:
                budget = budgets[METHODS[method].trained_as or method]
                run = run_one(name, method, subset, seed, data, budget, args, runs)
                record["runs"] = [r for r in record["runs"] if (r["method"], r["size"], r["seed"]) != (
                    method, size, seed)] + [run]  # fmt: skip
                invocation["wall_seconds"] = time.perf_counter() - start
                path.write_text(json.dumps(record, indent=2) + "\n")
                print(
                    f"{name} {method:>20} n={size:<5} seed={seed} epochs={run['epochs']:<3} "
                    f"test MAE {run['test_mae']:.4g}  ({run['train_seconds']:.0f} s train, "
                    f"{invocation['wall_seconds']:.0f} s so far)",
                    flush=True,
                )
    return record


def power_law(sizes: np.ndarray, maes: np.ndarray) -> tuple[float, float, float]:
    """``(a, b, standard error of b)`` of ``MAE = a n^-b`` by least squares in log-log."""
    x, y = np.log(sizes), np.log(maes)
    if len(x) < 2:
        return math.nan, math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    if len(x) < 3:
        return float(np.exp(intercept)), float(-slope), math.nan
    residuals = y - (slope * x + intercept)
    variance = residuals @ residuals / (len(x) - 2)
    return float(np.exp(intercept)), float(-slope), float(math.sqrt(variance / ((x - x.mean()) ** 2).sum()))


def complete_sizes(result: dict) -> tuple[list[int], list[int]]:
    """Sizes run for every method with every seed, and the other (interrupted) sizes."""
    methods = {run["method"] for run in result["runs"]}
    seeds = {run["seed"] for run in result["runs"]}
    done = {(run["method"], run["size"], run["seed"]) for run in result["runs"]}
    sizes = sorted({run["size"] for run in result["runs"]})
    complete = [n for n in sizes if all((m, n, s) in done for m in methods for s in seeds)]
    return complete, [n for n in sizes if n not in complete]


def summarize(result: dict, bootstrap: int = 1000) -> dict:
    """Per method: seed mean and std of the test MAE per size, power law, errors, times.

    Only sizes that every method finished with every seed enter (:func:`complete_sizes`).
    """
    rng = np.random.default_rng(0)
    summary = {}
    complete, _ = complete_sizes(result)
    methods = [m for m in METHODS if any(run["method"] == m for run in result["runs"])]
    for method in methods:
        runs = [run for run in result["runs"] if run["method"] == method and run["size"] in complete]
        sizes = sorted({run["size"] for run in runs})
        per_size = {n: [run["test_mae"] for run in runs if run["size"] == n] for n in sizes}
        means = np.array([np.mean(per_size[n]) for n in sizes])
        a, b, error = power_law(np.array(sizes), means)
        resampled = [
            power_law(
                np.array(sizes), np.array([np.mean(rng.choice(per_size[n], len(per_size[n]))) for n in sizes])
            )[1]
            for _ in range(bootstrap if len(sizes) >= 2 else 0)
        ]
        invariance = [run["invariance"] for run in runs if "invariance" in run]
        summary[method] = {
            "sizes": sizes,
            "seeds": sorted({run["seed"] for run in runs}),
            "mae_mean": means.tolist(),
            "mae_std": [float(np.std(per_size[n])) for n in sizes],
            "a": a,
            "b": b,
            "b_stderr": error,
            "b_bootstrap_16_84": [float(np.percentile(resampled, 16)), float(np.percentile(resampled, 84))]
            if resampled
            else None,
            "invariance_max": {k: max(inv[k] for inv in invariance) for k in KINDS} if invariance else None,
            "train_seconds": [
                float(np.mean([r["train_seconds"] for r in runs if r["size"] == n])) for n in sizes
            ],
            "test_seconds": [
                float(np.mean([r["test_seconds"] for r in runs if r["size"] == n])) for n in sizes
            ],
        }
    return summary


def targets(summary: dict) -> dict:
    """The issue's targets: exact lowest at every size up to 1,000; exponent as steep as the best."""
    if "exact" not in summary or len(summary) < 2 or not summary["exact"]["sizes"]:
        return {}
    exact = summary["exact"]
    others = {m: s for m, s in summary.items() if m != "exact"}
    winners = {}
    for size in exact["sizes"]:
        means = {m: s["mae_mean"][s["sizes"].index(size)] for m, s in summary.items() if size in s["sizes"]}
        winners[size] = min(means, key=means.get)
    small = [size for size in exact["sizes"] if size <= 1000]
    largest = max(exact["sizes"])
    best = min(
        (m for m in others if largest in others[m]["sizes"]),
        key=lambda m: others[m]["mae_mean"][others[m]["sizes"].index(largest)],
    )
    steepest = max(others, key=lambda m: others[m]["b"] if not math.isnan(others[m]["b"]) else -math.inf)

    def as_steep(other: str) -> bool | None:  # None: no exponent (fewer than two sizes)
        pair = (exact["b"], others[other]["b"])
        return None if any(math.isnan(b) for b in pair) else bool(pair[0] >= pair[1])

    return {
        "winner_per_size": winners,
        "exact_lowest_up_to_1000": bool(small) and all(winners[size] == "exact" for size in small),
        "best_alternative_at_largest_size": best,
        "exponent_vs_best_alternative": as_steep(best),
        "steepest_alternative": steepest,
        "exponent_vs_steepest_alternative": as_steep(steepest),
    }


def _verdict(value: bool | None) -> str:
    return "undetermined" if value is None else ("met" if value else "not met")


def plot(result: dict, summary: dict, path: Path) -> None:
    """Learning curves (log-log, mean and std over seeds, fitted power laws) and errors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, (curves, errors) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    for index, (method, entry) in enumerate(summary.items()):
        color = f"C{index}"
        sizes = np.array(entry["sizes"])
        label = f"{method} (b = {_number(entry['b'])} ± {_number(entry['b_stderr'])})"
        curves.errorbar(sizes, entry["mae_mean"], yerr=entry["mae_std"], marker="o", ms=4, capsize=3,
                        color=color, label=label)  # fmt: skip
        if not math.isnan(entry["b"]):
            grid = np.geomspace(sizes.min(), sizes.max(), 50)
            curves.plot(grid, entry["a"] * grid ** -entry["b"], linestyle="--", linewidth=0.8, color=color)
    curves.set_xscale("log")
    curves.set_yscale("log")
    ticks = sorted({n for entry in summary.values() for n in entry["sizes"]})
    curves.set_xticks(ticks, [str(n) for n in ticks])
    curves.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    curves.set_xlabel("training crystals n")
    curves.set_ylabel(f"test MAE ({result['unit']})")
    curves.set_title(f"{result['dataset']}: learning curves (fit MAE = a n^-b)")
    curves.legend(fontsize=7)
    width = 0.8 / len(KINDS)
    names = [m for m in summary if summary[m]["invariance_max"]]
    for offset, kind in enumerate(KINDS):
        values = [max(summary[m]["invariance_max"][kind], 1e-12) for m in names]
        errors.bar(np.arange(len(names)) + offset * width, values, width, label=kind)
    errors.axhline(1e-5, color="black", linewidth=0.8, linestyle=":")
    errors.set_yscale("log")
    errors.set_xticks(np.arange(len(names)) + width, names, rotation=30, ha="right", fontsize=8)
    errors.set_title("largest invariance error (dotted: 1e-5)")
    errors.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _budget_text(result: dict, sizes: list[int]) -> str:
    """The optimizer settings of a record: one for every method, or per method (tuned)."""

    def schedule(methods: set[str], key: str) -> dict[int, int]:
        runs = [run for run in result["runs"] if run["method"] in methods]
        return {n: max(run[key] for run in runs if run["size"] == n) for n in sizes}

    if "budgets" not in result:
        settings, every = result["settings"], set(METHODS)
        return (
            f"batch {settings['batch_size']}, epochs per size {schedule(every, 'epochs')}, optimizer "
            f"steps {schedule(every, 'steps')} (rule: at least {settings['epochs']} epochs and "
            f"{settings['min_steps']} steps), lr {TrainConfig.lr:g} for every method"
        )
    parts = []
    ran = {run["method"] for run in result["runs"]}
    for method, budget in result["budgets"].items():
        users = ({method} | {m for m, spec in METHODS.items() if spec.trained_as == method}) & ran
        if not users:
            continue
        parts.append(
            f"{'/'.join(sorted(users))} as `{METHODS[method].tuned_as}`: lr {budget['lr']:g}, batch "
            f"{budget['batch_size']}, at least {budget['min_steps']} steps, epochs per size "
            f"{schedule(users, 'epochs')}"
        )
    return f"settings tuned in `{result['settings']['tuned_from']}` ({'; '.join(parts)})"


def render(results_dir: Path, figures: Path) -> str:
    """The markdown section from every ``<dataset>.json`` in ``results_dir`` (plots redrawn),
    followed by ``notes.md`` of that folder if present."""
    lines = [
        "## Learning curves: exact invariance against approximate symmetry",
        "",
        "Generated by `benchmarks/learning_curves.py` from `benchmarks/results/learning_curves/`;",
        "every number comes from the command quoted in its dataset's section, run on this",
        "project's 2-core CPU machine (1 torch thread per process, shared with other jobs).",
        "",
        "Protocol (from the script's docstring):",
        "",
        "```text",
        __doc__.split("Protocol\n--------\n", 1)[1].strip(),
        "```",
        "",
        "Budget: each dataset's curves get a few hours at most on the 2 cores (one torch thread per",
        "process; each section lists its wall time), so the runs are short and far from",
        "converged. A dataset with a property table trains every method at its own tuned",
        "learning rate and batch size, and every size sees as many crystals as that table's full",
        "run (more epochs over fewer crystals); each section says which rule it ran under.",
        "Without a table, one learning rate, batch and step rule serve every method, and the",
        "full split can take more steps than the minimum, so part of its gain may be compute",
        "rather than data. At the larger sizes the error is limited by optimization as much as",
        "by data, which flattens every curve and biases every exponent low. Read the exponents",
        "as a comparison of the methods at a small, fixed budget, not as the data-scaling",
        "exponents of converged models.",
        "",
    ]
    for path in sorted(results_dir.glob("*.json")):
        result = json.loads(path.read_text())
        summary = summarize(result)
        verdict = targets(summary)
        name, settings = result["dataset"], result["settings"]
        figure = figures / f"learning_curves_{name}.png"
        commands = sorted({run["command"] for run in result["runs"]})
        sizes, interrupted = complete_sizes(result)
        if not sizes:
            lines += [
                f"### {name}",
                "",
                f"No size finished for every method and seed yet ({interrupted}).",
                "",
            ]
            continue
        plot(result, summary, figure)
        groups = result.get("num_groups")
        lines += [
            f"### {name}: `{result['target']}` ({result['unit']})",
            "",
            "Command(s): " + "; ".join(f"`{c}`" for c in commands) + ".",
            "",
            f"Split sizes {result['split_sizes']}; validation subset {result['val_used']}, test subset "
            f"{result['test_used']} crystals; {_budget_text(result, sizes)}, "
            f"soft-loss weight {settings['symmetry_weight']}"
            + (
                f"; synthetic set of {settings['synthetic_per_group']} crystals per group, "
                + (
                    f"cells of at most {settings['synthetic_max_atoms']} atoms"
                    if settings["synthetic_max_atoms"] is not None
                    else "every cell"
                )
                + f" ({groups} groups)"
                if settings["synthetic_per_group"]
                else ""
            )
            + f". Wall time {sum(i['wall_seconds'] for i in result['invocations']) / 60:.1f} min "
            f"({len(result['invocations'])} invocation(s)).",
            "",
            *(["**Smoke run:** tiny sizes, not a result.", ""] if settings["smoke"] else []),
            *(
                [
                    f"Sizes {interrupted} were not finished for every method and seed (time budget); "
                    "they are left out of every number below.",
                    "",
                ]
                if interrupted
                else []
            ),
            f"Test MAE ({result['unit']}), mean ± std over seeds; **bold** = lowest at that size:",
            "",
            "| method | " + " | ".join(f"n = {n}" for n in sizes) + " | b ± s.e. | b 16-84 % (bootstrap) |",
            "|---|" + "---|" * (len(sizes) + 2),
        ]
        winners = verdict.get("winner_per_size", {})
        for method, entry in summary.items():
            cells = []
            for n in sizes:
                if n not in entry["sizes"]:
                    cells.append("")
                    continue
                i = entry["sizes"].index(n)
                text = f"{entry['mae_mean'][i]:.4g} ± {entry['mae_std'][i]:.2g}"
                cells.append(f"**{text}**" if winners.get(n) == method else text)
            interval = entry["b_bootstrap_16_84"]
            band = f"{interval[0]:.3f} to {interval[1]:.3f}" if interval else "n/a"
            lines.append(
                f"| {method} | "
                + " | ".join(cells)
                + f" | {_number(entry['b'], 3)} ± {_number(entry['b_stderr'], 3)} "
                f"| {band} |"
            )
        lines += [
            "",
            f"Invariance errors (largest over the first seed's models at all sizes; test crystals of groups "
            f"{result['diagnostic_groups']}; on normalized outputs, i.e. in units of the training targets' "
            "standard deviation) and mean time per run at the largest size:",
            "",
            "| method | group | rigid | description | train s | test s |",
            "|---|---|---|---|---|---|",
        ]
        for method, entry in summary.items():
            errors = entry["invariance_max"] or {}
            lines.append(
                f"| {method} | "
                + " | ".join(f"{errors[k]:.1e}" if k in errors else "n/a" for k in KINDS)
                + f" | {entry['train_seconds'][-1]:.0f} | {entry['test_seconds'][-1]:.1f} |"
            )
        if verdict:
            small = [n for n in sizes if n <= 1000]
            exact_b = summary["exact"]["b"]
            best, steepest = verdict["best_alternative_at_largest_size"], verdict["steepest_alternative"]
            lines += [
                "",
                "Targets:",
                "",
                f"- Exact model lowest at every size up to 1,000 ({small}): "
                f"**{_verdict(verdict['exact_lowest_up_to_1000'])}**; lowest per size: "
                + ", ".join(f"{n}: {winners[n]}" for n in sizes)
                + ".",
                f"- Exponent at least as steep as the best alternative ({best}, lowest MAE at the "
                f"largest size; b = {_number(exact_b)} against {_number(summary[best]['b'])}): "
                f"**{_verdict(verdict['exponent_vs_best_alternative'])}**. Against the "
                f"steepest alternative ({steepest}, b = {_number(summary[steepest]['b'])}): "
                f"**{_verdict(verdict['exponent_vs_steepest_alternative'])}** (compare the "
                "uncertainties before reading much into either).",
            ]
        lines += ["", f"![learning curves {name}](figures/{figure.name})", ""]
    notes = results_dir / "notes.md"  # hand-written reading of the results, kept verbatim
    if notes.is_file():
        lines += ["### Reading the results", "", notes.read_text().strip(), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="perov_5,carbon_24,synthetic", help="comma-separated names")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--sizes", default="250,500,1000,2000,100000", help="capped at the training split")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=1, help="fewest epochs at any size")
    parser.add_argument("--min-steps", type=int, default=60, help="fewest optimizer steps at any size")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--tuned-from",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "run_all",
        help="folder of run_all.py's property_<dataset>.json: a dataset with one trains each method at its "
        "tuned settings, and --batch-size, --epochs and --min-steps apply only to the others",
    )
    parser.add_argument("--symmetry-weight", type=float, default=1.0, help="lambda of the soft loss")
    parser.add_argument("--synthetic-per-group", type=int, default=5)
    parser.add_argument(
        "--synthetic-max-atoms", type=int, help="drop larger synthetic cells (default: keep all 230 groups)"
    )
    parser.add_argument("--val-size", type=int, default=100)
    parser.add_argument("--test-size", type=int, default=200)
    parser.add_argument("--diagnostic-crystals", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path)
    parser.add_argument(
        "--out", type=Path, help="results folder (default benchmarks/results/learning_curves)"
    )
    parser.add_argument("--runs", type=Path, help="checkpoints (default runs/learning_curves)")
    parser.add_argument("--docs", type=Path, help="markdown (default docs/benchmarks_learning_curves.md)")
    parser.add_argument("--render-only", action="store_true", help="regenerate docs and plots from the JSON")
    parser.add_argument(
        "--smoke", action="store_true", help="synthetic, 40 crystals, 3 sizes, 2 seeds, 1 epoch"
    )
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args(argv)
    if args.smoke:  # smaller defaults; options given explicitly still apply
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    args.command = " ".join(
        ["python benchmarks/learning_curves.py", *(argv if argv is not None else sys.argv[1:])]
    )
    smoke_root = ROOT / "runs" / "learning_curves_smoke"
    args.out = args.out or (smoke_root if args.smoke else ROOT / "benchmarks" / "results" / "learning_curves")
    args.runs = args.runs or (args.out / "runs" if args.smoke else ROOT / "runs" / "learning_curves")
    args.docs = args.docs or (
        args.out / "learning_curves.md" if args.smoke else ROOT / "docs" / "benchmarks_learning_curves.md"
    )
    if args.smoke and args.cache is None:
        args.cache = args.out / "cache"
    args.datasets = args.datasets.split(",")
    args.methods = args.methods.split(",")
    args.sizes = [int(size) for size in args.sizes.split(",")]
    args.seeds = [int(seed) for seed in args.seeds.split(",")]
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {list(METHODS)}")
    if unknown := [name for name in args.datasets if name not in DATASETS]:
        parser.error(f"unknown datasets {unknown}; choose from {list(DATASETS)}")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    if not args.render_only:
        for name in args.datasets:
            path = args.out / f"{name}.json"
            results[name] = run_dataset(name, args, path)
            print(
                f"{name}: {results[name]['invocations'][-1]['wall_seconds']:.0f} s, wrote {path}", flush=True
            )
    args.docs.parent.mkdir(parents=True, exist_ok=True)
    args.docs.write_text(render(args.out, args.docs.parent / "figures") + "\n")
    print(f"wrote {args.docs}")
    return results


if __name__ == "__main__":
    main()
