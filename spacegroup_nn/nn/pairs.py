"""Periodic pair features: every image within a cutoff, summed per pair of atoms."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from ..data.graph import edge_vectors, periodic_graph

__all__ = ["CrystalInputs", "GaussianExpansion", "PeriodicPairFeatures", "PeriodicPairs", "unpack"]

CrystalInputs = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


class PeriodicPairs(NamedTuple):
    """The periodic graph of a batch and its pair features (see :class:`PeriodicPairFeatures`)."""

    terms: Tensor  # (E, R + 1) Gaussians and 1, times the envelope
    edge_index: Tensor  # (2, E) source j, target i, sorted by target
    vectors: Tensor  # (E, 3) x_j + L C - x_i


def unpack(
    z: Tensor | Data,
    pos: Tensor | None = None,
    cell: Tensor | None = None,
    space_group: Tensor | None = None,
    batch: Tensor | None = None,
) -> CrystalInputs:
    """``(z, pos, cell, space_group, batch)`` from a ``Data``/``Batch`` or from tensors.

    A missing ``batch`` means one crystal.
    """
    if isinstance(z, Data):
        z, pos, cell, space_group, batch = z.z, z.pos, z.cell, z.space_group, getattr(z, "batch", None)
    if batch is None:
        batch = z.new_zeros(z.shape[0])
    return z, pos, cell.view(-1, 3, 3), space_group.view(-1), batch


class GaussianExpansion(nn.Module):
    r"""Distances to Gaussians, :math:`\exp(-(d - \mu_k)^2 / 2\Delta^2)` on an even grid.

    Like PyG's ``GaussianSmearing``, except that exponents below -60 are clamped: the far tail
    would otherwise be subnormal in float32, which x86 processors handle about 100 times
    slower (a whole CGCNN step 4 times slower). The clamp changes values below 1e-26 only.

    Args:
        start (float): First centre. (default: :obj:`0.0`)
        stop (float): Last centre. (default: :obj:`6.0`)
        num (int): Number of Gaussians; the width is the spacing. (default: :obj:`32`)

    Shapes:
        - **input:** distances :math:`(E,)`
        - **output:** :math:`(E, num)`
    """

    def __init__(self, start: float = 0.0, stop: float = 6.0, num: int = 32) -> None:
        super().__init__()
        offsets = torch.linspace(start, stop, num)
        self.coefficient = -0.5 / float(offsets[1] - offsets[0]) ** 2
        self.register_buffer("offsets", offsets, persistent=False)

    def forward(self, distance: Tensor) -> Tensor:
        exponent = self.coefficient * (distance.unsqueeze(-1) - self.offsets.to(distance.dtype)).square()
        return torch.exp(exponent.clamp_min(-60.0))

    def __repr__(self) -> str:
        start, stop = float(self.offsets[0]), float(self.offsets[-1])
        return f"{self.__class__.__name__}({start:g}, {stop:g}, {len(self.offsets)})"


def cosine_envelope(distance: Tensor, cutoff: float) -> Tensor:
    """Smooth weight ``(1 + cos(pi d / cutoff)) / 2``, zero at the cutoff."""
    return 0.5 * (torch.cos(distance * (math.pi / cutoff)) + 1.0)


class PeriodicPairFeatures(nn.Module):
    r"""Periodic pair features of the atoms of each crystal, one row per periodic image.

    .. math::
        \mathbf{p}_{ij} = \sum_{L:\ 0 < \|\mathbf{r}_{ij}^L\| \le r_c}
            \big[\phi(\|\mathbf{r}_{ij}^L\|),\ 1\big]\,
            \tfrac12\big(1 + \cos(\pi \|\mathbf{r}_{ij}^L\| / r_c)\big)

    with :math:`\phi` a Gaussian expansion; the last channel is a smooth count of the images
    within the cutoff. The module returns the terms of the sum (one per
    edge of the periodic graph); :meth:`~spacegroup_nn.nn.padding.PaddedGroup.pairs` adds
    them up per pair, before or after a linear map without bias (which commutes with the sum),
    whichever is cheaper. Distances are invariant under every isometry, so the pair features are
    invariant under the crystal's operations, rigid motions and every change of description;
    the periodic graph has no neighbour cap and the envelope makes the sum continuous at the
    cutoff.

    Args:
        cutoff (float): Radius in Angstrom. (default: :obj:`6.0`)
        num_rbf (int): Number of Gaussians. (default: :obj:`32`)

    Shapes:
        - **input:** positions :math:`(N, 3)`, cell :math:`(B, 3, 3)`, batch :math:`(N,)`,
          and optionally the ``Data`` they came from, whose stored graph is used if valid
          (:func:`~spacegroup_nn.data.stored_graph`)
        - **output:** :class:`PeriodicPairs`: edge terms :math:`(E, R + 1)` and the graph itself,
          edge indices :math:`(2, E)` and edge vectors :math:`(E, 3)`
    """

    def __init__(self, cutoff: float = 6.0, num_rbf: int = 32) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.num_rbf = num_rbf
        self.out_channels = num_rbf + 1
        self.smearing = GaussianExpansion(0.0, self.cutoff, num_rbf)

    def forward(self, pos: Tensor, cell: Tensor, batch: Tensor, data: Data | None = None) -> PeriodicPairs:
        edge_index, shift = periodic_graph(pos, cell, self.cutoff, batch, data)
        vectors = edge_vectors(pos, cell, edge_index, shift, batch)
        distance = torch.linalg.vector_norm(vectors, dim=-1)
        envelope = cosine_envelope(distance, self.cutoff).unsqueeze(-1)
        terms = torch.cat([self.smearing(distance), torch.ones_like(envelope)], dim=-1) * envelope
        return PeriodicPairs(terms, edge_index, vectors)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(cutoff={self.cutoff:g}, num_rbf={self.num_rbf})"
