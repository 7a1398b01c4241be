"""SpaceGroupTransformer: attention among the atoms of a crystal, one weight set for all groups."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_mean_pool

from ..data.graph import edge_vectors, periodic_graph
from ._utils import reset_children
from .encoder import AtomEncoder
from .environment import LocalEnvironment
from .features import Invariance
from .geometry import CrystalGeometry, stored_geometry, with_geometry
from .padding import PaddedGroup, padded_groups
from .pairs import PeriodicPairFeatures, unpack

__all__ = ["PairBiasedAttention", "SpaceGroupTransformer"]


class PairBiasedAttention(nn.Module):
    r"""Multi-head self-attention among atoms with an additive bias per pair and head.

    .. math::
        \alpha_{ij}^{h} = \mathrm{softmax}_j\Big(\frac{\mathbf{q}_i^h \cdot \mathbf{k}_j^h}
            {\sqrt{d}} + b_{ij}^h\Big)

    Args:
        channels (int): Token size.
        heads (int): Number of heads (must divide ``channels``).

    Shapes:
        - **input:** tokens :math:`(B, N, C)`, bias :math:`(B, N, N, H)`, mask :math:`(B, N)`
        - **output:** :math:`(B, N, C)`
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"heads ({heads}) must divide channels ({channels})")
        self.channels, self.heads = channels, heads
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def reset_parameters(self) -> None:
        for layer in (self.qkv, self.out):
            layer.reset_parameters()

    def forward(self, x: Tensor, bias: Tensor, mask: Tensor) -> Tensor:
        batch, atoms, _ = x.shape
        q, k, v = self.qkv(x).view(batch, atoms, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        scores = scores + bias.permute(0, 3, 1, 2)
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        attended = torch.softmax(scores, dim=-1) @ v
        return self.out(attended.transpose(1, 2).reshape(batch, atoms, self.channels))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, heads={self.heads})"


#: Applies a block's attention to its normalized tokens, in the caller's layout of them.
Attend = Callable[[PairBiasedAttention, Tensor], Tensor]


class _Block(nn.Module):
    """Pre-norm attention and MLP; ``attend`` runs the attention on the tokens' layout."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.norm_attention = nn.LayerNorm(channels)
        self.attention = PairBiasedAttention(channels, heads)
        self.norm_mlp = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, 2 * channels), nn.SiLU(), nn.Linear(2 * channels, channels)
        )

    def forward(self, x: Tensor, attend: Attend) -> Tensor:
        x = x + attend(self.attention, self.norm_attention(x))
        return x + self.mlp(self.norm_mlp(x))


def dense_attention(bias: Tensor, mask: Tensor) -> Attend:
    """Attention on dense tokens ``(B, N, C)`` with ``bias`` ``(B, N, N, H)`` and ``mask`` ``(B, N)``."""
    return lambda attention, x: attention(x, bias, mask)


def grouped_attention(groups: list[PaddedGroup], biases: list[Tensor]) -> Attend:
    """Attention on the atom rows ``(N, C)`` of a batch, one :class:`PaddedGroup` at a time.

    ``biases`` holds each group's pair bias ``(b, m, m, H)``; per-atom work stays
    padding-free, and each group is padded only to its own largest crystal.
    """
    if not groups:  # a batch of no crystals has no atoms to attend
        return lambda attention, x: torch.zeros_like(x)
    order = torch.cat([group.atoms for group in groups])

    def attend(attention: PairBiasedAttention, x: Tensor) -> Tensor:
        attended = [
            group.unpad(attention(group.pad(x), bias, group.mask))
            for group, bias in zip(groups, biases, strict=True)
        ]
        # every atom lies in exactly one group
        return torch.zeros_like(x).index_copy(0, order, torch.cat(attended))

    return attend


class SpaceGroupTransformer(nn.Module):
    r"""Transformer over the atoms of each crystal, exactly invariant, weights shared by all groups.

    Each atom token is its element's features (:class:`ElementEmbedding`: physical
    descriptors and a learned correction) plus a linear map of its symmetrized Fourier
    features (:class:`SymmetrizedFourierFeatures`, one fixed index set for every group) plus
    the crystal's group context (:class:`GroupContext`, computed from the operations) plus an
    MLP of its log volume per atom :math:`v_b` (:class:`AtomEncoder`) plus the invariant
    angular density of its neighbourhood (:class:`LocalEnvironment`).
    Attention is biased by periodic pair-distance features; a mean over atoms and an MLP give
    the prediction. Attention runs on crystals grouped by size (:func:`padded_groups`), so a
    large cell never pads the small ones of its batch. The pair features and the neighbour
    moments of the environments have no parameters: :meth:`prepare` stores them in each
    crystal once, and the model reads them back while they match its positions and cell.

    .. math::
        \mathbf{h}_i^{(0)} = \mathbf{e}(z_i) + \mathbf{W}\mathbf{f}(x_i) + \mathbf{c}_{b(i)}
            + \mathrm{MLP}(v_{b(i)}) + \mathbf{a}_i,
        \qquad y_b = \mathrm{MLP}\Big(\frac{1}{N_b}\sum_{i \in b} \mathbf{h}_i^{(L)}\Big)

    Every parameter acts on quantities defined identically for all 230 groups, so a group
    never seen in training gets exactly invariant outputs. With the default
    ``invariance="normalizer"`` the output is also independent of the description of the
    crystal (origin, cell choice, supercell, rotation, atom order).

    Args:
        hidden_channels (int): Token size. (default: :obj:`128`)
        num_layers (int): Attention blocks. (default: :obj:`3`)
        heads (int): Attention heads. (default: :obj:`4`)
        out_channels (int): Outputs per crystal. (default: :obj:`1`)
        radius (float): Fourier cutoff. (default: :obj:`5.0`)
        cutoff (float): Pair-distance cutoff in Angstrom. (default: :obj:`6.0`)
        num_rbf (int): Gaussians per pair distance. (default: :obj:`32`)
        invariance (str): ``"normalizer"``, ``"group"`` or ``"none"`` (raw plane waves, a
            baseline that is not invariant), see :class:`SymmetrizedFourierFeatures`.
            (default: ``"normalizer"``)
        group_embedding (bool): Condition on a learned per-group-number embedding instead of
            the group's operations (ablation of the reference paper's one-hot input).
            (default: :obj:`False`)
        environment (bool): Add the local environments :math:`\mathbf{a}_i`.
            (default: :obj:`True`)
        environment_cutoff (float): Their radius in Angstrom, at most ``cutoff``; a radius
            that holds the first coordination shells keeps their bond angles apart from those
            of farther atoms. (default: :obj:`3.5`)
        group_dropout (float): See :class:`AtomEncoder`. (default: :obj:`0.0`)

    Shapes:
        - **input:** a ``Data``/``Batch`` from :func:`spacegroup_nn.data.from_structure`, or
          ``z`` :math:`(N,)`, ``pos`` :math:`(N, 3)`, ``cell`` :math:`(B, 3, 3)`,
          ``space_group`` :math:`(B,)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(B,)` if ``out_channels == 1``, else :math:`(B, out)`
    """

    def __init__(
        self,
        hidden_channels: int = 128,
        num_layers: int = 3,
        heads: int = 4,
        out_channels: int = 1,
        radius: float = 5.0,
        cutoff: float = 6.0,
        num_rbf: int = 32,
        invariance: Invariance = "normalizer",
        group_embedding: bool = False,
        environment: bool = True,
        environment_cutoff: float = 3.5,
        group_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if environment and not 0 < environment_cutoff <= cutoff:
            raise ValueError(f"environment_cutoff must lie in (0, {cutoff}], got {environment_cutoff}")
        self.hidden_channels, self.num_layers, self.heads = hidden_channels, num_layers, heads
        self.out_channels = out_channels
        self.encoder = AtomEncoder(hidden_channels, True, radius, invariance, group_embedding, group_dropout)
        self.pairs = PeriodicPairFeatures(cutoff, num_rbf)
        self.environment = (
            LocalEnvironment(hidden_channels, cutoff=environment_cutoff) if environment else None
        )
        # the pair bias of every block and head, a map of the summed images; no bias term, which
        # would add a step per image and jump as one crosses the cutoff (the envelope channel
        # of the pair features is its smooth form)
        self.pair_bias = nn.Linear(self.pairs.out_channels, num_layers * heads, bias=False)
        self.blocks = nn.ModuleList(_Block(hidden_channels, heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(hidden_channels)
        self.readout = nn.Sequential(
            nn.Linear(hidden_channels, hidden_channels), nn.SiLU(), nn.Linear(hidden_channels, out_channels)
        )
        self.reset_parameters()

    @property
    def cutoff(self) -> float:
        """Cutoff of the periodic graph (Angstrom), that of the pair features."""
        return self.pairs.cutoff

    def reset_parameters(self) -> None:
        reset_children(self)

    @property
    def geometry_key(self) -> tuple[float, ...]:
        """The settings the parameter-free geometry depends on (:mod:`~spacegroup_nn.nn.geometry`)."""
        pairs, environment = self.pairs, self.environment
        if environment is None:
            return (pairs.cutoff, pairs.num_rbf, 0.0, 0, 0)
        return (pairs.cutoff, pairs.num_rbf, environment.cutoff, environment.num_rbf, environment.l_max)

    def geometry(
        self, z: Tensor, pos: Tensor, cell: Tensor, batch: Tensor, data: Data | None = None
    ) -> CrystalGeometry:
        """The pair features and neighbour moments of a batch.

        Read from ``data`` if :meth:`prepare` stored them and they are valid
        (:func:`~spacegroup_nn.nn.geometry.stored_geometry`), else computed from its periodic
        graph (stored or searched, :func:`~spacegroup_nn.data.periodic_graph`). Positions or
        a cell that need gradients always get them computed: a stored geometry is a constant.
        """
        differentiable = torch.is_grad_enabled() and (pos.requires_grad or cell.requires_grad)
        stored = stored_geometry(data, self.geometry_key) if data is not None and not differentiable else None
        if stored is not None:
            return stored
        edge_index, shift = periodic_graph(pos, cell, self.cutoff, batch, data)
        vectors = edge_vectors(pos, cell, edge_index, shift, batch)
        pairs = self.pairs(edge_index, vectors, len(z))
        if self.environment is None:
            return CrystalGeometry(pairs, None)
        return CrystalGeometry(pairs, self.environment.moments(z, edge_index, vectors))

    def prepare(self, crystals: Sequence[Data]) -> list[Data]:
        """Shallow copies of ``crystals`` that store their geometry (:meth:`geometry`).

        Computing it once per crystal saves this parameter-free part of every later forward
        pass over them; outputs are the same to round-off. It is computed on the model's
        device and stored on each crystal's.
        """

        def compute(crystals: Batch) -> CrystalGeometry:
            z, pos, cell, _, batch = unpack(crystals)
            return self.geometry(z, pos, cell, batch, crystals)

        return with_geometry(crystals, compute, self.geometry_key, device=self.pair_bias.weight.device)

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
        atoms = self.encoder(z, pos, cell, space_group, batch)
        geometry = self.geometry(z, pos, cell, batch, data)
        if geometry.neighbours is not None:
            atoms = atoms + self.environment.embed(geometry.neighbours, len(z))
        groups = padded_groups(batch, geometry.pairs.index)
        # the bias of every block and head, (P, L H), then per group (b, m, m, H) for each block
        pair_bias = self.pair_bias(geometry.pairs.terms.to(atoms.dtype))
        biases = [group.pad_pairs(pair_bias).split(self.heads, dim=-1) for group in groups]
        for layer, block in enumerate(self.blocks):
            atoms = block(atoms, grouped_attention(groups, [bias[layer] for bias in biases]))
        pooled = global_mean_pool(self.norm(atoms), batch, size=cell.shape[0])
        out = self.readout(pooled)
        return out.squeeze(-1) if self.out_channels == 1 else out

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(hidden_channels={self.hidden_channels}, "
            f"num_layers={self.num_layers}, heads={self.heads}, out_channels={self.out_channels}, "
            f"invariance={self.encoder.features.invariance!r}, environment={self.environment is not None})"
        )
