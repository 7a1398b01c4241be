"""Molecules: torch harmonics, symmetrized harmonic features, PointGroupNetwork, tensor head, data."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.collections import g2
from pymatgen.core import Element, Molecule
from scipy.spatial.transform import Rotation
from torch import Tensor
from torch_geometric.data import Batch

from spacegroup_nn import PointGroup, SpaceGroup, tensor_projector
from spacegroup_nn.data import from_molecule, molecule_frame
from spacegroup_nn.errors import (
    EmptyStructureError,
    InvalidGroupError,
    NonFiniteCoordinatesError,
    OverlappingAtomsError,
    StructureParseError,
)
from spacegroup_nn.groups.point_group import CRYSTALLOGRAPHIC_POINT_GROUPS
from spacegroup_nn.nn import (
    PointGroupNetwork,
    SymmetricTensorHead,
    SymmetrizedHarmonicFeatures,
    point_group_code,
    point_group_from_code,
    spherical_harmonics,
    tensor_projector_batch,
)
from spacegroup_nn.solvers.harmonics import real_spherical_harmonics
from spacegroup_nn.solvers.tensors import tensor_representation

MOLECULAR = ["C5", "C5v", "C5h", "S8", "S10", "D5", "D5h", "D5d", "D4d", "C7v", "D12h", "I", "Ih"]
CONTINUOUS = ["C*v", "D*h", "Kh"]
GROUPS = sorted(set(CRYSTALLOGRAPHIC_POINT_GROUPS) | set(MOLECULAR) | set(CONTINUOUS))
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
ATOMS = 5  # random atoms per molecule
OCTAHEDRON = [
    (0, 0, 0),
    (1.56, 0, 0),
    (-1.56, 0, 0),
    (0, 1.56, 0),
    (0, -1.56, 0),
    (0, 0, 1.56),
    (0, 0, -1.56),
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors: one thread avoids contention on a loaded machine (8x faster here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _random_batch(symbols: list[str], dtype: torch.dtype, seed: int = 0) -> tuple[Tensor, ...]:
    """One random molecule per symbol; positions scaled to a few Angstrom."""
    generator = torch.Generator().manual_seed(seed)
    pos = 1.5 * torch.randn(len(symbols) * ATOMS, 3, generator=generator, dtype=torch.float64)
    for index, symbol in enumerate(symbols):
        if symbol in CONTINUOUS:  # linear molecules lie on z, a single atom at the centre
            pos[index * ATOMS : (index + 1) * ATOMS, :2] = 0.0
            if symbol == "Kh":
                pos[index * ATOMS : (index + 1) * ATOMS] = 0.0
    z = torch.randint(1, 10, (len(pos),), generator=generator)
    codes = torch.tensor([point_group_code(symbol) for symbol in symbols])
    batch = torch.arange(len(symbols)).repeat_interleave(ATOMS)
    return z, pos.to(dtype), codes, batch


@functools.cache
def _elements(symbols: tuple[str, ...]) -> Tensor:
    """``(largest order, molecules, 3, 3)`` float64: element ``k % |G|`` of each molecule's group."""
    groups = [point_group_from_code(point_group_code(symbol)).rotations for symbol in symbols]
    largest = max(len(rotations) for rotations in groups)
    return torch.tensor(np.stack([[r[k % len(r)] for r in groups] for k in range(largest)]))


def _moved(pos: Tensor, symbols: list[str], element: int) -> Tensor:
    """Apply element ``element % |G|`` of each molecule's group to its atoms."""
    rotations = _elements(tuple(symbols))[element].to(pos.dtype).repeat_interleave(ATOMS, dim=0)
    return (rotations @ pos.unsqueeze(-1)).squeeze(-1)


# ------------------------------------------------------------------------------ harmonics


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_spherical_harmonics_match_numpy(dtype):
    vectors = np.random.default_rng(0).normal(size=(64, 3))
    vectors[0] = (0.0, 0.0, 2.0)  # on the axis
    expected = np.concatenate([real_spherical_harmonics(l, vectors) for l in range(7)], axis=-1)
    radius = np.linalg.norm(vectors, axis=1, keepdims=True)
    solid = np.concatenate([real_spherical_harmonics(l, vectors) * radius**l for l in range(7)], axis=-1)
    tensor = torch.tensor(vectors, dtype=dtype)
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(spherical_harmonics(6, tensor).double().numpy(), expected, atol=tolerance)
    relative = spherical_harmonics(6, tensor, normalize=False).double().numpy() - solid
    assert np.abs(relative).max() <= tolerance * np.abs(solid).max()


def test_solid_harmonics_smooth_at_origin():
    pos = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    spherical_harmonics(4, pos, normalize=False).sum().backward()
    assert torch.isfinite(pos.grad).all()


def test_point_group_codes_round_trip():
    for symbol in GROUPS:
        group = point_group_from_code(point_group_code(symbol))
        assert group.symbol == PointGroup.from_symbol(symbol).symbol
    assert point_group_code("m-3m") == point_group_code("Oh")
    with pytest.raises(InvalidGroupError):
        point_group_code("X7")
    with pytest.raises(InvalidGroupError):
        point_group_from_code(99_000)


# ------------------------------------------------------------------------------- invariance


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_features_invariant_for_every_point_group(dtype):
    """All groups in one batch; each molecule moved by each element of its group."""
    features = SymmetrizedHarmonicFeatures()
    _, pos, codes, batch = _random_batch(GROUPS, dtype)
    reference = features(pos, codes, batch)
    assert reference.shape == (len(pos), 8 * 25) and reference.dtype == dtype
    error = max(
        (features(_moved(pos, GROUPS, element), codes, batch) - reference).abs().max().item()
        for element in range(1, len(_elements(tuple(GROUPS))))
    )
    assert error <= TOLERANCE[dtype]
    # the raw harmonics are not invariant: the projection does the work
    raw = SymmetrizedHarmonicFeatures(symmetrize=False)
    assert (raw(_moved(pos, GROUPS, 1), codes, batch) - raw(pos, codes, batch)).abs().max() > 1e-2


def test_features_identical_index_set_and_orbit_density():
    """Index (n, l, m) is one function for every group; C1 gives the raw harmonics, Oh their average."""
    features = SymmetrizedHarmonicFeatures(l_max=3, num_radial=2).double()
    x = torch.tensor([[0.3, -0.7, 1.1]], dtype=torch.float64)
    raw = features(x, torch.tensor([point_group_code("C1")]))
    group = PointGroup.from_symbol("Oh")
    images = x @ torch.tensor(group.rotations).transpose(1, 2)  # (48, 1, 3)
    average = torch.stack([features(image, torch.tensor([0])) for image in images]).mean(0)
    np.testing.assert_allclose(features(x, torch.tensor([point_group_code("Oh")])), average, atol=1e-13)
    assert features.out_channels == 2 * 16 == raw.shape[1]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", [None, "rank2_symmetric"])
def test_network_invariant_for_every_point_group(dtype, kind):
    torch.manual_seed(0)
    model = PointGroupNetwork(hidden_channels=16, num_layers=1, tensor_kind=kind).to(dtype)
    z, pos, codes, batch = _random_batch(GROUPS, dtype, seed=1)
    reference = model(z, pos, codes, batch)
    scale = reference.abs().max().item()
    copies = len(_elements(tuple(GROUPS)))  # every element of every group, in one batch
    moved = torch.cat([_moved(pos, GROUPS, element) for element in range(copies)])
    offsets = len(GROUPS) * torch.arange(copies).repeat_interleave(len(pos))
    outputs = model(z.repeat(copies), moved, codes.repeat(copies), batch.repeat(copies) + offsets)
    error = (outputs.reshape(copies, *reference.shape) - reference).abs().max().item()
    assert error <= TOLERANCE[dtype] * max(1.0, scale)


def test_network_independent_of_input_orientation():
    """Scalar outputs: from_molecule of a rotated, translated molecule gives the same prediction."""
    names = ["H2O", "NH3", "CH4", "C6H6", "CH3CH2OH", "C2H6SO", "CO2", "butadiene", "isobutane"]
    torch.manual_seed(0)
    model = PointGroupNetwork(hidden_channels=16, num_layers=1).double()
    first = Batch.from_data_list([from_molecule(g2[name], dtype=torch.float64) for name in names])
    rotation = Rotation.random(random_state=3).as_matrix()
    moved = []
    for name in names:
        atoms = g2[name].copy()
        atoms.positions = atoms.positions @ rotation.T + (1.0, -2.0, 0.5)
        moved.append(from_molecule(atoms, dtype=torch.float64))
    assert torch.allclose(model(first), model(Batch.from_data_list(moved)), atol=1e-8)


def test_zero_shot_unseen_point_group():
    """Train briefly on C2v and Cs molecules only; a D5d (never seen) molecule is still exactly invariant."""
    torch.manual_seed(0)
    model = PointGroupNetwork(hidden_channels=16, num_layers=1).double()
    names = ("H2O", "CH3OH", "SO2")
    train = Batch.from_data_list([from_molecule(g2[name], dtype=torch.float64) for name in names])
    assert {point_group_from_code(c).symbol for c in train.point_group.tolist()} <= {"C2v", "Cs"}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        ((model(train) - 1.0) ** 2).mean().backward()
        optimizer.step()
    z, pos, codes, batch = _random_batch(["D5d"], torch.float64, seed=2)
    reference = model(z, pos, codes, batch)
    for element in range(20):
        assert (model(z, _moved(pos, ["D5d"], element), codes, batch) - reference).abs().max() <= 1e-10


# ------------------------------------------------------------------------------ tensor head


@pytest.mark.parametrize("kind", ["rank2_symmetric", "piezoelectric", "elastic"])
def test_tensor_head_obeys_every_group(kind):
    groups = [PointGroup.from_symbol(symbol) for symbol in GROUPS]
    groups += [SpaceGroup(number) for number in (1, 15, 167, 194, 227)]
    projector = tensor_projector_batch(groups, kind)
    size = {"rank2_symmetric": 6, "piezoelectric": 18, "elastic": 21}[kind]
    assert projector.shape == (len(groups), size, size) and projector.dtype == torch.float64
    torch.manual_seed(0)
    head = SymmetricTensorHead(7, kind, hidden_channels=16).double()
    out = head(torch.randn(len(groups), 7, dtype=torch.float64), projector)
    assert out.shape == (len(groups), size)
    for group, values in zip(groups, out.detach().numpy(), strict=True):
        np.testing.assert_allclose(tensor_projector(group, kind) @ values, values, atol=1e-12)
        error = np.abs(tensor_representation(group, kind) @ values - values).max()
        assert error <= 1e-10
    unconstrained = SymmetricTensorHead(7, kind, hidden_channels=16, project=False).double()
    free = unconstrained(torch.randn(len(groups), 7, dtype=torch.float64), None)[-1].detach().numpy()
    assert np.abs(tensor_representation(groups[-1], kind) @ free - free).max() > 1e-3


def test_tensor_head_surface():
    head = SymmetricTensorHead(8, "elastic")
    assert repr(head) == "SymmetricTensorHead(8, kind='elastic', hidden_channels=128, project=True)"
    x = torch.randn(3, 8, requires_grad=True)
    projector = tensor_projector_batch([SpaceGroup(225)] * 3, "elastic", dtype=torch.float32)
    out = head(x, projector)
    assert out.shape == (3, 21) and out.dtype == torch.float32
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    with pytest.raises(ValueError):
        head(x, None)
    with pytest.raises(ValueError):
        SymmetricTensorHead(8, "rank3")
    assert tensor_projector_batch([], "rank2_symmetric").shape == (0, 6, 6)
    before = head.mlp[0].weight.detach().clone()
    head.reset_parameters()
    assert not torch.equal(before, head.mlp[0].weight)


# ------------------------------------------------------------------------------ data, surface


def test_from_molecule_canonical_frame():
    for name in ("H2O", "NH3", "CH4", "C6H6", "CH3CH2OH", "CO2", "HCN", "Na", "SF6"):
        atoms = g2[name] if name != "SF6" else Atoms("SF6", OCTAHEDRON)
        data = from_molecule(atoms, dtype=torch.float64)
        group = PointGroup.from_symbol(data.symbol)
        expected = (torch.tensor(atoms.positions) - data.center) @ data.frame[0].T
        assert torch.allclose(data.pos, expected)
        pos = data.pos.numpy()
        for rotation in group.rotations:  # the canonical group maps the molecule onto itself
            moved = pos @ rotation.T
            assert np.abs(moved[:, None] - pos[None]).sum(-1).min(1).max() < 0.3
        assert data.point_group.tolist() == [point_group_code(data.symbol)]
        frame = data.frame[0].numpy()
        np.testing.assert_allclose(frame @ frame.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(frame) > 0
    assert from_molecule(g2["CO2"]).symbol == "D*h"
    molecule = Molecule(["O", "H", "H"], [[0, 0, 0], [0.76, 0.59, 0], [-0.76, 0.59, 0]])
    assert from_molecule(molecule, name="water").name == "water"


def _masses(atoms: Atoms) -> Tensor:
    """pymatgen's atomic masses (those of the centre of mass in from_molecule)."""
    masses = [float(Element(symbol).atomic_mass) for symbol in atoms.get_chemical_symbols()]
    return torch.tensor(masses, dtype=torch.float64)


def test_from_molecule_fixes_free_rotations_by_inertia():
    """C1 (no symmetry): the mass-weighted spread is diagonal, largest along x; Cs: in-plane axes."""
    for name, symbol in (("CH3CH2OH", "Cs"), ("CH3CH2NH2", "Cs")):
        data = from_molecule(g2[name], dtype=torch.float64)
        assert data.symbol == symbol
        masses = _masses(g2[name])
        spread = torch.einsum("n,ni,nj->ij", masses, data.pos, data.pos)
        assert abs(spread[0, 1]) < 1e-8 and spread[0, 0] >= spread[1, 1]
    atoms = Atoms(
        "CHFClBr", [(0, 0, 0), (0.6, 0.7, 0.8), (-1.3, 0.1, 0.2), (0.3, -1.7, 0.1), (0.2, 0.3, -1.9)]
    )
    group, center, frame = molecule_frame(atoms)
    data = from_molecule(atoms, dtype=torch.float64)
    assert group.symbol == data.symbol == "C1" and np.allclose(frame, data.frame[0].numpy())
    assert np.allclose(center, data.center[0].numpy())
    spread = torch.einsum("n,ni,nj->ij", _masses(atoms), data.pos, data.pos)
    off_diagonal = spread - torch.diag(torch.diagonal(spread))
    assert off_diagonal.abs().max() < 1e-8 and spread[0, 0] >= spread[1, 1] >= spread[2, 2]


def test_from_molecule_typed_errors():
    with pytest.raises(EmptyStructureError):
        from_molecule(Atoms())
    with pytest.raises(NonFiniteCoordinatesError):
        from_molecule(Atoms("H2", [(0, 0, 0), (np.nan, 0, 0)]))
    with pytest.raises(OverlappingAtomsError):
        from_molecule(Atoms("H2", [(0, 0, 0), (0.1, 0, 0)]))
    with pytest.raises(StructureParseError):
        from_molecule("H2O")


def test_network_surface():
    model = PointGroupNetwork(hidden_channels=16, num_layers=2, heads=2)
    assert repr(model) == "PointGroupNetwork(16, num_layers=2, heads=2, l_max=4, out_channels=1)"
    tensor_model = PointGroupNetwork(hidden_channels=16, tensor_kind="rank2_symmetric", project=False)
    assert repr(tensor_model).endswith("tensor_kind='rank2_symmetric', project=False)")
    assert repr(model.features) == (
        "SymmetrizedHarmonicFeatures(l_max=4, num_radial=8, widths=(0.5, 4), symmetrize=True, "
        "out_channels=200)"
    )
    data = [from_molecule(g2[name]) for name in ("H2O", "CH4", "C6H6", "Na")]
    batch = Batch.from_data_list(data)
    pos = batch.pos.clone().requires_grad_()
    out = model(batch.z, pos, batch.point_group, batch.batch)
    assert out.shape == (4,)
    out.sum().backward()
    assert torch.isfinite(pos.grad).all() and pos.grad.abs().sum() > 0
    assert tensor_model(batch).shape == (4, 6)
    assert PointGroupNetwork(hidden_channels=16, out_channels=3)(batch).shape == (4, 3)
    assert model(data[0]).shape == (1,)
    before = model.atom.weight.detach().clone()
    model.reset_parameters()
    assert not torch.equal(before, model.atom.weight)
