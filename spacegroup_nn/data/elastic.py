r"""Elastic tensors of crystals in the frame of the standardized crystal.

A model built from invariant features (:class:`~spacegroup_nn.nn.SpaceGroupTransformer`) sees
the crystal in its standardized description, so a tensor it predicts lives in the Cartesian
frame of the standardized lattice (spglib's ``std_lattice``). That is also the frame of
:attr:`SpaceGroup.point_group` and of :func:`~spacegroup_nn.tensor_projector`: the lattice
vectors of the standardized cell are those of the idealized lattice of
:attr:`SpaceGroup.point_group` up to lengths (``a, b, c`` along ``x, y, z`` for orthogonal
axes; ``a`` along ``x``, ``b`` in the ``xy`` plane, ``c`` along ``z`` for hexagonal axes and
the monoclinic ``b`` unique axis along ``y``), see ``tests/test_elastic.py``.

Targets must therefore be rotated into that frame. A tensor given in the Cartesian frame of
the input structure is rotated by spglib's ``std_rotation_matrix``
(:attr:`StandardCrystal.rotation`). The Materials Project stores
``elasticity.elastic_tensor`` in the IEEE 1987 frame of the crystal (as pymatgen's
``ElasticTensor.convert_to_ieee``), not in the frame of the structure it ships (a CIF holds
cell lengths and angles only): the tensor goes back to the structure's frame with the
transpose of pymatgen's ``Tensor.get_ieee_rotation(structure)`` first. On mp_elastic the
median relative distance of the rotated targets from the Laue-class invariant tensors is
3e-16 with the IEEE frame and 0.07 if the tensor is taken in the structure's frame
(``benchmarks/bench_elastic.py`` reports these numbers).

Elastic tensors are even-rank polar tensors, so inversion acts trivially and the point
group's projector is the Laue class's.

Voigt and Mandel
----------------
``voigt`` arrays are ``(..., 6, 6)`` stiffness matrices ``C_IJ`` (index pairs 11, 22, 33, 23,
13, 12), in GPa for the Materials Project. ``coordinates`` are the 21 orthonormal Mandel
coordinates of :func:`~spacegroup_nn.solvers.tensors.tensor_encoder` (``"elastic"``), the
layout of :func:`~spacegroup_nn.tensor_projector`; their Euclidean norm is the Frobenius norm
of ``C_ijkl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch_geometric.data import Data

from ..groups import StandardCrystal, standardize
from ..solvers.tensors import tensor_encoder
from .crystal import from_standard_crystal

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = [
    "ElasticFrame",
    "coordinates_to_voigt",
    "elastic_coordinates",
    "elastic_crystal",
    "ieee_rotation",
    "rotate_coordinates",
    "voigt_moduli",
    "voigt_to_cartesian",
]

ElasticFrame = Literal["ieee", "structure"]

_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
# _VOIGT[i, j] = Voigt index I of the Cartesian pair (i, j)
_VOIGT = np.array([[0, 5, 4], [5, 1, 3], [4, 3, 2]])


def voigt_to_cartesian(voigt: np.ndarray) -> np.ndarray:
    """``C_ijkl = C_IJ`` with ``I = voigt(i, j)``, ``J = voigt(k, l)``.

    Parameters
    ----------
    voigt : np.ndarray
        ``(..., 6, 6)`` stiffness matrices (symmetric for an elastic tensor).

    Returns
    -------
    np.ndarray
        ``(..., 3, 3, 3, 3)`` float64.
    """
    voigt = np.asarray(voigt, dtype=np.float64)
    return voigt[..., _VOIGT[:, :, None, None], _VOIGT[None, None, :, :]]


def elastic_coordinates(voigt: np.ndarray, rotation: np.ndarray | None = None) -> np.ndarray:
    """The 21 Mandel coordinates of stiffness matrices, optionally rotated first.

    Parameters
    ----------
    voigt : np.ndarray
        ``(..., 6, 6)`` Voigt stiffness matrices.
    rotation : np.ndarray, optional
        ``(3, 3)`` orthogonal ``Q``: the tensor of the frame where a vector ``r`` reads
        ``Q r``, i.e. ``C'_ijkl = Q_ia Q_jb Q_kc Q_ld C_abcd``.

    Returns
    -------
    np.ndarray
        ``(..., 21)`` float64 in the layout of ``tensor_projector(group, "elastic")``.
    """
    tensor = voigt_to_cartesian(voigt)
    if rotation is not None:
        q = np.asarray(rotation, dtype=np.float64)
        tensor = np.einsum("ia,jb,kc,ld,...abcd->...ijkl", q, q, q, q, tensor, optimize=True)
    return tensor.reshape(*tensor.shape[:-4], 81) @ tensor_encoder("elastic").T


def rotate_coordinates(coordinates: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Rotate elastic tensors given by their Mandel coordinates.

    Parameters
    ----------
    coordinates : np.ndarray
        ``(..., 21)`` Mandel coordinates.
    rotation : np.ndarray
        ``(3, 3)`` orthogonal ``Q``, as in :func:`elastic_coordinates`.

    Returns
    -------
    np.ndarray
        ``(..., 21)`` float64, the coordinates of the rotated tensors.
    """
    return elastic_coordinates(coordinates_to_voigt(coordinates), rotation)


def coordinates_to_voigt(coordinates: np.ndarray) -> np.ndarray:
    """Voigt stiffness matrices of Mandel coordinates (inverse of :func:`elastic_coordinates`).

    Parameters
    ----------
    coordinates : np.ndarray
        ``(..., 21)`` Mandel coordinates.

    Returns
    -------
    np.ndarray
        ``(..., 6, 6)`` float64, symmetric.
    """
    coordinates = np.asarray(coordinates, dtype=np.float64)
    tensor = (coordinates @ tensor_encoder("elastic")).reshape(*coordinates.shape[:-1], 3, 3, 3, 3)
    rows = np.array(_PAIRS)
    return tensor[..., rows[:, None, 0], rows[:, None, 1], rows[None, :, 0], rows[None, :, 1]]


def voigt_moduli(voigt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Voigt bulk and shear moduli of stiffness matrices.

    .. math::
        K_V = \frac{(C_{11} + C_{22} + C_{33}) + 2 (C_{12} + C_{13} + C_{23})}{9}, \quad
        G_V = \frac{(C_{11} + C_{22} + C_{33}) - (C_{12} + C_{13} + C_{23})
              + 3 (C_{44} + C_{55} + C_{66})}{15}

    Both are rotation invariants (traces of the tensor).

    Parameters
    ----------
    voigt : np.ndarray
        ``(..., 6, 6)`` Voigt stiffness matrices.

    Returns
    -------
    tuple of np.ndarray
        ``K_V`` and ``G_V``, each ``(...)`` float64, in the unit of ``voigt``.
    """
    c = np.asarray(voigt, dtype=np.float64)
    normal = c[..., 0, 0] + c[..., 1, 1] + c[..., 2, 2]
    cross = c[..., 0, 1] + c[..., 0, 2] + c[..., 1, 2]
    shear = c[..., 3, 3] + c[..., 4, 4] + c[..., 5, 5]
    return (normal + 2.0 * cross) / 9.0, (normal - cross + 3.0 * shear) / 15.0


def ieee_rotation(structure: Structure) -> np.ndarray:
    """pymatgen's rotation from the Cartesian frame of ``structure`` to its IEEE 1987 frame.

    Parameters
    ----------
    structure : pymatgen.core.Structure

    Returns
    -------
    np.ndarray
        ``(3, 3)`` float64 orthogonal ``R`` (``Tensor.get_ieee_rotation(structure)``, computed
        by pymatgen at its default symprec 0.01): a vector ``r`` of the structure's frame
        reads ``R r`` in the IEEE frame.
    """
    from pymatgen.core.tensors import Tensor

    return np.asarray(Tensor.get_ieee_rotation(structure), dtype=np.float64)


def elastic_crystal(
    structure: Structure,
    voigt: np.ndarray,
    *,
    frame: ElasticFrame = "ieee",
    symprec: float = 0.1,
    name: str | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[Data, StandardCrystal]:
    """A standardized crystal with its elastic tensor in the standardized Cartesian frame.

    Parameters
    ----------
    structure : pymatgen.core.Structure
        The crystal as given.
    voigt : np.ndarray
        ``(6, 6)`` Voigt stiffness matrix of the crystal.
    frame : {"ieee", "structure"}
        Frame of ``voigt``: the IEEE frame of the crystal (the Materials Project's
        ``elasticity.elastic_tensor``) or the Cartesian frame of ``structure``.
    symprec : float
        spglib tolerance in Å (default 0.1, the datasets' default).
    name : str, optional
        Label for error messages, stored as ``data.id``.
    dtype : torch.dtype, optional
        Floating dtype of ``pos``, ``frac`` and ``cell`` (default: torch's default dtype).

    Returns
    -------
    data : torch_geometric.data.Data
        As :func:`~spacegroup_nn.data.from_standard_crystal`, plus ``y [1, 21]`` float64,
        the Mandel coordinates of the tensor in the standardized frame, and ``rotation
        [1, 3, 3]`` float64, the rotation from the frame of ``voigt`` to the standardized
        frame (a prediction ``c`` goes back with ``rotate_coordinates(c, rotation.T)``).
    crystal : StandardCrystal
        The standardization of ``structure``.
    """
    if frame not in ("ieee", "structure"):
        raise ValueError(f"frame must be 'ieee' or 'structure', got {frame!r}")
    voigt = np.asarray(voigt, dtype=np.float64)
    if voigt.shape != (6, 6) or not np.isfinite(voigt).all():
        raise ValueError(
            f"{name or 'structure'}: expected a finite (6, 6) Voigt matrix, got shape {voigt.shape}"
        )
    crystal = standardize(structure, symprec=symprec, name=name)
    rotation = crystal.rotation
    if frame == "ieee":
        rotation = rotation @ ieee_rotation(structure).T
    data = from_standard_crystal(crystal, dtype=dtype)
    data.y = torch.from_numpy(elastic_coordinates(voigt, rotation)).reshape(1, 21)
    data.rotation = torch.from_numpy(np.array(rotation)).reshape(1, 3, 3)
    if name is not None:
        data.id = name
    return data, crystal
