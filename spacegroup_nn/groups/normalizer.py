"""Euclidean normalizers: the operations that turn one standard description into another.

Two standardized descriptions of one crystal (same group, same setting) can differ by any
isometry ``n = (A, s)`` that maps the group onto itself, ``n G n^-1 = G``: an origin shift
(P1 and polar groups have continuous ones, many groups have several discrete origins) or a
lattice isometry that is not in the point group. These form the Euclidean normalizer
``N(G)``. A feature is description-independent iff it is invariant under ``N(G)``.

Here ``N(G)`` is computed for the generic metric of the group's lattice, in the canonical
setting, as
* ``free_axes``: the continuous translations, spanned by coordinate axes (the polar axes);
* a finite list of operations ``(A, s)``, ``s`` with zero components on the free axes, that
  contains ``G`` and is a group modulo lattice and free translations. Translations are
  searched on the 1/24 grid; for all 230 canonical settings they turn out to be multiples
  of 1/12 and are stored as exact twelfths, like those of :class:`SpaceGroup`.
"""

from __future__ import annotations

import functools

import numpy as np

from ._lattice import generic_metric
from .space_group import SpaceGroup

__all__ = ["EuclideanNormalizer", "euclidean_normalizer", "normalizing_translations"]

DENOMINATOR = 24  # search grid for normalizer translations


class EuclideanNormalizer:
    """The Euclidean normalizer of a space group, as a finite operation list plus free axes.

    Build it with :func:`euclidean_normalizer`.

    Attributes
    ----------
    group : SpaceGroup
        The normalized group.
    rotations : np.ndarray
        ``(m, 3, 3)`` int64 linear parts, in fractional coordinates of the group's setting.
    translations_twelfths : np.ndarray
        ``(m, 3)`` int64 in ``0..11``: translations in units of 1/12, zero on free axes.
    free_axes : np.ndarray
        ``(3,)`` bool, axes along which every translation is in the normalizer.
    order : int
        ``m``, the number of listed operations.
    """

    def __init__(
        self, group: SpaceGroup, rotations: np.ndarray, twelfths: np.ndarray, free_axes: np.ndarray
    ) -> None:
        self.group = group
        self.number = group.number
        self.symbol = f"N({group.symbol})"
        self.rotations = rotations
        self.translations_twelfths = twelfths
        self.free_axes = free_axes
        self.order = len(rotations)
        for array in (rotations, twelfths, free_axes):
            array.setflags(write=False)

    @property
    def translations(self) -> np.ndarray:
        """``(m, 3)`` float64 in [0, 1)."""
        return self.translations_twelfths / 12.0

    @property
    def linear_parts(self) -> np.ndarray:
        """``(l, 3, 3)`` int64: the distinct linear parts, a finite group containing the point group."""
        return np.unique(self.rotations, axis=0)

    def __repr__(self) -> str:
        free = "".join(axis for axis, free in zip("abc", self.free_axes, strict=True) if free) or "none"
        return f"EuclideanNormalizer(group={self.group.symbol!r}, order={self.order}, free_axes={free!r})"


@functools.cache
def euclidean_normalizer(group: SpaceGroup) -> EuclideanNormalizer:
    """The Euclidean normalizer of ``group`` for the generic metric of its lattice (cached).

    Parameters
    ----------
    group : SpaceGroup
        A setting whose polar directions are coordinate axes (every canonical setting is);
        operations are returned in that setting.

    Returns
    -------
    EuclideanNormalizer
    """
    rotations = group.rotations
    steps = group.translations_twelfths * 2  # in 24ths
    point_group = np.unique(rotations, axis=0)
    point_keys = {r.tobytes() for r in point_group}
    centrings = {tuple(c) for c in steps[np.all(rotations == np.eye(3, dtype=np.int64), axis=(1, 2))]}

    # continuous translations: the subspace fixed by every rotation (coordinate axes here)
    stacked = (point_group - np.eye(3, dtype=np.int64)).reshape(-1, 3)
    free_axes = np.all(stacked == 0, axis=0)
    null_dimension = 3 - np.linalg.matrix_rank(stacked) if stacked.any() else 3
    if free_axes.sum() != null_dimension:
        raise ValueError(f"{group}: polar directions are not coordinate axes (use a canonical setting)")

    # candidate linear parts: isometries of the generic metric that normalize the point group
    metric = generic_metric(point_group, np.random.default_rng(0))
    lattice_isometries = np.concatenate([SpaceGroup(221).rotations, SpaceGroup(191).rotations])
    candidates = []
    for a in np.unique(lattice_isometries, axis=0):
        if not np.allclose(a.T @ metric @ a, metric, atol=1e-9):
            continue
        inverse = np.rint(np.linalg.inv(a)).astype(np.int64)
        if {(a @ r @ inverse).tobytes() for r in point_group} != point_keys:
            continue
        if {tuple((a @ np.array(c)) % DENOMINATOR) for c in centrings} != centrings:
            continue
        candidates.append((a, inverse))

    # translations on the 1/24 grid, zero along free axes
    axes = [np.arange(DENOMINATOR) if not free else np.zeros(1, np.int64) for free in free_axes]
    shifts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3) / DENOMINATOR
    found_rotations, found_steps = [], []
    for a, _ in candidates:
        valid = normalizing_translations(group, a.astype(np.float64), shifts)
        found_rotations.extend([a] * len(valid))
        found_steps.extend(np.rint(valid * DENOMINATOR).astype(np.int64))
    found_steps = np.array(found_steps, dtype=np.int64)
    if np.any(found_steps % 2):
        raise AssertionError(f"{group}: a normalizer translation is not a multiple of 1/12")
    return EuclideanNormalizer(group, np.array(found_rotations, dtype=np.int64), found_steps // 2, free_axes)


def normalizing_translations(group: SpaceGroup, a: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """The rows ``s`` of ``shifts`` for which ``(A, s)`` maps ``group`` onto itself.

    With ``C = A R A^-1`` for each generator ``(R, t)``, ``(A, s) (R, t) (A, s)^-1 = (C, A t +
    (I - C) s)`` must be an operation of the group modulo lattice translations: ``A t + (I -
    C) s - t_C`` a centring vector modulo 1, ``t_C`` the translation of ``C`` in the group.

    Parameters
    ----------
    group : SpaceGroup
    a : np.ndarray
        ``(3, 3)`` float64 linear part (fractional) that normalizes the point group; integers
        or, in centred cells, halves and thirds.
    shifts : np.ndarray
        ``(k, 3)`` float64 candidate translations (fractional).

    Returns
    -------
    np.ndarray
        ``(j, 3)`` the valid rows, in their order.
    """
    inverse = np.linalg.inv(a)
    translation_of = {r.tobytes(): t for r, t in zip(group.rotations, group.translations, strict=True)}
    centrings = group.centring_vectors
    for g in group.point_generators:
        conjugate = a @ group.rotations[g] @ inverse
        offset = a @ group.translations[g] - translation_of[np.rint(conjugate).astype(np.int64).tobytes()]
        offsets = (shifts @ (np.eye(3) - conjugate).T + offset)[:, None, :] - centrings[None]
        shifts = shifts[np.any(np.all(np.abs(offsets - np.rint(offsets)) < 1e-6, axis=-1), axis=1)]
    return shifts
