"""Crystals whose lattice is more symmetric than their group needs: their extra descriptions."""

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch

from spacegroup_nn import SpaceGroup
from spacegroup_nn.data import from_structure
from spacegroup_nn.groups import euclidean_normalizer, lattice_normalizer_cosets, random_crystal
from spacegroup_nn.nn import CrystalGraphNetwork, SpaceGroupTransformer, SymmetrizedFourierFeatures


def special_lattice(group: SpaceGroup) -> np.ndarray:
    """The most symmetric lattice the group's setting allows: cubic, or for hexagonal axes the
    hexagonal lattice whose rhombohedral sublattice is cubic (c / a = sqrt(3 / 2))."""
    if group.is_hexagonal_metric:
        return Lattice.hexagonal(5.0, 5.0 * np.sqrt(1.5)).matrix
    return Lattice.cubic(5.0).matrix


def crystal_on(number: int, lattice: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fractional coordinates and atomic numbers of a random crystal of group ``number``."""
    _, frac, numbers = random_crystal(SpaceGroup(number), np.random.default_rng(seed), num_orbits=1)
    return frac, numbers


def operation_keys(group: SpaceGroup) -> set[tuple[bytes, tuple[int, ...]]]:
    return {
        (r.tobytes(), tuple(np.rint(24 * t).astype(np.int64) % 24))
        for r, t in zip(group.rotations, group.translations, strict=True)
    }


@pytest.mark.parametrize("number", range(1, 231))
def test_cosets_are_lattice_isometries_normalizing_the_group_one_per_coset(number):
    group = SpaceGroup(number)
    lattice = special_lattice(group)
    rotations, translations = lattice_normalizer_cosets(group, lattice)
    np.testing.assert_array_equal(rotations[0], np.eye(3))
    np.testing.assert_array_equal(translations[0], np.zeros(3))
    metric = lattice @ lattice.T
    generic = euclidean_normalizer(group).linear_parts
    group_ops = operation_keys(group)
    generic_lattice, _, _ = random_crystal(group, np.random.default_rng(number), num_orbits=1)
    assert len(lattice_normalizer_cosets(group, generic_lattice)[0]) == 1  # nothing to average
    for i, (a, s) in enumerate(zip(rotations, translations, strict=True)):
        np.testing.assert_allclose(a.T @ metric @ a, metric, atol=1e-9)
        inverse = np.linalg.inv(a)
        for r, t in zip(group.rotations, group.translations, strict=True):
            conjugate = a @ r @ inverse
            moved = a @ t + s - conjugate @ s
            key = (
                np.rint(conjugate).astype(np.int64).tobytes(),
                tuple(np.rint(24 * moved).astype(np.int64) % 24),
            )
            assert np.allclose(conjugate, np.rint(conjugate)) and np.allclose(24 * moved, np.rint(24 * moved))
            assert key in group_ops
        for b in rotations[:i]:  # in distinct right cosets of the generic normalizer
            assert not np.any(np.all(np.abs(generic - a @ np.linalg.inv(b)) < 1e-9, axis=(1, 2)))


@pytest.mark.parametrize(
    ("number", "lattice", "count"),
    [(16, Lattice.orthorhombic(5, 6, 7), 1), (16, Lattice.tetragonal(6, 7), 2), (2, Lattice.cubic(5), 24),
     (221, Lattice.cubic(5), 1), (70, Lattice.tetragonal(6, 7), 2), (194, Lattice.hexagonal(5, 8), 1)],
)  # fmt: skip
def test_known_coset_counts(number, lattice, count):
    """P222 with a = b gains (x, y, z) -> (y, x, -z); P-1 on a cubic lattice 48 / 2 cosets."""
    assert len(lattice_normalizer_cosets(SpaceGroup(number), lattice.matrix)[0]) == count


def test_every_group_on_its_most_symmetric_lattice_has_the_same_features_in_every_description():
    """The standard descriptions a special lattice adds (one per coset) give the same features
    to 1e-10, for all 230 groups; 53 of them have such descriptions."""
    features = SymmetrizedFourierFeatures()
    with_cosets = 0
    for number in range(1, 231):
        group = SpaceGroup(number)
        lattice = special_lattice(group)
        frac, _ = crystal_on(number, lattice)
        cell = torch.tensor(lattice).unsqueeze(0)
        sg = torch.tensor([number])
        reference = features(torch.tensor(frac @ lattice), cell, sg)
        rotations, translations = lattice_normalizer_cosets(group, lattice)
        with_cosets += len(rotations) > 1
        for a, s in zip(rotations[1:], translations[1:], strict=True):
            moved = features(torch.tensor((frac @ a.T + s) @ lattice), cell, sg)
            error = float((moved - reference).abs().max())
            assert error <= 1e-10, f"group {number}: operation {a.tolist()}, {s.tolist()}: {error:.2e}"
    assert with_cosets == 53


def test_averaged_features_agree_on_the_kernel_and_the_torch_path_in_a_mixed_batch():
    crystals = []
    for number, lattice in [
        (16, Lattice.tetragonal(6, 7)),
        (62, None),
        (2, Lattice.cubic(5)),
        (70, Lattice.tetragonal(6, 8)),
    ]:
        if lattice is None:  # a generic lattice: no copies
            generic, frac, numbers = random_crystal(
                SpaceGroup(number), np.random.default_rng(1), num_orbits=1
            )
            lattice = Lattice(generic)
        else:
            frac, numbers = crystal_on(number, lattice.matrix)
        crystals.append(from_structure(Structure(lattice, numbers.tolist(), frac), dtype=torch.float64))
    batch = Batch.from_data_list(crystals)
    features = SymmetrizedFourierFeatures()
    kernel = features(batch.pos, batch.cell, batch.space_group, batch.batch)
    pos = batch.pos.clone().requires_grad_(True)
    differentiable = features(pos, batch.cell, batch.space_group, batch.batch)
    torch.testing.assert_close(differentiable.detach(), kernel, rtol=0, atol=1e-12)
    differentiable.sum().backward()
    assert torch.isfinite(pos.grad).all()


@pytest.mark.parametrize(
    ("number", "lattice"),
    [(16, Lattice.tetragonal(6, 7)), (2, Lattice.cubic(5.5)), (70, Lattice.tetragonal(6, 8)),
     (15, Lattice.orthorhombic(9, 6, 7)), (10, Lattice.orthorhombic(6, 7, 6))],
    ids=["P222 a=b", "P-1 cubic", "Fddd a=b", "C2/c beta=90", "P2/m a=c beta=90"],
)  # fmt: skip
def test_models_give_one_answer_when_tied_lattice_vectors_come_in_any_order(number, lattice):
    """The crystal turned by each isometry of its lattice that maps its group onto itself: a
    rigid motion, but spglib keeps tied lattice vectors in the order they come in, so the
    standardized descriptions differ (seen on mp-1498, P-1 with a = b = c, and mp-11765,
    C2/m); the features average over them."""
    frac, numbers = crystal_on(number, lattice.matrix)
    rotations, translations = lattice_normalizer_cosets(SpaceGroup(number), lattice.matrix)
    assert len(rotations) > 1
    descriptions = [
        Structure(lattice, numbers.tolist(), frac @ a.T + s)
        for a, s in zip(rotations, translations, strict=True)
    ]
    batch = Batch.from_data_list([from_structure(d, dtype=torch.float64) for d in descriptions])
    torch.manual_seed(0)
    models = [
        SpaceGroupTransformer(hidden_channels=16, num_layers=1, heads=2).double().eval(),
        CrystalGraphNetwork(fourier=True).double().eval(),
    ]
    for model in models:
        with torch.no_grad():
            out = model(batch)
        assert float((out - out[0]).abs().max() / out[0].abs().clamp(min=1)) <= 1e-10


def test_a_cell_spglib_cannot_analyse_has_no_extra_cosets():
    """A near-degenerate cell (spglib returns nothing) keeps the generic normalizer."""
    flat = np.diag([5.0, 5.0, 1e-9])
    assert len(lattice_normalizer_cosets(SpaceGroup(1), flat)[0]) == 1
