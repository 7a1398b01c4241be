"""The parameter-free geometry a model reads from each crystal, stored once per crystal for reuse."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from .environment import NeighbourMoments
from .pairs import PairSums

__all__ = ["CrystalGeometry", "stored_geometry", "with_geometry"]

_NEIGHBOURS = ("neighbour_index", "neighbour_species", "neighbour_moments")


class CrystalGeometry(NamedTuple):
    """Pair features and, if the model has local environments, neighbour moments of a batch."""

    pairs: PairSums
    neighbours: NeighbourMoments | None


def _key_tensor(key: Sequence[float]) -> Tensor:
    return torch.tensor([list(key)], dtype=torch.float64)


def stored_geometry(data: Data, key: Sequence[float]) -> CrystalGeometry | None:
    """The geometry :func:`with_geometry` stored in ``data`` for ``key``, if it is valid.

    Valid means stored under the same ``key`` for every crystal, and computed from exactly
    the current ``pos`` and ``cell`` (values and dtype, compared with the recorded copies), so
    a crystal moved or converted afterwards gets ``None``, never a stale geometry.
    """
    stored = getattr(data, "geometry_key", None)
    if stored is None or stored.shape[-1] != len(key):
        return None
    if not bool((stored == _key_tensor(key)).all()):
        return None
    pos, cell = data.geometry_pos, data.geometry_cell
    if pos.dtype != data.pos.dtype or not (torch.equal(pos, data.pos) and torch.equal(cell, data.cell)):
        return None
    pairs = PairSums(data.pair_index, data.pair_terms)
    if getattr(data, "neighbour_index", None) is None:
        return CrystalGeometry(pairs, None)
    return CrystalGeometry(pairs, NeighbourMoments(*(data[name] for name in _NEIGHBOURS)))


def _store(crystal: Data, geometry: CrystalGeometry, key: Sequence[float]) -> Data:
    """A copy of ``crystal`` with ``geometry``; PyG batching offsets the ``*_index`` atom indices."""
    stored = copy.copy(crystal)  # shares the crystal's tensors; the geometry is its own
    stored.pair_index, stored.pair_terms = geometry.pairs
    if geometry.neighbours is not None:
        stored.neighbour_index, stored.neighbour_species, stored.neighbour_moments = geometry.neighbours
    else:  # drop those of a geometry stored before for another model
        for name in _NEIGHBOURS:
            if name in stored:
                del stored[name]
    stored.geometry_key = _key_tensor(key)
    stored.geometry_pos, stored.geometry_cell = crystal.pos.clone(), crystal.cell.clone()
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
    chunk: int = 256,
) -> list[Data]:
    """Shallow copies of ``crystals``, each with its geometry stored (:func:`stored_geometry`).

    ``compute`` maps a batch of crystals to their geometry and ``key`` names what it computes
    (the settings it depends on). Crystals are computed ``chunk`` at a time and split back per
    crystal; a crystal that already stores a valid geometry for ``key`` is returned as it is.
    """
    out = [crystals[i] for i in range(len(crystals))]
    missing = [i for i, crystal in enumerate(out) if stored_geometry(crystal, key) is None]
    for start in range(0, len(missing), chunk):
        indices = missing[start : start + chunk]
        batch = Batch.from_data_list([out[i] for i in indices])
        for index, geometry in zip(indices, _split(compute(batch), batch), strict=True):
            out[index] = _store(out[index], geometry, key)
    return out
