"""Atom inputs shared by the models: element, symmetrized Fourier features, group context."""

from __future__ import annotations

from torch import Tensor, nn

from ._utils import reset_children
from .context import GroupContext
from .features import Invariance, SymmetrizedFourierFeatures

__all__ = ["MAX_ATOMIC_NUMBER", "AtomEncoder"]

MAX_ATOMIC_NUMBER = 118


class AtomEncoder(nn.Module):
    r"""Initial atom features with weights shared by all groups.

    .. math::
        \mathbf{h}_i = \mathbf{E}[z_i] \;[+\; \mathbf{W}\mathbf{f}(x_i) + \mathbf{c}_{b(i)}]

    :math:`\mathbf{f}` are the symmetrized Fourier features
    (:class:`SymmetrizedFourierFeatures`) and :math:`\mathbf{c}` the group context
    (:class:`GroupContext`); both are left out with ``fourier=False``.

    Args:
        channels (int): Output size.
        fourier (bool): Add Fourier features and group context. (default: :obj:`True`)
        radius (float): Fourier cutoff. (default: :obj:`5.0`)
        invariance (str): See :class:`SymmetrizedFourierFeatures`. (default: ``"normalizer"``)
        group_embedding (bool): See :class:`GroupContext`. (default: :obj:`False`)

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
    ) -> None:
        super().__init__()
        self.channels = channels
        self.embedding = nn.Embedding(MAX_ATOMIC_NUMBER + 1, channels)
        self.features = SymmetrizedFourierFeatures(radius, invariance) if fourier else None
        self.fourier = nn.Linear(self.features.out_channels, channels, bias=False) if fourier else None
        self.context = GroupContext(channels, group_embedding) if fourier else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_children(self)

    def forward(self, z: Tensor, pos: Tensor, cell: Tensor, space_group: Tensor, batch: Tensor) -> Tensor:
        x = self.embedding(z)
        if self.features is not None:
            x = (
                x
                + self.fourier(self.features(pos, cell, space_group, batch))
                + self.context(space_group)[batch]
            )
        return x

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, fourier={self.features is not None})"
