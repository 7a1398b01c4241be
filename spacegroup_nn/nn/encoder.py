"""Atom inputs shared by the models: element, symmetrized Fourier features, crystal context."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._utils import reset_children
from .context import GroupContext
from .elements import ElementEmbedding
from .features import Invariance, SymmetrizedFourierFeatures

__all__ = ["AtomEncoder", "log_volume_per_atom"]

#: log of a typical volume per atom (20 cubic Angstrom), subtracted to centre the input
LOG_TYPICAL_VOLUME = math.log(20.0)


def log_volume_per_atom(cell: Tensor, batch: Tensor) -> Tensor:
    r"""``(B,)`` :math:`\log(|\det C_b| / N_b)`, volume in cubic Angstrom per atom of each crystal.

    The same in every description of a crystal: a supercell multiplies volume and atoms
    alike, another cell choice or a rotation keeps :math:`|\det C|`.
    """
    counts = torch.bincount(batch, minlength=cell.shape[0]).to(cell.dtype)
    return torch.log(torch.linalg.det(cell).abs() / counts)


class AtomEncoder(nn.Module):
    r"""Initial atom features with weights shared by all groups.

    .. math::
        \mathbf{h}_i = \mathbf{e}(z_i) \;[+\; \mathbf{W}\mathbf{f}(x_i) + \mathbf{c}_{b(i)}
            + \mathrm{MLP}(\log(V_{b(i)} / N_{b(i)}))]

    :math:`\mathbf{e}` are the element features (:class:`ElementEmbedding`, physical
    descriptors plus a learned correction), :math:`\mathbf{f}` the symmetrized Fourier features
    (:class:`SymmetrizedFourierFeatures`), :math:`\mathbf{c}` the group context
    (:class:`GroupContext`) and :math:`V_b / N_b` the volume per atom of the crystal
    (:func:`log_volume_per_atom`); all three are left out with ``fourier=False``.

    Args:
        channels (int): Output size.
        fourier (bool): Add Fourier features, group context and volume per atom.
            (default: :obj:`True`)
        radius (float): Fourier cutoff. (default: :obj:`5.0`)
        invariance (str): See :class:`SymmetrizedFourierFeatures`. (default: ``"normalizer"``)
        group_embedding (bool): See :class:`GroupContext`. (default: :obj:`False`)
        group_dropout (float): In training, the probability that a crystal loses its
            group-specific inputs (Fourier features and group context) for the step, so the
            model also learns to predict from elements, volume and geometry alone, as it must
            for a group whose features it never saw. Outputs are not rescaled; evaluation is
            unaffected. (default: :obj:`0.0`)

    Attributes:
        group_inputs (bool): Whether the forward adds the group-specific inputs; ``False``
            leaves them out of every crystal, as group dropout does in training (an ablation:
            see :func:`spacegroup_nn.diagnostics.without_group_inputs`). (default: :obj:`True`)

    Shapes:
        - **input:** ``z`` :math:`(N,)`, ``pos`` :math:`(N, 3)`, ``cell`` :math:`(B, 3, 3)`,
          ``space_group`` :math:`(B,)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(N, C)`
    """

    def __init__(
        self,
        channels: int,
        fourier: bool = True,
        radius: float = 5.0,
        invariance: Invariance = "normalizer",
        group_embedding: bool = False,
        group_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= group_dropout < 1.0:
            raise ValueError(f"group_dropout must lie in [0, 1), got {group_dropout}")
        self.channels, self.group_dropout = channels, group_dropout
        self.group_inputs = True
        self.embedding = ElementEmbedding(channels)
        self.features = SymmetrizedFourierFeatures(radius, invariance) if fourier else None
        self.fourier = nn.Linear(self.features.out_channels, channels, bias=False) if fourier else None
        self.context = GroupContext(channels, group_embedding) if fourier else None
        self.volume = (
            nn.Sequential(nn.Linear(1, channels), nn.SiLU(), nn.Linear(channels, channels))
            if fourier
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_children(self)

    def forward(self, z: Tensor, pos: Tensor, cell: Tensor, space_group: Tensor, batch: Tensor) -> Tensor:
        x = self.embedding(z)
        if self.features is not None:
            volume = (log_volume_per_atom(cell, batch) - LOG_TYPICAL_VOLUME).unsqueeze(-1).to(x.dtype)
            if not self.group_inputs:
                return x + self.volume(volume)[batch]
            fourier = self.fourier(self.features(pos, cell, space_group, batch))
            group = fourier + self.context(space_group)[batch]
            if self.training and self.group_dropout > 0:
                # whole crystals lose their group-specific inputs, not rescaled: the model
                # learns to predict from elements, volume and geometry alone as well
                keep = torch.rand(cell.shape[0], device=x.device) >= self.group_dropout
                group = group * keep[batch].unsqueeze(-1).to(group.dtype)
            x = x + group + self.volume(volume)[batch]
        return x

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, fourier={self.features is not None})"
