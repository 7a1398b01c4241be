"""PointGroupNetwork: attention among the atoms of a molecule, one weight set for all point groups."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_batch

from ..groups.standardize import MAX_ATOMIC_NUMBER
from ..solvers.tensors import TensorKind
from ._utils import reset_children
from .harmonic_features import SymmetrizedHarmonicFeatures, point_group_from_code
from .pairs import GaussianExpansion
from .tensor_head import SymmetricTensorHead, tensor_projector_batch
from .transformer import _Block, dense_attention  # the blocks of SpaceGroupTransformer

__all__ = ["PointGroupNetwork"]

NEIGHBOUR_CHANNELS = 8  # element channels of the radial environment


class PointGroupNetwork(nn.Module):
    r"""Transformer over the atoms of each molecule, exactly invariant, weights shared by all point groups.

    Atom features are the point-group-symmetrized harmonics :math:`f_{i,nlm}` of
    :class:`SymmetrizedHarmonicFeatures` (the density of the atom's orbit). The tokens and the
    attention biases use their contractions over :math:`m`,

    .. math::
        q_{i,nn'l} = \sum_m f_{i,nlm} f_{i,n'lm}, \qquad
        c_{ij,nl} = \sum_m f_{i,nlm} f_{j,nlm},

    which are invariant under the molecule's group and under every orthogonal map that fixes
    the group (its normalizer): the canonical frame of :func:`~spacegroup_nn.data.from_molecule`
    is unique up to such maps, so the scalar output does not depend on the input orientation
    (tested). Tensor outputs live in the canonical frame; where it is unique only up to a
    discrete normalizer element (e.g. swapping x and y for C2v), the prediction may differ
    between the equivalent frames. With Gaussians :math:`\phi(d_{ij})` of the distances
    :math:`d_{ij} = |\mathbf{x}_i - \mathbf{x}_j|`, the tokens add an element-resolved radial
    environment of each atom,

    .. math::
        \mathbf{h}_i = \mathbf{E}[z_i] + \mathbf{W} q_i
            + \mathbf{U} \sum_{j \ne i} \phi(d_{ij}) \otimes \mathbf{E}''[z_j],

    the bias of each head is an MLP of :math:`c_{ij}` and :math:`\phi(d_{ij})`, and after the
    attention blocks a masked mean and an MLP give one value per molecule:

    .. math::
        y_b = \mathrm{MLP}\Big(\frac{1}{N_b}\sum_{i \in b} \mathbf{h}_i^{(L)}\Big)

    With ``tensor_kind`` the readout is a :class:`SymmetricTensorHead` on the pooled tokens
    and the molecule's symmetrized density :math:`\rho_{b,enlm} = \sum_{i \in b} E'[z_i]_e
    f_{i,nlm}` (invariant under the group, and carrying the orientation of the molecule in
    its canonical frame), projected onto the tensors allowed by each molecule's point group:
    exact Neumann symmetry. No parameter depends on the group, so an unseen point group works
    zero-shot.

    Args:
        hidden_channels (int): Token size. (default: :obj:`64`)
        num_layers (int): Attention blocks. (default: :obj:`2`)
        heads (int): Attention heads. (default: :obj:`4`)
        out_channels (int): Outputs per molecule (scalar readout). (default: :obj:`1`)
        l_max (int): Highest harmonic degree. (default: :obj:`4`)
        num_radial (int): Radial widths of the harmonic features. (default: :obj:`8`)
        num_rbf (int): Gaussians per pair distance, on 0 to 8 Angstrom. (default: :obj:`32`)
        tensor_kind (str, optional): ``"rank2_symmetric"``, ``"piezoelectric"`` or
            ``"elastic"``: predict that tensor (Mandel coordinates of
            :func:`~spacegroup_nn.tensor_projector`) instead of ``out_channels`` scalars.
            (default: :obj:`None`)
        project (bool): Project tensor outputs onto each group's invariant tensors;
            ``False`` is the unconstrained baseline. (default: :obj:`True`)
        density_channels (int): Element channels :math:`e` of the density fed to the tensor
            head. (default: :obj:`4`)
        symmetrize (bool): ``False`` uses raw harmonics (not group-averaged). (default: :obj:`True`)

    Shapes:
        - **input:** a ``Data``/``Batch`` from :func:`spacegroup_nn.data.from_molecule`, or
          ``z`` :math:`(N,)`, ``pos`` :math:`(N, 3)` (centred, canonical frame),
          ``point_group`` :math:`(B,)` codes, ``batch`` :math:`(N,)`
        - **output:** :math:`(B,)` if ``out_channels == 1``, else :math:`(B, out)`; with
          ``tensor_kind``, :math:`(B, D)` (D = 6, 18 or 21)
    """

    def __init__(
        self,
        hidden_channels: int = 64,
        num_layers: int = 2,
        heads: int = 4,
        out_channels: int = 1,
        l_max: int = 4,
        num_radial: int = 8,
        num_rbf: int = 32,
        tensor_kind: TensorKind | None = None,
        project: bool = True,
        density_channels: int = 4,
        symmetrize: bool = True,
    ) -> None:
        super().__init__()
        self.hidden_channels, self.num_layers, self.heads = hidden_channels, num_layers, heads
        self.out_channels, self.tensor_kind = out_channels, tensor_kind
        self.features = SymmetrizedHarmonicFeatures(l_max, num_radial, symmetrize=symmetrize)
        k, degrees = num_radial, l_max + 1
        self.register_buffer("pairs", torch.triu_indices(k, k), persistent=False)
        self.embedding = nn.Embedding(MAX_ATOMIC_NUMBER + 1, hidden_channels)
        self.atom = nn.Linear(self.pairs.shape[1] * degrees, hidden_channels)
        self.distance = GaussianExpansion(0.0, 8.0, num_rbf)
        self.neighbour_embedding = nn.Embedding(MAX_ATOMIC_NUMBER + 1, NEIGHBOUR_CHANNELS)
        self.neighbours = nn.Linear(NEIGHBOUR_CHANNELS * num_rbf, hidden_channels)
        self.pair = nn.Sequential(
            nn.Linear(num_rbf + k * degrees, hidden_channels),
            nn.SiLU(),
            nn.Linear(hidden_channels, heads * num_layers),
        )
        self.blocks = nn.ModuleList(_Block(hidden_channels, heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(hidden_channels)
        if tensor_kind is None:
            hidden = hidden_channels
            self.readout = nn.Sequential(
                nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, out_channels)
            )
        else:
            self.density_embedding = nn.Embedding(MAX_ATOMIC_NUMBER + 1, density_channels)
            self.density = nn.Linear(density_channels * self.features.out_channels, hidden_channels)
            self.readout = SymmetricTensorHead(2 * hidden_channels, tensor_kind, hidden_channels, project)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_children(self)

    def _contractions(self, f: Tensor, batch: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-atom power spectrum ``(N, P * (l_max+1))``, dense pair contractions
        ``(B, M, M, K * (l_max+1))`` and the mask ``(B, M)``."""
        l_max = self.features.l_max
        f = f.view(f.shape[0], self.features.num_radial, -1)  # (N, K, L)
        dense, mask = to_dense_batch(f, batch)  # (B, M, K, L)
        dense = dense.transpose(1, 2)  # (B, K, M, L)
        power, pair = [], []
        for l in range(l_max + 1):
            block = f[..., l * l : (l + 1) ** 2]
            power.append((block @ block.transpose(1, 2))[:, self.pairs[0], self.pairs[1]])
            dense_block = dense[..., l * l : (l + 1) ** 2]
            pair.append(dense_block @ dense_block.transpose(2, 3))  # (B, K, M, M)
        pair_features = torch.cat(pair, dim=1).permute(0, 2, 3, 1)
        return torch.cat(power, dim=1), pair_features, mask

    def forward(
        self,
        z: Tensor | Data,
        pos: Tensor | None = None,
        point_group: Tensor | None = None,
        batch: Tensor | None = None,
    ) -> Tensor:
        if isinstance(z, Data):
            z, pos, point_group, batch = z.z, z.pos, z.point_group, getattr(z, "batch", None)
        if batch is None:
            batch = z.new_zeros(z.shape[0])
        point_group = point_group.view(-1)
        f = self.features(pos, point_group, batch)
        power, pair, mask = self._contractions(f, batch)
        dense_pos, _ = to_dense_batch(pos, batch)
        difference = dense_pos.unsqueeze(2) - dense_pos.unsqueeze(1)
        distance = (difference * difference).sum(-1).clamp_min(1e-12).sqrt()  # finite gradient at i = j
        gaussians = self.distance(distance)  # (B, M, M, R)
        biases = self.pair(torch.cat([gaussians, pair], dim=-1)).split(self.heads, dim=-1)
        x, _ = to_dense_batch(self.embedding(z) + self.atom(power), batch)
        neighbour, _ = to_dense_batch(self.neighbour_embedding(z), batch)  # padding rows are zero
        others = ~torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)
        environment = torch.einsum("bijr,ij,bje->bire", gaussians, others.to(gaussians.dtype), neighbour)
        x = x + self.neighbours(environment.flatten(2))
        for block, block_bias in zip(self.blocks, biases, strict=True):
            x = block(x, dense_attention(block_bias, mask))
        x = self.norm(x)
        pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        if self.tensor_kind is None:
            out = self.readout(pooled)
            return out.squeeze(-1) if self.out_channels == 1 else out
        weights = self.density_embedding(z)  # (N, E)
        atom_density = (weights.unsqueeze(-1) * f.unsqueeze(1)).flatten(1)
        density = pooled.new_zeros(pooled.shape[0], atom_density.shape[1]).index_add(0, batch, atom_density)
        features = torch.cat([pooled, self.density(density)], dim=-1)
        projector = None
        if self.readout.project:
            projector = self.tensor_projectors(point_group, dtype=pos.dtype)
        return self.readout(features, projector)

    def tensor_projectors(self, point_group: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
        """``(B, D, D)`` projectors of the molecules' point groups (codes ``(B,)``), cached per group."""
        unique, inverse = torch.unique(point_group.view(-1), return_inverse=True)
        groups = [point_group_from_code(code, self.features.l_max) for code in unique.tolist()]
        table = tensor_projector_batch(groups, self.tensor_kind, dtype=dtype, device=point_group.device)  # type: ignore[arg-type]
        return table[inverse]

    def __repr__(self) -> str:
        head = ""
        if self.tensor_kind is not None:
            head = f", tensor_kind={self.tensor_kind!r}, project={self.readout.project}"
        return (
            f"{self.__class__.__name__}({self.hidden_channels}, num_layers={self.num_layers}, "
            f"heads={self.heads}, l_max={self.features.l_max}, out_channels={self.out_channels}{head})"
        )
