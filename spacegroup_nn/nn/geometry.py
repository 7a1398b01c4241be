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
#: The inputs a geometry is computed from, each compared with a copy recorded next to it.
_INPUTS = ("z", "pos", "cell")
#: Every attribute :func:`with_geometry` writes; PyG batching offsets the ``*_index`` atom indices.
_STORED = ("pair_index", "pair_terms", *_NEIGHBOURS, "geometry_key", *(f"geometry_{x}" for x in _INPUTS))


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
    for name in _INPUTS:
        recorded, current = data[f"geometry_{name}"], data[name]
        if recorded.dtype != current.dtype or not torch.equal(recorded, current):
            return None
    pairs = PairSums(data.pair_index, data.pair_terms)
    if getattr(data, "neighbour_index", None) is None:
        return CrystalGeometry(pairs, None)
    return CrystalGeometry(pairs, NeighbourMoments(*(data[name] for name in _NEIGHBOURS)))


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
        batch = Batch.from_data_list([out[i] for i in indices], exclude_keys=list(_STORED))
        with torch.no_grad():
            geometry = compute(batch.to(device) if device is not None else batch).to(batch.pos.device)
        for index, part in zip(indices, _split(geometry, batch), strict=True):
            out[index] = _store(out[index], part, key)
    return out
