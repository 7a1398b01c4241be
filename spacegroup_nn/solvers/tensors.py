r"""Material-property tensors invariant under a point group: projectors and symmetrization.

Coordinates
-----------
Each kind of tensor is stored as a vector of orthonormal (Mandel) coordinates, so that the
group acts by orthogonal matrices and the group average is an orthogonal projector:

* ``"rank2_symmetric"`` (6): ``(T11, T22, T33, √2 T23, √2 T13, √2 T12)``, Voigt order with
  √2 on the off-diagonal entries (a symmetric 3×3 tensor: dielectric, strain, stress, ...).
* ``"piezoelectric"`` (18): ``d_ijk`` symmetric in ``jk``, row ``i`` of the 3×6 Mandel matrix
  ``(d_i11, d_i22, d_i33, √2 d_i23, √2 d_i13, √2 d_i12)``, flattened row-major (index
  ``6 i + J``). From the Voigt matrix of d-coefficients (``d_i4 = 2 d_i23``) divide columns
  4-6 by √2; from e-coefficients (``e_i4 = e_i23``) multiply them by √2.
* ``"elastic"`` (21): ``C_ijkl`` with minor and major symmetries, the upper triangle
  (``I <= J``, row-major) of the 6×6 Mandel matrix ``M_IJ = w_I w_J C_IJ`` (``C_IJ`` the Voigt
  stiffness, ``w = (1, 1, 1, √2, √2, √2)``), with √2 on the off-diagonal entries
  ``I < J``. The Euclidean norm of the vector is the Frobenius norm of ``C_ijkl``.

:func:`tensor_encoder` holds the coordinates as rows over the flattened Cartesian tensor
(row-major ``i, j, k, l``): ``v = E @ T.ravel()`` and ``T = (E.T @ v).reshape(3, ...)`` for a
tensor with the index symmetries of its kind. Tensors are polar (``T_ij... -> R_ia R_jb ...
T_ab...`` for improper ``R`` too), so the rank-3 piezoelectric tensor vanishes in
centrosymmetric groups. A space group stands for its point group in the Cartesian frame of
its idealized lattice (see :attr:`SpaceGroup.point_group`); tensors are expressed in that
frame.

The group acts as ``rho(R) = E (R ⊗ ... ⊗ R) E^T`` and the projector is the dense solver's
group average :math:`P = \frac{1}{|G|}\sum_g \rho(g)`: symmetric, idempotent, of rank equal to
the number of independent components.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..groups.point_group import PointGroup, as_point_group
from .dense import group_average

if TYPE_CHECKING:
    from ..groups.space_group import SpaceGroup

__all__ = [
    "TENSOR_KINDS",
    "TensorKind",
    "symmetrize_tensor",
    "tensor_encoder",
    "tensor_projector",
    "tensor_representation",
]

TensorKind = Literal["rank2_symmetric", "piezoelectric", "elastic"]

#: Cartesian rank and number of coordinates of each kind.
TENSOR_KINDS: dict[str, tuple[int, int]] = {
    "rank2_symmetric": (2, 6),
    "piezoelectric": (3, 18),
    "elastic": (4, 21),
}

_VOIGT_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def _rank(kind: str) -> int:
    if kind not in TENSOR_KINDS:
        raise ValueError(f"unknown tensor kind {kind!r}; expected one of {sorted(TENSOR_KINDS)}")
    return TENSOR_KINDS[kind][0]


@functools.cache
def _mandel() -> np.ndarray:
    """``(6, 9)`` orthonormal rows: the Mandel coordinates of a symmetric 3×3 tensor."""
    rows = np.zeros((6, 3, 3))
    for row, (i, j) in enumerate(_VOIGT_PAIRS):
        rows[row, i, j] = rows[row, j, i] = 1.0 if i == j else 1.0 / math.sqrt(2.0)
    return rows.reshape(6, 9)


@functools.cache
def tensor_encoder(kind: TensorKind) -> np.ndarray:
    """The coordinates of ``kind`` as orthonormal rows over the flattened Cartesian tensor.

    Returns
    -------
    np.ndarray
        ``(d, 3**rank)`` float64, read-only, ``E @ E.T = I``; ``E.T @ E`` is the orthogonal
        projector onto tensors with the index symmetries of ``kind``.
    """
    rank = _rank(kind)
    mandel = _mandel()
    if rank == 2:
        encoder = mandel
    elif rank == 3:
        encoder = np.kron(np.eye(3), mandel)
    else:
        rows = []
        for a in range(6):
            for b in range(a, 6):
                pair = np.kron(mandel[a], mandel[b]) + np.kron(mandel[b], mandel[a])
                rows.append(pair / (2.0 if a == b else math.sqrt(2.0)))
        encoder = np.array(rows)
    encoder.setflags(write=False)
    return encoder


def tensor_representation(group: PointGroup | SpaceGroup, kind: TensorKind) -> np.ndarray:
    """The group acting on the coordinates of ``kind``, one orthogonal matrix per element.

    Parameters
    ----------
    group : PointGroup or SpaceGroup
        A space group stands for its point group (Cartesian frame of its idealized lattice).
    kind : {"rank2_symmetric", "piezoelectric", "elastic"}

    Returns
    -------
    np.ndarray
        ``(order, d, d)`` float64: ``E (R ⊗ ... ⊗ R) E^T`` for every element ``R``.
    """
    rank = _rank(kind)
    group = as_point_group(group)
    group.check_degree(rank)
    rotations = group.rotations
    power = rotations
    for _ in range(rank - 1):
        power = np.einsum("gab,gcd->gacbd", power, rotations).reshape(len(rotations), 3 * power.shape[1], -1)
    encoder = tensor_encoder(kind)
    return encoder @ power @ encoder.T


@functools.lru_cache(maxsize=1024)
def _projector(group: PointGroup, kind: str) -> np.ndarray:
    projector = group_average(tensor_representation(group, kind))  # type: ignore[arg-type]
    projector = (projector + projector.T) / 2.0
    projector.setflags(write=False)
    return projector


@functools.lru_cache(maxsize=1024)
def _cartesian_projector(group: PointGroup, kind: str) -> np.ndarray:
    encoder = tensor_encoder(kind)  # type: ignore[arg-type]
    projector = encoder.T @ _projector(group, kind) @ encoder
    projector.setflags(write=False)
    return projector


def tensor_projector(group: PointGroup | SpaceGroup, kind: TensorKind) -> np.ndarray:
    """Orthogonal projector onto the invariant tensors of ``kind``, in its Mandel coordinates.

    ``P`` acts on the column vector ``v`` of the ``d`` Mandel coordinates of one tensor: ``P @ v``
    (or ``v @ P`` for rows of a batch, ``P`` being symmetric) is its invariant part. The
    coordinates, flattened in this order, are

    * ``"rank2_symmetric"``, ``d = 6``: ``(T11, T22, T33, √2 T23, √2 T13, √2 T12)``;
    * ``"piezoelectric"``, ``d = 18``: index ``6 i + J`` holds entry ``J`` of
      ``(d_i11, d_i22, d_i33, √2 d_i23, √2 d_i13, √2 d_i12)`` (row-major over the 3×6 Mandel
      matrix); from a Voigt 3×6 matrix of d-coefficients (``d_i4 = 2 d_i23``) divide columns
      4-6 by √2 and flatten row-major;
    * ``"elastic"``, ``d = 21``: the upper triangle ``I <= J`` (row-major) of
      ``w_I w_J C_IJ`` for the Voigt stiffness ``C_IJ`` (pairs 11, 22, 33, 23, 13, 12) and
      ``w = (1, 1, 1, √2, √2, √2)``, entries with ``I < J`` times √2.

    From a Cartesian tensor ``T`` of any kind: ``v = tensor_encoder(kind) @ T.ravel()`` and
    back ``T = (tensor_encoder(kind).T @ v).reshape((3,) * rank)``
    (:func:`symmetrize_tensor` does the whole projection on ``T``). From a Voigt 6×6 stiffness:
    ``v = spacegroup_nn.data.elastic.elastic_coordinates(voigt)`` and back
    ``coordinates_to_voigt(v)``. Tensors are in the Cartesian frame of ``group``'s rotations.

    Parameters
    ----------
    group : PointGroup or SpaceGroup
        A space group stands for its point group (Cartesian frame of its idealized lattice).
    kind : {"rank2_symmetric", "piezoelectric", "elastic"}
        The tensor kind, with the coordinates above (6, 18 and 21 of them).

    Returns
    -------
    np.ndarray
        ``(d, d)`` float64, read-only (cached), symmetric and idempotent; its rank (its
        trace) is the number of independent components, e.g. 21 (triclinic) to 3 (cubic)
        elastic constants.

    Raises
    ------
    InfinitePointGroupError
        The rank exceeds the degree up to which a continuous group's stand-in is exact.
    """
    _rank(kind)
    return _projector(as_point_group(group), kind)


def symmetrize_tensor(tensor: Any, group: PointGroup | SpaceGroup, kind: TensorKind) -> Any:
    r"""Project Cartesian tensors onto the invariant tensors of ``kind``.

    The result is :math:`\frac{1}{|G|}\sum_g g \cdot \operatorname{sym}(T)`, ``sym`` the
    orthogonal projection onto the index symmetries of ``kind`` (symmetric ``ij`` for rank 2,
    ``jk`` for the piezoelectric tensor, minor and major symmetries for the elastic tensor):
    one orthogonal projector on the flattened tensor, so projecting twice changes nothing.

    Parameters
    ----------
    tensor : np.ndarray or torch.Tensor
        ``(..., 3, 3)``, ``(..., 3, 3, 3)`` or ``(..., 3, 3, 3, 3)`` for rank 2, 3, 4; leading
        batch dimensions are kept.
    group : PointGroup or SpaceGroup
    kind : {"rank2_symmetric", "piezoelectric", "elastic"}

    Returns
    -------
    np.ndarray or torch.Tensor
        Same type and shape as ``tensor``; a torch tensor keeps its dtype and device, an
        array its floating dtype (integers become float64). For torch the projection is a
        matrix product, differentiable with respect to ``tensor``.
    """
    rank = _rank(kind)
    shape = tuple(tensor.shape)
    if shape[len(shape) - rank :] != (3,) * rank:
        raise ValueError(f"a {kind} tensor must end with {rank} axes of size 3, got shape {shape}")
    projector = _cartesian_projector(as_point_group(group), kind)
    flat = tensor.reshape(*shape[: len(shape) - rank], 3**rank)
    if type(tensor).__module__.split(".")[0] == "torch":
        import torch

        matrix = torch.tensor(projector, dtype=tensor.dtype, device=tensor.device)
        return (flat @ matrix).reshape(shape)
    return (np.asarray(flat) @ projector.astype(np.result_type(tensor, np.float32))).reshape(shape)
