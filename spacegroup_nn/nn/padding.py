"""The crystals of a batch in groups of similar size, each padded only to its own largest."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["PaddedGroup", "padded_groups"]


class PaddedGroup(NamedTuple):
    """``b`` crystals of a batch laid out densely as ``(b, m)`` atoms, ``m`` the largest of them.

    Built by :func:`padded_groups`; ``n`` atoms and ``e`` edges (those whose target atom is
    in one of the ``b`` crystals) of the batch belong to the group.
    """

    atoms: Tensor  # (n,) indices into the batch's atoms, crystal by crystal
    slots: Tensor  # (n,) flat index of each of those atoms in b x m
    mask: Tensor  # (b, m) True where a slot holds an atom
    edges: Tensor  # (e,) indices into the batch's edges
    pair_slots: Tensor  # (e,) flat index of each edge's (target, source) pair in b x m x m

    def pad(self, x: Tensor) -> Tensor:
        """Atom rows ``(N, C)`` of the whole batch to this group's ``(b, m, C)``, zero padded."""
        batch_size, size = self.mask.shape
        padded = x.new_zeros(batch_size * size, x.shape[1]).index_copy(0, self.slots, x[self.atoms])
        return padded.view(batch_size, size, x.shape[1])

    def unpad(self, padded: Tensor) -> Tensor:
        """``(b, m, C)`` back to the rows ``(n, C)`` of :attr:`atoms`, padding dropped."""
        return padded.reshape(-1, padded.shape[-1])[self.slots]

    def pairs(self, values: Tensor, linear: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """Edge rows ``(E, C)`` of the whole batch summed into their pairs: ``(b, m, m, C')``.

        ``linear``, a linear map without bias (``C`` to ``C'`` columns), commutes with the sum,
        so it is applied to the edges or to the pairs, whichever are fewer.
        """
        batch_size, size = self.mask.shape
        values = values[self.edges]
        per_pair = linear is not None and batch_size * size * size < len(values)
        if linear is not None and not per_pair:
            values = linear(values)
        # index_add (not index_put with accumulate) keeps the sum deterministic on CPU
        dense = values.new_zeros(batch_size * size * size, values.shape[1])
        dense = dense.index_add(0, self.pair_slots, values)
        if per_pair:
            dense = linear(dense)
        return dense.view(batch_size, size, size, -1)


def padded_groups(batch: Tensor, edge_index: Tensor) -> list[PaddedGroup]:
    r"""The crystals of a batch grouped by size, so that dense per-crystal work wastes little.

    A crystal of :math:`n` atoms joins group :math:`\lceil \log_2 n \rceil`, so padding to the
    group's largest crystal costs less than a factor of 4 in attention work (:math:`m^2`
    against :math:`n^2`), where padding the whole batch to its largest crystal lets one large
    cell set the cost of every small one.

    Parameters
    ----------
    batch : Tensor
        ``(N,)`` int64, the crystal of each atom, sorted.
    edge_index : Tensor
        ``(2, E)`` int64, source and target atom of each edge, both in the same crystal.

    Returns
    -------
    list of PaddedGroup
        Every atom and every edge lies in exactly one group; groups come in order of size.
    """
    counts = torch.bincount(batch)
    first = torch.cumsum(counts, 0) - counts
    local = torch.arange(batch.numel(), device=batch.device) - first[batch]
    size_class = torch.ceil(torch.log2(counts.clamp_min(1).double())).long()
    source, target = edge_index
    groups = []
    for value in torch.unique(size_class[counts > 0]):
        crystals = torch.nonzero(size_class == value).flatten()
        crystals = crystals[counts[crystals] > 0]
        rank = torch.full_like(counts, -1)
        rank[crystals] = torch.arange(len(crystals), device=batch.device)
        atom_rank = rank[batch]
        atoms = torch.nonzero(atom_rank >= 0).flatten()
        size = int(counts[crystals].max())
        edges = torch.nonzero(atom_rank[target] >= 0).flatten()
        row, column = target[edges], source[edges]
        groups.append(
            PaddedGroup(
                atoms=atoms,
                slots=atom_rank[atoms] * size + local[atoms],
                mask=torch.arange(size, device=batch.device) < counts[crystals].unsqueeze(-1),
                edges=edges,
                pair_slots=(atom_rank[row] * size + local[row]) * size + local[column],
            )
        )
    return groups
