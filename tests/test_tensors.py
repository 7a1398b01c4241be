import math

import numpy as np
import pytest
import torch

from spacegroup_nn import PointGroup, SpaceGroup, symmetrize_tensor, tensor_projector
from spacegroup_nn.errors import InfinitePointGroupError
from spacegroup_nn.groups import CRYSTALLOGRAPHIC_POINT_GROUPS, HERMANN_MAUGUIN
from spacegroup_nn.solvers import TENSOR_KINDS, invariant_subspace, tensor_encoder, tensor_representation

LAUE_CLASS = {
    "C1": "-1", "Ci": "-1", "C2": "2/m", "Cs": "2/m", "C2h": "2/m", "D2": "mmm", "C2v": "mmm",
    "D2h": "mmm", "C4": "4/m", "S4": "4/m", "C4h": "4/m", "D4": "4/mmm", "C4v": "4/mmm",
    "D2d": "4/mmm", "D4h": "4/mmm", "C3": "-3", "S6": "-3", "D3": "-3m", "C3v": "-3m", "D3d": "-3m",
    "C6": "6/m", "C3h": "6/m", "C6h": "6/m", "D6": "6/mmm", "C6v": "6/mmm", "D3h": "6/mmm",
    "D6h": "6/mmm", "T": "m-3", "Th": "m-3", "O": "m-3m", "Td": "m-3m", "Oh": "m-3m",
}  # fmt: skip
ELASTIC_CONSTANTS = {
    "-1": 21, "2/m": 13, "mmm": 9, "4/m": 7, "4/mmm": 6, "-3": 7, "-3m": 6, "6/m": 5, "6/mmm": 5,
    "m-3": 3, "m-3m": 3,
}  # fmt: skip
# independent piezoelectric coefficients d_iJ (Nye, Physical Properties of Crystals)
PIEZOELECTRIC = {
    "C1": 18, "C2": 8, "Cs": 10, "D2": 3, "C2v": 5, "C4": 4, "S4": 4, "D4": 1, "C4v": 3, "D2d": 2,
    "C3": 6, "D3": 2, "C3v": 4, "C6": 4, "C3h": 2, "D6": 1, "C6v": 3, "D3h": 1, "T": 1, "Td": 1,
}  # fmt: skip
RANK2_BY_SYSTEM = {
    "triclinic": 6, "monoclinic": 4, "orthorhombic": 3, "tetragonal": 2, "trigonal": 2,
    "hexagonal": 2, "cubic": 1,
}  # fmt: skip
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


SYSTEM = {
    HERMANN_MAUGUIN[SpaceGroup(n).point_group_symbol]: SpaceGroup(n).crystal_system for n in range(1, 231)
}


def rank(projector: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(projector, tol=1e-8))


def rotate(tensor: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """``R_ia R_jb ... T_ab...`` for a tensor of any rank."""
    for axis in range(tensor.ndim):
        tensor = np.moveaxis(np.tensordot(rotation, tensor, axes=([1], [axis])), 0, axis)
    return tensor


def voigt(elastic: np.ndarray) -> np.ndarray:
    return np.array([[elastic[(*a, *b)] for b in VOIGT] for a in VOIGT])


def test_encoders_are_orthonormal_and_keep_index_symmetries():
    rng = np.random.default_rng(0)
    for kind, (rank_, size) in TENSOR_KINDS.items():
        encoder = tensor_encoder(kind)
        assert encoder.shape == (size, 3**rank_) and not encoder.flags.writeable
        np.testing.assert_allclose(encoder @ encoder.T, np.eye(size), atol=1e-12)
    symmetric = rng.normal(size=(3, 3))
    symmetric = symmetric + symmetric.T
    mandel = tensor_encoder("rank2_symmetric") @ symmetric.ravel()
    expected = [symmetric[i, j] * (1 if i == j else math.sqrt(2)) for i, j in VOIGT]
    np.testing.assert_allclose(mandel, expected)
    elastic = symmetrize_tensor(rng.normal(size=(3, 3, 3, 3)), PointGroup.from_symbol("C1"), "elastic")
    for perm in [(1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 0, 1)]:
        np.testing.assert_allclose(elastic, elastic.transpose(perm), atol=1e-12)
    coordinates = tensor_encoder("elastic") @ elastic.ravel()
    np.testing.assert_allclose(np.linalg.norm(coordinates), np.linalg.norm(elastic))
    weights = np.array([1, 1, 1, math.sqrt(2), math.sqrt(2), math.sqrt(2)])
    mandel = weights[:, None] * voigt(elastic) * weights[None]
    upper = [mandel[a, b] * (1 if a == b else math.sqrt(2)) for a in range(6) for b in range(a, 6)]
    np.testing.assert_allclose(coordinates, upper, atol=1e-12)


def test_projector_acts_on_the_documented_flattening_of_voigt_matrices():
    """tensor_projector's docstring: a Voigt 3x6 d-matrix (d_i4 = 2 d_i23) becomes the 18
    coordinates with columns 4-6 divided by sqrt(2), flattened row-major; projecting them is
    symmetrizing the Cartesian tensor."""
    rng = np.random.default_rng(3)
    d = symmetrize_tensor(rng.normal(size=(3, 3, 3)), PointGroup.from_symbol("C1"), "piezoelectric")
    voigt = np.array([[d[i, j, k] * (1 if j == k else 2) for j, k in VOIGT] for i in range(3)])
    v = (voigt / np.array([1, 1, 1, math.sqrt(2), math.sqrt(2), math.sqrt(2)])).ravel()
    encoder = tensor_encoder("piezoelectric")
    np.testing.assert_allclose(v, encoder @ d.ravel(), atol=1e-12)
    group = SpaceGroup(186)  # 6mm: d31 = d32, d33, d15 = d24
    symmetric = symmetrize_tensor(d, group, "piezoelectric")
    projected = tensor_projector(group, "piezoelectric") @ v
    np.testing.assert_allclose(projected, encoder @ symmetric.ravel(), atol=1e-12)


@pytest.mark.parametrize("symbol", CRYSTALLOGRAPHIC_POINT_GROUPS)
def test_independent_components_of_the_32_classes(symbol):
    group = PointGroup.from_symbol(symbol)
    projectors = {kind: tensor_projector(group, kind) for kind in TENSOR_KINDS}
    for kind, projector in projectors.items():
        np.testing.assert_allclose(projector, projector.T, atol=1e-14)
        np.testing.assert_allclose(projector @ projector, projector, atol=1e-12)
        assert round(np.trace(projector)) == rank(projector)
        assert invariant_subspace(tensor_representation(group, kind)).shape[1] == rank(projector)
    assert rank(projectors["elastic"]) == ELASTIC_CONSTANTS[LAUE_CLASS[symbol]]
    assert rank(projectors["piezoelectric"]) == PIEZOELECTRIC.get(symbol, 0)
    assert rank(projectors["rank2_symmetric"]) == RANK2_BY_SYSTEM[SYSTEM[symbol]]


def test_piezoelectricity_vanishes_exactly_for_the_centrosymmetric_classes_and_432():
    silent = {
        s
        for s in CRYSTALLOGRAPHIC_POINT_GROUPS
        if rank(tensor_projector(PointGroup.from_symbol(s), "piezoelectric")) == 0
    }
    assert silent == {"Ci", "C2h", "D2h", "C4h", "D4h", "S6", "D3d", "C6h", "D6h", "Th", "Oh", "O"}


def test_all_230_space_groups():
    for number in range(1, 231):
        space_group = SpaceGroup(number)
        laue = LAUE_CLASS[HERMANN_MAUGUIN[space_group.point_group_symbol]]
        assert rank(tensor_projector(space_group, "elastic")) == ELASTIC_CONSTANTS[laue]
        assert (
            rank(tensor_projector(space_group, "rank2_symmetric"))
            == RANK2_BY_SYSTEM[space_group.crystal_system]
        )
        piezo = rank(tensor_projector(space_group, "piezoelectric"))
        assert piezo == PIEZOELECTRIC.get(space_group.point_group.symbol, 0)


@pytest.mark.parametrize("symbol", CRYSTALLOGRAPHIC_POINT_GROUPS + ("Ih", "D5d", "C7v"))
def test_symmetrized_tensors_are_invariant_and_projection_is_idempotent(symbol):
    group = PointGroup.from_symbol(symbol)
    rng = np.random.default_rng(len(symbol))
    for kind, (rank_, _) in TENSOR_KINDS.items():
        tensor = rng.normal(size=(3,) * rank_)
        projected = symmetrize_tensor(tensor, group, kind)
        for rotation in group.rotations:
            np.testing.assert_allclose(rotate(projected, rotation), projected, atol=1e-12)
        np.testing.assert_allclose(symmetrize_tensor(projected, group, kind), projected, atol=1e-12)
        # orthogonal projection: the residual is orthogonal to every invariant tensor
        assert abs(np.sum((tensor - projected) * projected)) < 1e-10


def test_tensors_live_in_the_cartesian_frame_of_the_lattice():
    rng = np.random.default_rng(3)
    stiffness = rng.normal(size=(3, 3, 3, 3))
    hexagonal = voigt(symmetrize_tensor(stiffness, SpaceGroup(194), "elastic"))
    np.testing.assert_allclose(hexagonal[5, 5], (hexagonal[0, 0] - hexagonal[0, 1]) / 2, atol=1e-12)
    np.testing.assert_allclose(
        [hexagonal[0, 0], hexagonal[3, 3]], [hexagonal[1, 1], hexagonal[4, 4]], atol=1e-12
    )
    cubic = voigt(symmetrize_tensor(stiffness, SpaceGroup(225), "elastic"))
    np.testing.assert_allclose(np.diag(cubic)[:3], cubic[0, 0], atol=1e-12)
    np.testing.assert_allclose(np.diag(cubic)[3:], cubic[3, 3], atol=1e-12)
    np.testing.assert_allclose(cubic[[0, 0, 1], [1, 2, 2]], cubic[0, 1], atol=1e-12)
    # -3m: the twofold axis is along a = x in R-3m (C15 = 0) and along y in P-31m (C14 = 0)
    r3m = voigt(symmetrize_tensor(stiffness, SpaceGroup(166), "elastic"))
    p31m = voigt(symmetrize_tensor(stiffness, SpaceGroup(162), "elastic"))
    assert abs(r3m[0, 4]) < 1e-12 < abs(r3m[0, 3])
    assert abs(p31m[0, 3]) < 1e-12 < abs(p31m[0, 4])


def test_continuous_groups():
    expected = {"C*v": (2, 3, 5), "D*h": (2, 0, 5), "Kh": (1, 0, 2)}  # 6mm-like, 6/mmm-like, isotropic
    for symbol, counts in expected.items():
        group = PointGroup.from_symbol(symbol, l_max=4)
        assert tuple(rank(tensor_projector(group, kind)) for kind in TENSOR_KINDS) == counts
    with pytest.raises(InfinitePointGroupError, match="l_max=3"):
        tensor_projector(PointGroup.from_symbol("D*h", l_max=3), "elastic")
    # an isotropic tensor is lambda d_ij d_kl + mu (d_ik d_jl + d_il d_jk)
    delta = np.eye(3)
    basis = np.stack(
        [
            np.einsum("ij,kl->ijkl", delta, delta),
            np.einsum("ik,jl->ijkl", delta, delta) + np.einsum("il,jk->ijkl", delta, delta),
        ]
    )
    isotropic = symmetrize_tensor(
        np.random.default_rng(0).normal(size=(3, 3, 3, 3)), PointGroup.from_symbol("Kh"), "elastic"
    )
    coefficients, *_ = np.linalg.lstsq(basis.reshape(2, -1).T, isotropic.ravel(), rcond=None)
    np.testing.assert_allclose(np.tensordot(coefficients, basis, axes=1), isotropic, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_tensors_keep_batch_dtype_and_gradients(dtype):
    group = SpaceGroup(221)
    tensor = torch.randn(5, 2, 3, 3, 3, dtype=dtype, requires_grad=True)
    projected = symmetrize_tensor(tensor, group, "piezoelectric")
    assert projected.shape == tensor.shape and projected.dtype == dtype
    assert torch.allclose(projected, torch.zeros_like(projected))  # m-3m is centrosymmetric
    elastic = torch.randn(4, 3, 3, 3, 3, dtype=dtype, requires_grad=True)
    out = symmetrize_tensor(elastic, group, "elastic")
    expected = symmetrize_tensor(elastic.detach().double().numpy(), group, "elastic")
    np.testing.assert_allclose(
        out.detach().double().numpy(), expected, atol=1e-5 if dtype == torch.float32 else 1e-12
    )
    out.pow(2).sum().backward()
    assert elastic.grad is not None and elastic.grad.shape == elastic.shape
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(
            lambda t: symmetrize_tensor(t, group, "rank2_symmetric"),
            (torch.randn(2, 3, 3, dtype=dtype, requires_grad=True),),
        )


def test_numpy_dtypes_and_errors():
    group = PointGroup.from_symbol("D4h")
    assert symmetrize_tensor(np.ones((3, 3), dtype=np.float32), group, "rank2_symmetric").dtype == np.float32
    assert symmetrize_tensor(np.ones((7, 3, 3)), group, "rank2_symmetric").shape == (7, 3, 3)
    with pytest.raises(ValueError, match="unknown tensor kind"):
        tensor_projector(group, "rank5")
    with pytest.raises(ValueError, match="axes of size 3"):
        symmetrize_tensor(np.ones((3, 3)), group, "elastic")
    with pytest.raises(TypeError):
        tensor_projector("D4h", "elastic")
