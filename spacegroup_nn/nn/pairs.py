"""Periodic pair features: every image within a cutoff, summed per pair of atoms."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn.models.schnet import GaussianSmearing
from torch_geometric.utils import to_dense_batch

from ..data.graph import edge_vectors, radius_graph_pbc

__all__ = ["CrystalInputs", "PeriodicPairFeatures", "unpack"]

CrystalInputs = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


def unpack(data: Data) -> CrystalInputs:
    """``(z, pos, cell, space_group, batch)`` of a ``Data`` or ``Batch`` of crystals."""
    batch = data.batch if getattr(data, "batch", None) is not None else data.z.new_zeros(data.z.shape[0])
    return data.z, data.pos, data.cell.view(-1, 3, 3), data.space_group.view(-1), batch


def cosine_envelope(distance: Tensor, cutoff: float) -> Tensor:
    """Smooth weight ``(1 + cos(pi d / cutoff)) / 2``, zero at the cutoff."""
    return 0.5 * (torch.cos(distance * (math.pi / cutoff)) + 1.0)


class PeriodicPairFeatures(nn.Module):
    r"""Periodic pair features of the atoms of each crystal, one row per periodic image.

    .. math::
        \mathbf{p}_{ij} = \sum_{L:\ 0 < \|\mathbf{r}_{ij}^L\| \le r_c}
            \phi(\|\mathbf{r}_{ij}^L\|)\, \tfrac12\big(1 + \cos(\pi \|\mathbf{r}_{ij}^L\| / r_c)\big)

    with :math:`\phi` a Gaussian expansion. The module returns the terms of the sum (one per
    edge of the periodic graph) and the dense pair slot of each; :meth:`dense` adds them up,
    after any linear map, which commutes with the sum and is far cheaper per edge than per
    pair. Distances are invariant under every isometry, so the pair features are invariant
    under the crystal's operations, rigid motions and every change of description; the
    periodic graph has no neighbour cap and the envelope makes the sum continuous at the
    cutoff.

    Args:
        cutoff (float): Radius in Angstrom. (default: :obj:`6.0`)
        num_rbf (int): Number of Gaussians. (default: :obj:`32`)

    Shapes:
        - **input:** positions :math:`(N, 3)`, cell :math:`(B, 3, 3)`, batch :math:`(N,)`
        - **output:** pair slots :math:`(E,)` (flat indices into :math:`B \times N_{max}
          \times N_{max}`), edge terms :math:`(E, R)`, atom mask :math:`(B, N_{max})`
    """

    def __init__(self, cutoff: float = 6.0, num_rbf: int = 32) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.num_rbf = num_rbf
        self.smearing = GaussianSmearing(0.0, self.cutoff, num_rbf)

    def forward(self, pos: Tensor, cell: Tensor, batch: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        edge_index, shift = radius_graph_pbc(pos, cell, self.cutoff, batch)
        distance = edge_vectors(pos, cell, edge_index, shift, batch).norm(dim=-1)
        terms = self.smearing(distance) * cosine_envelope(distance, self.cutoff).unsqueeze(-1)
        _, mask = to_dense_batch(batch, batch)
        counts = torch.bincount(batch, minlength=mask.shape[0])
        local = torch.arange(batch.numel(), device=batch.device) - (torch.cumsum(counts, 0) - counts)[batch]
        source, target = edge_index
        size = mask.shape[1]
        slots = (batch[target] * size + local[target]) * size + local[source]
        return slots, terms, mask

    @staticmethod
    def dense(slots: Tensor, values: Tensor, mask: Tensor) -> Tensor:
        """Sum edge values ``(E, C)`` into their pairs: ``(B, N_max, N_max, C)``."""
        batch_size, size = mask.shape
        # index_add (not index_put with accumulate) keeps the sum deterministic on CPU
        dense = values.new_zeros(batch_size * size * size, values.shape[1]).index_add(0, slots, values)
        return dense.view(batch_size, size, size, values.shape[1])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(cutoff={self.cutoff:g}, num_rbf={self.num_rbf})"
