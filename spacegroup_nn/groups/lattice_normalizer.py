"""The normalizer operations that a lattice of higher symmetry than its group adds.

The Euclidean normalizer of :func:`~spacegroup_nn.groups.euclidean_normalizer` is that of
the group's generic lattice. A crystal whose lattice is more symmetric than its group needs
(a P222 crystal with ``a = b``, a P-1 crystal on a cubic lattice) has more: isometries of
its own lattice that map the group onto itself, such as ``(x, y, z) -> (y, x, -z)`` for P222
with ``a = b``. Its standard descriptions can differ by them, since spglib orders tied
lattice vectors as they come in. A function invariant under the generic normalizer becomes
invariant under the lattice's own by averaging it over one operation of every right coset
of the generic normalizer in it, :func:`lattice_normalizer_cosets`.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import spglib

from .normalizer import euclidean_normalizer, normalizing_translations
from .space_group import SpaceGroup

__all__ = ["LATTICE_SYMPREC", "lattice_normalizer_cosets", "lattice_rotations"]

#: Distance tolerance (Å) of lattice symmetry: float32 storage of a cell keeps about 1e-6 Å
LATTICE_SYMPREC = 1e-4
GRIDS = (12, 48)  # search grids of the translation that completes a lattice isometry, coarse first
_TOLERANCE = 1e-6


@functools.cache
def _primitive_basis(number: int) -> np.ndarray:
    """``(3, 3)`` rows: a right-handed basis of the lattice ``Z^3 +`` centring vectors of
    group ``number``, in its conventional fractional coordinates."""
    centrings = SpaceGroup(number).centring_vectors
    if len(centrings) == 1:
        return np.eye(3)
    shifts = np.array(list(itertools.product((0, 1, -1), repeat=3)), dtype=np.float64)
    vectors = (centrings[:, None, :] + shifts[None]).reshape(-1, 3)
    vectors = vectors[np.argsort(np.abs(vectors).sum(axis=1), kind="stable")][1:]  # no zero
    for triple in itertools.combinations(range(len(vectors)), 3):
        basis = vectors[list(triple)]
        det = np.linalg.det(basis)
        if abs(abs(det) * len(centrings) - 1) < 1e-9:
            return basis if det > 0 else basis[[1, 0, 2]]
    raise AssertionError(f"group {number}: no primitive basis")  # every centring has one


def lattice_rotations(group: SpaceGroup, lattice: np.ndarray, symprec: float = LATTICE_SYMPREC) -> np.ndarray:
    """The point group of the lattice of a crystal of ``group``, centring included.

    Parameters
    ----------
    group : SpaceGroup
        Its centring vectors define the lattice ``Z^3 + centrings`` in the cell ``lattice``.
    lattice : np.ndarray
        ``(3, 3)`` conventional cell, rows are lattice vectors (Å).
    symprec : float
        Distance tolerance (Å), passed to spglib.

    Returns
    -------
    np.ndarray
        ``(n, 3, 3)`` float64 linear maps of conventional fractional column vectors (entries
        are integers or, in centred cells, halves and thirds).
    """
    basis = _primitive_basis(group.number)
    found = spglib.get_symmetry((basis @ lattice, [[0.0, 0.0, 0.0]], [1]), symprec=symprec)
    if found is None:  # spglib gave up (a degenerate cell): no symmetry beyond the identity
        return np.eye(3)[None]
    to_conventional = basis.T  # primitive fractional coordinates -> conventional ones
    return to_conventional @ found["rotations"] @ np.linalg.inv(to_conventional)


def lattice_normalizer_cosets(
    group: SpaceGroup, lattice: np.ndarray, symprec: float = LATTICE_SYMPREC
) -> tuple[np.ndarray, np.ndarray]:
    """One operation of every right coset of the generic Euclidean normalizer in the lattice's.

    The lattice's Euclidean normalizer of ``group`` is made of the operations ``(A, s)`` with
    ``A`` in :func:`lattice_rotations` that map the group onto itself. Two operations lie in
    one right coset of the generic normalizer ``N`` iff their linear parts do, so one ``s`` per
    coset is enough: averaging an ``N``-invariant function ``f`` over the returned
    operations, ``mean_j f(A_j x + s_j)``, gives a function invariant under the lattice's
    normalizer.

    Parameters
    ----------
    group : SpaceGroup
        In a canonical setting, like :func:`~spacegroup_nn.groups.euclidean_normalizer`.
    lattice : np.ndarray
        ``(3, 3)`` conventional cell, rows are lattice vectors (Å).
    symprec : float
        Distance tolerance of the lattice symmetry (Å).

    Returns
    -------
    rotations : np.ndarray
        ``(m, 3, 3)`` float64 linear parts ``A_j`` (fractional), the identity first; ``m = 1``
        for a lattice no more symmetric than the group's generic one.
    translations : np.ndarray
        ``(m, 3)`` float64 translations ``s_j`` in ``[0, 1)``.
    """
    generic = euclidean_normalizer(group).linear_parts.astype(np.float64)
    point_group = np.unique(group.rotations, axis=0).astype(np.float64)
    rotations, translations = [np.eye(3)], [np.zeros(3)]
    for a in lattice_rotations(group, lattice, symprec):
        inverse = np.linalg.inv(a)
        if any(_contains(generic, a @ np.linalg.inv(b)) for b in rotations):
            continue  # in the coset of a listed operation (of the identity: in the generic one)
        if not all(_contains(point_group, a @ r @ inverse) for r in point_group):
            continue
        # entries are integers, halves or thirds: exact as sixths
        shift = _completing_translation(group.number, np.rint(6 * a).astype(np.int64).tobytes())
        if shift is not None:
            rotations.append(a)
            translations.append(shift)
    return np.array(rotations), np.array(translations)


def _contains(matrices: np.ndarray, matrix: np.ndarray) -> bool:
    return bool(np.any(np.all(np.abs(matrices - matrix) < _TOLERANCE, axis=(1, 2))))


@functools.lru_cache(maxsize=4096)
def _completing_translation(number: int, sixths: bytes) -> np.ndarray | None:
    """A translation ``s`` on the 1/12 or else the 1/48 grid with ``(A, s) G (A, s)^-1 = G``,
    or None, for group ``number`` and ``A`` given as the bytes of ``6 A`` (int64)."""
    group = SpaceGroup(number)
    a = np.frombuffer(sixths, dtype=np.int64).reshape(3, 3) / 6
    for size in GRIDS:
        grid = np.arange(size) / size
        shifts = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
        valid = normalizing_translations(group, a, shifts)
        if len(valid):
            return valid[0]
    return None
