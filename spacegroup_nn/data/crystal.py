"""Crystals as PyTorch Geometric ``Data``, in the canonical standardized setting."""

from __future__ import annotations

import os
from typing import Any

import torch
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Data

from ..groups import StandardCrystal, standardize

__all__ = ["data_to_structure", "from_standard_crystal", "from_structure"]


def from_structure(
    structure: Structure | Any | str | os.PathLike,
    symprec: float = 1e-5,
    *,
    dtype: torch.dtype | None = None,
    name: str | None = None,
) -> Data:
    """Standardize a crystal and return it as a PyG ``Data`` object.

    Parameters
    ----------
    structure : pymatgen Structure, ASE Atoms, (lattice, frac_coords, numbers) tuple, or path
        Anything :func:`spacegroup_nn.standardize` accepts (CIF or POSCAR file paths too).
    symprec : float
        spglib tolerance in Angstrom (default 1e-5).
    dtype : torch.dtype, optional
        Floating dtype of ``pos``, ``frac`` and ``cell`` (default: torch's default dtype).
    name : str, optional
        Label used in error messages and stored as ``data.name``.

    Returns
    -------
    torch_geometric.data.Data
        ``z [N]`` long atomic numbers; ``pos [N, 3]`` Cartesian positions (Angstrom) in the
        standardized conventional cell; ``frac [N, 3]`` fractional positions in [0, 1);
        ``cell [1, 3, 3]`` lattice vectors as rows; ``space_group [1]`` long, the group
        number (canonical setting). Per-crystal tensors carry a leading 1 so that PyG
        batching stacks them to ``[B, ...]``.

    Raises
    ------
    spacegroup_nn.errors.StructureError
        Any subclass, for unreadable, empty, non-finite, disordered or undetectable input.
    """
    return from_standard_crystal(standardize(structure, symprec=symprec, name=name), dtype=dtype, name=name)


def from_standard_crystal(
    crystal: StandardCrystal, *, dtype: torch.dtype | None = None, name: str | None = None
) -> Data:
    """``Data`` of an already standardized crystal (see :func:`from_structure`)."""
    dtype = dtype or torch.get_default_dtype()
    frac = torch.tensor(crystal.frac_coords, dtype=dtype)
    cell = torch.tensor(crystal.lattice, dtype=dtype)
    data = Data(
        z=torch.tensor(crystal.numbers, dtype=torch.long),
        pos=frac @ cell,
        frac=frac,
        cell=cell.unsqueeze(0),
        space_group=torch.tensor([crystal.group.number], dtype=torch.long),
    )
    if name is not None:
        data.name = name
    return data


def data_to_structure(data: Data) -> Structure:
    """The pymatgen ``Structure`` of one crystal's ``Data`` (Cartesian positions kept)."""
    cell = data.cell.reshape(3, 3).detach().double().cpu().numpy()
    return Structure(
        Lattice(cell),
        data.z.cpu().numpy().tolist(),
        data.pos.detach().double().cpu().numpy(),
        coords_are_cartesian=True,
    )
