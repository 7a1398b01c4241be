"""The parameter-free geometry a model reads from each crystal, stored once per crystal for reuse."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from ..solvers.harmonics import wigner_real
from .environment import NeighbourMoments
from .pairs import PairSums

__all__ = ["STORED_KEYS", "CrystalGeometry", "carry_geometry", "stored_geometry", "with_geometry"]

_NEIGHBOURS = ("neighbour_index", "neighbour_species", "neighbour_moments")
#: The inputs a geometry is computed from, each compared with a copy recorded next to it.
_INPUTS = ("z", "pos", "cell")
#: Every attribute :func:`with_geometry` writes; PyG batching offsets the ``*_index`` atom indices.
STORED_KEYS = ("pair_index", "pair_terms", *_NEIGHBOURS, "geometry_key", *(f"geometry_{x}" for x in _INPUTS))


class CrystalGeometry(NamedTuple):
    """Pair features and, if the model has local environments, neighbour moments of a batch."""

    pairs: PairSums
    neighbours: NeighbourMoments | None

    def to(self, device: torch.device | str) -> CrystalGeometry:
        """The same geometry on ``device``."""
        pairs = PairSums(*(field.to(device) for field in self.pairs))
        if self.neighbours is None:
            return CrystalGeometry(pairs, None)
        return CrystalGeometry(pairs, NeighbourMoments(*(field.to(device) for field in self.neighbours)))


def _key_row(key: Sequence[float], like: Tensor) -> Tensor:
    """``key`` as a ``(1, K)`` float64 row on the device of ``like``."""
    return torch.tensor([list(key)], dtype=torch.float64, device=like.device)


def stored_geometry(data: Data, key: Sequence[float]) -> CrystalGeometry | None:
    """The geometry :func:`with_geometry` stored in ``data`` for ``key``, if it is valid.

    Valid means stored under the same ``key`` for every crystal, and computed from exactly
    the current ``z``, ``pos`` and ``cell`` (values and dtypes, compared with the recorded
    copies), so a crystal edited, moved or converted afterwards gets ``None``, never a stale
    geometry.

    Parameters
    ----------
    data : Data
        A crystal or a batch of crystals.
    key : sequence of float
        The settings the geometry depends on
        (:attr:`~spacegroup_nn.nn.SpaceGroupTransformer.geometry_key`).

    Returns
    -------
    CrystalGeometry or None
        Pair indices ``(2, P)`` and features ``(P, R + 1)``, and neighbour atoms ``(Q,)``,
        elements ``(Q,)`` and moments ``(Q, K, M)`` (``None`` for a model without local
        environments), atom indices into ``data``; ``None`` without a valid stored geometry.
    """
    stored = getattr(data, "geometry_key", None)
    if stored is None or stored.shape[-1] != len(key) or not bool((stored == _key_row(key, stored)).all()):
        return None
    if not _computed_from_inputs(data):
        return None
    pairs = PairSums(data.pair_index, data.pair_terms)
    if getattr(data, "neighbour_index", None) is None:
        return CrystalGeometry(pairs, None)
    return CrystalGeometry(pairs, NeighbourMoments(*(data[name] for name in _NEIGHBOURS)))


def _computed_from_inputs(data: Data) -> bool:
    """Whether ``data`` stores a geometry computed from exactly its current inputs."""
    for name in _INPUTS:
        recorded, current = getattr(data, f"geometry_{name}", None), data[name]
        if recorded is None or recorded.dtype != current.dtype or not torch.equal(recorded, current):
            return False
    return True


def _store(crystal: Data, geometry: CrystalGeometry, key: Sequence[float]) -> Data:
    """A shallow copy of ``crystal`` that stores ``geometry``, ``key`` and copies of its inputs."""
    stored = copy.copy(crystal)  # shares the crystal's tensors; the geometry is its own
    stored.pair_index, stored.pair_terms = geometry.pairs
    if geometry.neighbours is not None:
        stored.neighbour_index, stored.neighbour_species, stored.neighbour_moments = geometry.neighbours
    else:  # drop those of a geometry stored before for another model
        for name in _NEIGHBOURS:
            if name in stored:
                del stored[name]
    stored.geometry_key = _key_row(key, crystal.pos)
    for name in _INPUTS:
        stored[f"geometry_{name}"] = crystal[name].clone()
    return stored


def _split(geometry: CrystalGeometry, batch: Batch) -> list[CrystalGeometry]:
    """The geometry of a batch, crystal by crystal, with atom indices local to each crystal."""
    first = batch.ptr[:-1]

    def counts(atom: Tensor) -> list[int]:
        # rows are sorted by atom, so each crystal's rows are one contiguous run
        return torch.bincount(batch.batch[atom], minlength=batch.num_graphs).tolist()

    index, terms = geometry.pairs
    rows = counts(index[1])
    pairs = [
        PairSums(part_index - offset, part_terms)
        for part_index, part_terms, offset in zip(
            index.split(rows, dim=1), terms.split(rows), first, strict=True
        )
    ]
    if geometry.neighbours is None:
        return [CrystalGeometry(part, None) for part in pairs]
    atom, species, moments = geometry.neighbours
    rows = counts(atom)
    neighbours = [
        NeighbourMoments(part_atom - offset, part_species, part_moments)
        for part_atom, part_species, part_moments, offset in zip(
            atom.split(rows), species.split(rows), moments.split(rows), first, strict=True
        )
    ]
    return [CrystalGeometry(*part) for part in zip(pairs, neighbours, strict=True)]


def with_geometry(
    crystals: Sequence[Data],
    compute: Callable[[Batch], CrystalGeometry],
    key: Sequence[float],
    device: torch.device | str | None = None,
    chunk: int = 256,
) -> list[Data]:
    """Shallow copies of ``crystals``, each with its geometry stored (:func:`stored_geometry`).

    A crystal that already stores a valid geometry for ``key`` is returned as it is; the
    others are computed ``chunk`` at a time and split back per crystal.

    Parameters
    ----------
    crystals : sequence of Data
        Crystals with ``z``, ``pos`` and ``cell``; they are not modified.
    compute : callable
        Maps a batch of crystals to their :class:`CrystalGeometry` (without gradients).
    key : sequence of float
        Names what ``compute`` computes: the settings it depends on.
    device : torch.device or str, optional
        Where ``compute`` runs (that of the model); the stored geometry stays on the device
        of each crystal.
    chunk : int, default 256
        Crystals per call of ``compute``.

    Returns
    -------
    list of Data
        One per crystal, in order.
    """
    out = [crystals[i] for i in range(len(crystals))]
    missing = [i for i, crystal in enumerate(out) if stored_geometry(crystal, key) is None]
    for start in range(0, len(missing), chunk):
        indices = missing[start : start + chunk]
        # stale geometries stored in some of them would not batch with the others
        batch = Batch.from_data_list([out[i] for i in indices], exclude_keys=list(STORED_KEYS))
        with torch.no_grad():
            geometry = compute(batch.to(device) if device is not None else batch).to(batch.pos.device)
        for index, part in zip(indices, _split(geometry, batch), strict=True):
            out[index] = _store(out[index], part, key)
    return out


def _cartesian_isometries(cell: Tensor, rotations: Tensor) -> Tensor | None:
    r"""The Cartesian linear parts :math:`Q_b = C_b^\top R_b C_b^{-\top}` of fractional ones
    :math:`R_b`, if every :math:`R_b` is unimodular (it maps the lattice onto itself) and every
    :math:`Q_b` is orthogonal to round-off of ``cell``'s dtype; else ``None``. ``(B, 3, 3)``
    float64 on the CPU."""
    rotations = rotations.detach().to("cpu", torch.float64)
    cells = cell.detach().view(-1, 3, 3).to("cpu", torch.float64)
    # integer matrices: their determinants are integers up to round-off
    if not torch.equal(rotations, rotations.round()) or not bool(
        (torch.linalg.det(rotations).round().abs() == 1).all()
    ):
        return None
    cartesian = cells.transpose(1, 2) @ rotations @ torch.linalg.inv(cells).transpose(1, 2)
    error = (cartesian @ cartesian.transpose(1, 2) - torch.eye(3, dtype=torch.float64)).abs().amax()
    return cartesian if float(error) <= 100 * torch.finfo(cell.dtype).eps else None


def _rotated_moments(neighbours: NeighbourMoments, crystal_of_atom: Tensor, cartesian: Tensor) -> Tensor:
    r"""Moments ``(Q, K, M)`` of atoms moved by the rotations ``cartesian`` of their crystals
    (``(B, 3, 3)`` float64 on the CPU, ``crystal_of_atom`` ``(N,)``): degree by degree,
    :math:`M_{l\cdot} \to D_l(Q) M_{l\cdot}`, as :math:`Y_l(Q \mathbf{r}) = D_l(Q) Y_l(\mathbf{r})`."""
    moments = neighbours.moments
    size = moments.shape[-1]
    if math.isqrt(size) ** 2 != size:
        raise ValueError(f"moments must have (l_max + 1)^2 harmonic components, got {size}")
    wigner = torch.zeros(len(cartesian), size, size, dtype=torch.float64)
    for l in range(math.isqrt(size)):
        block = slice(l * l, (l + 1) ** 2)
        wigner[:, block, block] = torch.from_numpy(wigner_real(l, cartesian.numpy()))
    wigner = wigner.to(moments.device, moments.dtype)[crystal_of_atom[neighbours.atom]]
    return moments @ wigner.transpose(1, 2)


def carry_geometry(batch: Batch, moved: Batch, rotations: Tensor) -> None:
    r"""Store in ``moved`` the geometry stored in ``batch``, moved with its atoms.

    ``moved`` is ``batch`` with the atoms of crystal :math:`b` moved by
    :math:`\mathbf{x} \to R_b \mathbf{x} + \mathbf{t}_b` in fractional coordinates
    (:func:`~spacegroup_nn.testing.transform_batch`): the same atoms, elements and cells.
    If :math:`R_b` maps the lattice onto itself by a Cartesian rotation or reflection
    :math:`Q_b`, the move is an isometry that takes every vector from an atom to the images
    of another to :math:`Q_b` times it. The pair sums, functions of distances, stay the
    same; the neighbour moments turn by the Wigner matrices of :math:`Q_b`; the geometry is
    then that computed from ``moved``, to round-off, and is recorded as such
    (:func:`stored_geometry`). Otherwise, without a valid geometry in ``batch``, or for
    positions or a cell that need gradients (a model computes those), nothing is carried
    and a model computes the geometry of ``moved``. The decision is one for the whole batch.

    Parameters
    ----------
    batch : Batch
        Crystals, with or without a stored geometry (:func:`with_geometry`).
    moved : Batch
        ``batch`` with moved positions (and fractional coordinates); updated in place: the
        attributes of the geometry (:data:`STORED_KEYS`) become those of ``batch``, moved.
    rotations : Tensor
        ``(B, 3, 3)`` the fractional linear parts :math:`R_b`.
    """
    if moved.pos.requires_grad or moved.cell.requires_grad or not _computed_from_inputs(batch):
        return
    if not (torch.equal(moved.z, batch.z) and torch.equal(moved.cell, batch.cell)):
        return
    cartesian = _cartesian_isometries(batch.cell, rotations)
    if cartesian is None:
        return
    for name in STORED_KEYS:  # the geometry of batch, whatever moved stored before
        if name in batch:
            moved[name] = batch[name]
        elif name in moved:
            del moved[name]
    if getattr(batch, "neighbour_index", None) is not None:
        neighbours = NeighbourMoments(*(batch[name] for name in _NEIGHBOURS))
        moved.neighbour_moments = _rotated_moments(neighbours, batch.batch, cartesian)
    moved.geometry_pos = moved.pos.clone()
