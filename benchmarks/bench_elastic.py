"""Elastic tensors on mp_elastic: a Laue-class-projected head against an unconstrained one.

    nice -n 5 python benchmarks/bench_elastic.py            # full run, 3 seeds: 1.8 min CPU
    python benchmarks/bench_elastic.py --smoke              # tiny, for the test suite

Both models are the same :class:`~spacegroup_nn.nn.crystal_tensor.CrystalTensorModel`
(transformer backbone, pooled invariant features, MLP head to the 21 Mandel coordinates);
``exact`` multiplies the head's output by the projector of the crystal's point group
(= Laue class for the elastic tensor), ``unconstrained`` does not. Same split, epochs,
optimizer, seeds. Targets are the Materials Project tensors (IEEE frame) rotated into the
standardized frame of each crystal (:mod:`spacegroup_nn.data.elastic`) and divided by one
scale, the RMS of the training coordinates: a scalar keeps the symmetry of the targets
(per-component shifts or logarithms would not). Loss: L1 on the scaled coordinates; the
checkpoint of the epoch with the best validation MAE is kept. Test metrics are computed in
float64 and in GPa: MAE over the 21 Voigt entries C_IJ (I <= J), per entry, on K_Voigt and
G_Voigt derived from the predicted tensor, on log10 K_Voigt (predictions clipped at 1 GPa);
symmetry error ``max_g |g C - C|_F / |C|_F`` of the outputs of every crystal of the three
splits, with every operation ``g`` of the crystal's point group applied to the Cartesian
tensor ``C_ijkl`` (rotations from the space group's fractional operations and the crystal's
standardized lattice): a measurement independent of the projector of the exact head.

The full run took 1.8 min of CPU (one torch thread; 107 s) and 1.8 min wall on the shared
2-core machine (2026-12-04). Writes ``benchmarks/results/bench_elastic.json`` and
``docs/benchmarks_elastic.md``.
Data come from ``--data-dir`` (default ``$SPACEGROUP_NN_DATA`` or ``../shared/datasets``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from spacegroup_nn.data.elastic import (
    coordinates_to_voigt,
    elastic_coordinates,
    elastic_crystal,
    voigt_moduli,
    voigt_to_cartesian,
)
from spacegroup_nn.datasets import DEFAULT_SYMPREC, load_split, read_records
from spacegroup_nn.errors import StructureError
from spacegroup_nn.groups import PointGroup, SpaceGroup, euclidean_normalizer
from spacegroup_nn.nn.crystal_tensor import CrystalTensorModel
from spacegroup_nn.solvers.tensors import tensor_projector
from spacegroup_nn.training import deterministic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, ROOT, mean_std

TARGET = "elasticity.elastic_tensor"
#: Defaults of ``--smoke``: 24 rows, 1 epoch, 1 seed, a tiny backbone.
SMOKE = {"limit": 24, "epochs": 1, "seeds": "0", "hidden": 8, "layers": 1}

HEADS = {"exact": True, "unconstrained": False}
VOIGT_NAMES = [f"C{i + 1}{j + 1}" for i in range(6) for j in range(i, 6)]
_UPPER = np.triu_indices(6)


# ----------------------------------------------------------------------------------- data


def load_crystals(data_dir: Path, limit: int | None) -> tuple[dict[str, list[Data]], dict]:
    """Standardized crystals with targets in their standardized frame, and target diagnostics.

    Returns ``{split: [Data]}`` (float64 ``pos``, ``y [1, 21]`` in GPa) and a summary of the
    targets: how far they are from the Laue-class invariant tensors in the IEEE frame (used)
    and in the structure's frame (wrong: for comparison), and the share of their norm that
    a normalizer-invariant model cannot determine (see :func:`_normalizer_projector`).
    """
    source = data_dir / "mp_elastic"
    split = load_split(source / "split.json")
    wanted = {item for ids in split.values() for item in ids}
    records, rejects = read_records(source / "mp_elastic.json", limit=limit).read()
    crystals: dict[str, Data] = {}
    residual = {"ieee": [], "structure": []}
    undetermined: list[float] = []
    skipped = [f"{reject.id}: {reject.reason}" for reject in rejects]
    for record in records:
        if record.id not in wanted:
            continue
        voigt = np.asarray(record.targets[TARGET], dtype=np.float64)
        try:
            data, crystal = elastic_crystal(
                record.structure, voigt, symprec=DEFAULT_SYMPREC, name=record.id, dtype=torch.float64
            )
        except StructureError as error:
            skipped.append(f"{record.id}: {type(error).__name__}: {error}")
            continue
        crystals[record.id] = data
        projector = tensor_projector(crystal.group, "elastic")
        target = data.y.numpy()[0]
        naive = elastic_coordinates(voigt, crystal.rotation)
        for name, vector in (("ieee", target), ("structure", naive)):
            residual[name].append(_relative(vector @ projector - vector, vector))
        normalizer = _normalizer_projector(crystal.group.number, crystal.lattice)
        undetermined.append(_relative(target @ (projector - normalizer), target))
    splits = {name: [crystals[i] for i in ids if i in crystals] for name, ids in split.items()}
    groups = sorted({int(d.space_group) for d in crystals.values()})
    diagnostics = {
        "num_crystals": len(crystals),
        "num_groups": len(groups),
        "groups": groups,
        "skipped": skipped,
        "target_laue_residual": {name: _summary(values) for name, values in residual.items()},
        "target_normalizer_undetermined_share": _summary(undetermined),
    }
    return splits, diagnostics


_NORMALIZER_CACHE: dict[int, np.ndarray] = {}


def _normalizer_projector(number: int, lattice: np.ndarray) -> np.ndarray:
    """Elastic projector of the linear parts of the Euclidean normalizer, standardized frame.

    Standard descriptions of one crystal differ by normalizer operations; invariant features
    are equal in all of them while the tensor rotates, so an invariant model determines only
    the part of a tensor that the normalizer's linear parts fix (e.g. not the sign of C14 in
    P-3m1, nor of C16 in P4/m). The linear parts (fractional, generic metric of the group)
    become Cartesian with the standardized lattice ``(3, 3)`` (rows); the result depends on
    the group only (the lattice shape of a group fixes the axes), hence the cache.
    """
    if number not in _NORMALIZER_CACHE:
        linear = euclidean_normalizer(SpaceGroup(number)).linear_parts
        basis = lattice.T  # lattice vectors as columns: Cartesian = basis @ fractional
        cartesian = basis @ linear @ np.linalg.inv(basis)
        _NORMALIZER_CACHE[number] = tensor_projector(PointGroup(cartesian), "elastic")
    return _NORMALIZER_CACHE[number]


def _relative(difference: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(difference) / max(np.linalg.norm(reference), 1e-300))


def _summary(values: Sequence[float]) -> dict:
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return {"count": 0}
    return {
        "count": int(array.size),
        "median": float(np.median(array)),
        "p90": float(np.quantile(array, 0.9)),
        "max": float(array.max()),
        "mean": float(array.mean()),
        "above_0.05": int((array > 0.05).sum()),
    }


def _cast(crystals: Sequence[Data], dtype: torch.dtype) -> list[Data]:
    """Copies with floating ``pos``, ``frac``, ``cell`` in ``dtype`` (``y`` stays float64)."""
    result = []
    for data in crystals:
        copy = data.clone()
        copy.pos, copy.frac, copy.cell = (getattr(data, key).to(dtype) for key in ("pos", "frac", "cell"))
        result.append(copy)
    return result


# ------------------------------------------------------------------------------- training


def train(
    project: bool, seed: int, splits: dict[str, list[Data]], scale: float, args: argparse.Namespace
) -> tuple[CrystalTensorModel, dict]:
    """Train one model; return it (best validation epoch) and its training record."""
    torch.manual_seed(seed)
    model = CrystalTensorModel("elastic", args.hidden, project, num_layers=args.layers, heads=args.heads)
    train_set, val_set = _cast(splits["train"], torch.float32), _cast(splits["val"], torch.float32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=generator)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * len(loader))
    best, best_state, history = math.inf, None, []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        losses = []
        for batch in loader:
            output = model(batch)
            loss = (output - batch.y.float() / scale).abs().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        val_mae = _voigt_mae(predict(model, val_set, args.batch_size) * scale, _targets(val_set))
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_mae_gpa": val_mae})
        if val_mae < best:
            best, best_state = val_mae, {k: v.clone() for k, v in model.state_dict().items()}
    seconds = time.perf_counter() - start
    model.load_state_dict(best_state)
    record = {
        "seed": seed,
        "best_val_mae_gpa": best,
        "best_epoch": int(np.argmin([h["val_mae_gpa"] for h in history]) + 1),
        "seconds_per_epoch": seconds / args.epochs,
        "history": history,
    }
    return model, record


@torch.no_grad()
def predict(model: CrystalTensorModel, crystals: Sequence[Data], batch_size: int) -> np.ndarray:
    """``(n, 21)`` outputs in the model's scaled units, computed in the model's dtype, as float64."""
    model.eval()
    outputs = [
        model(Batch.from_data_list(list(crystals[i : i + batch_size])))
        for i in range(0, len(crystals), batch_size)
    ]
    return torch.cat(outputs).double().numpy() if outputs else np.zeros((0, 21))


def _targets(crystals: Sequence[Data]) -> np.ndarray:
    return torch.cat([data.y for data in crystals]).double().numpy()


def _voigt_mae(predicted: np.ndarray, target: np.ndarray) -> float:
    """MAE over the 21 Voigt entries C_IJ (I <= J), GPa."""
    difference = coordinates_to_voigt(predicted) - coordinates_to_voigt(target)
    return float(np.abs(difference[:, _UPPER[0], _UPPER[1]]).mean())


def evaluate(model: CrystalTensorModel, splits: dict[str, list[Data]], scale: float, batch_size: int) -> dict:
    """Test metrics in GPa and symmetry errors over every crystal, all in float64."""
    model = model.double()
    metrics: dict = {}
    everything = [data for name in ("train", "val", "test") for data in splits[name]]
    outputs = predict(model, everything, batch_size) * scale
    numbers = np.array([int(data.space_group) for data in everything])
    projectors = model.projectors(torch.from_numpy(numbers)).numpy()
    projected = np.einsum("bij,bj->bi", projectors, outputs)
    errors = np.array([symmetry_error(c, data) for c, data in zip(outputs, everything, strict=True)])
    per_group = {int(n): float(errors[numbers == n].max()) for n in np.unique(numbers)}
    metrics["symmetry_error"] = {
        "max": float(errors.max()),
        "mean": float(errors.mean()),
        "num_crystals": len(errors),
        "num_groups": len(per_group),
        "max_per_group": per_group,
    }
    test = slice(len(everything) - len(splits["test"]), len(everything))
    metrics["test"] = _test_metrics(outputs[test], _targets(splits["test"]))
    metrics["test_projected_after"] = _test_metrics(projected[test], _targets(splits["test"]))
    return metrics


def cartesian_point_group(data: Data) -> np.ndarray:
    """``(m, 3, 3)`` float64: the crystal's point-group operations as Cartesian rotations of its
    standardized frame, ``A R A^-1`` for the fractional rotations ``R`` of its space group and
    ``A`` the lattice vectors of ``data.cell`` as columns."""
    fractional = np.unique(np.asarray(SpaceGroup(int(data.space_group)).rotations, dtype=np.float64), axis=0)
    basis = data.cell.reshape(3, 3).double().numpy().T
    return basis @ fractional @ np.linalg.inv(basis)


def symmetry_error(coordinates: np.ndarray, data: Data) -> float:
    """``max_g |g C - C|_F / |C|_F`` of one predicted elastic tensor ``C`` (21 Mandel
    coordinates), every operation ``g`` of the crystal's point group applied to the Cartesian
    ``C_ijkl`` (:func:`cartesian_point_group`): independent of the projector of the exact head."""
    tensor = voigt_to_cartesian(coordinates_to_voigt(coordinates))
    rotations = cartesian_point_group(data)
    moved = np.einsum("gia,gjb,gkc,gld,abcd->gijkl", *(rotations,) * 4, tensor, optimize=True)
    change = np.linalg.norm((moved - tensor).reshape(len(rotations), -1), axis=1)
    return float(change.max() / np.linalg.norm(tensor))


def _test_metrics(predicted: np.ndarray, target: np.ndarray) -> dict:
    voigt_p, voigt_t = coordinates_to_voigt(predicted), coordinates_to_voigt(target)
    entries = np.abs(voigt_p - voigt_t)[:, _UPPER[0], _UPPER[1]]
    (k_p, g_p), (k_t, g_t) = voigt_moduli(voigt_p), voigt_moduli(voigt_t)
    return {
        "mae_voigt_gpa": float(entries.mean()),
        "mae_per_entry_gpa": dict(zip(VOIGT_NAMES, entries.mean(axis=0).tolist(), strict=True)),
        "mae_k_voigt_gpa": float(np.abs(k_p - k_t).mean()),
        "mae_g_voigt_gpa": float(np.abs(g_p - g_t).mean()),
        "mae_log10_k_voigt": float(
            np.abs(np.log10(np.maximum(k_p, 1.0)) - np.log10(np.maximum(k_t, 1.0))).mean()
        ),
    }


# ------------------------------------------------------------------------------- report


def markdown(results: dict) -> str:
    """The generated section for docs/benchmarks.md."""
    settings, targets = results["settings"], results["targets"]
    command = f"`{settings['command']}`"
    lines = [
        "## mp_elastic: elastic tensor with exact Laue-class symmetry",
        "",
        f"{command}: split sizes {results['sizes']}; {targets['num_crystals']} crystals in "
        f"{targets['num_groups']} space groups; backbone `SpaceGroupTransformer` "
        f"(hidden {settings['hidden']}, layers {settings['layers']}, heads {settings['heads']}), "
        f"{settings['epochs']} epochs, batch {settings['batch_size']}, AdamW lr {settings['lr']}, "
        f"seeds {settings['seeds']}, torch threads {settings['threads']}; total "
        f"{results['total_s'] / 60:.1f} min wall-clock, {results['cpu_s'] / 60:.1f} min of CPU time "
        "(the machine is shared: wall time counts the other jobs).",
        "",
    ]
    if settings["smoke"]:
        lines += ["**Smoke run:** tiny settings, not a benchmark result.", ""]
    elif len(settings["seeds"]) < 3:
        lines += ["**Preliminary:** fewer than 3 seeds.", ""]
    lines += [
        "Targets: the Materials Project tensors (IEEE frame) rotated into the frame of each "
        "standardized crystal, divided by one scalar (RMS of the training coordinates). "
        "`exact`: head output multiplied by the projector of the crystal's Laue class; "
        "`unconstrained`: no projection (same architecture and budget); `unconstrained, "
        "projected after`: its outputs projected at test time. Test MAE in GPa over the 21 "
        "Voigt entries C_IJ (I ≤ J), on K_V and G_V from the predicted tensor, and on "
        "log10 K_V (clipped at 1 GPa); mean ± std over seeds. Symmetry error "
        "max_g ‖g·C − C‖ / ‖C‖ with every operation g of the crystal's point group applied to "
        "the predicted Cartesian C_ijkl (rotations from the space group and the standardized "
        "lattice, not the head's projector), in float64 over all "
        f"{results['heads']['exact']['runs'][0]['symmetry_error']['num_crystals']} crystals "
        "(train, val, test), max over seeds.",
        "",
        "| head | MAE C_IJ (GPa) | MAE K_V (GPa) | MAE G_V (GPa) | MAE log10 K_V "
        "| symmetry error max | symmetry error mean | s / epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, head in results["heads"].items():
        runs = head["runs"]
        for label, key in ((name, "test"), (f"{name}, projected after", "test_projected_after")):
            if name == "exact" and key == "test_projected_after":
                continue
            metric = [run[key] for run in runs]
            symmetry = [run["symmetry_error"] for run in runs]
            if key == "test_projected_after":
                sym_max, sym_mean = "0 (by construction)", "—"
            else:
                sym_max = f"{max(s['max'] for s in symmetry):.1e}"
                sym_mean = f"{np.mean([s['mean'] for s in symmetry]):.1e}"
            lines.append(
                f"| {label} | {mean_std([m['mae_voigt_gpa'] for m in metric])} "
                f"| {mean_std([m['mae_k_voigt_gpa'] for m in metric])} "
                f"| {mean_std([m['mae_g_voigt_gpa'] for m in metric])} "
                f"| {mean_std([m['mae_log10_k_voigt'] for m in metric])} "
                f"| {sym_max} | {sym_mean} "
                f"| {np.mean([r['seconds_per_epoch'] for r in runs]):.1f} |"
            )
    exact = results["heads"]["exact"]
    lines += [
        "",
        f"Exact head: the largest symmetry error over the "
        f"{exact['runs'][0]['symmetry_error']['num_groups']} groups is "
        f"{exact['symmetry_error_max']:.1e} (target ≤ 1e-10): "
        f"{'met' if exact['symmetry_error_max'] <= 1e-10 else 'NOT met'}.",
        "",
        "Test MAE per Voigt entry (GPa, mean over seeds):",
        "",
        "| head | " + " | ".join(VOIGT_NAMES) + " |",
        "|---|" + "---|" * len(VOIGT_NAMES),
    ]
    for name, head in results["heads"].items():
        per_entry = np.mean(
            [[run["test"]["mae_per_entry_gpa"][k] for k in VOIGT_NAMES] for run in head["runs"]], axis=0
        )
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in per_entry) + " |")
    residual = targets["target_laue_residual"]
    share = targets["target_normalizer_undetermined_share"]
    lines += [
        "",
        "Target frame check (same command): relative distance of the targets from the Laue-class "
        "invariant tensors, ‖P c − c‖ / ‖c‖. Taking the tensor in the IEEE frame (as used): median "
        f"{residual['ieee']['median']:.1e}, 90th percentile {residual['ieee']['p90']:.1e}, "
        f"{residual['ieee']['above_0.05']} crystals above 0.05. Taking it in the frame of the "
        f"given structure instead: median {residual['structure']['median']:.2g}, "
        f"{residual['structure']['above_0.05']} above 0.05.",
        "",
        "Share of the target norm that no normalizer-invariant model can determine (components "
        "that change sign between equivalent standard descriptions, e.g. C14 in P-3m1, C16 in "
        f"P4/m): mean {share['mean']:.2g}, max {share['max']:.2g}, {share['above_0.05']} crystals "
        "above 0.05.",
    ]
    baseline = results.get("scalar_baseline")
    if baseline:
        rows = ", ".join(f"{m} {v['test_mae_mean']:.4g}" for m, v in baseline["models"].items())
        lines += [
            "",
            f"Scalar baseline for comparison, log10 K_V regressed directly (`{baseline['command']}`, "
            f"{baseline['epochs']} epochs, seeds {baseline['seeds']}): test MAE {rows} (log10 GPa).",
        ]
    return "\n".join(lines) + "\n"


def _scalar_baseline(path: Path) -> dict | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    settings = data.get("settings", {})
    return {
        "command": settings.get("command"),
        "epochs": data.get("epochs"),
        "seeds": settings.get("seeds"),
        "models": {k: {"test_mae_mean": v["test_mae_mean"]} for k, v in data["models"].items()},
    }


# ----------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-5)
    parser.add_argument("--limit", type=int, default=None, help="use the first LIMIT rows only")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--smoke", action="store_true", help="24 rows, 1 epoch, 1 seed, tiny model (unless given)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_elastic.json")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks_elastic.md")
    args = parser.parse_args(argv)
    if args.smoke:  # smaller defaults; options given explicitly still apply
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    command = "python benchmarks/bench_elastic.py" + "".join(
        f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:])
    )
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(args.threads)
    start, cpu_start = time.perf_counter(), time.process_time()
    splits, diagnostics = load_crystals(args.data_dir, args.limit)
    load_s = time.perf_counter() - start
    scale = float(np.sqrt(np.mean(_targets(splits["train"]) ** 2)))
    heads: dict = {}
    with deterministic():
        for name, project in HEADS.items():
            runs = []
            for seed in seeds:
                model, record = train(project, seed, splits, scale, args)
                record.update(evaluate(model, splits, scale, args.batch_size))
                runs.append(record)
                test, symmetry = record["test"]["mae_voigt_gpa"], record["symmetry_error"]["max"]
                print(f"{name} seed {seed}: MAE {test:.3f} GPa, symmetry {symmetry:.1e}", file=sys.stderr)
            heads[name] = {
                "project": project,
                "symmetry_error_max": max(run["symmetry_error"]["max"] for run in runs),
                "test_mae_voigt_gpa": [run["test"]["mae_voigt_gpa"] for run in runs],
                "runs": runs,
            }
    results = {
        "smoke": args.smoke,
        "settings": {
            "command": command,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "hidden": args.hidden,
            "layers": args.layers,
            "heads": args.heads,
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            "seeds": seeds,
            "limit": args.limit,
            "threads": args.threads,
            "smoke": args.smoke,
            "target_scale_gpa": scale,
            "symprec": DEFAULT_SYMPREC,
        },
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__},
        "sizes": {name: len(items) for name, items in splits.items()},
        "targets": diagnostics,
        "heads": heads,
        "scalar_baseline": _scalar_baseline(
            ROOT / "benchmarks" / "results" / "run_all" / "property_mp_elastic_K.json"
        ),
        "load_s": load_s,
        "total_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu_start,  # this process, all threads
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    args.docs.parent.mkdir(parents=True, exist_ok=True)
    args.docs.write_text(markdown(results))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
