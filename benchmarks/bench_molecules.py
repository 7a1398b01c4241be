"""Benchmark point-group models on molecules: g2 symmetry checks, QM9 gap and polarizability tensor.

Run:  nice -n 5 python benchmarks/bench_molecules.py        (full: about 20 min on 1 thread)
      python benchmarks/bench_molecules.py --smoke           (seconds; used by the tests)

Writes ``benchmarks/results/bench_molecules.json`` and ``docs/benchmarks_molecules.md``.

1. g2 (``ase.collections.g2``, 162 molecules): the point group of ``from_molecule`` agrees with
   pymatgen's ``PointGroupAnalyzer`` on the molecule and on a randomly rotated and translated
   copy; features and models are invariant under every element of each molecule's group
   (max errors in float64 and float32); scalar predictions do not depend on the input
   orientation.
2. QM9 from the ``qm9pack`` package (130,831 molecules, B3LYP/6-31G(2df,p)). ``import qm9pack``
   fails on setuptools >= 81 (its module imports ``pkg_resources`` and ``setuptools.setup``
   without using them), so the bundled CSV files are read directly from the installed
   package, located with ``importlib.util.find_spec`` without running its ``__init__``.
   Subset: a seeded random sample (``numpy.random.default_rng(seed)``) of the whole set, split
   into train / validation / test; molecules whose point group cannot be detected are
   reported, not used. HOMO-LUMO gap (eV): ``PointGroupNetwork`` against PyG's ``SchNet`` with
   the same epochs, batch size, optimizer and schedule; test MAE at the best validation epoch.
3. Polarizability tensor (bohr^3), ``qm9_polarizability.csv`` (columns ``A_xx, A_xy, A_yy,
   A_xz, A_yz, A_zz``). The frame of these tensors cannot be determined from the package: its
   help text says only "xx component of dipole electric field polarizability", and it ships
   no code that computed them (they come from the Gaussian calculations of QM9; the column
   order is that of Gaussian's "Exact polarizability" line, printed in Gaussian's standard
   orientation, while the QM9 coordinates are in another frame). Measured against an
   atom-dipole (Thole) model computed from the coordinates (``thole_polarizability``,
   ``qm9.frame_check`` in the results), the anisotropic diagonal agrees poorly in the frame
   of the coordinates and well in the principal-axes frame of the inertia tensor (moments
   ascending), which however leaves the direction of each axis open, and nothing in the file
   (no vector quantity is given) fixes it. The task is therefore scored on frame-independent
   quantities only, with no choice of frame or axis sign: the loss is the L1 distance of the
   ascending eigenvalues (normalized), and the test metrics are the MAE of the eigenvalues,
   of the isotropic part and of the anisotropy, and the mean spectral distance
   ``|lambda_pred - lambda_label|_2``, equal to ``min_R |A_pred - R A_label R^T|_F`` over
   rotations (:func:`spectral_errors`). ``SymmetricTensorHead`` with the projector of each
   molecule's point group against the same head unprojected: these errors, and the symmetry
   error of each predicted tensor, measured in the file's frame by applying every rotation of
   ``PointGroup.from_molecule`` to it (:func:`symmetry_errors`), not with the projector.
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib.util
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from ase.collections import g2
from pymatgen.core import Element, Molecule
from pymatgen.symmetry.analyzer import PointGroupAnalyzer
from scipy.spatial.transform import Rotation
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn.models import SchNet

from spacegroup_nn import PointGroup
from spacegroup_nn.data import from_molecule
from spacegroup_nn.errors import SpacegroupNNError
from spacegroup_nn.nn import PointGroupNetwork, SymmetrizedHarmonicFeatures
from spacegroup_nn.solvers.tensors import tensor_encoder

ROOT = Path(__file__).resolve().parents[1]
HARTREE_EV = 27.211386245988
QM9_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
POLARIZABILITY_FILE = "qm9_polarizability.csv"

FULL = {
    "g2_molecules": None,  # all 162
    "qm9_train": 2000,
    "qm9_val": 250,
    "qm9_test": 1000,
    "frame_check": 1000,
    "epochs": 12,
    "batch_size": 32,
    "lr": 1e-3,
    "ours": {"hidden_channels": 64, "num_layers": 2, "heads": 4},
    "schnet": {"hidden_channels": 64, "num_filters": 64, "num_interactions": 3, "num_gaussians": 50},
    "cutoff": 5.0,
}
SMOKE = {
    "g2_molecules": 12,
    "qm9_train": 24,
    "qm9_val": 8,
    "qm9_test": 8,
    "frame_check": 40,
    "epochs": 1,
    "batch_size": 8,
    "lr": 1e-3,
    "ours": {"hidden_channels": 16, "num_layers": 1, "heads": 2},
    "schnet": {"hidden_channels": 16, "num_filters": 16, "num_interactions": 1, "num_gaussians": 16},
    "cutoff": 5.0,
}
SMOKE_ROWS = 200  # smoke mode reads only the first rows of the first file


# ----------------------------------------------------------------------------------- g2


def log(message: str) -> None:
    """Progress on stderr, with the process CPU time."""
    print(
        f"[{time.strftime('%H:%M:%S')} cpu {time.process_time():.0f} s] {message}",
        file=sys.stderr,
        flush=True,
    )


def bench_g2(config: dict, seed: int) -> dict:
    """Point-group detection against pymatgen and invariance of features and models on g2."""
    names = list(g2.names)[: config["g2_molecules"]]
    rng = np.random.default_rng(seed)
    agree, agree_moved, rows = 0, 0, []
    datas: dict[torch.dtype, list[Data]] = {torch.float64: [], torch.float32: []}
    for name in names:
        atoms = g2[name]
        reference = PointGroupAnalyzer(Molecule(atoms.get_chemical_symbols(), atoms.positions)).sch_symbol
        data = from_molecule(atoms, dtype=torch.float64)
        moved = atoms.copy()
        moved.positions = atoms.positions @ Rotation.random(random_state=rng).as_matrix().T + rng.normal(
            size=3
        )
        moved_symbol = from_molecule(moved).symbol
        agree += data.symbol == reference
        agree_moved += moved_symbol == reference
        rows.append({"name": name, "ours": data.symbol, "pymatgen": reference, "rotated": moved_symbol})
        datas[torch.float64].append(data)
        single = data.clone()
        single.pos = data.pos.float()
        datas[torch.float32].append(single)

    torch.manual_seed(seed)
    models = {
        "features": SymmetrizedHarmonicFeatures(),
        "scalar model": PointGroupNetwork(**config["ours"]),
        "tensor model (projected)": PointGroupNetwork(**config["ours"], tensor_kind="rank2_symmetric"),
    }
    errors: dict = {}
    for dtype, data_list in datas.items():
        batch = Batch.from_data_list(data_list)
        groups = [PointGroup.from_symbol(d.symbol).rotations for d in data_list]
        elements = max(len(rotations) for rotations in groups)
        for label, module in models.items():
            module = module.to(dtype)

            def run(
                pos: Tensor, module: torch.nn.Module = module, label: str = label, batch: Batch = batch
            ) -> Tensor:
                if label == "features":
                    return module(pos, batch.point_group, batch.batch)
                return module(batch.z, pos, batch.point_group, batch.batch)

            with torch.no_grad():
                reference_out = run(batch.pos)
                worst = 0.0
                for element in range(elements):  # element k mod |G| of each molecule's group
                    rotations = torch.tensor(np.stack([r[element % len(r)] for r in groups]))
                    rotations = rotations.to(dtype)[batch.batch]
                    moved_pos = (rotations @ batch.pos.unsqueeze(-1)).squeeze(-1)
                    worst = max(worst, (run(moved_pos) - reference_out).abs().max().item())
            errors.setdefault(label, {})[str(dtype).removeprefix("torch.")] = worst
    # scalar predictions from a rotated and translated copy of every molecule
    model = models["scalar model"].double()
    rotation = Rotation.random(random_state=seed).as_matrix()
    moved = []
    for name in names:
        atoms = g2[name].copy()
        atoms.positions = atoms.positions @ rotation.T + (1.0, -2.0, 0.5)
        moved.append(from_molecule(atoms, dtype=torch.float64))
    with torch.no_grad():
        orientation = (
            (model(Batch.from_data_list(moved)) - model(Batch.from_data_list(datas[torch.float64])))
            .abs()
            .max()
        )
    symbols: dict[str, int] = {}
    for row in rows:
        symbols[row["ours"]] = symbols.get(row["ours"], 0) + 1
    return {
        "molecules": len(names),
        "agree_with_pymatgen": agree,
        "agree_after_rotation": agree_moved,
        "point_groups": dict(sorted(symbols.items(), key=lambda item: -item[1])),
        "max_invariance_error": errors,
        "orientation_error_scalar_float64": orientation.item(),
        "disagreements": [row for row in rows if not row["ours"] == row["pymatgen"] == row["rotated"]],
    }


# ---------------------------------------------------------------------------------- QM9


def qm9_folder() -> Path:
    """The data folder of the installed ``qm9pack``, found without importing it.

    ``import qm9pack`` fails on setuptools >= 81 (``from pkg_resources import resource_filename``
    in ``qm9pack_getdata.py``); its CSV files are plain data and need none of it.
    """
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("qm9pack is not installed: pip install qm9pack")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    missing = [name for name in (*QM9_FILES, POLARIZABILITY_FILE) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"qm9pack data files {missing} not found in {folder}")
    return folder


def read_qm9(max_rows: int | None = None) -> list[dict]:
    """Rows of QM9 (``XYZ_file``, elements, positions in Angstrom, gap in eV, 3x3 polarizability).

    ``max_rows`` reads only the first rows of the first file (smoke mode).
    """
    folder = qm9_folder()
    csv.field_size_limit(1 << 24)
    polarizability: dict[str, np.ndarray] = {}
    with open(folder / POLARIZABILITY_FILE, newline="") as handle:
        for row in csv.DictReader(handle):
            xx, xy, yy, xz, yz, zz = (
                float(row[key]) for key in ("A_xx", "A_xy", "A_yy", "A_xz", "A_yz", "A_zz")
            )
            polarizability[row["XYZ_file"]] = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    rows = []
    for name in QM9_FILES:
        with open(folder / name, newline="") as handle:
            for row in csv.DictReader(handle):
                key = row["XYZ_file"]
                if key in polarizability:
                    rows.append(
                        {
                            "id": key.removesuffix(".xyz"),
                            "elements": row["Elements"],
                            "xyz": row["XYZ_Ang"],
                            "gap_eV": float(row["HOMO_LUMO_gap_au"]) * HARTREE_EV,
                            "alpha": polarizability[key],
                        }
                    )
                if max_rows is not None and len(rows) >= max_rows:
                    return rows
    return rows


def inertia_axes(positions: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Rows: principal axes of the inertia tensor about the centre of mass, moments ascending."""
    centred = positions - masses @ positions / masses.sum()
    inertia = np.einsum("n,nij->ij", masses, (centred**2).sum(1)[:, None, None] * np.eye(3)) - np.einsum(
        "n,ni,nj->ij", masses, centred, centred
    )
    return np.linalg.eigh(inertia)[1].T


def qm9_molecule(row: dict) -> Molecule:
    """The pymatgen molecule of one QM9 row (coordinates in Angstrom, the frame of the file)."""
    elements = ast.literal_eval(row["elements"])
    return Molecule(elements, np.array(ast.literal_eval(row["xyz"]), dtype=np.float64))


def qm9_data(row: dict) -> Data:
    """PyG data of one QM9 row with ``gap`` (1,) in eV and ``alpha`` (1, 3) float64, the
    eigenvalues of the polarizability tensor (bohr^3) in ascending order: the frame of the
    file's tensors is not known (module docstring), its eigenvalues do not depend on it."""
    data = from_molecule(qm9_molecule(row), name=row["id"])
    data.gap = torch.tensor([row["gap_eV"]], dtype=torch.float32)
    data.alpha = torch.from_numpy(np.linalg.eigvalsh(row["alpha"])).unsqueeze(0)
    return data


#: Atomic polarizabilities (Angstrom^3) of van Duijnen and Swart, J. Phys. Chem. A 102, 2399 (1998).
ATOM_POLARIZABILITY = {"H": 0.514, "C": 1.405, "N": 1.105, "O": 0.862, "F": 0.440}
THOLE_DAMPING = 0.39  # AMOEBA's damping a in 1 - exp(-a u^3)
BOHR3_PER_ANGSTROM3 = 1.0 / 0.529177210903**3


def thole_polarizability(elements: Sequence[str], positions: np.ndarray) -> np.ndarray:
    """Molecular polarizability (bohr^3, 3x3, frame of ``positions``) of interacting atomic
    dipoles with Thole damping: a physics proxy, independent of the QM9 labels."""
    alpha = np.array([ATOM_POLARIZABILITY[element] for element in elements])
    n = len(alpha)
    matrix = np.zeros((n, 3, n, 3))
    difference = positions[:, None] - positions[None]
    distance = np.linalg.norm(difference, axis=-1) + np.eye(n)
    u = distance / np.outer(alpha, alpha) ** (1 / 6)
    damping = np.exp(-THOLE_DAMPING * u**3)
    lambda3, lambda5 = 1 - damping, 1 - (1 + THOLE_DAMPING * u**3) * damping
    field = 3 * (lambda5 / distance**5)[..., None, None] * difference[..., :, None] * difference[
        ..., None, :
    ] - (lambda3 / distance**3)[..., None, None] * np.eye(3)
    matrix -= field.transpose(0, 2, 1, 3) * (1 - np.eye(n))[:, None, :, None]
    matrix[np.arange(n), :, np.arange(n), :] = np.eye(3) / alpha[:, None, None]
    response = np.linalg.inv(matrix.reshape(3 * n, 3 * n)).reshape(n, 3, n, 3)
    return response.sum(axis=(0, 2)) * BOHR3_PER_ANGSTROM3


def frame_check(rows: Sequence[dict]) -> dict:
    """Correlation of the anisotropic diagonal of the QM9 tensors with the Thole proxy expressed
    in the inertia principal-axes frame (moments ascending) and in the frame of the coordinates."""
    file_values, principal, coordinates = [], [], []
    for row in rows:
        elements = ast.literal_eval(row["elements"])
        positions = np.array(ast.literal_eval(row["xyz"]), dtype=np.float64)
        masses = np.array([Element(element).atomic_mass for element in elements], dtype=np.float64)
        proxy = thole_polarizability(elements, positions)
        axes = inertia_axes(positions, masses)

        def anisotropic(tensor: np.ndarray) -> np.ndarray:
            return np.diag(tensor) - np.trace(tensor) / 3

        file_values.append(anisotropic(row["alpha"]))
        principal.append(anisotropic(axes @ proxy @ axes.T))
        coordinates.append(anisotropic(proxy))
    file_values = np.ravel(file_values)
    return {
        "molecules": len(rows),
        "correlation_principal_axes": float(np.corrcoef(file_values, np.ravel(principal))[0, 1]),
        "correlation_coordinate_frame": float(np.corrcoef(file_values, np.ravel(coordinates))[0, 1]),
    }


def load_qm9(config: dict, seed: int, smoke: bool) -> tuple[dict[str, list[Data]], dict]:
    """Seeded train / validation / test subsets of QM9 as PyG data, with a report."""
    start = time.perf_counter()
    rows = read_qm9(SMOKE_ROWS if smoke else None)
    read_s = time.perf_counter() - start
    sizes = {"train": config["qm9_train"], "val": config["qm9_val"], "test": config["qm9_test"]}
    order = np.random.default_rng(seed).permutation(len(rows))
    splits: dict[str, list[Data]] = {"train": [], "val": [], "test": []}
    rejected: list[dict] = []
    position = 0
    start = time.perf_counter()
    for split, size in sizes.items():
        while len(splits[split]) < size:
            row = rows[int(order[position])]
            position += 1
            try:
                data = qm9_data(row)
            except SpacegroupNNError as error:  # reported, never silently dropped
                rejected.append({"id": row["id"], "error": f"{type(error).__name__}: {error}"})
                continue
            if split == "test":  # the group in the file's frame, for the symmetry error
                data.file_rotations = PointGroup.from_molecule(qm9_molecule(row)).rotations
            splits[split].append(data)
    report = {
        "molecules_in_file": len(rows),
        "sizes": {split: len(data) for split, data in splits.items()},
        "ids_first": {split: [d.name for d in data[:5]] for split, data in splits.items()},
        "rejected": rejected,
        "read_s": read_s,
        "convert_s": time.perf_counter() - start,
        "point_groups": _count([d.symbol for data in splits.values() for d in data]),
        "frame_check": frame_check([rows[int(index)] for index in order[: config["frame_check"]]]),
    }
    return splits, report


def _count(values: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


class MolecularGraph:
    """SchNet's interaction graph without ``pyg-lib``: every pair of atoms of one molecule
    closer than ``cutoff`` (exact, no neighbour cap)."""

    def __init__(self, cutoff: float) -> None:
        self.cutoff = cutoff

    def __call__(self, pos: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        distance = torch.cdist(pos, pos)
        mask = (batch[:, None] == batch[None, :]) & (distance < self.cutoff)
        mask.fill_diagonal_(False)
        edge_index = mask.nonzero().t()
        return edge_index, (pos[edge_index[0]] - pos[edge_index[1]]).norm(dim=-1)


def train(
    model: torch.nn.Module,
    predict: Callable[[torch.nn.Module, Batch], Tensor],
    loss: Callable[[Tensor, Batch], Tensor],
    splits: dict[str, list[Data]],
    config: dict,
    seed: int,
) -> dict:
    """Adam with a cosine schedule; the weights of the best validation epoch are kept."""
    torch.manual_seed(seed)
    loader = DataLoader(splits["train"], batch_size=config["batch_size"], shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    steps = config["epochs"] * len(loader)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
    best, best_state, history = float("inf"), None, []
    start = time.perf_counter()
    for _ in range(config["epochs"]):
        model.train()
        for batch in loader:
            optimizer.zero_grad()
            loss(predict(model, batch), batch).backward()
            optimizer.step()
            schedule.step()
        validation = evaluate(model, predict, loss, splits["val"], config)
        history.append(validation)
        log(f"{type(model).__name__} epoch {len(history)}: validation loss {validation:.4f}")
        if validation < best:
            best, best_state = validation, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return {
        "seconds_per_epoch": (time.perf_counter() - start) / max(config["epochs"], 1),
        "val_loss": history,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def evaluate(
    model: torch.nn.Module,
    predict: Callable[[torch.nn.Module, Batch], Tensor],
    loss: Callable[[Tensor, Batch], Tensor],
    data: list[Data],
    config: dict,
) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for batch in DataLoader(data, batch_size=config["batch_size"]):
            total += loss(predict(model, batch), batch).item() * batch.num_graphs
    return total / len(data)


def predictions(
    model: torch.nn.Module,
    predict: Callable[[torch.nn.Module, Batch], Tensor],
    data: list[Data],
    config: dict,
) -> Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat(
            [predict(model, batch) for batch in DataLoader(data, batch_size=config["batch_size"])]
        )


def bench_gap(splits: dict[str, list[Data]], config: dict, seed: int) -> dict:
    """HOMO-LUMO gap (eV): PointGroupNetwork against SchNet, same budget."""
    gaps = torch.cat([d.gap for d in splits["train"]])
    mean, std = gaps.mean(), gaps.std()

    def loss(prediction: Tensor, batch: Batch) -> Tensor:
        return torch.nn.functional.l1_loss(prediction, (batch.gap - mean) / std)

    torch.manual_seed(seed)
    models: dict[str, tuple[torch.nn.Module, Callable]] = {
        "PointGroupNetwork": (PointGroupNetwork(**config["ours"]), lambda m, b: m(b)),
        "SchNet": (
            SchNet(
                **config["schnet"],
                cutoff=config["cutoff"],
                interaction_graph=MolecularGraph(config["cutoff"]),
            ),
            lambda m, b: m(b.z, b.pos, b.batch).view(-1),
        ),
    }
    target = torch.cat([d.gap for d in splits["test"]])
    results = {"train_mean_eV": mean.item(), "train_std_eV": std.item()}
    for name, (model, predict) in models.items():
        history = train(model, predict, loss, splits, config, seed)
        error = (predictions(model, predict, splits["test"], config) * std + mean - target).abs()
        results[name] = {**history, "test_mae_eV": error.mean().item()}
    results["baseline_predict_mean_mae_eV"] = (target - mean).abs().mean().item()
    return results


def eigenvalues(mandel: Tensor) -> Tensor:
    """``(B, 3)`` ascending eigenvalues of symmetric tensors given by their ``(B, 6)`` Mandel
    coordinates (differentiable)."""
    encoder = torch.tensor(tensor_encoder("rank2_symmetric"), dtype=mandel.dtype)
    return torch.linalg.eigvalsh((mandel @ encoder).reshape(-1, 3, 3))


def spectral_errors(predicted: Tensor, target: Tensor) -> dict:
    """Frame-independent errors (bohr^3) of predicted tensors ``(n, 6)`` (Mandel) against
    target eigenvalues ``(n, 3)`` (ascending): MAE of the eigenvalues, of the isotropic part
    (mean eigenvalue) and of the anisotropy ``sqrt(((l1-l2)^2 + (l2-l3)^2 + (l3-l1)^2) / 2)``;
    mean spectral distance ``|l_pred - l_target|_2``, which is
    ``min_R |A_pred - R A_target R^T|_F`` over rotations ``R`` (Hoffman-Wielandt)."""

    def anisotropy(values: Tensor) -> Tensor:
        return ((values - values.roll(1, dims=1)) ** 2).sum(dim=1).div(2).sqrt()

    values = eigenvalues(predicted)
    return {
        "test_eigenvalue_mae_bohr3": (values - target).abs().mean().item(),
        "test_isotropic_mae_bohr3": (values.mean(1) - target.mean(1)).abs().mean().item(),
        "test_anisotropy_mae_bohr3": (anisotropy(values) - anisotropy(target)).abs().mean().item(),
        "test_spectral_distance_bohr3": (values - target).norm(dim=1).mean().item(),
    }


def bench_polarizability(splits: dict[str, list[Data]], config: dict, seed: int) -> dict:
    """Polarizability tensor (bohr^3): group-projected tensor head against the unprojected head,
    trained and scored on the eigenvalues of the tensor."""
    train_eigenvalues = torch.cat([d.alpha for d in splits["train"]]).float()
    iso = train_eigenvalues.mean()
    scale = (train_eigenvalues - iso).abs().mean()
    shift = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0]) * iso

    def loss(prediction: Tensor, batch: Batch) -> Tensor:
        return (eigenvalues(prediction * scale + shift) - batch.alpha.float()).abs().mean() / scale

    results: dict = {"normalization": {"isotropic_bohr3": iso.item(), "scale_bohr3": scale.item()}}
    target = torch.cat([d.alpha for d in splits["test"]])
    for name, project in (("projected", True), ("unconstrained", False)):
        torch.manual_seed(seed)
        model = PointGroupNetwork(**config["ours"], tensor_kind="rank2_symmetric", project=project)
        history = train(model, lambda m, b: m(b), loss, splits, config, seed)
        values = (predictions(model, lambda m, b: m(b), splits["test"], config) * scale + shift).double()
        float64 = predictions(
            model.double(),
            lambda m, b: m(b.z, b.pos.double(), b.point_group, b.batch),
            splits["test"],
            config,
        )
        float64 = float64 * scale.item() + shift.double()
        results[name] = {
            **history,
            **spectral_errors(values, target),
            **symmetry_errors(splits["test"], {"float32": values, "float64": float64}),
        }
    return results


def symmetry_errors(test: Sequence[Data], predicted: dict[str, Tensor]) -> dict:
    """``max_g max_ij |(R_g A R_g^T - A)_ij|`` (bohr^3) of predicted tensors, in the frame of
    the QM9 file: each prediction ``(6,)`` (Mandel, canonical frame) becomes the Cartesian
    ``A = M^T A_canonical M`` (``M = data.frame``) and every rotation ``R_g`` of
    ``PointGroup.from_molecule`` on the file's molecule (``data.file_rotations``) acts on it,
    independently of the projector that made the prediction. ``predicted`` maps a label
    (float32 as trained, float64) to ``(n, 6)`` predictions."""
    encoder = tensor_encoder("rank2_symmetric")
    errors: dict[str, list[float]] = {key: [] for key in predicted}
    for index, data in enumerate(test):
        frame, rotations = data.frame[0].double().numpy(), data.file_rotations
        for key, values in predicted.items():
            canonical = (values[index].double().numpy() @ encoder).reshape(3, 3)
            tensor = frame.T @ canonical @ frame
            moved = rotations @ tensor @ np.transpose(rotations, (0, 2, 1))
            errors[key].append(float(np.abs(moved - tensor).max()))
    symmetric = [i for i, data in enumerate(test) if len(data.file_rotations) > 1]
    return {
        "symmetry_error_max_bohr3": {key: max(value) for key, value in errors.items()},
        "symmetry_error_max_float64_symmetric_molecules": max(
            (errors["float64"][i] for i in symmetric), default=0.0
        ),
        "symmetric_test_molecules": len(symmetric),
    }


# ------------------------------------------------------------------------------- report


def render(results: dict) -> str:
    """The markdown section of ``docs/benchmarks_molecules.md``."""
    command = f"`{results['command']}`"
    g2r, qm9, gap, pol = results["g2"], results["qm9"], results["gap"], results["polarizability"]
    inv = g2r["max_invariance_error"]
    lines = [
        "# Molecules: point groups, QM9 gap and polarizability",
        "",
        f"Every number on this page was produced by {command} on this project's 2-core CPU machine "
        f"({results['machine']}, torch {results['torch']}, {results['threads']} torch thread) "
        f"in {results['total_s'] / 60:.1f} min wall-clock, {results['cpu_s'] / 60:.1f} min of CPU time "
        f"(the machine was shared: load average {results['load_average_start'][0]:.1f} at the start), "
        f"and is stored in `{results['out']}`.",
        "",
    ]
    if results["smoke"]:
        lines += ["**Smoke run:** tiny sizes, numbers are not meaningful.", ""]
    lines += [
        "## g2 molecules (`ase.collections.g2`)",
        "",
        f"{command}: point group of `from_molecule` equal to pymatgen's `PointGroupAnalyzer` on "
        f"{g2r['agree_with_pymatgen']} / {g2r['molecules']} molecules, and on "
        f"{g2r['agree_after_rotation']} / {g2r['molecules']} randomly rotated and translated copies. "
        f"Groups: {', '.join(f'{k} ({v})' for k, v in g2r['point_groups'].items())}.",
        "",
        "Largest change of the outputs when every molecule is moved by each element of its group "
        "(random weights):",
        "",
        "| output | float64 | float32 |",
        "|---|---|---|",
    ]
    for label, value in inv.items():
        lines.append(f"| {label} | {value['float64']:.1e} | {value['float32']:.1e} |")
    lines += [
        "",
        f"Scalar model, molecule rotated and translated before `from_molecule`: largest change "
        f"{g2r['orientation_error_scalar_float64']:.1e} (float64).",
        "",
        "## QM9 (`qm9pack`): HOMO-LUMO gap",
        "",
        f"{command}: seeded random subset (seed {results['seed']}) of the {qm9['molecules_in_file']:,} "
        f"molecules with polarizabilities; split sizes {qm9['sizes']}; {len(qm9['rejected'])} molecules "
        f"rejected by point-group detection (listed in the JSON). {results['config']['epochs']} epochs, "
        f"batch {results['config']['batch_size']}, Adam lr {results['config']['lr']:g} with a cosine "
        "schedule, L1 loss on the standardized target, weights of the best validation epoch. Point "
        f"groups in the subset: {', '.join(f'{k} ({v})' for k, v in qm9['point_groups'].items())}.",
        "",
        "| model | parameters | test MAE (eV) | seconds / epoch |",
        "|---|---|---|---|",
    ]
    for name in ("PointGroupNetwork", "SchNet"):
        r = gap[name]
        lines.append(
            f"| {name} | {r['parameters']:,} | {r['test_mae_eV']:.3f} | {r['seconds_per_epoch']:.1f} |"
        )
    lines += [
        f"| predict the training mean | 0 | {gap['baseline_predict_mean_mae_eV']:.3f} | - |",
        "",
        "## QM9: polarizability tensor",
        "",
        f'{command}: same subset and budget. `PointGroupNetwork(tensor_kind="rank2_symmetric")`: the '
        "`SymmetricTensorHead` projected onto each molecule's point group, or unprojected. The frame "
        "of the QM9 tensors is not known (see below), so the loss and every error are "
        "frame-independent: L1 loss on the ascending eigenvalues; test MAE (bohr^3) of the "
        "eigenvalues, of the isotropic part and of the anisotropy "
        "`sqrt(((l1-l2)^2 + (l2-l3)^2 + (l3-l1)^2) / 2)`, and the mean spectral distance "
        "`|l_pred - l_label|_2 = min_R |A_pred - R A_label R^T|_F` (the Frobenius distance after the "
        "best rotation). Symmetry error `max_g |R_g A R_g^T - A|` (bohr^3, largest entry) over the "
        f"{pol['projected']['symmetric_test_molecules']} test molecules with a non-trivial group: "
        "every rotation of `PointGroup.from_molecule` applied to the predicted tensor in the frame "
        "of the file's coordinates (not the projector), as trained (float32) and in float64.",
        "",
        "| head | eigenvalue MAE | isotropic MAE | anisotropy MAE | spectral distance "
        "| symmetry error float32 | symmetry error float64 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("projected", "unconstrained"):
        r = pol[name]
        errors = r["symmetry_error_max_bohr3"]
        lines.append(
            f"| {name} | {r['test_eigenvalue_mae_bohr3']:.3f} | {r['test_isotropic_mae_bohr3']:.3f} | "
            f"{r['test_anisotropy_mae_bohr3']:.3f} | {r['test_spectral_distance_bohr3']:.3f} | "
            f"{errors['float32']:.1e} | {errors['float64']:.1e} |"
        )
    check = qm9["frame_check"]
    lines += [
        "",
        'Frame of the QM9 tensors: `qm9pack` documents none (its help text: "xx component of dipole '
        'electric field polarizability in bohr^3") and ships no code that computed them. On '
        f"{check['molecules']} molecules of the subset, the anisotropic diagonal of the file's "
        "tensors correlates with that of an atom-dipole (Thole) model computed from the coordinates at "
        f"{check['correlation_coordinate_frame']:.2f} in the frame of the QM9 coordinates and at "
        f"{check['correlation_principal_axes']:.2f} in the inertia principal-axes frame (moments "
        "ascending): the tensors are not in the frame of the coordinates, and the principal-axes frame "
        "leaves the direction of every axis open, which no vector quantity in the file fixes. A "
        "fixed-frame component MAE would need a guess of those signs, hence the frame-independent "
        "scores above.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_molecules.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks_molecules.md")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else FULL
    out = args.out.resolve()
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    start, cpu_start = time.perf_counter(), time.process_time()
    results: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": args.threads,
        "command": " ".join(
            ["python", "benchmarks/bench_molecules.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "smoke": args.smoke,
        "seed": args.seed,
        "config": config,
        "load_average_start": os.getloadavg(),
        "out": str(out.relative_to(ROOT)) if out.is_relative_to(ROOT) else str(out),
    }
    try:
        log("g2")
        results["g2"] = bench_g2(config, args.seed)
        log("QM9: reading and converting")
        splits, results["qm9"] = load_qm9(config, args.seed, args.smoke)
        log(f"QM9: {results['qm9']['sizes']}, gap")
        results["gap"] = bench_gap(splits, config, args.seed)
        log("QM9: polarizability")
        results["polarizability"] = bench_polarizability(splits, config, args.seed)
    finally:
        torch.set_num_threads(threads_before)
    results["load_average_end"] = os.getloadavg()
    results["total_s"] = time.perf_counter() - start
    results["cpu_s"] = time.process_time() - cpu_start  # this process, all threads
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(render(results))
    print(render(results))
    return results


if __name__ == "__main__":
    main()
