"""Benchmark the layers: symmetrized features vs the dense formulation, table memory, training speed.

Run:  python benchmarks/bench_layers.py [--smoke] [--train-threads 1]
          [--out benchmarks/results/bench_layers.json]

1. Features. ``SymmetrizedFourierFeatures(invariance="group")`` on one batch of crystals of
   mixed groups, against the reference paper's dense formulation measured side by side:
   plane waves ``E = exp(2 pi i X K^T)`` (N x K complex) times the dense K x K group-average
   matrix ``M_g`` of each crystal's group, ``psi = E @ M_g^T``, one matmul per group present.
   ``M_g`` is built independently by :func:`spacegroup_nn.solvers.plane_wave_representation`
   and :func:`spacegroup_nn.solvers.group_average` and is not timed. Both must agree to 1e-10
   in float64 before anything is timed. Ours runs without gradients, i.e. the fused kernel
   (the torch path, used when positions require grad, is timed separately for reference).
   Requirement: ours >= 20x faster.
2. Memory. The per-group tables the layer holds for all 230 groups vs dense 230 x K x K
   complex128 matrices (computed arithmetically). Requirement: <= 1 %.
3. Training throughput (crystals/s, forward + backward + Adam step, float32) on perov_5-like
   5-atom cells and carbon_24-like cells of <= 24 atoms: ``SpaceGroupTransformer()`` and
   ``CrystalGraphNetwork(fourier=True)`` against plain CGCNN ``CrystalGraphNetwork(fourier=False)``,
   interleaved round by round, plus a per-stage breakdown (features, radius graph, pair
   features, forward, full step). Everything runs twice: as is, and with denormal floats
   flushed to zero (``torch.set_flush_denormal``), which isolates a large CPU penalty in the
   CGCNN edge features. One torch thread by default (``--train-threads``): with more threads
   than idle cores, every OpenMP region waits for the busiest core.

Timings on a shared machine are noisy: the JSON records the share of CPU that other processes
took during each stage, medians and minima.

``--smoke`` runs every stage on tiny sizes (seconds) to check that the script works.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pymatgen.core import Lattice, Structure
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from spacegroup_nn import SpaceGroup
from spacegroup_nn.data import from_structure, radius_graph_pbc
from spacegroup_nn.errors import StructureError
from spacegroup_nn.groups import random_crystal
from spacegroup_nn.nn import CrystalGraphNetwork, SpaceGroupTransformer, SymmetrizedFourierFeatures
from spacegroup_nn.solvers import ball_index, fourier_basis, group_average, plane_wave_representation

NUM_GROUPS = 230
METRIC_NAMES = ("orthogonal", "hexagonal")
RADIUS = 5.0
SPEEDUP_REQUIRED = 20.0
MEMORY_LIMIT = 0.01
FLOAT64_TOLERANCE = 1e-10

FULL = {
    "feature_crystals": 64,
    "feature_max_order": 96,  # atoms per crystal (one general orbit), drops the 4 groups of order 192
    "feature_atoms": (1000, 2000),
    "feature_rounds": 7,
    "feature_block": 5,
    "train_crystals": 256,
    "batch_size": 64,
    "warmup_steps": 1,
    "min_rounds": 2,
    "max_rounds": 10,
    "round_s": 1.0,
    "budget_s": 20.0,
    "breakdown_repeats": 3,
}
SMOKE = {
    "feature_crystals": 8,
    "feature_max_order": 8,
    "feature_atoms": (8, 64),
    "feature_rounds": 2,
    "feature_block": 1,
    "train_crystals": 4,
    "batch_size": 2,
    "warmup_steps": 1,
    "min_rounds": 1,
    "max_rounds": 1,
    "round_s": 0.0,
    "budget_s": 0.0,
    "breakdown_repeats": 1,
}


# ------------------------------------------------------------------------------------------
# timing helpers


def timed(function: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def summary_ms(seconds: Sequence[float]) -> dict:
    return {"median_ms": 1e3 * statistics.median(seconds), "min_ms": 1e3 * min(seconds), "runs": len(seconds)}


# ------------------------------------------------------------------------------------------
# 1. feature computation: ours vs the dense formulation


def feature_batch(rng: np.random.Generator, config: dict) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(pos, cell, space_group, batch)`` float64: one general orbit per crystal, distinct groups.

    Groups are drawn uniformly (without replacement) among those with at most
    ``feature_max_order`` operations, redrawn until the batch size in atoms is in range.
    """
    candidates = [n for n in range(1, NUM_GROUPS + 1) if SpaceGroup(n).order <= config["feature_max_order"]]
    low, high = config["feature_atoms"]
    while True:
        numbers = rng.choice(candidates, config["feature_crystals"], replace=False)
        if low <= sum(SpaceGroup(int(n)).order for n in numbers) <= high:
            break
    pos, cells, batch = [], [], []
    for index, number in enumerate(numbers):
        lattice, frac, _ = random_crystal(SpaceGroup(int(number)), rng, num_orbits=1)
        pos.append(frac @ lattice)
        cells.append(lattice)
        batch += [index] * len(frac)
    return (
        torch.tensor(np.concatenate(pos)),
        torch.tensor(np.stack(cells)),
        torch.tensor(numbers, dtype=torch.long),
        torch.tensor(batch, dtype=torch.long),
    )


def dense_matrices(numbers: Sequence[int]) -> dict[int, tuple[int, Tensor]]:
    """``{group: (metric code, M_g)}``: ``M_g`` ``(K, K)`` complex128, row k the coefficients of psi_k.

    Built with the dense oracle (all operations listed, float translations), independently of
    the orbit tables used by the layer.
    """
    matrices = {}
    for number in sorted(set(numbers)):
        metric = fourier_basis(number, RADIUS).metric
        wavevectors = ball_index(metric, RADIUS).wavevectors
        average = group_average(plane_wave_representation(SpaceGroup(number), wavevectors))
        # column k of the group average holds psi_k's coefficients: psi = E @ average = E @ M_g^T
        matrices[number] = (METRIC_NAMES.index(metric), torch.from_numpy(np.ascontiguousarray(average.T)))
    return matrices


class DenseFormulation:
    """The reference paper's formulation: ``psi = E @ M_g^T`` for every atom, full K, complex."""

    def __init__(self, matrices: dict[int, tuple[int, Tensor]], dtype: torch.dtype) -> None:
        complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        self.dtype = dtype
        self.wavevectors = [
            torch.tensor(ball_index(name, RADIUS).wavevectors, dtype=dtype) for name in METRIC_NAMES
        ]
        self.matrices = {n: (code, m.to(complex_dtype)) for n, (code, m) in matrices.items()}

    def __call__(self, pos: Tensor, cell: Tensor, space_group: Tensor, batch: Tensor) -> list[Tensor]:
        """One ``(N, K)`` complex tensor per metric; rows of atoms of the other metric stay zero."""
        frac = torch.linalg.solve(cell[batch].transpose(1, 2), pos.unsqueeze(-1)).squeeze(-1)
        numbers = space_group[batch]
        order = torch.argsort(numbers, stable=True)
        groups, counts = torch.unique_consecutive(numbers[order], return_counts=True)
        complex_dtype = torch.complex128 if pos.dtype == torch.float64 else torch.complex64
        out = [pos.new_zeros(pos.shape[0], len(k), dtype=complex_dtype) for k in self.wavevectors]
        start = 0
        for number, count in zip(groups.tolist(), counts.tolist(), strict=True):
            atoms = order[start : start + count]
            start += count
            code, matrix = self.matrices[number]
            angle = (2 * np.pi) * (frac[atoms] @ self.wavevectors[code].T)
            plane_waves = torch.complex(torch.cos(angle), torch.sin(angle))
            out[code][atoms] = plane_waves @ matrix.T
        return out


def dense_as_features(psi: list[Tensor]) -> Tensor:
    """The dense output in the layer's documented layout: per metric block, Re then Im of psi_k
    for one k of every pair +-k (the one with the smaller index)."""
    blocks = []
    for name, values in zip(METRIC_NAMES, psi, strict=True):
        negation = ball_index(name, RADIUS).negation
        half = torch.from_numpy(np.flatnonzero(np.arange(len(negation)) < negation))
        blocks += [values[:, half].real, values[:, half].imag]
    return torch.cat(blocks, dim=1)


def bench_features(config: dict, rng: np.random.Generator) -> dict:
    pos, cell, space_group, batch = feature_batch(rng, config)
    numbers = space_group.tolist()
    start = time.perf_counter()
    matrices = dense_matrices(numbers)
    build_s = time.perf_counter() - start

    features = SymmetrizedFourierFeatures(RADIUS, invariance="group")
    reference = None
    errors = {}
    for dtype in (torch.float64, torch.float32):
        args = (pos.to(dtype), cell.to(dtype), space_group, batch)
        with torch.no_grad():
            ours = features(*args)  # also builds the layer's tables (not timed)
            dense = dense_as_features(DenseFormulation(matrices, dtype)(*args))
        if reference is None:
            reference = dense
        errors[str(dtype).removeprefix("torch.")] = {
            "ours_vs_dense": float((ours.double() - dense.double()).abs().max()),
            "ours_vs_dense_float64": float((ours.double() - reference).abs().max()),
        }
    if not errors["float64"]["ours_vs_dense"] <= FLOAT64_TOLERANCE:
        raise AssertionError(f"features differ from the dense formulation: {errors['float64']}")

    timings = []
    threads = sorted({os.cpu_count() or 1, 1}, reverse=True)
    for num_threads in threads:
        torch.set_num_threads(num_threads)
        for dtype in (torch.float32, torch.float64):
            args = (pos.to(dtype), cell.to(dtype), space_group, batch)
            dense = DenseFormulation(matrices, dtype)
            differentiable = (args[0].clone().requires_grad_(True), *args[1:])
            ours_s, dense_s, torch_path_s = [], [], []
            features(*args), dense(*args), features(*differentiable)  # warm-up
            # alternating blocks: equal exposure to load, and the median is not the first call
            # after a switch, when the other side's OpenMP threads may still be spinning
            for _ in range(config["feature_rounds"]):
                for _ in range(config["feature_block"]):
                    ours_s.append(timed(lambda args=args: features(*args)))
                for _ in range(config["feature_block"]):
                    dense_s.append(timed(lambda args=args, dense=dense: dense(*args)))
                torch_path_s.append(timed(lambda args=differentiable: features(*args)))
            entry = {
                "threads": torch.get_num_threads(),
                "dtype": str(dtype).removeprefix("torch."),
                "ours": summary_ms(ours_s),
                "dense": summary_ms(dense_s),
                "torch_path": summary_ms(torch_path_s),
            }
            entry["speedup_median"] = entry["dense"]["median_ms"] / entry["ours"]["median_ms"]
            entry["speedup_min"] = entry["dense"]["min_ms"] / entry["ours"]["min_ms"]
            timings.append(entry)
    torch.set_num_threads(os.cpu_count() or 1)
    return {
        "invariance": "group",
        "num_crystals": len(numbers),
        "num_atoms": int(pos.shape[0]),
        "groups": sorted(numbers),
        "atoms_per_metric": {
            name: int(sum(SpaceGroup(n).order for n in numbers if matrices[n][0] == code))
            for code, name in enumerate(METRIC_NAMES)
        },
        "K": {name: len(ball_index(name, RADIUS).wavevectors) for name in METRIC_NAMES},
        "dense_matrix_build_s": build_s,
        "max_abs_error": errors,
        "tolerance_float64": FLOAT64_TOLERANCE,
        "timings": timings,
        "required_speedup": SPEEDUP_REQUIRED,
        "meets_requirement": all(t["speedup_median"] >= SPEEDUP_REQUIRED for t in timings),
    }


# ------------------------------------------------------------------------------------------
# 2. memory of the per-group tables


def tensor_bytes(tensor: Tensor) -> int:
    return tensor.nelement() * tensor.element_size()


def bench_memory() -> dict:
    features = SymmetrizedFourierFeatures(RADIUS, invariance="group")
    numbers = torch.arange(1, NUM_GROUPS + 1)
    with torch.no_grad():  # one atom per group fills the tables of all 230 groups
        features(torch.zeros(NUM_GROUPS, 3), torch.eye(3).expand(NUM_GROUPS, 3, 3), numbers, numbers - 1)
    buffers = dict(features.named_buffers())
    per_group = ("_orbit", "_twelfths", "_orbit_size")
    tables = sum(tensor_bytes(b) for n, b in buffers.items() if n.endswith(per_group))
    other = sum(tensor_bytes(b) for b in buffers.values()) - tables
    bases = [fourier_basis(n, RADIUS) for n in range(1, NUM_GROUPS + 1)]
    basis_arrays = sum(b.nbytes() for b in bases) + sum(
        ball_index(name, RADIUS).wavevectors.nbytes for name in METRIC_NAMES
    )
    sizes = {name: len(ball_index(name, RADIUS).wavevectors) for name in METRIC_NAMES}
    dense = sum(16 * sizes[b.metric] ** 2 for b in bases)  # complex128 K x K, K of the group's metric
    dense_514 = NUM_GROUPS * 16 * sizes["orthogonal"] ** 2
    return {
        "counted": {
            "tables_bytes": "orbit (int32), twelfths (int8), orbit_size (int32) buffers of "
            "SymmetrizedFourierFeatures, both metrics, 231 rows each (filled for all 230 groups)",
            "layer_bytes": "every buffer of the layer (tables + wave vectors, half-ball and partner "
            "indices, metric_of)",
            "basis_arrays_bytes": "fourier_basis(n).nbytes() for all 230 groups + the two wave-vector "
            "balls (the lru-cached bases the tables are built from; not needed once the tables exist)",
            "dense_bytes": "sum over the 230 groups of K_g x K_g complex128, K_g = 514 (orthogonal) "
            "or 418 (hexagonal)",
            "dense_bytes_all_514": "230 x 514 x 514 complex128",
        },
        "tables_bytes": tables,
        "layer_bytes": tables + other,
        "basis_arrays_bytes": basis_arrays,
        "dense_bytes": dense,
        "dense_bytes_all_514": dense_514,
        "ratio_tables": tables / dense,
        "ratio_layer": (tables + other) / dense,
        "ratio_layer_and_basis_arrays": (tables + other + basis_arrays) / dense,
        "limit_ratio": MEMORY_LIMIT,
        "meets_requirement": (tables + other) / dense <= MEMORY_LIMIT,
    }


# ------------------------------------------------------------------------------------------
# 3. training throughput

A_SITE = ("Sr", "Ba", "Ca", "La", "K", "Na", "Pb", "Y", "Cs", "Rb", "Bi", "Ce")
B_SITE = ("Ti", "Zr", "Nb", "Ta", "Fe", "Mn", "Co", "Ni", "Al", "Ga", "V", "Cr", "Sn", "Hf")
X_SITE = ("O", "F", "N", "S")


def perovskite(rng: np.random.Generator) -> Structure:
    """A 5-atom ABX3 cell: cubic Pm-3m, or polar tetragonal (P4mm) / orthorhombic (Pmm2) distortions,
    the three groups of perov_5."""
    species = [str(rng.choice(A_SITE)), str(rng.choice(B_SITE)), str(rng.choice(X_SITE))]
    a = rng.uniform(3.8, 4.4)
    kind = rng.integers(3)
    if kind == 0:
        return Structure.from_spacegroup(
            "Pm-3m", Lattice.cubic(a), species, [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]
        )
    shift = rng.uniform(0.01, 0.06, size=4)
    if kind == 1:
        lattice = Lattice.tetragonal(a, a * rng.uniform(1.02, 1.08))
        shift[3] = shift[2]
    else:
        lattice = Lattice.orthorhombic(a, a * rng.uniform(1.02, 1.06), a * rng.uniform(1.07, 1.12))
    coords = [
        [0, 0, 0],
        [0.5, 0.5, 0.5 + shift[0]],
        [0.5, 0.5, shift[1]],
        [0.5, 0, 0.5 + shift[2]],
        [0, 0.5, 0.5 + shift[3]],
    ]
    return Structure(lattice, species[:2] + [species[2]] * 3, coords)


CARBON_GROUPS = [n for n in range(1, NUM_GROUPS + 1) if SpaceGroup(n).order <= 24]


def carbon_like(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One general orbit of carbon in a random group of order <= 24, 5.5-8 A^3 per atom (carbon_24:
    6.4 on average)."""
    lattice, frac, _ = random_crystal(SpaceGroup(int(rng.choice(CARBON_GROUPS))), rng, num_orbits=1)
    volume = abs(np.linalg.det(lattice))
    lattice = lattice * np.cbrt(rng.uniform(5.5, 8.0) * len(frac) / volume)
    return lattice, frac, np.full(len(frac), 6)


def make_dataset(kind: str, count: int, rng: np.random.Generator) -> list[Data]:
    """``count`` converted crystals (``from_structure``, float32), each with a random target ``y``."""
    sample = perovskite if kind == "perov_5_like" else carbon_like
    dataset = []
    while len(dataset) < count:
        try:
            data = from_structure(sample(rng), dtype=torch.float32)
        except StructureError:
            continue
        if data.num_nodes > 24:  # standardization can enlarge a cell with extra symmetry
            continue
        data.y = torch.tensor([rng.normal()], dtype=torch.float32)
        dataset.append(data)
    return dataset


def dataset_summary(dataset: Sequence[Data]) -> dict:
    atoms = [d.num_nodes for d in dataset]
    groups = Counter(int(d.space_group) for d in dataset)
    return {
        "crystals": len(dataset),
        "atoms_mean": statistics.mean(atoms),
        "atoms_min": min(atoms),
        "atoms_max": max(atoms),
        "distinct_groups": len(groups),
        "most_common_groups": groups.most_common(5),
    }


MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    "transformer": SpaceGroupTransformer,
    "cgcnn_fourier": lambda: CrystalGraphNetwork(fourier=True),
    "cgcnn": lambda: CrystalGraphNetwork(fourier=False),
    # reference only: the original CGCNN settings (12 nearest neighbours, plain CGConv), which
    # break exact symmetry; the requirement compares against "cgcnn" above
    "cgcnn_12nn": lambda: CrystalGraphNetwork(fourier=False, max_neighbors=12, smooth=False),
}
OURS = ("transformer", "cgcnn_fourier")
BASELINES = ("cgcnn", "cgcnn_12nn")


class Trainer:
    """One model, its Adam optimizer and an endless shuffled DataLoader over the dataset."""

    def __init__(self, name: str, dataset: list[Data], config: dict, seed: int) -> None:
        torch.manual_seed(seed)
        self.model = MODELS[name]().train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loader = DataLoader(
            dataset,
            batch_size=config["batch_size"],
            shuffle=True,
            drop_last=True,
            generator=torch.Generator().manual_seed(seed),
        )
        self.batches = self._forever()
        self.steps: list[float] = []
        if self.model.encoder.features is not None:  # build every group's tables, untimed
            whole = Batch.from_data_list(dataset)
            with torch.no_grad():
                self.model.encoder.features(
                    whole.pos, whole.cell.view(-1, 3, 3), whole.space_group, whole.batch
                )

    def _forever(self) -> Iterator[Batch]:
        while True:
            yield from self.loader

    def step(self) -> None:
        """One training step on the next batch (collation by the DataLoader included)."""
        batch = next(self.batches)
        self.optimizer.zero_grad(set_to_none=True)
        F.mse_loss(self.model(batch), batch.y).backward()
        self.optimizer.step()


def breakdown(model: torch.nn.Module, batch: Batch, repeats: int) -> dict:
    """Best-of-``repeats`` ms (fewer past 1.5 s) of the stages of one forward on ``batch``, and its edges."""
    pos, cell, space_group, index = batch.pos, batch.cell.view(-1, 3, 3), batch.space_group, batch.batch
    cutoff = model.pairs.cutoff if hasattr(model, "pairs") else model.cutoff
    stages: dict[str, Callable[[], object]] = {}
    if model.encoder.features is not None:
        stages["features"] = lambda: model.encoder.features(pos, cell, space_group, index)
    stages["radius_graph"] = lambda: radius_graph_pbc(pos, cell, cutoff, index)
    if hasattr(model, "geometry"):  # pair features and neighbour moments, radius graph included
        stages["geometry"] = lambda: model.geometry(batch.z, pos, cell, index)
    stages["forward"] = lambda: model(batch)
    target = radius_graph_pbc(pos, cell, cutoff, index)[0][1]
    out = {"cutoff": cutoff, "edges": int(target.numel())}
    if getattr(model, "max_neighbors", None) is not None:  # edges kept after the neighbour cap
        out["edges"] = int(torch.bincount(target).clamp(max=model.max_neighbors).sum())
    for name, stage in stages.items():
        with torch.set_grad_enabled(name == "forward"):  # as in training
            runs = [timed(stage)]
            while len(runs) < repeats and sum(runs) < 1.5:  # slow stages: fewer runs
                runs.append(timed(stage))
        out[f"{name}_ms"] = 1e3 * min(runs)
    return out


def bench_dataset(dataset: list[Data], config: dict, seed: int) -> dict:
    """Throughput of every model, interleaved round by round so that all see the same machine load.

    Each round gives every model at least one step and ``round_s`` seconds; rounds continue
    until ``min_rounds`` are done and then while ``budget_s`` lasts (at most ``max_rounds``).
    """
    trainers = {name: Trainer(name, dataset, config, seed) for name in MODELS}
    for trainer in trainers.values():
        for _ in range(config["warmup_steps"]):
            trainer.step()
    size = config["batch_size"]
    rounds = 0
    start = time.perf_counter()
    while rounds < config["min_rounds"] or (
        rounds < config["max_rounds"] and time.perf_counter() - start < config["budget_s"]
    ):
        for trainer in trainers.values():
            begin = time.perf_counter()
            while True:
                trainer.steps.append(timed(trainer.step))
                if time.perf_counter() - begin >= config["round_s"]:
                    break
        rounds += 1
    results = {}
    batch = Batch.from_data_list(dataset[:size])
    for name, trainer in trainers.items():
        steps = trainer.steps
        results[name] = {
            "parameters": sum(p.numel() for p in trainer.model.parameters()),
            "rounds": rounds,
            "steps": len(steps),
            "step": summary_ms(steps),
            "crystals_per_s": size / statistics.median(steps),
            "crystals_per_s_mean": size * len(steps) / sum(steps),
            "crystals_per_s_best": size / min(steps),
            "breakdown": breakdown(trainer.model, batch, config["breakdown_repeats"]),
        }
    for name in OURS:
        for baseline in BASELINES:
            for key in ("crystals_per_s", "crystals_per_s_mean", "crystals_per_s_best"):
                results[name][f"{key.replace('crystals_per_s', 'throughput')}_vs_{baseline}"] = (
                    results[name][key] / results[baseline][key]
                )
    return results


def bench_training(config: dict, rng: np.random.Generator, seed: int, threads: int) -> dict:
    """Every model on both datasets, once as is and once with denormal floats flushed to zero.

    The second pass isolates a CPU effect: subnormal values (here in the Gaussian distance
    expansion of the edges) make float32 GEMMs on x86 several times slower.
    """
    torch.set_num_threads(threads)
    results = {"threads": torch.get_num_threads(), "batch_size": config["batch_size"], "dtype": "float32"}
    for kind in ("perov_5_like", "carbon_24_like"):
        start = time.perf_counter()
        dataset = make_dataset(kind, config["train_crystals"], rng)
        entry = {"dataset": dataset_summary(dataset), "conversion_s": time.perf_counter() - start}
        for flush, key in ((False, "models"), (True, "models_flush_denormal")):
            torch.set_flush_denormal(flush)
            try:
                with CpuMonitor() as monitor:
                    entry[key] = bench_dataset(dataset, config, seed)
            finally:
                torch.set_flush_denormal(False)
            entry[f"{key}_cpu"] = monitor.result
        results[kind] = entry
    return results


class CpuMonitor:
    """CPU seconds used by this process and by everything else on the machine (Linux /proc/stat)."""

    def __enter__(self) -> CpuMonitor:
        self.start = (time.perf_counter(), time.process_time(), _busy_cpu_s())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, own, busy = (
            end - begin
            for end, begin in zip(
                (time.perf_counter(), time.process_time(), _busy_cpu_s()), self.start, strict=True
            )
        )
        cores = os.cpu_count() or 1
        self.result = {
            "wall_s": wall,
            "own_cpu_s": own,
            # CPU taken by other processes, as a share of all cores over the wall time
            "others_share": None if math.isnan(busy) or wall <= 0 else max(busy - own, 0.0) / (wall * cores),
        }


def _busy_cpu_s() -> float:
    """Non-idle CPU seconds of all cores since boot, NaN where /proc/stat is missing."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is already in user


# ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-threads",
        type=int,
        default=1,
        help="torch threads for the training runs (default 1: robust when the machine is shared; "
        "the feature benchmark always runs with all cores and with 1)",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_layers.json")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else FULL
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    threads_before = torch.get_num_threads()

    start = time.perf_counter()
    results: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "command": " ".join(
            ["python", "benchmarks/bench_layers.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "smoke": args.smoke,
        "config": config,
        "load_average_start": os.getloadavg(),
    }
    try:
        with CpuMonitor() as monitor:
            results["features"] = bench_features(config, rng)
        results["features"]["cpu"] = monitor.result
        results["memory"] = bench_memory()
        results["training"] = bench_training(config, rng, args.seed, args.train_threads)
    finally:
        torch.set_num_threads(threads_before)
    results["load_average_end"] = os.getloadavg()
    results["total_s"] = time.perf_counter() - start

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    return results


def render(results: dict) -> str:
    """Markdown tables of ``results``."""
    features, memory, training = results["features"], results["memory"], results["training"]
    lines = [
        f"Features: {features['num_crystals']} crystals, {features['num_atoms']} atoms, "
        f"{len(set(features['groups']))} groups, K = {features['K']['orthogonal']}/"
        f"{features['K']['hexagonal']}; max |ours - dense| float64 "
        f"{features['max_abs_error']['float64']['ours_vs_dense']:.1e}, float32 vs float64 dense "
        f"{features['max_abs_error']['float32']['ours_vs_dense_float64']:.1e}",
        "",
        "| measurement | threads | ours | baseline | ratio | requirement |",
        "|---|---|---|---|---|---|",
    ]
    for t in features["timings"]:
        lines.append(
            f"| features ({t['dtype']}), ms per batch, median (min) | {t['threads']} | "
            f"{t['ours']['median_ms']:.1f} ({t['ours']['min_ms']:.1f}) | "
            f"dense E @ M_g^T: {t['dense']['median_ms']:.1f} ({t['dense']['min_ms']:.1f}) | "
            f"{t['speedup_median']:.1f}x ({t['speedup_min']:.1f}x) | >= {SPEEDUP_REQUIRED:g}x: "
            f"{'yes' if t['speedup_median'] >= SPEEDUP_REQUIRED else 'NO'} |"
        )
    for t in features["timings"]:
        lines.append(
            f"| features ({t['dtype']}), torch path (positions require grad), ms | {t['threads']} | "
            f"{t['torch_path']['median_ms']:.1f} ({t['torch_path']['min_ms']:.1f}) | "
            f"{t['dense']['median_ms']:.1f} ({t['dense']['min_ms']:.1f}) | "
            f"{t['dense']['median_ms'] / t['torch_path']['median_ms']:.1f}x | reported |"
        )
    dense_mb = memory["dense_bytes"] / 1e6
    lines.append(
        f"| memory, all 230 groups: layer buffers (tables only) | - | {memory['layer_bytes'] / 1e6:.2f} MB "
        f"({memory['tables_bytes'] / 1e6:.2f} MB) | dense K x K complex128: {dense_mb:.0f} MB "
        f"| {100 * memory['ratio_layer']:.2f} % ({100 * memory['ratio_tables']:.2f} %) | "
        f"<= {100 * MEMORY_LIMIT:g} %: {'yes' if memory['meets_requirement'] else 'NO'} |"
    )
    lines.append(
        f"| memory, + cached fourier_basis arrays | - | "
        f"{(memory['layer_bytes'] + memory['basis_arrays_bytes']) / 1e6:.2f} MB | {dense_mb:.0f} MB | "
        f"{100 * memory['ratio_layer_and_basis_arrays']:.2f} % | reported |"
    )
    lines += [
        "",
        f"Training throughput (batch {training['batch_size']}, float32, {training['threads']} thread(s), "
        "forward + backward + Adam, DataLoader collation included; crystals/s from the median step, "
        "best step in parentheses). Requirement: ours >= cgcnn (CrystalGraphNetwork(fourier=False)); "
        "cgcnn_12nn (original CGCNN: 12 nearest neighbours, plain CGConv) is for reference.",
        "",
        "| dataset | denormals | model | crystals/s | vs cgcnn | vs cgcnn_12nn | >= cgcnn |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in ("perov_5_like", "carbon_24_like"):
        atoms = training[kind]["dataset"]["atoms_mean"]
        for key, label in (("models", "as is"), ("models_flush_denormal", "flushed")):
            for name, model in training[kind][key].items():
                ratios = [
                    f"{model[f'throughput_vs_{b}']:.2f}x ({model[f'throughput_best_vs_{b}']:.2f}x)"
                    if name in OURS
                    else "-"
                    for b in BASELINES
                ]
                verdict = ("yes" if model["throughput_vs_cgcnn"] >= 1 else "NO") if name in OURS else "-"
                lines.append(
                    f"| {kind} ({atoms:.1f} atoms) | {label} | {name} | {model['crystals_per_s']:.1f} "
                    f"({model['crystals_per_s_best']:.1f}) | {ratios[0]} | {ratios[1]} | {verdict} |"
                )
    lines += [
        "",
        f"Training step breakdown (one batch of {training['batch_size']} crystals, "
        f"{training['threads']} thread(s), ms, best of up to {results['config']['breakdown_repeats']} runs; "
        "full step: median (best) of the timed steps):",
        "",
        "| dataset | denormals | model | edges (cutoff) | features | radius graph | geometry "
        "| forward | full step | steps |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in ("perov_5_like", "carbon_24_like"):
        for key, label in (("models", "as is"), ("models_flush_denormal", "flushed")):
            for name, model in training[kind][key].items():
                b = model["breakdown"]

                def cell(stage: str, b: dict = b) -> str:
                    return f"{b[stage]:.1f}" if stage in b else "-"

                lines.append(
                    f"| {kind} | {label} | {name} | {b['edges']} ({b['cutoff']:g} A) | {cell('features_ms')} "
                    f"| {cell('radius_graph_ms')} | {cell('geometry_ms')} | {cell('forward_ms')} | "
                    f"{model['step']['median_ms']:.1f} ({model['step']['min_ms']:.1f}) | {model['steps']} |"
                )
    shares = [("features", results["features"]["cpu"])] + [
        (f"{kind} {key.removeprefix('models').strip('_') or 'as is'}", training[kind][f"{key}_cpu"])
        for kind in ("perov_5_like", "carbon_24_like")
        for key in ("models", "models_flush_denormal")
    ]
    lines += [
        "",
        "Share of all cores used by other processes during each stage: "
        + ", ".join(f"{name} {_percent(cpu['others_share'])}" for name, cpu in shares)
        + ".",
    ]
    lines += [
        "",
        f"Load average (1/5/15 min) at start {_load(results['load_average_start'])}, "
        f"at end {_load(results['load_average_end'])}; total {results['total_s']:.0f} s.",
    ]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


def _load(values: Sequence[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
