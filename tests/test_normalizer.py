import numpy as np
import pytest

from spacegroup_nn import SpaceGroup
from spacegroup_nn.groups import euclidean_normalizer
from spacegroup_nn.solvers import fourier_basis, normalizer_basis


def keys(rotations, twelfths, free_axes):
    twelfths = np.array(twelfths) % 12
    twelfths[:, free_axes] = 0
    return {(r.tobytes(), tuple(t)) for r, t in zip(np.asarray(rotations, np.int64), twelfths, strict=True)}


# ITA Table 3.5.2.1 (Euclidean normalizers for general metrics), orders per group coset
# counted mod lattice and free translations
@pytest.mark.parametrize(
    ("number", "order", "free"),
    [(1, 2, "abc"), (2, 16, ""), (4, 16, "b"), (14, 32, ""), (25, 32, "c"), (47, 64, ""),
     (99, 32, "c"), (123, 64, ""), (5, 16, "b"), (146, 36, "c"), (166, 72, ""), (191, 48, ""), (221, 96, ""),
     (225, 384, ""), (227, 384, "")],
)  # fmt: skip
def test_known_normalizers(number, order, free):
    normalizer = euclidean_normalizer(SpaceGroup(number))
    assert normalizer.order == order
    assert "".join(a for a, f in zip("abc", normalizer.free_axes, strict=True) if f) == free


@pytest.mark.parametrize("number", range(1, 231))
def test_normalizer_is_a_group_containing_and_normalizing_the_group(number):
    group = SpaceGroup(number)
    normalizer = euclidean_normalizer(group)
    free = normalizer.free_axes
    ops = keys(normalizer.rotations, normalizer.translations_twelfths, free)
    assert len(ops) == normalizer.order
    assert keys(group.rotations, group.translations_twelfths, free) <= ops
    rotations, twelfths = normalizer.rotations, normalizer.translations_twelfths
    products = keys(
        np.einsum("aij,bjk->abik", rotations, rotations).reshape(-1, 3, 3),
        (np.einsum("aij,bj->abi", rotations, twelfths) + twelfths[:, None]).reshape(-1, 3),
        free,
    )
    assert products == ops
    group_ops = keys(group.rotations, group.translations_twelfths, free)
    for a, s in zip(rotations, twelfths, strict=True):
        inverse = np.rint(np.linalg.inv(a)).astype(np.int64)
        conjugated = (
            a @ group.rotations @ inverse,
            group.translations_twelfths @ a.T + s - np.einsum("nij,j->ni", a @ group.rotations @ inverse, s),
        )
        assert keys(*conjugated, free) == group_ops


@pytest.mark.parametrize("number", range(1, 231))
def test_normalizer_basis_is_invariant_under_the_normalizer(number):
    basis = normalizer_basis(number)
    normalizer = basis.group
    x = np.random.default_rng(number).random((6, 3))
    values = basis.evaluate(x)
    assert basis.num_functions <= fourier_basis(number).num_functions
    shift = np.where(normalizer.free_axes, np.random.default_rng(0).random(3), 0.0)
    for rotation, translation in zip(normalizer.rotations, normalizer.translations, strict=True):
        moved = x @ rotation.T + translation + shift
        np.testing.assert_allclose(basis.evaluate(moved), values, rtol=0, atol=1e-10)
