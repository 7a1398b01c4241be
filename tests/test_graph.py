"""Tests of the exact periodic radius graph against pymatgen's neighbour list."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from torch_geometric.data import Batch, Data

from spacegroup_nn.data import (
    RadiusGraphPBC,
    edge_vectors,
    nearest_edges,
    radius_graph_pbc,
    stored_graph,
    with_radius_graphs,
)
from spacegroup_nn.errors import InvalidCellError, NonFiniteCoordinatesError

DIST_TOL = 1e-10  # float64 agreement of distances with pymatgen
BOUNDARY_MARGIN = 1e-5  # no pair distance may lie this close to the cut-off


# --------------------------------------------------------------------------------------------
# helpers


def _dataset_dir() -> Path:
    env = os.environ.get("SPACEGROUP_NN_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _safe_cutoff(structure: Structure, cutoff: float) -> float:
    """Nudge ``cutoff`` upwards until no pair distance is within ``BOUNDARY_MARGIN`` of it."""
    for _ in range(100):
        *_, dist = structure.get_neighbor_list(cutoff + 0.01, numerical_tol=1e-8)
        if dist.size == 0 or np.min(np.abs(dist - cutoff)) > BOUNDARY_MARGIN:
            return cutoff
        cutoff += 0.00137
    raise AssertionError("could not find a cut-off away from all pair distances")


def _to_torch(structure: Structure, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    pos = torch.tensor(structure.cart_coords, dtype=dtype)
    cell = torch.tensor(structure.lattice.matrix, dtype=dtype).unsqueeze(0)
    return pos, cell


def _edge_dict(edge_index: torch.Tensor, shift: torch.Tensor, dist: torch.Tensor) -> dict:
    """``{(i, j, L): distance}``; fails on duplicate edges or non-integer shifts."""
    shift_np = shift.detach().double().numpy()
    assert np.array_equal(shift_np, np.round(shift_np)), "shifts must be integer-valued"
    src, dst = edge_index.tolist()
    keys = [
        (i, j, tuple(int(x) for x in s))
        for j, i, s in zip(src, dst, shift_np.round().astype(int).tolist(), strict=True)
    ]
    assert len(set(keys)) == len(keys), "duplicate edges"
    return dict(zip(keys, dist.detach().double().tolist(), strict=True))


def _pymatgen_dict(structure: Structure, cutoff: float) -> dict:
    centers, neighbors, images, dist = structure.get_neighbor_list(cutoff, numerical_tol=1e-8)
    return {
        (int(i), int(j), tuple(int(x) for x in np.round(im))): float(d)
        for i, j, im, d in zip(centers, neighbors, images, dist, strict=True)
    }


def _assert_matches_pymatgen(structure: Structure, cutoff: float) -> int:
    cutoff = _safe_cutoff(structure, cutoff)
    pos, cell = _to_torch(structure)
    edge_index, shift = radius_graph_pbc(pos, cell, cutoff)
    assert edge_index.dtype == torch.long and edge_index.shape[0] == 2
    assert shift.shape == (edge_index.shape[1], 3) and shift.dtype == pos.dtype
    dist = edge_vectors(pos, cell, edge_index, shift).norm(dim=1)
    ours = _edge_dict(edge_index, shift, dist)
    ref = _pymatgen_dict(structure, cutoff)
    missing, extra = set(ref) - set(ours), set(ours) - set(ref)
    assert not missing and not extra, f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    err = max((abs(ours[k] - ref[k]) for k in ref), default=0.0)
    assert err < DIST_TOL, f"distance mismatch {err}"
    _assert_sorted(edge_index, shift)
    return len(ref)


def _assert_sorted(edge_index: torch.Tensor, shift: torch.Tensor) -> None:
    src, dst = edge_index.tolist()
    rows = [(i, j, *s) for j, i, s in zip(src, dst, shift.round().long().tolist(), strict=True)]
    assert rows == sorted(rows), "edges must be sorted by (target, source, shift)"


# --------------------------------------------------------------------------------------------
# structures


@functools.cache
def _nacl_cached() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _nacl() -> Structure:
    return _nacl_cached().copy()  # from_spacegroup is slow; build once


def _hexagonal() -> Structure:
    # wurtzite-like, P6_3mc
    return Structure.from_spacegroup(
        "P6_3mc", Lattice.hexagonal(3.25, 5.21), ["Zn", "O"], [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.382]]
    )


def _skewed() -> Structure:
    # angles far from 90°: the naive image range from |a|, |b|, |c| would miss neighbours
    matrix = [[4.0, 0.0, 0.0], [3.7, 0.8, 0.0], [2.5, 1.9, 0.6]]
    frac = [[0.1, 0.2, 0.3], [0.55, 0.4, 0.9], [0.8, 0.75, 0.05]]
    return Structure(Lattice(matrix), ["Si", "O", "O"], frac)


def _tiny() -> Structure:
    return Structure(
        Lattice([[1.3, 0.0, 0.0], [0.2, 1.4, 0.0], [0.1, 0.3, 1.2]]), ["H", "H"], [[0, 0, 0], [0.4, 0.5, 0.6]]
    )


def _one_atom() -> Structure:
    return Structure(Lattice.from_parameters(2.7, 3.1, 3.6, 70, 100, 115), ["Cu"], [[0.3, 0.6, 0.9]])


def _left_handed_unwrapped() -> Structure:
    # negative determinant and fractional coordinates far outside [0, 1)
    matrix = [[0.0, 3.1, 0.0], [3.3, 0.0, 0.0], [0.4, 0.5, 3.9]]
    frac = [[1.7, -2.3, 0.1], [-0.45, 0.5, 3.95], [0.0, 0.0, -1.0]]
    return Structure(Lattice(matrix), ["Ga", "As", "As"], frac)


STRUCTURES = {
    "nacl": (_nacl, 6.1),
    "hexagonal": (_hexagonal, 5.0),
    "skewed_triclinic": (_skewed, 4.3),
    "tiny_cutoff_gt_3x_cell": (_tiny, 4.5),
    "one_atom": (_one_atom, 7.0),
    "left_handed_unwrapped": (_left_handed_unwrapped, 5.5),
}


# --------------------------------------------------------------------------------------------
# agreement with pymatgen


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_matches_pymatgen(name: str) -> None:
    make, cutoff = STRUCTURES[name]
    structure = make()
    if name == "tiny_cutoff_gt_3x_cell":
        widths = 1.0 / np.linalg.norm(structure.lattice.inv_matrix, axis=0)
        assert cutoff > 3 * widths.max() and cutoff > 3 * max(structure.lattice.abc)
    num_edges = _assert_matches_pymatgen(structure, cutoff)
    assert num_edges > 0


@pytest.mark.parametrize("seed", range(4))
def test_basis_change_gives_same_graph(seed: int) -> None:
    """A random unimodular change of basis (a very skewed description of the same lattice)."""
    rng = np.random.default_rng(seed)
    structure = _hexagonal() if seed % 2 else _skewed()
    unimodular = np.eye(3, dtype=int)
    for _ in range(6):  # product of random shears: det 1, large entries
        k, l = rng.choice(3, size=2, replace=False)
        shear = np.eye(3, dtype=int)
        shear[k, l] = rng.integers(-3, 4)
        unimodular = shear @ unimodular
    assert round(abs(np.linalg.det(unimodular))) == 1
    skewed = Structure(
        Lattice(unimodular @ structure.lattice.matrix),
        structure.species,
        structure.cart_coords,
        coords_are_cartesian=True,
    )
    cutoff = _safe_cutoff(structure, 4.1)
    _assert_matches_pymatgen(skewed, cutoff)

    def vectors(s: Structure) -> np.ndarray:
        pos, cell = _to_torch(s)
        edge_index, shift = radius_graph_pbc(pos, cell, cutoff)
        vec = edge_vectors(pos, cell, edge_index, shift).numpy()
        rows = np.concatenate([edge_index.T.numpy()[:, ::-1], vec.round(8)], axis=1)
        return rows[np.lexsort(rows.T[::-1])]

    np.testing.assert_allclose(vectors(skewed), vectors(structure), rtol=0, atol=1e-8)


def _real_cifs() -> list[tuple[str, str]]:
    root = _dataset_dir()
    if not root.is_dir():
        pytest.skip(f"dataset folder not found at {root} (set SPACEGROUP_NN_DATA to enable)")
    pd = pytest.importorskip("pandas")
    out = []
    for name in ("carbon_24", "perov_5"):
        path = root / name / "val.csv"
        if not path.is_file():
            pytest.skip(f"{path} not found")
        frame = pd.read_csv(path, usecols=["cif"], nrows=10)
        out += [(f"{name}[{k}]", cif) for k, cif in enumerate(frame["cif"])]
    return out


def test_matches_pymatgen_on_real_cifs() -> None:
    cifs = _real_cifs()
    assert len(cifs) == 20
    for label, cif in cifs:
        structure = Structure.from_str(cif, fmt="cif")
        try:
            _assert_matches_pymatgen(structure, 6.0)
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from exc


# --------------------------------------------------------------------------------------------
# batching, symmetry, wrapping


def test_batched_equals_per_crystal() -> None:
    structures = [make() for make, _ in STRUCTURES.values()]
    cutoff = 4.7
    poses, cells, batches, expected = [], [], [], []
    offset = 0
    for b, s in enumerate(structures):
        pos, cell = _to_torch(s)
        edge_index, shift = radius_graph_pbc(pos, cell, cutoff)
        expected.append((edge_index + offset, shift))
        poses.append(pos)
        cells.append(cell)
        batches.append(torch.full((len(s),), b, dtype=torch.long))
        offset += len(s)
    pos, cell, batch = torch.cat(poses), torch.cat(cells), torch.cat(batches)
    edge_index, shift = radius_graph_pbc(pos, cell, cutoff, batch)
    assert torch.equal(edge_index, torch.cat([e for e, _ in expected], dim=1))
    assert torch.equal(shift, torch.cat([s for _, s in expected]))

    # Unsorted batch vector: same edges after relabelling the atoms.
    perm = torch.randperm(len(pos), generator=torch.Generator().manual_seed(0))
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm))
    edge_index_p, shift_p = radius_graph_pbc(pos[perm], cell, cutoff, batch[perm])
    _assert_sorted(edge_index_p, shift_p)
    mapped = _edge_dict(perm[edge_index_p], shift_p, torch.zeros(edge_index_p.shape[1]))
    assert set(mapped) == set(_edge_dict(edge_index, shift, torch.zeros(edge_index.shape[1])))


@pytest.mark.parametrize("make", [_nacl, _hexagonal], ids=["cubic", "hexagonal"])
def test_symmetry_equivalent_atoms_have_equal_neighbourhoods(make) -> None:
    structure = make()
    orbits = SpacegroupAnalyzer(structure).get_symmetrized_structure().equivalent_indices
    assert any(len(orbit) > 1 for orbit in orbits)
    pos, cell = _to_torch(structure)
    cutoff = _safe_cutoff(structure, 7.3)
    edge_index, shift = radius_graph_pbc(pos, cell, cutoff)
    dist = edge_vectors(pos, cell, edge_index, shift).norm(dim=1)
    for orbit in orbits:
        profiles = [torch.sort(dist[edge_index[1] == i]).values for i in orbit]
        assert len({len(p) for p in profiles}) == 1, "degrees differ inside an orbit"
        for p in profiles[1:]:
            torch.testing.assert_close(p, profiles[0], rtol=0, atol=1e-9)


def test_graph_is_symmetric() -> None:
    pos, cell = _to_torch(_left_handed_unwrapped())
    edge_index, shift = radius_graph_pbc(pos, cell, 5.5)
    fwd = set(_edge_dict(edge_index, shift, torch.zeros(edge_index.shape[1])))
    rev = {(j, i, tuple(-x for x in s)) for i, j, s in fwd}
    assert fwd == rev


def test_positions_outside_cell_give_same_edge_vectors() -> None:
    structure = _skewed()
    pos, cell = _to_torch(structure)
    gen = torch.Generator().manual_seed(1)
    lattice_shift = torch.randint(-3, 4, (len(pos), 3), generator=gen).double()
    pos_out = pos + lattice_shift @ cell[0]
    cutoff = _safe_cutoff(structure, 4.3)

    def canonical(p: torch.Tensor) -> torch.Tensor:
        edge_index, shift = radius_graph_pbc(p, cell, cutoff)
        vec = edge_vectors(p, cell, edge_index, shift)
        rows = torch.cat([edge_index.T[:, [1, 0]].double(), vec.round(decimals=8)], dim=1)
        order = np.lexsort(rows.numpy().T[::-1])
        return rows[torch.as_tensor(order.copy())], vec[torch.as_tensor(order.copy())]

    rows_in, vec_in = canonical(pos)
    rows_out, vec_out = canonical(pos_out)
    assert torch.equal(rows_in[:, :2], rows_out[:, :2])
    torch.testing.assert_close(vec_out, vec_in, rtol=0, atol=1e-10)


def test_self_loops() -> None:
    pos, cell = _to_torch(_hexagonal())
    edge_index, shift = radius_graph_pbc(pos, cell, 3.0)
    edge_index_sl, shift_sl = radius_graph_pbc(pos, cell, 3.0, self_loops=True)
    assert edge_index_sl.shape[1] == edge_index.shape[1] + len(pos)
    is_self = (edge_index_sl[0] == edge_index_sl[1]) & (shift_sl == 0).all(dim=1)
    assert int(is_self.sum()) == len(pos)
    assert not bool(((edge_index[0] == edge_index[1]) & (shift == 0).all(dim=1)).any())
    _assert_sorted(edge_index_sl, shift_sl)


# --------------------------------------------------------------------------------------------
# autograd and dtypes


def test_gradient_flows_to_pos() -> None:
    pos, cell = _to_torch(_skewed())
    pos.requires_grad_(True)
    edge_index, shift = radius_graph_pbc(pos, cell, 4.3)
    assert not edge_index.requires_grad and not shift.requires_grad

    def energy(p: torch.Tensor) -> torch.Tensor:
        d = edge_vectors(p, cell, edge_index, shift).norm(dim=1)
        return torch.exp(-d).sum()

    energy(pos).backward()
    assert pos.grad is not None and bool(torch.isfinite(pos.grad).all())
    assert float(pos.grad.abs().sum()) > 0
    assert torch.autograd.gradcheck(energy, (pos.detach().clone().requires_grad_(True),))


def test_float32() -> None:
    structure = _hexagonal()
    cutoff = _safe_cutoff(structure, 5.0)
    pos32, cell32 = _to_torch(structure, torch.float32)
    pos64, cell64 = _to_torch(structure, torch.float64)
    edge_index32, shift32 = radius_graph_pbc(pos32, cell32, cutoff)
    edge_index64, shift64 = radius_graph_pbc(pos64, cell64, cutoff)
    assert shift32.dtype == torch.float32
    assert torch.equal(edge_index32, edge_index64)
    assert torch.equal(shift32.double(), shift64)
    vec32 = edge_vectors(pos32, cell32, edge_index32, shift32)
    assert vec32.dtype == torch.float32
    torch.testing.assert_close(
        vec32.double(), edge_vectors(pos64, cell64, edge_index64, shift64), rtol=0, atol=1e-5
    )


# --------------------------------------------------------------------------------------------
# transform and errors


def test_transform_writes_edges_and_batches() -> None:
    transform = RadiusGraphPBC(6.0)
    assert repr(transform) == "RadiusGraphPBC(cutoff=6.0)"
    data_list = []
    for make in (_nacl, _skewed):
        pos, cell = _to_torch(make())
        data = transform(Data(pos=pos, cell=cell))
        edge_index, shift = radius_graph_pbc(pos, cell, 6.0)
        assert torch.equal(data.edge_index, edge_index)
        assert torch.equal(data.edge_shift, shift)
        assert data.edge_cutoff.tolist() == [6.0] and torch.equal(data.graph_pos, pos)
        data_list.append(data)
    batch = Batch.from_data_list(data_list)
    assert batch.cell.shape == (2, 3, 3)
    vec = edge_vectors(batch.pos, batch.cell, batch.edge_index, batch.edge_shift, batch.batch)
    expected = torch.cat([edge_vectors(d.pos, d.cell, d.edge_index, d.edge_shift) for d in data_list])
    torch.testing.assert_close(vec, expected, rtol=0, atol=1e-12)


def _random_crystals(count: int = 12) -> list[Data]:
    from spacegroup_nn import SpaceGroup
    from spacegroup_nn.data import from_structure
    from spacegroup_nn.groups import random_crystal

    rng = np.random.default_rng(1)
    numbers = rng.choice(np.arange(1, 231), count, replace=False)
    return [from_structure(random_crystal(SpaceGroup(int(n)), rng), dtype=torch.float64) for n in numbers]


def test_stored_graphs_equal_searched_ones() -> None:
    crystals = _random_crystals()
    stored = with_radius_graphs(crystals, 5.0, chunk=5)  # chunks that split the list unevenly
    for crystal, copy in zip(crystals, stored, strict=True):
        assert "edge_index" not in crystal  # the originals are untouched
        edge_index, shift = radius_graph_pbc(copy.pos, copy.cell, 5.0)
        assert torch.equal(copy.edge_index, edge_index) and torch.equal(copy.edge_shift, shift)
    batch = Batch.from_data_list(stored)
    searched = radius_graph_pbc(batch.pos, batch.cell, 5.0, batch.batch)
    for cutoff in (5.0, 3.5):  # the stored cutoff, and a smaller one cut down from it
        graph = stored_graph(batch, cutoff)
        expected = radius_graph_pbc(batch.pos, batch.cell, cutoff, batch.batch)
        assert graph is not None and all(torch.equal(a, b) for a, b in zip(graph, expected, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(stored_graph(batch, 5.0), searched, strict=True))
    assert stored_graph(batch, 5.5) is None  # a larger cutoff needs a new search


def test_crystals_storing_the_graph_are_reused_and_only_the_others_searched(monkeypatch) -> None:
    from spacegroup_nn.data import graph

    searched = []
    search = graph.radius_graph_pbc
    monkeypatch.setattr(
        graph, "radius_graph_pbc", lambda pos, *args: searched.append(len(pos)) or search(pos, *args)
    )
    crystals = _random_crystals(6)
    stored = with_radius_graphs(crystals, 5.0)
    searched.clear()
    moved = stored[1].clone()
    moved.pos = moved.pos + 0.1  # its stored graph no longer matches
    mixed = [stored[0], moved, crystals[2], *stored[3:]]
    again = with_radius_graphs(mixed, 5.0)
    assert searched == [moved.num_nodes + crystals[2].num_nodes]
    assert [a is b for a, b in zip(again, mixed, strict=True)] == [True, False, False, True, True, True]
    assert torch.equal(again[1].edge_index, radius_graph_pbc(moved.pos, moved.cell, 5.0)[0])
    for cutoff, cap in ((4.0, None), (5.0, 6)):  # another graph: searched again
        searched.clear()
        assert not set(map(id, with_radius_graphs(stored, cutoff, max_neighbors=cap))) & set(map(id, stored))
        assert searched == [sum(crystal.num_nodes for crystal in stored)]


def test_pruned_stored_graphs_keep_the_nearest_edges_for_capped_callers_only() -> None:
    crystals = _random_crystals()
    pruned = with_radius_graphs(crystals, 5.0, chunk=5, max_neighbors=6)
    for copy in pruned:
        edge_index, shift = radius_graph_pbc(copy.pos, copy.cell, 5.0)
        keep = nearest_edges(
            edge_index[1], edge_vectors(copy.pos, copy.cell, edge_index, shift).norm(dim=-1), 6
        )
        assert torch.equal(copy.edge_index, edge_index[:, keep]) and torch.equal(copy.edge_shift, shift[keep])
    batch = Batch.from_data_list(pruned)
    assert stored_graph(batch, 5.0) is None  # a caller wanting every neighbour
    assert stored_graph(batch, 5.0, max_neighbors=7) is None  # or more than were kept
    for cap in (6, 3):
        edge_index, shift = stored_graph(batch, 5.0, max_neighbors=cap)
        distance = edge_vectors(batch.pos, batch.cell, edge_index, shift, batch.batch).norm(dim=-1)
        full = radius_graph_pbc(batch.pos, batch.cell, 5.0, batch.batch)
        full_distance = edge_vectors(batch.pos, batch.cell, *full, batch.batch).norm(dim=-1)
        expected = full[0][:, nearest_edges(full[0][1], full_distance, cap)]
        assert torch.equal(edge_index[:, nearest_edges(edge_index[1], distance, cap)], expected)
    with pytest.raises(ValueError, match="max_neighbors"):
        with_radius_graphs(crystals, 5.0, max_neighbors=0)


def test_stored_graph_is_never_stale() -> None:
    stored = Batch.from_data_list(with_radius_graphs(_random_crystals(3), 4.0))
    moved = stored.clone()
    moved.pos = moved.pos + 0.1 * torch.randn_like(moved.pos)
    assert stored_graph(moved, 4.0) is None
    strained = stored.clone()
    strained.cell = 1.01 * strained.cell
    assert stored_graph(strained, 4.0) is None
    in_place = stored.clone()
    in_place.pos[0, 0] += 0.5  # graph_pos is a copy, so an in-place move is seen too
    assert stored_graph(in_place, 4.0) is None
    assert stored_graph(Batch.from_data_list(_random_crystals(2)), 4.0) is None  # nothing stored


def test_models_give_the_same_output_with_stored_graphs() -> None:
    from spacegroup_nn.nn import CrystalGraphNetwork, SpaceGroupTransformer

    crystals = _random_crystals(6)
    torch.manual_seed(0)
    for model in (SpaceGroupTransformer(), CrystalGraphNetwork(max_neighbors=12, smooth=False)):
        model = model.double().eval()
        plain = model(Batch.from_data_list(crystals))
        stored = model(Batch.from_data_list(with_radius_graphs(crystals, model.cutoff)))
        assert torch.equal(plain, stored)
    capped = model(Batch.from_data_list(with_radius_graphs(crystals, model.cutoff, max_neighbors=12)))
    assert torch.equal(plain, capped)  # the CGCNN baseline, on a graph pruned to its 12 neighbours


@pytest.mark.parametrize("cutoff", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_cutoff(cutoff: float) -> None:
    pos, cell = _to_torch(_one_atom())
    with pytest.raises(ValueError, match="cutoff"):
        radius_graph_pbc(pos, cell, cutoff)
    with pytest.raises(ValueError, match="cutoff"):
        RadiusGraphPBC(cutoff)


def test_singular_cell() -> None:
    pos = torch.zeros(2, 3, dtype=torch.float64)
    cell = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]], dtype=torch.float64)
    with pytest.raises(InvalidCellError, match="singular"):
        radius_graph_pbc(pos, cell, 3.0)


def test_non_finite_positions() -> None:
    pos, cell = _to_torch(_nacl())
    pos[3, 1] = float("nan")
    with pytest.raises(NonFiniteCoordinatesError, match="atom 3"):
        radius_graph_pbc(pos, cell, 3.0)
