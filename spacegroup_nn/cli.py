"""The ``spacegroup-nn`` command.

``demo``       the main job: synthetic crystals of all 230 groups, a shared-weight model,
               the zero-shot table and plot
``train``      train a model on a dataset (CSV with a cif column, mp_elastic JSON,
               CGCNN or ALIGNN folder), keep the best checkpoint, write metrics
``predict``    predictions of a trained model, as a CSV of id and prediction
``evaluate``   MAE of a trained model on a labelled dataset
``zero-shot``  hold out whole space groups, train on the rest, compare errors
``bases``      the symmetry-adapted bases of all 230 groups, one line each
``basis``      orbits, extinctions and reflection conditions of one group
``symmetry``   the detected group, setting and standardized cell of a structure file
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence, Sized
from pathlib import Path

import numpy as np

from .datasets import DEFAULT_SYMPREC, SYNTHETIC_TARGET, DatasetError, Reject, write_rejects
from .errors import SpacegroupNNError
from .groups import SpaceGroup, standardize
from .solvers import fourier_basis, reflection_conditions
from .training import MODELS, TrainConfig, evaluate, fit, is_main_process, load_checkpoint, predictions
from .workflows import (
    SYNTHETIC,
    AnyDataset,
    is_dataset,
    load_dataset,
    load_structures,
    load_subsets,
    split_subset,
)
from .zero_shot import format_table, plot, run_zero_shot

__all__ = ["main"]


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum`` (a clear usage error otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (0 < value < math.inf):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _add_data_options(parser: argparse.ArgumentParser, *, shards: bool = False, split: bool = True) -> None:
    parser.add_argument(
        "--data", required=True, help="CSV, mp_elastic JSON, CGCNN/ALIGNN folder, or 'synthetic'"
    )
    parser.add_argument("--target", help="target property (a column name, or e.g. log10_K_Voigt)")
    if split:
        parser.add_argument("--split", help="split.json with train/val/test ids (default: seeded 80/10/10)")
    parser.add_argument(
        "--symprec", type=_positive_float, default=DEFAULT_SYMPREC, help="spglib tolerance in Angstrom"
    )
    parser.add_argument("--limit", type=_count(0), help="use only the first LIMIT rows")
    parser.add_argument("--cache", help="cache folder of processed datasets")
    parser.add_argument("--seed", type=_count(0), default=0, help="seed of splits and training (default 0)")
    if shards:
        parser.add_argument(
            "--shard-size",
            type=_count(1),
            help="process and read the data in shards of this many rows on disk (for data larger "
            "than memory; default: in memory)",
        )


def _add_rejects_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--rejects", help=f"CSV report of the rejected items, id and reason (default {default})"
    )


def _dataset(args: argparse.Namespace) -> AnyDataset:
    return load_dataset(
        args.data,
        args.target,
        symprec=args.symprec,
        split=getattr(args, "split", None),
        limit=args.limit,
        cache=args.cache,
        seed=args.seed,
        shard_size=getattr(args, "shard_size", None),
        log=is_main_process(),
    )


def _report(rejects: Sequence[Reject], num_good: int, path: str | Path, unit: str = "rows") -> None:
    """Write the rejects report (CSV ``id,reason``) and print ``good + rejected = input`` to stderr.

    Only the main process of a distributed launch does either.
    """
    if not is_main_process():
        return
    write_rejects(rejects, path)
    total = num_good + len(rejects)
    print(f"{num_good} good + {len(rejects)} rejected = {total} {unit}; rejects in {path}", file=sys.stderr)


def _output_folder(args: argparse.Namespace) -> Path:
    """``--out`` of a command that writes a folder: raise before any work if it is a file.

    Also checks ``--rejects`` with :func:`_not_an_input`.
    """
    path = Path(args.out)
    if path.exists() and not path.is_dir():
        raise DatasetError(f"--out {path}: is an existing file, not a folder")
    _not_an_input(args, "--rejects", args.rejects)
    return path


def _output_file(args: argparse.Namespace) -> Path:
    """``--out`` of a command that writes a file: raise before any work if it is a folder.

    Also checks ``--out`` and ``--rejects`` with :func:`_not_an_input`.
    """
    path = Path(args.out)
    if path.is_dir():
        raise DatasetError(f"--out {path}: is a folder, not a file name")
    _not_an_input(args, "--out", path)
    _not_an_input(args, "--rejects", args.rejects)
    return path


def _not_an_input(args: argparse.Namespace, option: str, output: str | Path | None) -> None:
    """Raise if the output file ``output`` is the ``--data`` or ``--split`` file: writing it
    would destroy the input."""
    if output is None or not Path(output).is_file():
        return
    for name in ("data", "split"):
        source = getattr(args, name, None)
        if source is not None and Path(source).is_file() and Path(source).samefile(output):
            raise DatasetError(f"{option} {output}: is the --{name} file; it would be overwritten")


def _models(names: str) -> list[str]:
    """The comma-separated model names of ``--models``, checked before any training.

    Raises
    ------
    ValueError
        An empty or unknown name (the message names it and lists the models).
    """
    models = [name.strip() for name in names.split(",")]
    for name in models:
        TrainConfig.for_model(name)  # raises on an unknown or empty name
    return models


def _non_empty(subset: Sized, name: str, dataset: AnyDataset, split: str | None) -> None:
    """Raise if the subset ``name`` has no crystals (it would train or score nothing, or NaN).

    Raises
    ------
    DatasetError
        Naming the subset, its source and, with a ``--split``, the ids it lost.
    """
    if len(subset):
        return
    if split is None:
        raise DatasetError(
            f"{_source_name(dataset)}: the seeded split leaves subset {name!r} empty "
            f"({dataset.num_good} good crystals); use more rows or pass --split"
        )
    missing = getattr(dataset, "split_missing", {}).get(name, [])
    lost = "; ".join(f"{item}: {reason}" for item, reason in missing[:3])
    more = f" ... (+{len(missing) - 3})" if len(missing) > 3 else ""
    detail = f"; its {len(missing)} ids are not crystals of the data ({lost}{more})" if missing else ""
    raise DatasetError(f"{split}: subset {name!r} has no crystals{detail}")


def _source_name(dataset: AnyDataset) -> str:
    """The source path of a dataset (its class name for the synthetic set)."""
    return str(getattr(dataset, "source", type(dataset).__name__))


def _train(args: argparse.Namespace) -> None:
    _output_folder(args)
    dataset = _dataset(args)
    _report(dataset.rejects, dataset.num_good, args.rejects or Path(args.out) / "rejects.csv")
    splits = dataset.splits if args.split else load_subsets(dataset, args.seed)
    train, val = (split_subset(splits, name, args.split) for name in ("train", "val"))
    for name, subset in (("train", train), ("val", val)):
        _non_empty(subset, name, dataset, args.split)
    config = TrainConfig(
        model=args.model,
        target=dataset.target if hasattr(dataset, "target") else SYNTHETIC_TARGET,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        augment=args.augment,
    )
    metrics = fit(config, train, val, args.out, test_data=splits.get("test"), resume=args.resume)
    if "best_epoch" not in metrics:  # a non-zero rank of a distributed run: rank 0 reports
        return
    test = f", test MAE {metrics['test_mae']:.4g}" if metrics["test_mae"] is not None else ""
    print(f"best epoch {metrics['best_epoch']}: validation MAE {metrics['val_mae']:.4g}{test}")
    print(f"checkpoint and metrics in {args.out}")


def _predict(args: argparse.Namespace) -> None:
    out = _output_file(args)
    model, config = load_checkpoint(args.model)
    report = args.rejects or out.with_name(f"{out.stem}_rejects.csv")
    ids, crystals, rejects = load_structures(args.data, args.symprec, limit=args.limit)
    _report(rejects, len(ids), report, "rows" if is_dataset(args.data) else "structure files")
    if not rejects and not ids:
        raise DatasetError(f"{args.data}: no rows or structures to predict")
    if not ids:
        raise DatasetError(f"{args.data}: all {len(rejects)} items were rejected (reasons in {report})")
    values = predictions(model, config, crystals).tolist()
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prediction"])
        writer.writerows(zip(ids, values, strict=True))
    print(f"{len(values)} predictions written to {out}")


def _evaluate(args: argparse.Namespace) -> None:
    if args.subset is not None and args.split is None:
        raise DatasetError(f"--subset {args.subset} needs --split (without it, all of --data is evaluated)")
    _not_an_input(args, "--rejects", args.rejects)
    _, config = load_checkpoint(args.model)
    args.target = args.target or config.target
    dataset = _dataset(args)
    _report(dataset.rejects, dataset.num_good, args.rejects or Path(args.model) / "evaluate_rejects.csv")
    subset = args.subset or "test"
    data = split_subset(dataset.splits, subset, args.split) if args.split else dataset
    _non_empty(data, subset, dataset, args.split)
    result = evaluate(args.model, data)
    if args.target != config.target:  # e.g. the "target" column of a CGCNN folder: say so
        result["data_target"] = args.target
        print(
            f"note: the model predicts {config.target!r}; scored against the data's {args.target!r}",
            file=sys.stderr,
        )
    print(json.dumps(result, indent=2))


def _zero_shot(args: argparse.Namespace) -> None:
    _output_folder(args)
    models = _models(args.models)
    dataset = _dataset(args)
    _report(dataset.rejects, dataset.num_good, args.rejects or Path(args.out) / "rejects.csv")
    options = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr}
    results = run_zero_shot(
        list(dataset), models, args.out, fraction=args.fraction, seed=args.seed, **options
    )
    held_out = results["protocol"]["held_out_groups"]
    print(f"held-out groups ({len(held_out)}): {held_out}")
    print(format_table(results))
    plot(results, Path(args.out) / "zero_shot.png")
    print(f"results and plot in {args.out}")


def _demo(args: argparse.Namespace) -> None:
    _output_folder(args)
    models = _models(args.models)
    print(f"1/3 synthetic crystals: {args.per_group} per space group, all 230 groups, Ewald energy labels")
    dataset = load_dataset(SYNTHETIC, None, num_per_group=args.per_group, seed=args.seed, cache=args.cache)
    crystals = [c for c in dataset if c.num_nodes <= args.max_atoms]
    too_large = [
        Reject(c.id, f"{c.num_nodes} atoms, more than --max-atoms={args.max_atoms}")
        for c in dataset
        if c.num_nodes > args.max_atoms
    ]
    _report(
        dataset.rejects + too_large, len(crystals), args.rejects or Path(args.out) / "rejects.csv", "crystals"
    )
    print(f"2/3 zero-shot: train on most groups, evaluate on held-out groups ({len(crystals)} crystals)")
    options = {"epochs": args.epochs, "batch_size": 32, "lr": 2e-3}
    results = run_zero_shot(crystals, models, args.out, seed=args.seed, **options)
    print("3/3 results (MAE in eV/atom):")
    print(format_table(results))
    plot(results, Path(args.out) / "zero_shot.png")
    print(f"plot: {Path(args.out) / 'zero_shot.png'}")


def _bases(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    bases = [fourier_basis(number, args.radius) for number in range(1, 231)]
    elapsed = time.perf_counter() - start
    print(f"Symmetry-adapted Fourier bases of all 230 space groups at radius {args.radius:g}")
    print(f"{'#':>4} {'symbol':<11}{'hall':>5}{'order':>6}  {'family':<13}{'K':>6}{'orbits':>8}"
          f"{'extinct':>9}{'functions':>11}")  # fmt: skip
    for basis in bases:
        group = basis.group
        print(
            f"{group.number:>4} {group.symbol:<11}{group.hall_number:>5}{group.order:>6}  "
            f"{group.crystal_family:<13}{len(basis.wavevectors):>6}{basis.num_orbits:>8}"
            f"{int(basis.extinct.sum()):>9}{basis.num_functions:>11}"
        )
    total = sum(basis.nbytes() for basis in bases)
    print(f"built in {elapsed:.3f} s (cold, including spglib's database); {total / 1e6:.2f} MB held")


def _basis(args: argparse.Namespace) -> None:
    group = SpaceGroup.from_hall(args.hall) if args.hall else SpaceGroup(args.group)
    basis = fourier_basis(group, args.radius)
    print(f"{group}\n{basis}")
    print(f"metric: {basis.metric}; centring: {group.centring}; point group: {group.point_group_symbol}")
    print("\nreflection conditions (general positions):")
    conditions = reflection_conditions(basis)
    print("\n".join(f"  {condition}" for condition in conditions) or "  none")
    shown = basis.orbit_representatives[: args.max_orbits]
    print(f"\norbits (first {len(shown)} of {basis.num_orbits}, by |k|):")
    print(f"  {'representative':<16}{'size':>5}{'stabilizer':>11}  status")
    for orbit, k in enumerate(shown):
        status = "extinct" if basis.extinct[k] else "live"
        stabilizer = group.order // basis.orbit_sizes[orbit]
        print(f"  {_miller(basis.wavevectors[k]):<16}{basis.orbit_sizes[orbit]:>5}{stabilizer:>11}  {status}")
    extinct = basis.wavevectors[basis.extinct]
    print(f"\nextinct wave vectors: {len(extinct)} of {len(basis.wavevectors)}")
    if len(extinct):
        listed = " ".join(_miller(k) for k in extinct[: args.max_extinct])
        more = f" ... (+{len(extinct) - args.max_extinct})" if len(extinct) > args.max_extinct else ""
        print(f"  {listed}{more}")


def _symmetry(args: argparse.Namespace) -> None:
    crystal = standardize(args.file, symprec=args.symprec)
    group = crystal.group
    print(f"file: {args.file}")
    print(f"space group: {group.symbol} (No. {group.number}), {group.crystal_system}")
    print(f"setting: Hall {group.hall_number} ({group.hall_symbol}), canonical; symprec {args.symprec:g}")
    lengths = np.linalg.norm(crystal.lattice, axis=1)
    a, b, c = crystal.lattice
    angles = [_angle(b, c), _angle(a, c), _angle(a, b)]
    print("standardized cell (lattice vectors as rows, Angstrom):")
    for row in crystal.lattice:
        print("  " + " ".join(f"{value:12.6f}" for value in row))
    print("  a, b, c = " + ", ".join(f"{v:.5f}" for v in lengths))
    print("  alpha, beta, gamma = " + ", ".join(f"{v:.4f}" for v in angles))
    print(f"atoms ({len(crystal.numbers)}; fractional coordinates):")
    for number, position in zip(crystal.numbers, crystal.frac_coords, strict=True):
        print(f"  {number:>4} " + " ".join(f"{v:10.6f}" for v in position))


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))))


def _miller(k: np.ndarray) -> str:
    return "(" + " ".join(str(int(v)) for v in k) + ")"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``spacegroup-nn``."""
    parser = argparse.ArgumentParser(prog="spacegroup-nn", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="the main job: zero-shot on synthetic crystals of all groups")
    demo.add_argument("--per-group", type=int, default=5, help="crystals per space group (default 5)")
    demo.add_argument(
        "--max-atoms",
        type=int,
        default=96,
        help="reject larger cells (reported): the 12 groups of order >= 96 (default 96)",
    )
    demo.add_argument("--epochs", type=_count(1), default=25, help="epochs (default 25)")
    demo.add_argument("--models", default="transformer,transformer_onehot", help="comma-separated models")
    demo.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    demo.add_argument("--cache", help="cache folder of processed datasets")
    demo.add_argument("--seed", type=_count(0), default=0)
    _add_rejects_option(demo, "OUT/rejects.csv")
    demo.set_defaults(run=_demo)

    train = commands.add_parser("train", help="train a model on a dataset")
    _add_data_options(train, shards=True)
    _add_rejects_option(train, "OUT/rejects.csv")
    train.add_argument(
        "--model", default="transformer", choices=sorted(MODELS), help="model (default transformer)"
    )
    train.add_argument("--epochs", type=_count(1), default=50)
    train.add_argument("--batch-size", type=_count(1), default=64)
    train.add_argument("--lr", type=_positive_float, default=1e-3)
    train.add_argument("--augment", action="store_true", help="random equivalent description per step")
    train.add_argument(
        "--resume", action="store_true", help="continue from OUT/last.pt after an interruption"
    )
    train.add_argument("--out", required=True, help="output folder (checkpoint and metrics.json)")
    train.set_defaults(run=_train)

    predict_ = commands.add_parser("predict", help="predict with a trained model")
    predict_.add_argument("--model", required=True, help="training output folder")
    predict_.add_argument(
        "--data", required=True, help="a structure file, a folder of them, or a dataset (labels not needed)"
    )
    predict_.add_argument("--out", required=True, help="CSV file of id and prediction")
    predict_.add_argument("--symprec", type=_positive_float, default=DEFAULT_SYMPREC)
    predict_.add_argument("--limit", type=_count(0), help="use only the first LIMIT rows or folder entries")
    _add_rejects_option(predict_, "OUT_rejects.csv beside OUT")
    predict_.set_defaults(run=_predict)

    evaluate_ = commands.add_parser("evaluate", help="MAE of a trained model on a labelled dataset")
    evaluate_.add_argument("--model", required=True, help="training output folder")
    _add_data_options(evaluate_, shards=True)
    _add_rejects_option(evaluate_, "MODEL/evaluate_rejects.csv")
    evaluate_.add_argument("--subset", help="subset of the --split to evaluate (default test)")
    evaluate_.set_defaults(run=_evaluate)

    zero_shot = commands.add_parser("zero-shot", help="hold out whole groups, train on the rest")
    _add_data_options(zero_shot, split=False)  # the protocol makes its own split, by group
    _add_rejects_option(zero_shot, "OUT/rejects.csv")
    zero_shot.add_argument(
        "--models", default="transformer,transformer_onehot", help="comma-separated models"
    )
    zero_shot.add_argument(
        "--fraction", type=float, default=0.2, help="share of groups held out (default 0.2)"
    )
    zero_shot.add_argument("--epochs", type=_count(1), default=30)
    zero_shot.add_argument("--batch-size", type=_count(1), default=64)
    zero_shot.add_argument("--lr", type=_positive_float, default=1e-3)
    zero_shot.add_argument("--out", required=True)
    zero_shot.set_defaults(run=_zero_shot)

    bases = commands.add_parser("bases", help="summary of the bases of all 230 groups")
    bases.add_argument("--radius", type=float, default=5.0, help="wave-vector cutoff (default 5)")
    bases.set_defaults(run=_bases)

    basis = commands.add_parser("basis", help="orbits, extinctions and reflection conditions")
    which = basis.add_mutually_exclusive_group(required=True)
    which.add_argument("--group", type=int, help="space-group number 1..230 (canonical setting)")
    which.add_argument("--hall", type=int, help="spglib Hall number 1..530 (any setting)")
    basis.add_argument("--radius", type=float, default=5.0, help="wave-vector cutoff (default 5)")
    basis.add_argument("--max-orbits", type=int, default=40, help="orbits to list (default 40)")
    basis.add_argument("--max-extinct", type=int, default=60, help="extinct k to list (default 60)")
    basis.set_defaults(run=_basis)

    symmetry = commands.add_parser("symmetry", help="detect and standardize a CIF/POSCAR file")
    symmetry.add_argument("file", help="CIF or POSCAR file")
    symmetry.add_argument("--symprec", type=float, default=1e-5, help="tolerance in Angstrom (default 1e-5)")
    symmetry.set_defaults(run=_symmetry)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (1 with a one-line message on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        # readers' warnings (e.g. pymatgen's CIF notes) are noise here; ranks > 0 are silent
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning if is_main_process() else Warning)
            args.run(args)
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
    except (SpacegroupNNError, ValueError, OSError) as error:  # OSError: an unwritable output path
        print(f"spacegroup-nn {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
