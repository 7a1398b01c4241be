"""Fixed wave-vector index sets: balls of integer vectors in an idealized reciprocal metric.

Two index sets exist per radius. ``"orthogonal"`` uses the identity metric and serves every
group whose point operations are signed permutations of the axes (triclinic, monoclinic,
orthorhombic, tetragonal, cubic and rhombohedral axes). ``"hexagonal"`` uses the reciprocal
metric of a = b, gamma = 120 deg (c = a), and serves trigonal and hexagonal groups in
hexagonal axes. Each ball is closed under its family's point operations, so orbits are never
cut, and the order of its vectors is fixed: the same index means the same k for every group.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np

__all__ = [
    "METRICS",
    "MetricName",
    "WavevectorIndex",
    "ball_index",
    "metric_for_rotations",
    "wavevector_ball",
]

MetricName = Literal["orthogonal", "hexagonal"]

#: Reciprocal metric tensors ``G*`` with ``|k|^2 = k^T G* k`` for integer Miller indices ``k``.
METRICS: dict[str, np.ndarray] = {
    "orthogonal": np.eye(3),
    # inverse of the direct metric [[1, -1/2, 0], [-1/2, 1, 0], [0, 0, 1]]
    "hexagonal": np.array([[4.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 3.0]]) / 3.0,
}


def metric_for_rotations(rotations: np.ndarray) -> MetricName:
    """The index set whose metric is invariant under ``rotations`` ``(n, 3, 3)``.

    Raises
    ------
    ValueError
        If neither idealized metric is invariant (not a crystallographic setting we index).
    """
    transposed = np.transpose(rotations, (0, 2, 1))
    for name, metric in METRICS.items():
        # k -> R^T k preserves k^T G* k  iff  R G* R^T = G*  (3 G* is an integer matrix)
        scaled = np.rint(3 * metric).astype(np.int64)
        if np.array_equal(rotations @ scaled @ transposed, np.broadcast_to(scaled, rotations.shape)):
            return name  # type: ignore[return-value]
    raise ValueError("no idealized reciprocal metric is invariant under these rotations")


@functools.cache
def wavevector_ball(metric: MetricName, radius: float) -> np.ndarray:
    """All integer k != 0 with ``sqrt(k^T G* k) <= radius``.

    Parameters
    ----------
    metric : {"orthogonal", "hexagonal"}
        Name of the idealized reciprocal metric (see :data:`METRICS`).
    radius : float
        Cutoff in reciprocal-lattice units (a = 1).

    Returns
    -------
    np.ndarray
        ``(K, 3)`` int64, read-only, sorted by norm and then by decreasing ``(h, k, l)``, so
        the first member of a shell is its most positive vector. At radius 5 ``K = 514``
        (orthogonal) and ``K = 418`` (hexagonal).
    """
    if not np.isfinite(radius) or radius < 1:
        raise ValueError(f"radius must be a finite number >= 1, got {radius!r}")
    gram = METRICS[metric]
    # |k_i| <= radius * sqrt(G*^{-1}_ii) bounds the box that contains the ball
    bound = np.floor(radius * np.sqrt(np.diag(np.linalg.inv(gram))) + 1e-9).astype(int)
    axes = [np.arange(-b, b + 1) for b in bound]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    norms = np.einsum("ki,ij,kj->k", grid, gram, grid)
    keep = (norms <= radius**2 + 1e-9) & (norms > 0)
    grid, norms = grid[keep], np.round(norms[keep], 9)
    order = np.lexsort((-grid[:, 2], -grid[:, 1], -grid[:, 0], norms))
    ball = np.ascontiguousarray(grid[order], dtype=np.int64)
    ball.setflags(write=False)
    return ball


class WavevectorIndex:
    """Constant-time lookup of integer vectors in a wave-vector set.

    Parameters
    ----------
    wavevectors : np.ndarray
        ``(K, 3)`` int64, distinct.
    """

    def __init__(self, wavevectors: np.ndarray) -> None:
        self.wavevectors = wavevectors
        self._low = wavevectors.min(axis=0)
        span = wavevectors.max(axis=0) - self._low + 1
        self._place = np.array([span[1] * span[2], span[2], 1], dtype=np.int64)
        self._table = np.full(int(np.prod(span)), -1, dtype=np.int64)
        self._table[(wavevectors - self._low) @ self._place] = np.arange(len(wavevectors))
        self._as_float = wavevectors.astype(np.float64)
        self.negation = self.images(-np.eye(3, dtype=np.int64)[None])[0]
        self.negation.setflags(write=False)

    def images(self, rotations: np.ndarray) -> np.ndarray:
        r"""``(n, K)`` int64: index of :math:`R_g^T k_i` for every rotation and wave vector.

        The rotations must preserve the metric of the set (see :func:`metric_for_rotations`),
        which makes a ball closed; a vector that falls outside the table is reported.

        Raises
        ------
        ValueError
            If the set is not closed under ``k -> R^T k``.
        """
        # (R^T k - low) . place == k . (R place) - low . place: one matmul for all rotations,
        # in float64 (BLAS), exact for these small integers
        codes = self._as_float @ (rotations @ self._place).T.astype(np.float64)
        codes = codes.T.astype(np.int64) - self._low @ self._place
        if codes.min() < 0 or codes.max() >= self._table.size:
            raise ValueError("the wave-vector set is not closed under the point operations")
        image = self._table[codes]
        if image.min() < 0:
            raise ValueError("the wave-vector set is not closed under the point operations")
        return image

    def phases(self, translations_twelfths: np.ndarray) -> np.ndarray:
        """``(n, K)`` int64 in ``0..11``: ``12 k_i . t_g mod 12`` from translations in twelfths."""
        product = translations_twelfths.astype(np.float64) @ self._as_float.T
        return product.astype(np.int64) % 12


@functools.cache
def ball_index(metric: MetricName, radius: float) -> WavevectorIndex:
    """The cached :class:`WavevectorIndex` of :func:`wavevector_ball`."""
    return WavevectorIndex(wavevector_ball(metric, radius))
