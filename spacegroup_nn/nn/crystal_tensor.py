r"""Material tensors of crystals: the invariant transformer backbone and a symmetric tensor head."""

from __future__ import annotations

import functools
from typing import Any

from torch import Tensor, nn
from torch_geometric.data import Data

from ..groups import SpaceGroup
from ..solvers.tensors import TensorKind
from .tensor_head import SymmetricTensorHead, tensor_projector_batch
from .transformer import SpaceGroupTransformer

__all__ = ["CrystalTensorModel"]


@functools.cache
def _space_group(number: int) -> SpaceGroup:
    """One ``SpaceGroup`` per number, so its cached ``point_group`` is built once."""
    return SpaceGroup(number)


class CrystalTensorModel(nn.Module):
    r"""A material tensor per crystal, in the Cartesian frame of its standardized cell.

    The pooled atom tokens of a :class:`SpaceGroupTransformer` (its readout MLP replaced by
    the identity) are invariant features; a :class:`SymmetricTensorHead` maps them to the
    Mandel coordinates of the tensor and, with ``project=True``, multiplies by the projector of
    the crystal's point group (its Laue class for the even-rank kinds):

    .. math::
        \mathbf{c}_b = P_{G_b}\, \mathrm{MLP}\Big(\frac{1}{N_b}\sum_{i \in b}
            \mathbf{h}_i^{(L)}\Big)

    The projector is that of :attr:`SpaceGroup.point_group`, whose frame is the standardized
    lattice's (see :mod:`spacegroup_nn.data.elastic`), so :math:`P_{G_b}\mathbf{c}_b =
    \mathbf{c}_b` to round-off for every group, seen in training or not. Rotating the input
    structure rotates the prediction accordingly once mapped back with the standardization's
    rotation.

    Args:
        kind (str): ``"rank2_symmetric"``, ``"piezoelectric"`` or ``"elastic"``.
        hidden_channels (int): Token size of the backbone and hidden size of the head.
            (default: :obj:`128`)
        project (bool): Project onto the invariant tensors (``False``: the unconstrained
            baseline, same parameters). (default: :obj:`True`)
        **backbone_kwargs: Further arguments of :class:`SpaceGroupTransformer`
            (``num_layers``, ``heads``, ``radius``, ``cutoff``, ``num_rbf``, ``invariance``).

    Shapes:
        - **input:** a ``Data``/``Batch`` from :func:`spacegroup_nn.data.from_structure`
          (``z``, ``pos``, ``cell``, ``space_group``, ``batch``)
        - **output:** :math:`(B, D)`, ``D`` = 6, 18 or 21 Mandel coordinates
    """

    def __init__(
        self, kind: TensorKind, hidden_channels: int = 128, project: bool = True, **backbone_kwargs: Any
    ) -> None:
        super().__init__()
        self.kind = kind
        self.backbone = SpaceGroupTransformer(
            hidden_channels=hidden_channels, out_channels=hidden_channels, **backbone_kwargs
        )
        self.backbone.readout = nn.Identity()  # pooled invariant features (B, hidden_channels)
        self.head = SymmetricTensorHead(hidden_channels, kind, hidden_channels, project)

    def reset_parameters(self) -> None:
        self.backbone.reset_parameters()
        self.head.reset_parameters()

    def projectors(self, space_group: Tensor) -> Tensor:
        """``(B, D, D)`` float64 projectors of the space-group numbers ``(B,)``."""
        groups = [_space_group(int(number)) for number in space_group.view(-1).tolist()]
        return tensor_projector_batch(groups, self.kind, device=space_group.device)

    def forward(self, data: Data) -> Tensor:
        features = self.backbone(data)
        projector = self.projectors(data.space_group) if self.head.project else None
        return self.head(features, projector)

    def __repr__(self) -> str:
        backbone = self.backbone
        return (
            f"{self.__class__.__name__}(kind={self.kind!r}, hidden_channels={backbone.hidden_channels}, "
            f"num_layers={backbone.num_layers}, heads={backbone.heads}, project={self.head.project})"
        )
