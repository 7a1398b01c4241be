"""Elastic tensors in the standardized frame: conversions, frames, exact symmetry, equivariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch

from spacegroup_nn.data import random_rotation
from spacegroup_nn.data.elastic import (
    coordinates_to_voigt,
    elastic_coordinates,
    elastic_crystal,
    rotate_coordinates,
    voigt_moduli,
    voigt_to_cartesian,
)
from spacegroup_nn.groups import PointGroup, SpaceGroup, random_crystal, standardize
from spacegroup_nn.nn.crystal_tensor import CrystalTensorModel
from spacegroup_nn.solvers.tensors import tensor_projector, tensor_representation

MANDEL_WEIGHTS = np.array([1.0, 1.0, 1.0, math.sqrt(2.0), math.sqrt(2.0), math.sqrt(2.0)])


def _random_voigt(rng: np.random.Generator, size: tuple[int, ...] = ()) -> np.ndarray:
    a = rng.normal(size=(*size, 6, 6))
    return a + np.swapaxes(a, -1, -2)


def test_coordinates_layout_and_round_trip():
    rng = np.random.default_rng(0)
    voigt = _random_voigt(rng, (4,))
    coordinates = elastic_coordinates(voigt)
    assert coordinates.shape == (4, 21)
    mandel = MANDEL_WEIGHTS[:, None] * voigt * MANDEL_WEIGHTS[None, :]
    rows, cols = np.triu_indices(6)
    expected = mandel[:, rows, cols] * np.where(rows == cols, 1.0, math.sqrt(2.0))
    np.testing.assert_allclose(coordinates, expected, atol=1e-12)
    np.testing.assert_allclose(coordinates_to_voigt(coordinates), voigt, atol=1e-12)
    frobenius = np.linalg.norm(voigt_to_cartesian(voigt).reshape(4, -1), axis=1)
    np.testing.assert_allclose(np.linalg.norm(coordinates, axis=1), frobenius, rtol=1e-12)


def test_rotation_matches_the_group_representation():
    rng = np.random.default_rng(1)
    voigt = _random_voigt(rng)
    group = SpaceGroup(191).point_group  # hexagonal axes: non-trivial entries
    representation = tensor_representation(group, "elastic")
    for rotation, rho in zip(group.rotations, representation, strict=True):
        np.testing.assert_allclose(
            elastic_coordinates(voigt, rotation), rho @ elastic_coordinates(voigt), atol=1e-12
        )
    q = random_rotation(np.random.default_rng(2))
    coordinates = elastic_coordinates(voigt)
    np.testing.assert_allclose(
        rotate_coordinates(rotate_coordinates(coordinates, q), q.T), coordinates, atol=1e-12
    )


def test_voigt_moduli_of_an_isotropic_tensor_and_invariance():
    lam, mu = 70.0, 30.0
    voigt = np.zeros((6, 6))
    voigt[:3, :3] = lam
    voigt[np.arange(3), np.arange(3)] += 2 * mu
    voigt[np.arange(3, 6), np.arange(3, 6)] = mu
    k, g = voigt_moduli(voigt)
    assert k == pytest.approx(lam + 2 * mu / 3) and g == pytest.approx(mu)
    anisotropic = _random_voigt(np.random.default_rng(3))
    q = random_rotation(np.random.default_rng(4))
    rotated = coordinates_to_voigt(elastic_coordinates(anisotropic, q))
    np.testing.assert_allclose(voigt_moduli(rotated), voigt_moduli(anisotropic), atol=1e-12)


@pytest.mark.parametrize("number", range(1, 231))
def test_point_group_projector_is_the_laue_class(number):
    """Elastic tensors are centrosymmetric: adding the inversion changes no projector."""
    group = SpaceGroup(number).point_group
    laue = PointGroup(np.unique(np.concatenate([group.rotations, -group.rotations]).round(12), axis=0))
    np.testing.assert_allclose(
        tensor_projector(laue, "elastic"), tensor_projector(group, "elastic"), atol=1e-12
    )


# one group per arithmetic situation: every crystal system, both monoclinic centrings, R
# in hexagonal axes, I, F, C, A centring, and every Laue class
FRAME_GROUPS = (1, 2, 4, 12, 15, 19, 38, 63, 70, 79, 88, 121, 139, 146, 148, 150, 160, 164, 167, 176, 186,
                194, 198, 206, 216, 225, 229)  # fmt: skip


@pytest.mark.parametrize("number", FRAME_GROUPS)
def test_point_group_frame_is_the_standardized_frame(number):
    """The Cartesian operations of the standardized lattice are ``SpaceGroup.point_group``."""
    rng = np.random.default_rng(number)
    lattice, frac_coords, numbers = random_crystal(SpaceGroup(number), rng)
    q = random_rotation(rng)
    crystal = standardize((lattice @ q.T, frac_coords, numbers))  # a rotated input
    assert crystal.group.number == number
    basis = crystal.lattice.T  # columns a, b, c
    cartesian = basis @ crystal.group.rotations @ np.linalg.inv(basis)
    expected = crystal.group.point_group.rotations
    distances = np.abs(cartesian[:, None] - expected[None]).max(axis=(2, 3))
    assert distances.min(axis=1).max() < 1e-9


def _structure(number: int, seed: int) -> Structure:
    lattice, frac_coords, numbers = random_crystal(SpaceGroup(number), np.random.default_rng(seed))
    return Structure(Lattice(lattice), numbers.tolist(), frac_coords)


@pytest.mark.parametrize("number", [164, 15, 87, 176])
def test_prediction_rotates_with_the_input(number):
    """A rigid rotation of the input rotates targets and predictions back in its frame.

    spglib may standardize the rotated input to a description that differs by an operation
    of the point group (here for 176): invariant tensors do not see it.
    """
    structure = _structure(number, seed=number)
    rotation = random_rotation(np.random.default_rng(7))
    rotated = Structure(
        Lattice(structure.lattice.matrix @ rotation.T), structure.species, structure.frac_coords
    )
    crystal = standardize(structure)
    invariant = elastic_coordinates(_random_voigt(np.random.default_rng(8))) @ tensor_projector(
        crystal.group, "elastic"
    )
    voigt = coordinates_to_voigt(
        rotate_coordinates(invariant, crystal.rotation.T)
    )  # in the structure's frame
    voigt_rotated = coordinates_to_voigt(elastic_coordinates(voigt, rotation))
    torch.manual_seed(0)
    model = CrystalTensorModel("elastic", 16, num_layers=1, heads=2).double().eval()
    predictions, targets = [], []
    for item, tensor in ((structure, voigt), (rotated, voigt_rotated)):
        data, _ = elastic_crystal(item, tensor, frame="structure", symprec=1e-5, dtype=torch.float64)
        with torch.no_grad():
            output = model(Batch.from_data_list([data]))[0].numpy()
        back = data.rotation[0].numpy().T  # standardized frame -> input frame
        predictions.append(rotate_coordinates(output, back))
        targets.append(data.y[0].numpy())
    np.testing.assert_allclose(targets[0], invariant, atol=1e-9)
    np.testing.assert_allclose(targets[1], invariant, atol=1e-9)
    np.testing.assert_allclose(predictions[1], rotate_coordinates(predictions[0], rotation), atol=1e-9)
    # an IEEE-frame tensor is intrinsic to the crystal: the same for any input orientation
    ieee = [
        elastic_crystal(s, voigt, frame="ieee", symprec=1e-5)[0].y[0].numpy() for s in (structure, rotated)
    ]
    np.testing.assert_allclose(ieee[1], ieee[0], atol=1e-9)


def test_model_output_is_exact_for_every_group():
    """Projected outputs satisfy every operation of every group's point group in float64."""
    torch.manual_seed(0)
    model = CrystalTensorModel("elastic", 8, num_layers=1, heads=2).double()
    numbers = torch.arange(1, 231)
    features = torch.randn(230, 8, dtype=torch.float64)
    outputs = model.head(features, model.projectors(numbers)).detach().numpy()
    for number, output in zip(numbers.tolist(), outputs, strict=True):
        representation = tensor_representation(SpaceGroup(number), "elastic")
        error = np.abs(representation @ output - output).max() / np.linalg.norm(output)
        assert error <= 1e-10, number
    unconstrained = CrystalTensorModel("elastic", 8, project=False, num_layers=1, heads=2).double()
    free = unconstrained.head(features, None).detach().numpy()
    assert np.linalg.norm(
        free[-1] @ tensor_projector(SpaceGroup(230), "elastic") - free[-1]
    ) > 0.1 * np.linalg.norm(free[-1])


def test_model_end_to_end_float64_symmetry():
    structures = [_structure(number, seed=1) for number in (2, 12, 148, 164, 191, 221)]
    data = [
        elastic_crystal(s, np.eye(6), frame="structure", symprec=1e-5, dtype=torch.float64)[0]
        for s in structures
    ]
    torch.manual_seed(1)
    model = CrystalTensorModel("elastic", 16, num_layers=1, heads=2).double().eval()
    with torch.no_grad():
        batch = Batch.from_data_list(data)
        outputs = model(batch).numpy()
        projectors = model.projectors(batch.space_group).numpy()
    errors = np.linalg.norm(np.einsum("bij,bj->bi", projectors, outputs) - outputs, axis=1)
    assert (errors / np.linalg.norm(outputs, axis=1)).max() <= 1e-10
    assert "project=True" in repr(model)


def test_elastic_crystal_rejects_bad_input():
    structure = _structure(221, seed=0)
    with pytest.raises(ValueError, match="frame"):
        elastic_crystal(structure, np.eye(6), frame="voigt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="6, 6"):
        elastic_crystal(structure, np.eye(3))
