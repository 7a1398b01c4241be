"""The crystals of a batch in groups of similar size, each padded only to its own largest."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["PaddedGroup", "padded_groups"]


class PaddedGroup(NamedTuple):
    """``b`` crystals of a batch laid out densely as ``(b, m)`` atoms, ``m`` the largest of them.

    Built by :func:`padded_groups`; ``n`` atoms and ``p`` pairs of atoms (those whose target
    atom is in one of the ``b`` crystals) of the batch belong to the group.
    """

    atoms: Tensor  # (n,) indices into the batch's atoms, crystal by crystal
    slots: Tensor  # (n,) flat index of each of those atoms in b x m
    mask: Tensor  # (b, m) True where a slot holds an atom
    pairs: Tensor  # (p,) indices into the batch's pairs
    pair_slots: Tensor  # (p,) flat index of each pair (target, source) in b x m x m

    def pad(self, x: Tensor) -> Tensor:
        """Atom rows ``(N, C)`` of the whole batch to this group's ``(b, m, C)``, zero padded."""
        batch_size, size = self.mask.shape
        padded = x.new_zeros(batch_size * size, x.shape[1]).index_copy(0, self.slots, x[self.atoms])
        return padded.view(batch_size, size, x.shape[1])

    def unpad(self, padded: Tensor) -> Tensor:
        """``(b, m, C)`` back to the rows ``(n, C)`` of :attr:`atoms`, padding dropped."""
        return padded.reshape(-1, padded.shape[-1])[self.slots]

    def pad_pairs(self, values: Tensor) -> Tensor:
        """Pair rows ``(P, C)`` of the whole batch to this group's ``(b, m, m, C)``, zero where
        two atoms form no pair."""
        batch_size, size = self.mask.shape
        dense = values.new_zeros(batch_size * size * size, values.shape[1])
        dense = dense.index_copy(0, self.pair_slots, values[self.pairs])
        return dense.view(batch_size, size, size, -1)


def padded_groups(batch: Tensor, pair_index: Tensor) -> list[PaddedGroup]:
    r"""The crystals of a batch grouped by size, so that dense per-crystal work wastes little.

    A crystal of :math:`n` atoms joins group :math:`\lceil \log_2 n \rceil`, so padding to the
    group's largest crystal costs less than a factor of 4 in attention work (:math:`m^2`
    against :math:`n^2`), where padding the whole batch to its largest crystal lets one large
    cell set the cost of every small one.

    Parameters
    ----------
    batch : Tensor
        ``(N,)`` int64, the crystal of each atom, sorted.
    pair_index : Tensor
        ``(2, P)`` int64, source and target atom of each pair, both in the same crystal, no
        pair twice (:class:`~spacegroup_nn.nn.pairs.PairSums`).

    Returns
    -------
    list of PaddedGroup
        Every atom and every pair lies in exactly one group; groups come in order of size.
    """
    counts = torch.bincount(batch)
    first = torch.cumsum(counts, 0) - counts
    local = torch.arange(batch.numel(), device=batch.device) - first[batch]
    size_class = torch.ceil(torch.log2(counts.clamp_min(1).double())).long()
    source, target = pair_index
    groups = []
    for value in torch.unique(size_class[counts > 0]):
        crystals = torch.nonzero(size_class == value).flatten()
        crystals = crystals[counts[crystals] > 0]
        rank = torch.full_like(counts, -1)
        rank[crystals] = torch.arange(len(crystals), device=batch.device)
        atom_rank = rank[batch]
        atoms = torch.nonzero(atom_rank >= 0).flatten()
        size = int(counts[crystals].max())
        pairs = torch.nonzero(atom_rank[target] >= 0).flatten()
        row, column = target[pairs], source[pairs]
        groups.append(
            PaddedGroup(
                atoms=atoms,
                slots=atom_rank[atoms] * size + local[atoms],
                mask=torch.arange(size, device=batch.device) < counts[crystals].unsqueeze(-1),
                pairs=pairs,
                pair_slots=(atom_rank[row] * size + local[row]) * size + local[column],
            )
        )
    return groups
