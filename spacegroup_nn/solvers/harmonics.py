r"""Real spherical harmonics, real Wigner matrices and the invariant harmonics of point groups.

Conventions
-----------
* Real spherical harmonics of degree ``l`` are ordered ``m = -l, ..., l`` (index ``l + m``),
  orthonormal on the unit sphere, without the Condon-Shortley phase:

  .. math::

     Y_{l0} = N_{l0} P_l(z), \quad
     Y_{lm} = \sqrt2 N_{lm} P_l^m(z) \cos m\varphi, \quad
     Y_{l,-m} = \sqrt2 N_{lm} P_l^m(z) \sin m\varphi \quad (m > 0),

  with :math:`N_{lm} = \sqrt{\frac{2l+1}{4\pi}\frac{(l-m)!}{(l+m)!}}`. Thus
  ``Y_1 = sqrt(3 / 4 pi) (y, z, x)`` and ``Y_2`` is proportional to
  ``(xy, yz, (3 z^2 - 1) / (2 sqrt 3), xz, (x^2 - y^2) / 2)``: the usual table of real
  harmonics (all positive signs). Inputs are normalized first: ``Y(x) = Y(x / |x|)``.
* Wigner matrices are defined by ``Y_l(R x) = D_l(R) Y_l(x)`` for every orthogonal ``R``, so
  ``D_l(R1 R2) = D_l(R1) D_l(R2)``, ``D_l`` is orthogonal, and for an improper ``R = -R'``
  ``D_l(R) = (-1)^l D_l(R')``: harmonics are polar (parity ``(-1)^l``). A function
  ``f = c . Y_l`` is invariant under ``R`` iff ``D_l(R)^T c = c``.
* ``D_l(R)`` is computed as :math:`\int Y_l(Rx) Y_l(x)^T d\Omega` with a product quadrature
  (Gauss-Legendre in z, uniform in phi) that is exact for polynomials of degree ``2l``.
* Invariant harmonics are found by the dense solver
  (:func:`~spacegroup_nn.solvers.dense.invariant_subspace`) on the stacked Wigner matrices;
  :func:`molien_counts` counts them independently from the characters
  :math:`\chi_l(R) = \det(R)^l \sum_{m=-l}^{l} e^{i m \theta}
  = \det(R)^l \frac{\sin((2l+1)\theta/2)}{\sin(\theta/2)}`, ``theta`` the angle of ``det(R) R``.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from ..groups.point_group import PointGroup, as_point_group
from .dense import invariant_subspace

if TYPE_CHECKING:
    from ..groups.space_group import SpaceGroup

__all__ = [
    "harmonic_character",
    "harmonic_representation",
    "invariant_harmonics",
    "molien_counts",
    "real_spherical_harmonics",
    "wigner_real",
]


def _check_degree(l: int) -> int:
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(f"the degree l must be a non-negative integer, got {l!r}")
    return int(l)


def real_spherical_harmonics(l: int, vectors: np.ndarray) -> np.ndarray:
    """Real spherical harmonics of degree ``l`` at the directions of ``vectors``.

    Parameters
    ----------
    l : int
        Degree, ``>= 0``.
    vectors : array_like
        ``(..., 3)`` non-zero Cartesian vectors (normalized internally).

    Returns
    -------
    np.ndarray
        ``(..., 2l + 1)`` float64, component ``l + m`` holds ``Y_lm`` (module convention).
    """
    l = _check_degree(l)
    vectors = np.asarray(vectors, dtype=np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
    x, y, z = unit[..., 0], unit[..., 1], unit[..., 2]
    out = np.empty((*unit.shape[:-1], 2 * l + 1))
    for m in range(l + 1):
        # Q_j = d^m P_j / dz^m for j = m..l, so that P_l^m(z) cos(m phi) = Q_l Re((x + iy)^m)
        previous, current = np.zeros_like(z), np.full_like(z, float(math.prod(range(1, 2 * m, 2))))
        for j in range(m + 1, l + 1):
            previous, current = current, ((2 * j - 1) * z * current - (j + m - 1) * previous) / (j - m)
        norm = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - m) / math.factorial(l + m))
        if m == 0:
            out[..., l] = norm * current
            continue
        power = (x + 1j * y) ** m
        out[..., l + m] = math.sqrt(2.0) * norm * current * power.real
        out[..., l - m] = math.sqrt(2.0) * norm * current * power.imag
    return out


@functools.cache
def _quadrature(l: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``(Q, 3)`` and weights ``(Q,)`` exact for polynomials of degree ``2l`` on the sphere."""
    z, weights_z = np.polynomial.legendre.leggauss(l + 1)
    phi = 2.0 * np.pi * np.arange(2 * l + 1) / (2 * l + 1)
    sin = np.sqrt(1.0 - z**2)[:, None]
    cos_z = np.broadcast_to(z[:, None], (l + 1, 2 * l + 1))
    nodes = np.stack([sin * np.cos(phi), sin * np.sin(phi), cos_z], axis=-1).reshape(-1, 3)
    weights = np.repeat(weights_z * (2.0 * np.pi / (2 * l + 1)), 2 * l + 1)
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def wigner_real(l: int, rotation: np.ndarray) -> np.ndarray:
    """Real Wigner matrices ``D_l(R)`` with ``Y_l(R x) = D_l(R) Y_l(x)``.

    Parameters
    ----------
    l : int
        Degree, ``>= 0``.
    rotation : array_like
        ``(..., 3, 3)`` orthogonal matrices, proper or improper.

    Returns
    -------
    np.ndarray
        ``(..., 2l + 1, 2l + 1)`` float64, orthogonal; ``D_l(-I) = (-1)^l I``.
    """
    l = _check_degree(l)
    rotation = np.asarray(rotation, dtype=np.float64)
    nodes, weights = _quadrature(l)
    rotated = real_spherical_harmonics(l, np.einsum("...ij,qj->...qi", rotation, nodes))
    return np.einsum("...qa,qb,q->...ab", rotated, real_spherical_harmonics(l, nodes), weights)


def harmonic_character(l: int, rotation: np.ndarray) -> np.ndarray:
    """Character ``trace D_l(R)`` from the rotation angle alone (no Wigner matrix).

    Parameters
    ----------
    l : int
        Degree, ``>= 0``.
    rotation : array_like
        ``(..., 3, 3)`` orthogonal matrices.

    Returns
    -------
    np.ndarray
        ``(...)`` float64: ``det(R)^l (1 + 2 sum_{m=1}^{l} cos(m theta))``, ``theta`` the angle
        of ``det(R) R`` (the same as ``sin((2l+1) theta / 2) / sin(theta / 2)``, without its
        removable singularity at ``theta = 0``).
    """
    l = _check_degree(l)
    rotation = np.asarray(rotation, dtype=np.float64)
    det = np.sign(np.linalg.det(rotation))
    trace = det * np.trace(rotation, axis1=-2, axis2=-1)
    theta = np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))
    m = np.arange(1, l + 1)
    return det**l * (1.0 + 2.0 * np.cos(theta[..., None] * m).sum(axis=-1))


def harmonic_representation(group: PointGroup | SpaceGroup, l: int) -> np.ndarray:
    """The group acting on degree-``l`` harmonics, one Wigner matrix per element.

    Parameters
    ----------
    group : PointGroup or SpaceGroup
        A space group stands for its point group (:attr:`SpaceGroup.point_group`).
    l : int
        Degree; for a finite stand-in of a continuous group, at most its ``l_max``.

    Returns
    -------
    np.ndarray
        ``(order, 2l + 1, 2l + 1)`` float64, ``D_l(R)`` for every element ``R``.
    """
    group = as_point_group(group)
    group.check_degree(_check_degree(l))
    return wigner_real(l, group.rotations)


@functools.lru_cache(maxsize=1024)
def _invariant_basis(group: PointGroup, l: int) -> np.ndarray:
    basis = invariant_subspace(harmonic_representation(group, l), tol=1e-8)
    basis.setflags(write=False)
    return basis


def invariant_harmonics(group: PointGroup | SpaceGroup, l_max: int) -> dict[int, np.ndarray]:
    """Orthonormal bases of the invariant real harmonics of each degree ``l <= l_max``.

    Parameters
    ----------
    group : PointGroup or SpaceGroup
        A space group stands for its point group, in its Cartesian frame.
    l_max : int
        Highest degree; for a finite stand-in of a continuous group, at most its ``l_max``.

    Returns
    -------
    dict[int, np.ndarray]
        ``{l: basis}``, ``basis`` of shape ``(2l + 1, r_l)`` float64 (read-only, cached) with
        orthonormal columns: the coefficient vectors ``c`` of the invariant functions
        ``c . Y_l``. ``r_l`` equals ``molien_counts(group, l_max)[l]``.

    Raises
    ------
    InfinitePointGroupError
        ``l_max`` exceeds the degree up to which a continuous group's stand-in is exact.
    """
    group = as_point_group(group)
    group.check_degree(_check_degree(l_max))
    return {l: _invariant_basis(group, l) for l in range(l_max + 1)}


def molien_counts(group: PointGroup | SpaceGroup, l_max: int) -> np.ndarray:
    """Number of invariant harmonics per degree, ``(1/|G|) sum_g chi_l(g)``, from characters only.

    Returns
    -------
    np.ndarray
        ``(l_max + 1,)`` int64, entry ``l`` is the dimension of the invariant subspace of degree ``l``.
    """
    group = as_point_group(group)
    group.check_degree(_check_degree(l_max))
    means = np.array([harmonic_character(l, group.rotations).mean() for l in range(l_max + 1)])
    counts = np.rint(means)
    if np.abs(means - counts).max() > 1e-8:
        raise AssertionError(f"character averages {means} of {group!r} are not integers")
    return counts.astype(np.int64)
