"""Molecules as PyG data: centred, in the canonical frame of their detected point group."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data

from ..groups.point_group import DEFAULT_L_MAX, PointGroup, _as_molecule
from ..nn.harmonic_features import point_group_code

__all__ = ["from_molecule", "molecule_frame"]


def _skew_signs(axes: np.ndarray, coords: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Orient each row of ``axes`` so that the weighted third moment of ``coords`` along it is >= 0."""
    third = (weights[:, None] * (coords @ axes.T) ** 3).sum(axis=0)
    return axes * np.where(third < 0, -1.0, 1.0)[:, None]


def _residual_rotation(group: PointGroup, coords: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """A rotation ``N`` commuting with ``group`` (canonical) that puts the inertia axes on x, y, z
    as far as the group leaves them free.

    ``coords`` are canonical positions about the centre of mass. C1 and Ci commute with every
    rotation: ``N`` takes the principal axes (largest spread first: smallest moment of inertia
    along x) to x, y, z. Groups whose every element is a rotation about z times an optional
    reflection z -> -z (Cs, Cn, Cnh, S2n) commute with every rotation about z: ``N`` turns the
    in-plane axis of largest spread onto x. Other groups: identity (their normalizer is finite,
    so the canonical frame is already fixed up to finitely many choices). Axis directions are
    chosen by the sign of the mass-weighted third moment along them.
    """
    rotations = group.rotations
    if group.symbol in ("C1", "Ci"):
        spread = (masses[:, None, None] * coords[:, :, None] * coords[:, None, :]).sum(axis=0)
        _, vectors = np.linalg.eigh(spread)
        axes = _skew_signs(vectors[:, ::-1].T, coords, masses)
        axes[2] = np.cross(axes[0], axes[1])
        return axes
    blocks_z = np.abs(rotations[:, :2, 2]).max() + np.abs(rotations[:, 2, :2]).max() < 1e-9
    if blocks_z and np.all(np.linalg.det(rotations[:, :2, :2]) > 0):
        plane = coords[:, :2]
        spread = (masses[:, None, None] * plane[:, :, None] * plane[:, None, :]).sum(axis=0)
        _, vectors = np.linalg.eigh(spread)
        first = _skew_signs(vectors[:, 1][None], plane, masses)[0]
        c, s = first
        return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    return np.eye(3)


def _placement(
    molecule: Any, l_max: int, min_distance: float, kwargs: dict[str, Any]
) -> tuple[Any, PointGroup, np.ndarray, np.ndarray]:
    """The validated pymatgen molecule, its group, centre of mass and frame (see :func:`molecule_frame`)."""
    pymatgen_molecule = _as_molecule(molecule, min_distance)
    group = PointGroup.from_molecule(pymatgen_molecule, l_max=l_max, min_distance=min_distance, **kwargs)
    center = np.asarray(pymatgen_molecule.center_of_mass, dtype=np.float64)
    coords = (np.asarray(pymatgen_molecule.cart_coords) - center) @ group.canonical_frame.T
    masses = np.array([site.specie.atomic_mass for site in pymatgen_molecule], dtype=np.float64)
    canonical = PointGroup.from_symbol(group.symbol, l_max=l_max)
    frame = _residual_rotation(canonical, coords, masses) @ group.canonical_frame
    return pymatgen_molecule, group, center, frame


def molecule_frame(
    molecule: Any, *, l_max: int = DEFAULT_L_MAX, min_distance: float = 0.5, **kwargs: Any
) -> tuple[PointGroup, np.ndarray, np.ndarray]:
    """Detected point group, centre and frame of a molecule.

    Parameters
    ----------
    molecule : pymatgen.core.Molecule or ase.Atoms
    l_max : int
        Degree up to which the stand-ins of continuous groups (linear molecules, atoms) are exact.
    min_distance : float
        Atoms closer than this (Angstrom) are rejected.
    **kwargs
        Tolerances passed to :meth:`PointGroup.from_molecule`.

    Returns
    -------
    group : PointGroup
        The detected group in the molecule's own Cartesian frame.
    center : np.ndarray
        ``(3,)`` float64, centre of mass (Angstrom).
    frame : np.ndarray
        ``(3, 3)`` float64 proper rotation ``M``: ``M @ (x - center)`` is the position in the
        canonical frame of ``group.symbol``, with the rotations that commute with the group
        spent on putting the inertia axes along x, y, z (see :func:`from_molecule`).
    """
    _, group, center, frame = _placement(molecule, l_max, min_distance, kwargs)
    return group, center, frame


def from_molecule(
    molecule: Any,
    *,
    l_max: int = DEFAULT_L_MAX,
    min_distance: float = 0.5,
    dtype: torch.dtype | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> Data:
    """A molecule as PyG ``Data``, centred and in the canonical frame of its point group.

    The point group is detected by :meth:`PointGroup.from_molecule` (pymatgen's
    ``PointGroupAnalyzer``; linear molecules and single atoms get finite stand-ins exact up to
    ``l_max``). Positions are relative to the centre of mass and rotated into the canonical
    frame of the group's symbol, so that ``PointGroup.from_symbol(symbol)`` maps the molecule
    onto itself. Where that frame is not unique up to finitely many choices, the remaining
    rotations (those commuting with the group) align the mass-weighted inertia axes: all three
    for C1 and Ci (largest spread along x, smallest along z), the in-plane axes for Cs, Cn, Cnh
    and S2n (largest in-plane spread along x). Tensor outputs in this frame map back to the
    input frame by ``frame.T @ T @ frame`` (rank 2).

    Parameters
    ----------
    molecule : pymatgen.core.Molecule or ase.Atoms
        Positions in Angstrom.
    l_max : int
        See :func:`molecule_frame`.
    min_distance : float
        Atoms closer than this (Angstrom) are rejected.
    dtype : torch.dtype, optional
        Floating dtype of ``pos`` (default: torch's default dtype).
    name : str, optional
        Stored as ``data.name``.
    **kwargs
        Tolerances passed to :meth:`PointGroup.from_molecule`.

    Returns
    -------
    torch_geometric.data.Data
        ``z`` :math:`(N,)` long; ``pos`` :math:`(N, 3)`; ``point_group`` :math:`(1,)` long, the
        code of :func:`~spacegroup_nn.nn.point_group_code`; ``symbol`` (str, Schoenflies as
        pymatgen writes it); ``frame`` :math:`(1, 3, 3)` float64 and ``center``
        :math:`(1, 3)` float64, with ``pos = (x - center) @ frame.T`` for input positions ``x``.

    Raises
    ------
    StructureParseError
        Not a pymatgen ``Molecule`` or an ASE ``Atoms``.
    EmptyStructureError, NonFiniteCoordinatesError, OverlappingAtomsError, DisorderedStructureError
        No atoms; a NaN or infinite coordinate; two atoms closer than ``min_distance``;
        partial occupancies.
    SymmetryDetectionError, InfinitePointGroupError
        See :meth:`PointGroup.from_molecule`.
    """
    pymatgen_molecule, group, center, frame = _placement(molecule, l_max, min_distance, kwargs)
    pos = (np.asarray(pymatgen_molecule.cart_coords) - center) @ frame.T
    data = Data(
        z=torch.tensor(pymatgen_molecule.atomic_numbers, dtype=torch.long),
        pos=torch.tensor(pos, dtype=dtype or torch.get_default_dtype()),
        point_group=torch.tensor([point_group_code(group.symbol)], dtype=torch.long),
        symbol=group.symbol,
        frame=torch.tensor(frame, dtype=torch.float64).unsqueeze(0),
        center=torch.tensor(center, dtype=torch.float64).unsqueeze(0),
    )
    if name is not None:
        data.name = name
    return data
