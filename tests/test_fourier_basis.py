import itertools

import numpy as np
import pytest
import torch

from spacegroup_nn import SpaceGroup, fourier_basis
from spacegroup_nn.solvers import (
    ball_index,
    group_average,
    invariant_subspace,
    plane_wave_representation,
    wavevector_ball,
)

ALL_NUMBERS = range(1, 231)
ORACLE_RADIUS = 3.0


def random_points(seed, count=16):
    return np.random.default_rng(seed).random((count, 3))


def plane_waves(frac_coords, wavevectors):
    return np.exp(2j * np.pi * frac_coords @ wavevectors.T)


def test_ball_sizes_and_closure():
    assert len(wavevector_ball("orthogonal", 5.0)) == 514
    assert len(wavevector_ball("hexagonal", 5.0)) == 418
    for number in (221, 191):  # the largest point groups of each metric: m-3m and 6/mmm
        basis = fourier_basis(number)
        ball = {tuple(k) for k in basis.wavevectors.tolist()}
        images = np.einsum("nji,kj->nki", basis.group.rotations, basis.wavevectors)
        assert {tuple(k) for k in images.reshape(-1, 3).tolist()} == ball


@pytest.mark.parametrize("number", ALL_NUMBERS)
def test_basis_is_invariant_periodic_and_orthonormal(number):
    basis = fourier_basis(number)
    group = basis.group
    x = random_points(number)
    values = basis.evaluate(x)
    assert values.shape == (len(x), basis.num_functions)
    moved = np.einsum("nij,pj->npi", group.rotations, x) + group.translations[:, None]
    errors = [np.abs(basis.evaluate(y) - values).max() for y in moved]
    assert max(errors) <= 1e-10
    shift = np.random.default_rng(0).integers(-3, 4, size=(len(x), 3))
    assert np.abs(basis.evaluate(x + shift) - values).max() <= 1e-10
    # quadrature on a 12^3 grid is exact for |k_i| <= 5 products (aliasing needs |k_i| >= 12)
    grid = np.stack(np.meshgrid(*[np.arange(12) / 12] * 3, indexing="ij"), -1).reshape(-1, 3)
    on_grid = basis.evaluate(grid)
    gram = on_grid.T @ on_grid / len(grid)
    np.testing.assert_allclose(gram, np.eye(basis.num_functions), atol=1e-12)
    assert basis.num_functions == int((~basis.extinct[basis.orbit_representatives]).sum())


@pytest.mark.parametrize("number", ALL_NUMBERS)
def test_orbit_solver_matches_dense_oracle(number):
    basis = fourier_basis(number, radius=ORACLE_RADIUS)
    projector = group_average(plane_wave_representation(basis.group, basis.wavevectors))
    # column k of the projector holds the coefficients of psi_k: zero iff k is extinct
    column_norm = np.abs(projector).sum(axis=0)
    np.testing.assert_array_equal(column_norm < 1e-9, basis.extinct)
    # the support of a live column is exactly the orbit of k
    same_orbit = basis.orbit[:, None] == basis.orbit[None, :]
    live = ~basis.extinct
    np.testing.assert_array_equal((np.abs(projector) > 1e-9)[:, live], same_orbit[:, live])
    # the invariant subspace has one complex dimension per live orbit
    dimension = invariant_subspace(plane_wave_representation(basis.group, basis.wavevectors))
    assert dimension.shape[1] == basis.num_functions
    # psi_k from the orbit solver equals the group average of e_k, phases included
    x = random_points(number, 8)
    np.testing.assert_allclose(
        basis.symmetrized(x), plane_waves(x, basis.wavevectors) @ projector, atol=1e-12
    )


@pytest.mark.parametrize("number", [1, 14, 62, 146, 166, 194, 206, 227, 230])
def test_symmetrized_values(number):
    basis = fourier_basis(number)
    x = random_points(number)
    psi = basis.symmetrized(x)
    assert psi.shape == (len(x), len(basis.wavevectors)) and psi.dtype == np.complex128
    assert np.all(psi[:, basis.extinct] == 0)
    minus = ball_index(basis.metric, basis.radius).negation
    np.testing.assert_array_equal(basis.wavevectors[minus], -basis.wavevectors)
    np.testing.assert_allclose(psi[:, minus], np.conj(psi), atol=1e-12)
    group = basis.group
    for rotation, translation in zip(group.rotations, group.translations, strict=True):
        np.testing.assert_allclose(basis.symmetrized(x @ rotation.T + translation), psi, atol=1e-12)
    # the real basis spans the same space as Re and Im of psi
    grid = np.random.default_rng(1).random((len(basis.wavevectors) + 50, 3))
    real = np.concatenate([basis.symmetrized(grid).real, basis.symmetrized(grid).imag], axis=1)
    assert np.linalg.matrix_rank(real, tol=1e-8) == basis.num_functions
    combined = np.concatenate([real, basis.evaluate(grid)], axis=1)
    assert np.linalg.matrix_rank(combined, tol=1e-8) == basis.num_functions


def extinct_by_rule(group, wavevectors, rule):
    """k is extinct iff some point-group image of k satisfies ``rule(h, k, l)``."""
    images = np.einsum("nji,kj->kni", group.rotations, wavevectors)
    return np.array([any(rule(*image) for image in orbit) for orbit in images.tolist()])


REFLECTION_CONDITIONS = {
    # centrings alone (International Tables, general reflection conditions)
    23: lambda h, k, l: (h + k + l) % 2 != 0,  # I222
    22: lambda h, k, l: len({h % 2, k % 2, l % 2}) > 1,  # F222
    21: lambda h, k, l: (h + k) % 2 != 0,  # C222
    38: lambda h, k, l: (k + l) % 2 != 0,  # Amm2
    146: lambda h, k, l: (-h + k + l) % 3 != 0,  # R3, hexagonal axes, obverse
    # P2_1/c (unique axis b): h0l: l = 2n; 0k0: k = 2n
    14: lambda h, k, l: (k == 0 and l % 2 != 0) or (h == 0 and l == 0 and k % 2 != 0),
    # Fd-3m: F centring; 0kl: k + l = 4n; h00: h = 4n
    227: lambda h, k, l: (
        len({h % 2, k % 2, l % 2}) > 1 or (h == 0 and (k + l) % 4 != 0) or (k == 0 and l == 0 and h % 4 != 0)
    ),
    # Ia-3d: I centring; 0kl: k, l = 2n; hhl: 2h + l = 4n; h00: h = 4n
    230: lambda h, k, l: (
        (h + k + l) % 2 != 0
        or (h == 0 and (k % 2 != 0 or l % 2 != 0))
        or (h == k and (2 * h + l) % 4 != 0)
        or (k == 0 and l == 0 and h % 4 != 0)
    ),
    # P6_3/mmc: hh(-2h)l: l = 2n; 000l: l = 2n
    194: lambda h, k, l: h == k and l % 2 != 0,
}


@pytest.mark.parametrize("number", sorted(REFLECTION_CONDITIONS))
def test_reflection_conditions_of_the_international_tables(number):
    basis = fourier_basis(number)
    expected = extinct_by_rule(basis.group, basis.wavevectors, REFLECTION_CONDITIONS[number])
    np.testing.assert_array_equal(basis.extinct, expected)


@pytest.mark.parametrize("hall", range(1, 531))
def test_every_setting_gives_an_invariant_basis(hall):
    group = SpaceGroup.from_hall(hall)
    basis = fourier_basis(group, radius=4.0)
    x = random_points(hall, 6)
    values = basis.evaluate(x)
    for rotation, translation in zip(group.rotations, group.translations, strict=True):
        assert np.abs(basis.evaluate(x @ rotation.T + translation) - values).max() <= 1e-10


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("number", [2, 148, 194, 227])
def test_torch_evaluation(number, dtype, tol):
    basis = fourier_basis(number)
    x = torch.tensor(random_points(number), dtype=dtype, requires_grad=True)
    values = basis.evaluate(x)
    assert values.dtype == dtype
    np.testing.assert_allclose(
        values.detach().double().numpy(), basis.evaluate(x.detach().double().numpy()), atol=tol
    )
    group = basis.group
    for rotation, translation in zip(group.rotations, group.translations, strict=True):
        moved = x @ torch.tensor(rotation.T, dtype=dtype) + torch.tensor(translation, dtype=dtype)
        assert (basis.evaluate(moved) - values).abs().max() <= tol
    values.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    psi = basis.symmetrized(x.detach())
    assert psi.dtype == (torch.complex128 if dtype == torch.float64 else torch.complex64)


def test_cache_and_inputs():
    assert fourier_basis(227) is fourier_basis(SpaceGroup(227), radius=5)
    assert fourier_basis(227, radius=10).wavevectors.shape == (4168, 3)
    assert "num_functions=7" in repr(fourier_basis(227))
    with pytest.raises(ValueError, match="shape"):
        fourier_basis(1).evaluate(np.zeros((4, 2)))
    with pytest.raises(TypeError):
        fourier_basis(1).evaluate([[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="radius"):
        fourier_basis(1, radius=0.5)


def test_each_index_means_the_same_wavevector_in_every_group():
    for metric, numbers in [("orthogonal", (1, 47, 123, 229)), ("hexagonal", (147, 168, 191))]:
        ball = wavevector_ball(metric, 5.0)
        for number in numbers:
            assert fourier_basis(number).wavevectors is ball
    for a, b in itertools.combinations([fourier_basis(n) for n in (1, 2, 225)], 2):
        np.testing.assert_array_equal(a.wavevectors, b.wavevectors)
