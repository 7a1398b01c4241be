r"""Local atomic environments: rotation-invariant angular densities of each atom's neighbours."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..groups.standardize import MAX_ATOMIC_NUMBER
from ._utils import reset_children
from .elements import ElementEmbedding
from .harmonic_features import spherical_harmonics
from .pairs import GaussianExpansion, cosine_envelope

__all__ = ["LocalEnvironment", "NeighbourMoments"]


class NeighbourMoments(NamedTuple):
    """Radial-angular moments of each atom's neighbours of one element (see :class:`LocalEnvironment`)."""

    atom: Tensor  # (Q,) atom i of each row, sorted, with one row per element among its neighbours
    species: Tensor  # (Q,) atomic number s of the row's neighbours
    moments: Tensor  # (Q, K, M) sum over them of Gaussian k times envelope times Y_m


class LocalEnvironment(nn.Module):
    r"""Invariant angular density of every atom's periodic neighbourhood, mapped to a token.

    For atom :math:`i`, its neighbours :math:`(j, L)` at :math:`\mathbf{r} = \mathbf{x}_j + L C
    - \mathbf{x}_i` within the cutoff give the density coefficients

    .. math::
        A_{i,c,lm} = \sum_{(j, L):\ \|\mathbf{r}\| \le r_e} R_c(\|\mathbf{r}\|)\,
            \tfrac12\big(1 + \cos(\pi \|\mathbf{r}\| / r_e)\big)\, e_c(z_j)\, Y_{lm}(\hat{\mathbf{r}}),

    with :math:`R_c` a learned linear map of Gaussians, :math:`e_c(z)` a learned element
    embedding and :math:`Y_{lm}` real spherical harmonics (:func:`spherical_harmonics`). The
    invariants are :math:`A_{i,c,00}` and the norms :math:`\|A_{i,c,l\cdot}\|` of every degree
    :math:`l \le l_{max}` (the angular power spectrum, which resolves bond angles), and a
    linear map of them is the output. The geometric part has no parameters: with :math:`G` the
    Gaussians,

    .. math::
        A_{i,c,lm} = \sum_s e_c(s) \sum_k W_{ck}\, M_{i,s,k,lm}, \qquad
        M_{i,s,k,lm} = \sum_{(j, L):\ z_j = s,\ \|\mathbf{r}\| \le r_e} G_k(\|\mathbf{r}\|)\,
            \tfrac12\big(1 + \cos(\pi \|\mathbf{r}\| / r_e)\big)\, Y_{lm}(\hat{\mathbf{r}}),

    for :math:`R_c = \sum_k W_{ck} G_k`, so the moments :math:`M` (:meth:`moments`,
    :class:`NeighbourMoments`) can be computed once per crystal and :meth:`embed` maps them to
    tokens.

    .. math::
        \mathbf{h}_i = \mathbf{W}\,\mathrm{LayerNorm}\big([A_{i,c,00},\ \|A_{i,c,l\cdot}\|
            ]_{c,\,l}\big)

    Each :math:`Y_l` transforms by an orthogonal matrix under any rotation or reflection, so
    the norms are invariant under every isometry: atoms related by an operation of the
    crystal's group get the same value, and so does an atom in any description of the crystal
    (origin, cell choice, supercell, rotation). The envelope makes the density continuous at
    the cutoff. No parameter depends on the group.

    Args:
        out_channels (int): Output size.
        channels (int): Radial-element channels :math:`c`. (default: :obj:`16`)
        l_max (int): Highest degree. (default: :obj:`3`)
        cutoff (float): Radius :math:`r_e` in Angstrom. (default: :obj:`5.0`)
        num_rbf (int): Gaussians on :math:`[0, r_e]`. (default: :obj:`16`)

    Shapes:
        - **input** (of :meth:`forward` and :meth:`moments`): atomic numbers :math:`(N,)`;
          edge indices :math:`(2, E)`, rows source
          :math:`j` and target :math:`i`, sorted by target as
          :func:`~spacegroup_nn.data.radius_graph_pbc` returns them; edge vectors
          :math:`(E, 3)`, :math:`\mathbf{x}_j + L C - \mathbf{x}_i`
          (:func:`~spacegroup_nn.data.edge_vectors`). Edges beyond the cutoff are ignored.
        - **output:** :math:`(N, out)`; :meth:`moments` gives :class:`NeighbourMoments`, which
          :meth:`embed` maps to the output
    """

    def __init__(
        self, out_channels: int, channels: int = 16, l_max: int = 3, cutoff: float = 5.0, num_rbf: int = 16
    ) -> None:
        super().__init__()
        self.out_channels, self.channels, self.l_max = out_channels, channels, l_max
        self.cutoff, self.num_rbf = float(cutoff), num_rbf
        self.smearing = GaussianExpansion(0.0, self.cutoff, num_rbf)
        self.radial = nn.Linear(num_rbf, channels, bias=False)
        self.element = ElementEmbedding(channels)
        invariants = channels * (l_max + 2)
        self.out = nn.Sequential(nn.LayerNorm(invariants), nn.Linear(invariants, out_channels))
        degree = torch.cat([torch.full((2 * l + 1,), l) for l in range(l_max + 1)])
        self.register_buffer("degree", degree, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_children(self)

    def forward(self, z: Tensor, edge_index: Tensor, vectors: Tensor) -> Tensor:
        return self.embed(self.moments(z, edge_index, vectors), len(z))

    def moments(self, z: Tensor, edge_index: Tensor, vectors: Tensor) -> NeighbourMoments:
        """The parameter-free moments :math:`M` of every atom's neighbours, element by element.

        Parameters
        ----------
        z : Tensor
            ``(N,)`` int64 atomic numbers.
        edge_index : Tensor
            ``(2, E)`` int64, rows source :math:`j` and target :math:`i`.
        vectors : Tensor
            ``(E, 3)`` edge vectors; edges beyond :attr:`cutoff` are ignored.

        Returns
        -------
        NeighbourMoments
            ``atom`` ``(Q,)`` (sorted), ``species`` ``(Q,)`` and ``moments``
            ``(Q, K, (l_max + 1)^2)`` in the dtype of ``vectors``: one row per atom and
            element among its neighbours, :math:`K` the number of Gaussians.
        """
        distance = torch.linalg.vector_norm(vectors, dim=-1)
        near = distance <= self.cutoff
        source, target = edge_index[:, near]
        distance, vectors = distance[near], vectors[near]
        radial = self.smearing(distance) * cosine_envelope(distance, self.cutoff).unsqueeze(-1)
        harmonics = spherical_harmonics(self.l_max, vectors)
        species = MAX_ATOMIC_NUMBER + 1
        rows, row_of_edge = torch.unique(target * species + z[source], return_inverse=True)
        products = (radial.unsqueeze(-1) * harmonics.unsqueeze(1)).flatten(1)  # (E, K M)
        moments = products.new_zeros(len(rows), products.shape[1]).index_add(0, row_of_edge, products)
        moments = moments.view(len(rows), radial.shape[1], harmonics.shape[1])
        return NeighbourMoments(rows // species, rows % species, moments)

    def embed(self, neighbours: NeighbourMoments, num_atoms: int) -> Tensor:
        """The tokens of the atoms whose neighbours have these moments.

        Parameters
        ----------
        neighbours : NeighbourMoments
            From :meth:`moments`, atom indices below ``num_atoms``.
        num_atoms : int
            :math:`N`; an atom without a row gets the token of an empty neighbourhood.

        Returns
        -------
        Tensor
            ``(N, out)``, in the dtype of the parameters.
        """
        # (Q, M, C): the learned radial functions and element embedding of each row
        radial = self.radial(neighbours.moments.transpose(1, 2).to(self.radial.weight.dtype))
        weighted = radial * self.element(neighbours.species).unsqueeze(1)
        density = weighted.new_zeros(num_atoms, *weighted.shape[1:]).index_add(0, neighbours.atom, weighted)
        density = density.transpose(1, 2)  # (N, C, (l_max + 1)^2)
        power = density.new_zeros(num_atoms, self.channels, self.l_max + 1).index_add(
            2, self.degree, density.square()
        )
        # sqrt(p + eps^2) - eps: the norm, with a finite gradient where a degree is empty
        norms = torch.sqrt(power + 1e-6) - 1e-3
        return self.out(torch.cat([density[:, :, :1], norms], dim=-1).flatten(1))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.out_channels}, channels={self.channels}, "
            f"l_max={self.l_max}, cutoff={self.cutoff:g})"
        )
