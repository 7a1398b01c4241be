"""Periodic pair features: every image within a cutoff, summed per pair of atoms."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

__all__ = ["CrystalInputs", "GaussianExpansion", "PairSums", "PeriodicPairFeatures", "unpack"]

CrystalInputs = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


class PairSums(NamedTuple):
    """Pair features of a batch, one row per ordered pair of atoms (see :class:`PeriodicPairFeatures`)."""

    index: Tensor  # (2, P) source j, target i of every pair with an image within the cutoff, sorted by (i, j)
    terms: Tensor  # (P, R + 1) Gaussians and 1 times the envelope, summed over the pair's images


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
    r"""Periodic pair features of the atoms of each crystal, summed over the images of each pair.

    .. math::
        \mathbf{p}_{ij} = \sum_{L:\ 0 < \|\mathbf{r}_{ij}^L\| \le r_c}
            \big[\phi(\|\mathbf{r}_{ij}^L\|),\ 1\big]\,
            \tfrac12\big(1 + \cos(\pi \|\mathbf{r}_{ij}^L\| / r_c)\big)

    with :math:`\phi` a Gaussian expansion; the last channel is a smooth count of the images
    within the cutoff. Distances are invariant under every isometry, so the pair features are
    invariant under the crystal's operations, rigid motions and every change of description;
    the periodic graph has no neighbour cap and the envelope makes the sum continuous at the
    cutoff. The module has no parameters: its output can be computed once per crystal
    (:meth:`~spacegroup_nn.nn.SpaceGroupTransformer.prepare`).

    Args:
        cutoff (float): Radius in Angstrom. (default: :obj:`6.0`)
        num_rbf (int): Number of Gaussians. (default: :obj:`32`)

    Shapes:
        - **input:** edge indices :math:`(2, E)` (source :math:`j`, target :math:`i`) and edge
          vectors :math:`(E, 3)`, :math:`\mathbf{x}_j + L C - \mathbf{x}_i`, of the periodic graph
          within ``cutoff`` (:func:`~spacegroup_nn.data.periodic_graph`,
          :func:`~spacegroup_nn.data.edge_vectors`), and the number of atoms :math:`N`
        - **output:** :class:`PairSums`: pair indices :math:`(2, P)` and features
          :math:`(P, R + 1)`
    """

    def __init__(self, cutoff: float = 6.0, num_rbf: int = 32) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.num_rbf = num_rbf
        self.out_channels = num_rbf + 1
        self.smearing = GaussianExpansion(0.0, self.cutoff, num_rbf)

    def forward(self, edge_index: Tensor, vectors: Tensor, num_atoms: int) -> PairSums:
        distance = torch.linalg.vector_norm(vectors, dim=-1)
        envelope = cosine_envelope(distance, self.cutoff).unsqueeze(-1)
        terms = torch.cat([self.smearing(distance), torch.ones_like(envelope)], dim=-1) * envelope
        source, target = edge_index
        pairs, pair_of_edge = torch.unique(target * num_atoms + source, return_inverse=True)
        # index_add (not index_put with accumulate) keeps the sum deterministic on CPU
        sums = terms.new_zeros(len(pairs), terms.shape[1]).index_add(0, pair_of_edge, terms)
        return PairSums(torch.stack([pairs % num_atoms, pairs // num_atoms]), sums)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(cutoff={self.cutoff:g}, num_rbf={self.num_rbf})"
