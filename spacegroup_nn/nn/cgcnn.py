"""A CGCNN message-passing model on the exact periodic graph, optionally with symmetrized
Fourier features as extra node inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import CGConv, global_mean_pool

from ..data.graph import edge_vectors, nearest_edges, periodic_graph
from ._utils import reset_children
from .encoder import AtomEncoder
from .features import Invariance
from .pairs import GaussianExpansion, cosine_envelope, unpack

__all__ = ["CrystalGraphNetwork", "SmoothCGConv"]


class SmoothCGConv(CGConv):
    r""":class:`~torch_geometric.nn.conv.CGConv` whose messages fade out at the cutoff.

    .. math::
        \mathbf{m}_{ij} = w(d_{ij})\, \sigma(\mathbf{z}_{ij}\mathbf{W}_f + \mathbf{b}_f)
            \odot g(\mathbf{z}_{ij}\mathbf{W}_s + \mathbf{b}_s),
        \qquad \mathbf{z}_{ij} = [\mathbf{x}_i, \mathbf{x}_j, \mathbf{e}_{ij}]

    with :math:`w(d) = (1 + \cos(\pi d / r_c)) / 2`. Plain CGConv is discontinuous at the
    cutoff, so an image at almost exactly the cutoff (a lattice vector of 4 Angstrom and a
    cutoff of 8, say) enters or leaves the graph with round-off, and outputs of one crystal
    described two ways can differ by far more than round-off. The weight removes that.

    The parameters are CGConv's (``lin_f``, ``lin_s``, ``bn``), but the linear maps of
    :math:`\mathbf{z}_{ij}` are split by its blocks: the atom blocks are mapped once per atom
    and gathered per edge, so an edge costs a map of its :math:`D` edge features only,
    not of all :math:`2F + D` (with 12 or more edges per atom, most of a layer's work). The
    messages are formed in :meth:`forward` itself, so ``propagate`` and its hooks are not used;
    ``aggr`` applies as in CGConv.

    Shapes:
        - **input:** node features :math:`(N, F)`, edge indices :math:`(2, E)`, edge features
          :math:`(E, D)`, edge weights :math:`(E,)`
        - **output:** node features :math:`(N, F)`
    """

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, edge_weight: Tensor) -> Tensor:
        channels = x.shape[1]
        weight = torch.cat([self.lin_f.weight, self.lin_s.weight])  # (2F, 2F + D)
        bias = None if self.lin_f.bias is None else torch.cat([self.lin_f.bias, self.lin_s.bias])
        # rows :2F map x_i (targets), rows 2F: map x_j (sources), once per atom
        atom_maps = torch.cat([weight[:, :channels], weight[:, channels : 2 * channels]])
        target_part, source_part = F.linear(x, atom_maps).split(2 * channels, dim=-1)
        source, target = edge_index
        edge_part = F.linear(edge_attr, weight[:, 2 * channels :], bias)
        gates = target_part.index_select(0, target) + source_part.index_select(0, source) + edge_part
        filter_gate, core = gates.split(channels, dim=-1)
        messages = filter_gate.sigmoid() * F.softplus(core) * edge_weight.unsqueeze(-1)
        out = self.aggregate(messages, target, dim_size=x.shape[0])
        out = out if self.bn is None else self.bn(out)
        return out + x


class CrystalGraphNetwork(nn.Module):
    r"""CGCNN (Xie & Grossman 2018) built from PyG's :class:`~torch_geometric.nn.conv.CGConv`.

    .. math::
        \mathbf{h}_i^{(0)} = \mathbf{e}(z_i) \;[+\; \mathbf{W}\mathbf{f}(x_i) + \mathbf{c}_{b(i)}
            + \mathrm{MLP}(v_{b(i)})],
        \qquad
        \mathbf{h}_i^{(l+1)} = \mathrm{CGConv}\big(\mathbf{h}^{(l)}, \{\phi(\|\mathbf{r}_{ij}^L\|)\}\big)_i

    followed by mean pooling and an MLP. The element features :math:`\mathbf{e}` are a linear
    map of physical descriptors (:class:`ElementEmbedding`), as CGCNN's atom feature vectors
    are (group, period, electronegativity, radius, ionization energy, electron affinity,
    block, volume), plus a learned per-element correction. Edges are every periodic image
    within ``cutoff`` (no neighbour cap, so symmetry-equivalent atoms have equivalent
    neighbourhoods), and messages fade out smoothly at the cutoff (:class:`SmoothCGConv`), so
    the output is a continuous function of the positions. With ``fourier=True`` each atom
    also receives its symmetrized Fourier features, the group context and an MLP of the log
    volume per atom :math:`v_b` (:class:`AtomEncoder`), with weights shared by all groups.

    Args:
        hidden_channels (int): Atom feature size. (default: :obj:`64`)
        num_layers (int): Convolutions. (default: :obj:`3`)
        fc_channels (int): Hidden size of the output MLP. (default: :obj:`128`)
        out_channels (int): Outputs per crystal. (default: :obj:`1`)
        cutoff (float): Graph radius in Angstrom. (default: :obj:`8.0`)
        num_gaussians (int): Distance expansion size (step 0.2 Angstrom at 8 Angstrom).
            (default: :obj:`41`)
        fourier (bool): Add symmetrized Fourier features and group context. (default: :obj:`True`)
        radius (float): Fourier cutoff. (default: :obj:`5.0`)
        invariance (str): See :class:`SymmetrizedFourierFeatures`. (default: ``"normalizer"``)
        max_neighbors (int, optional): Keep only the nearest ``max_neighbors`` edges of every
            atom, as the original CGCNN does (12). Ties at the cap are broken by edge order,
            so symmetry-equivalent atoms can get different neighbours: this option is for the
            faithful baseline only. (default: :obj:`None`, every neighbour)
        smooth (bool): Fade messages out at the cutoff; ``False`` is plain CGConv, whose
            output jumps when an image crosses the cutoff. (default: :obj:`True`)
        group_dropout (float): See :class:`AtomEncoder`. (default: :obj:`0.0`)

    Shapes:
        - **input:** a ``Data``/``Batch``, or ``z`` :math:`(N,)`, ``pos`` :math:`(N, 3)`,
          ``cell`` :math:`(B, 3, 3)`, ``space_group`` :math:`(B,)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(B,)` if ``out_channels == 1``, else :math:`(B, out)`
    """

    def __init__(
        self,
        hidden_channels: int = 64,
        num_layers: int = 3,
        fc_channels: int = 128,
        out_channels: int = 1,
        cutoff: float = 8.0,
        num_gaussians: int = 41,
        fourier: bool = True,
        radius: float = 5.0,
        invariance: Invariance = "normalizer",
        max_neighbors: int | None = None,
        smooth: bool = True,
        group_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.hidden_channels, self.num_layers, self.out_channels = hidden_channels, num_layers, out_channels
        self.cutoff = float(cutoff)
        self.max_neighbors, self.smooth = max_neighbors, smooth
        self.encoder = AtomEncoder(hidden_channels, fourier, radius, invariance, group_dropout=group_dropout)
        self.smearing = GaussianExpansion(0.0, self.cutoff, num_gaussians)
        self.convs = nn.ModuleList(
            SmoothCGConv(hidden_channels, dim=num_gaussians, batch_norm=True) for _ in range(num_layers)
        )
        self.head = nn.Sequential(
            nn.Linear(hidden_channels, fc_channels), nn.Softplus(), nn.Linear(fc_channels, out_channels)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_children(self)

    def forward(
        self,
        z: Tensor | Data,
        pos: Tensor | None = None,
        cell: Tensor | None = None,
        space_group: Tensor | None = None,
        batch: Tensor | None = None,
    ) -> Tensor:
        data = z if isinstance(z, Data) else None
        z, pos, cell, space_group, batch = unpack(z, pos, cell, space_group, batch)
        x = self.encoder(z, pos, cell, space_group, batch)
        edge_index, shift = periodic_graph(pos, cell, self.cutoff, batch, data, self.max_neighbors)
        distance = edge_vectors(pos, cell, edge_index, shift, batch).norm(dim=-1)
        if self.max_neighbors is not None:
            keep = nearest_edges(edge_index[1], distance, self.max_neighbors)
            edge_index, distance = edge_index[:, keep], distance[keep]
        edge_weight = cosine_envelope(distance, self.cutoff) if self.smooth else torch.ones_like(distance)
        edge_attr = self.smearing(distance)
        for conv in self.convs:
            x = F.softplus(conv(x, edge_index, edge_attr, edge_weight))
        out = self.head(global_mean_pool(x, batch, size=cell.shape[0]))
        return out.squeeze(-1) if self.out_channels == 1 else out

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(hidden_channels={self.hidden_channels}, "
            f"num_layers={self.num_layers}, out_channels={self.out_channels}, "
            f"cutoff={self.cutoff:g}, fourier={self.encoder.features is not None}"
            + (f", max_neighbors={self.max_neighbors}" if self.max_neighbors is not None else "")
            + (", smooth=False" if not self.smooth else "")
            + ")"
        )
