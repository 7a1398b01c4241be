"""Random crystals with a prescribed space group, for tests and synthetic datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._lattice import closest_pair, generic_metric

if TYPE_CHECKING:
    from .space_group import SpaceGroup

__all__ = ["random_crystal"]

# Orbits are redrawn while the shortest distance is below this fraction of the mean spacing
# (volume per atom) ** (1/3): points near a symmetry element would give a dilute crystal.
_MIN_PACKING = 0.1


def random_crystal(
    group: SpaceGroup,
    rng: np.random.Generator,
    num_orbits: int = 2,
    min_distance: float | None = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orbits of random points in general position, on a random lattice of ``group``.

    The lattice metric is the group average of a random metric, so it has the symmetry the
    point operations of ``group`` require and, generically, no more. Every orbit gets its own
    species, so the atoms rule out the extra symmetry of the lattice: with two or more
    orbits, spglib detects exactly ``group.number`` with probability one.

    Parameters
    ----------
    group : SpaceGroup
        The space group, in any setting; coordinates are in that setting.
    rng : np.random.Generator
        Source of randomness.
    num_orbits : int
        Number of general-position orbits, at least 1 (the crystal has
        ``num_orbits * group.order`` atoms). One orbit alone often has extra symmetry in
        polar groups (in P1, a single atom is centrosymmetric); two or more do not.
    min_distance : float or None
        The lattice is scaled so that the shortest periodic interatomic distance is
        ``min_distance`` Å (up to round-off). Orbits are redrawn while that distance is below
        a tenth of the mean spacing ``(volume / num_atoms) ** (1/3)``, so the crystal is not
        dilute. ``None`` keeps the first draw on the raw random lattice (vectors of a few Å).

    Returns
    -------
    lattice : np.ndarray
        ``(3, 3)`` float64, lattice vectors as rows, in Å: ``a`` along x, ``b`` in the xy plane.
    frac_coords : np.ndarray
        ``(num_orbits * group.order, 3)`` float64 in ``[0, 1)``. Orbit ``p`` occupies rows
        ``p * order`` to ``(p + 1) * order - 1``, in the order of ``group.rotations``, so its
        first row is the random representative point.
    numbers : np.ndarray
        ``(num_orbits * group.order,)`` int64: atomic number ``p + 1`` for orbit ``p``.
    """
    if num_orbits < 1:
        raise ValueError(f"num_orbits must be at least 1, got {num_orbits}")
    if min_distance is not None and not min_distance > 0:
        raise ValueError(f"min_distance must be positive, got {min_distance}")
    lattice = _random_lattice(group, rng)
    frac_coords = _random_orbits(group, rng, num_orbits)
    numbers = np.repeat(np.arange(1, num_orbits + 1, dtype=np.int64), group.order)
    if min_distance is None:
        return lattice, frac_coords, numbers
    # The group acts by isometries of the metric: the orbit representatives see every distance.
    representatives = np.arange(0, len(frac_coords), group.order)
    spacing = np.cbrt(np.linalg.det(lattice) / len(frac_coords))
    shortest = closest_pair(lattice, frac_coords, representatives)[0]
    while shortest < _MIN_PACKING * spacing:
        frac_coords = _random_orbits(group, rng, num_orbits)
        shortest = closest_pair(lattice, frac_coords, representatives)[0]
    return lattice * (min_distance / shortest), frac_coords, numbers


def _random_lattice(group: SpaceGroup, rng: np.random.Generator) -> np.ndarray:
    """Lattice ``(3, 3)`` (rows) whose metric is the group average of a random metric."""
    return np.linalg.cholesky(generic_metric(group.rotations, rng))


def _random_orbits(group: SpaceGroup, rng: np.random.Generator, num_orbits: int) -> np.ndarray:
    """Orbits of ``num_orbits`` uniform random points, ``(num_orbits * order, 3)`` in [0, 1)."""
    points = rng.random((num_orbits, 3))
    frac_coords = (np.einsum("nij,pj->pni", group.rotations, points) + group.translations) % 1.0
    return frac_coords.reshape(-1, 3)
