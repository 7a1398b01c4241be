r"""Dense solver: the invariant subspace of any finite group's representation.

For matrices :math:`\rho(g)` of a finite group, the invariant vectors are the range of the
group average :math:`P = \frac{1}{|G|}\sum_g \rho(g)`. This is the general route (spherical
harmonics, Cartesian and Voigt tensors) and, for plane waves, the test oracle of the orbit
solver in :mod:`spacegroup_nn.solvers.plane_waves`.
"""

from __future__ import annotations

import numpy as np

from ..groups.space_group import SpaceGroup

__all__ = ["group_average", "invariant_subspace", "plane_wave_representation"]


def group_average(representation: np.ndarray) -> np.ndarray:
    """The projector onto the invariant vectors.

    Parameters
    ----------
    representation : np.ndarray
        ``(n, d, d)`` real or complex: one matrix per group element, all elements listed.

    Returns
    -------
    np.ndarray
        ``(d, d)``, the mean of the matrices (an orthogonal projector when they are unitary).
    """
    return np.asarray(representation).mean(axis=0)


def invariant_subspace(representation: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """An orthonormal basis of the vectors fixed by every matrix.

    Parameters
    ----------
    representation : np.ndarray
        ``(n, d, d)``, one matrix per group element (all elements, not generators).
    tol : float
        Singular values of the group average below ``tol`` count as zero.

    Returns
    -------
    np.ndarray
        ``(d, r)`` with orthonormal columns spanning the invariant subspace; ``r`` is its
        dimension. Same dtype kind as the input.
    """
    left, singular, _ = np.linalg.svd(group_average(representation))
    return left[:, singular > tol]


def plane_wave_representation(group: SpaceGroup, wavevectors: np.ndarray) -> np.ndarray:
    r"""Matrices of the group acting on Fourier coefficients, built from scratch.

    ``(rho(g) c)_{R^T k} = exp(2 pi i k.t) c_k``, so ``rho(g) c = c`` for all ``g`` is the
    invariance condition of :math:`f = \sum_k c_k e_k`. Column ``k`` of the group average
    holds the coefficients of :math:`\psi_k`. Built with float translations and a dictionary
    lookup, independently of the orbit solver; dense, so only for small wave-vector sets.

    Parameters
    ----------
    group : SpaceGroup
    wavevectors : np.ndarray
        ``(K, 3)`` int, closed under the point operations.

    Returns
    -------
    np.ndarray
        ``(order, K, K)`` complex128.
    """
    position = {tuple(k): i for i, k in enumerate(np.asarray(wavevectors).tolist())}
    matrices = np.zeros((group.order, len(position), len(position)), dtype=np.complex128)
    for g, (rotation, translation) in enumerate(zip(group.rotations, group.translations, strict=True)):
        for i, k in enumerate(np.asarray(wavevectors)):
            image = position[tuple((rotation.T @ k).tolist())]
            matrices[g, image, i] = np.exp(2j * np.pi * (k @ translation))
    return matrices
