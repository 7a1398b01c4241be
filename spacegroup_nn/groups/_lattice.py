"""Lattice geometry shared by the group modules (numpy only).

Lattices hold the lattice vectors as rows, in Å; fractional coordinates are rows too, so
Cartesian positions are ``frac_coords @ lattice``.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["closest_pair", "generic_metric", "reduce_lattices"]

#: Cap on the rounds of the lattice reduction; any unimodular result is correct.
MAX_REDUCTION_ROUNDS = 100

# Chunks of source atoms hold about this many (source, atom) pairs.
_PAIRS_PER_CHUNK = 2**20

# Most lattice translations (in the plane of the two thicker directions) searched per chunk.
_MAX_TRANSLATIONS = 10**5


def reduce_lattices(lattices: np.ndarray) -> np.ndarray:
    """Unimodular ``T`` making the rows of ``T @ lattice`` short and nearly orthogonal.

    Pairwise size reduction: repeatedly replace ``c_k`` by ``c_k - round(mu) c_l`` with
    ``mu = <c_k, c_l> / |c_l|^2`` while some ``|mu| > 1/2``. Every step strictly shortens a
    vector, so it terminates. The result need not be Minkowski-reduced: any unimodular ``T``
    spans the same lattice, so no result depends on the reduction, which only keeps the
    searches over lattice translations small for skewed cells.

    Parameters
    ----------
    lattices : np.ndarray
        ``(..., 3, 3)`` real, lattice vectors as rows.

    Returns
    -------
    np.ndarray
        ``(..., 3, 3)`` int64 unimodular matrices ``T``, one per lattice.
    """
    lattices = np.asarray(lattices, dtype=np.float64)
    basis = lattices.reshape(-1, 3, 3).copy()
    transform = np.tile(np.eye(3, dtype=np.int64), (basis.shape[0], 1, 1))
    pairs = [(k, l) for k in range(3) for l in range(3) if k != l]
    for _ in range(MAX_REDUCTION_ROUNDS):
        changed = False
        for k, l in pairs:
            mu = np.einsum("bi,bi->b", basis[:, k], basis[:, l]) / np.einsum(
                "bi,bi->b", basis[:, l], basis[:, l]
            )
            step = np.where(np.abs(mu) > 0.5 + 1e-9, np.round(mu), 0.0)
            if np.any(step != 0):
                changed = True
                basis[:, k] -= step[:, None] * basis[:, l]
                transform[:, k] -= step.astype(np.int64)[:, None] * transform[:, l]
        if not changed:
            break
    return transform.reshape(lattices.shape)


def closest_pair(
    lattice: np.ndarray,
    frac_coords: np.ndarray,
    sources: np.ndarray | None = None,
    *,
    below: float = np.inf,
    self_images: bool = True,
) -> tuple[float, int, int]:
    """The shortest periodic distance from the atoms ``sources`` to any atom or image.

    Exact for any cell, however skewed or thin. The search runs in a reduced basis of the
    lattice (:func:`reduce_lattices`): along its thinnest direction the nearest image is found
    by rounding, along the two others every lattice translation that could beat an upper
    bound on the distance is enumerated.

    Parameters
    ----------
    lattice : np.ndarray
        ``(3, 3)`` float64, lattice vectors as rows, in Å; not singular.
    frac_coords : np.ndarray
        ``(N, 3)`` float64 fractional coordinates.
    sources : np.ndarray, optional
        ``(S,)`` integer indices into ``frac_coords`` (default: every atom).
    below : float
        Only distances below this are searched for (default: no limit).
    self_images : bool
        Whether the images of an atom count as its neighbours (the shortest lattice vector is
        then an upper bound); if False, only pairs of distinct atoms do.

    Returns
    -------
    distance : float
        The shortest distance, in Å, or ``inf`` if none is below ``below``.
    source : int
        The atom of ``sources`` at one end (``-1`` if none is below ``below``).
    target : int
        The atom at the other end; equal to ``source`` when it is that atom's own image.

    Raises
    ------
    ValueError
        If two interplanar spacings of the lattice are so small (about ``below / 150``) that
        the search would take more than ``10**5`` lattice translations.
    """
    lattice = np.asarray(lattice, dtype=np.float64)
    transform = reduce_lattices(lattice)
    reduced = transform @ lattice
    # x @ lattice = (x @ T^-1) @ (T @ lattice): coordinates in the reduced basis.
    frac = np.asarray(frac_coords, dtype=np.float64) @ np.rint(np.linalg.inv(transform))
    num_atoms = len(frac)
    if num_atoms == 0:
        return np.inf, -1, -1
    sources = np.arange(num_atoms) if sources is None else np.asarray(sources, dtype=np.int64)
    # A vector (d + n) @ reduced shorter than the bound has |d_k + n_k| <= bound |b_k|, b_k the
    # columns of the inverse (the reciprocal vectors), and |d_k| <= 1/2 once wrapped. Along the
    # thinnest direction (largest |b_k|) the best n_k is found by rounding instead: b_k of the
    # two others is orthogonal to that lattice vector, so the bound on them holds for any n_k.
    reciprocal = np.linalg.norm(np.linalg.inv(reduced), axis=0)
    thin = int(np.argmax(reciprocal))
    axis = reduced[thin]
    others = [k for k in range(3) if k != thin]
    best, pair = np.inf, (-1, -1)
    chunk = max(1, _PAIRS_PER_CHUNK // num_atoms)
    for start in range(0, len(sources), chunk):
        block = sources[start : start + chunk]
        diff = frac[None, :, :] - frac[block][:, None, :]  # (c, N, 3), source to atom
        diff -= np.rint(diff)
        cart = diff @ reduced
        itself = (np.arange(len(block)), block)
        zero = _nearest_along(cart, axis, itself, self_images, zero_shift=True)
        bound = min(best, below, float(np.sqrt(zero.min())))
        if not np.isfinite(bound):
            continue  # no pair at all (a single atom without its images)
        reach = np.floor(bound * reciprocal[others] + 0.5 + 1e-9).astype(np.int64)
        if np.prod(2 * reach + 1) > _MAX_TRANSLATIONS:
            raise ValueError(
                f"the lattice is nearly degenerate: its interplanar spacings "
                f"{np.round(1 / reciprocal, 6).tolist()} Å are too small to search {bound:.3g} Å "
                "around each atom"
            )
        for shift in itertools.product(*(range(-r, r + 1) for r in reach)):
            if any(shift):
                w = cart + shift[0] * reduced[others[0]] + shift[1] * reduced[others[1]]
                squared = _nearest_along(w, axis, itself, self_images, zero_shift=False)
            else:
                squared = zero
            flat = int(np.argmin(squared))
            if squared.flat[flat] < best**2:
                best = float(np.sqrt(squared.flat[flat]))
                row, atom = np.unravel_index(flat, squared.shape)
                pair = (int(block[row]), int(atom))
    if not best < below:
        return np.inf, -1, -1
    return best, *pair


def _nearest_along(
    w: np.ndarray,
    axis: np.ndarray,
    itself: tuple[np.ndarray, np.ndarray],
    self_images: bool,
    zero_shift: bool,
) -> np.ndarray:
    """Squared length ``(c, N)`` of the shortest ``w + n axis`` over integers ``n``.

    ``w`` is ``(c, N, 3)`` Cartesian, ``itself`` indexes the pairs of an atom with itself:
    with ``self_images`` their zero vector is replaced by the nearest image along ``axis``
    (for the zero shift), without they are left out (``inf``).
    """
    steps = np.rint(-(w @ axis) / (axis @ axis))
    if self_images and zero_shift:
        steps[itself] = 1.0
    vectors = w + steps[..., None] * axis
    squared = np.einsum("...i,...i->...", vectors, vectors)
    if not self_images:
        squared[itself] = np.inf
    return squared


def generic_metric(rotations: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A metric with exactly the symmetry the rotations force, generically.

    The group average ``mean_R R^T G R`` of a random positive-definite metric ``G``: invariant
    under every rotation, and under no other isometry with probability one.

    Parameters
    ----------
    rotations : np.ndarray
        ``(n, 3, 3)`` integer matrices of a finite group, acting on fractional column vectors
        (repeats allowed).
    rng : np.random.Generator
        Source of ``G`` (nine normal draws).

    Returns
    -------
    np.ndarray
        ``(3, 3)`` float64 symmetric positive-definite metric ``G_ij = a_i . a_j``.
    """
    a = rng.normal(size=(3, 3)) + 2.0 * np.eye(3)
    return np.mean(np.transpose(rotations, (0, 2, 1)) @ (a @ a.T) @ rotations, axis=0)
