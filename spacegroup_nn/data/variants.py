"""Other descriptions of the same crystal: rigid motions, atom order, supercells, cell choices,
equivalent origins. A description-independent model gives all of them the same output."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pymatgen.core import Lattice, Structure

from ..groups import euclidean_normalizer, standardize

__all__ = ["DESCRIPTION_CHANGES", "RIGID_MOTIONS", "Variant", "random_rotation", "variant"]

Variant = Literal["rotation", "translation", "permutation", "supercell", "cell_choice", "origin"]
RIGID_MOTIONS: tuple[Variant, ...] = ("rotation", "translation")
DESCRIPTION_CHANGES: tuple[Variant, ...] = ("permutation", "supercell", "cell_choice", "origin")


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random proper rotation, ``(3, 3)`` float64."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q * np.linalg.det(q)


def variant(structure: Structure, kind: Variant, rng: np.random.Generator) -> Structure:
    """The same crystal, described differently.

    Parameters
    ----------
    structure : pymatgen Structure
        An ordered crystal.
    kind : str
        ``"rotation"`` (random proper rotation of lattice and atoms), ``"translation"``
        (random shift of every atom), ``"permutation"`` (random atom order), ``"supercell"``
        (2 x 1 x 1), ``"cell_choice"`` (basis a + b, b, c), or ``"origin"`` (an equivalent
        origin: a random element of the Euclidean normalizer applied to the standardized
        cell, including a random shift along free axes).
    rng : np.random.Generator

    Returns
    -------
    pymatgen Structure
    """
    lattice = structure.lattice.matrix
    frac = structure.frac_coords
    species = structure.species
    if kind == "rotation":
        rotation = random_rotation(rng)
        return Structure(Lattice(lattice @ rotation.T), species, frac)
    if kind == "translation":
        return Structure(Lattice(lattice), species, (frac + rng.random(3)) % 1.0)
    if kind == "permutation":
        order = rng.permutation(len(species))
        return Structure(Lattice(lattice), [species[i] for i in order], frac[order])
    if kind == "supercell":
        return structure.make_supercell([2, 1, 1], in_place=False)
    if kind == "cell_choice":
        # new basis rows a' = a + b, b' = b, c' = c; coordinates transform contragrediently
        change = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
        return Structure(Lattice(change @ lattice), species, (frac @ np.linalg.inv(change)) % 1.0)
    if kind == "origin":
        crystal = standardize(structure)
        normalizer = euclidean_normalizer(crystal.group)
        pick = rng.integers(normalizer.order)
        shift = np.where(normalizer.free_axes, rng.random(3), 0.0)
        moved = crystal.frac_coords @ normalizer.rotations[pick].T + normalizer.translations[pick] + shift
        return Structure(Lattice(crystal.lattice), crystal.numbers.tolist(), moved % 1.0)
    raise ValueError(f"unknown variant {kind!r}; expected one of {RIGID_MOTIONS + DESCRIPTION_CHANGES}")
