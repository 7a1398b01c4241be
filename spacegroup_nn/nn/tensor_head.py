r"""Tensor outputs that obey a point group exactly (Neumann's principle).

An invariant feature vector per sample (a molecule or a crystal) is mapped by an MLP to the
Mandel coordinates of a material tensor (see :mod:`spacegroup_nn.solvers.tensors`: 6 for a
symmetric rank-2 tensor, 18 for the piezoelectric tensor, 21 for the elastic tensor), then
multiplied by the orthogonal projector :math:`P_G` of the sample's group,

.. math::
    \mathbf{y}_b = P_{G_b}\, \mathrm{MLP}(\mathbf{x}_b), \qquad
    P_G = \frac{1}{|G|}\sum_{g \in G} \rho(g),

so that :math:`\rho(g)\,\mathbf{y}_b = \mathbf{y}_b` for every :math:`g \in G_b` up to
round-off. The MLP's weights are the same for every group: a group only enters through its
projector, which :func:`tensor_projector_batch` builds (cached per group) for any
:class:`~spacegroup_nn.PointGroup` or :class:`~spacegroup_nn.SpaceGroup`, seen or not.
Tensors are expressed in the Cartesian frame of the group's rotations (for a space group,
the frame of its idealized lattice; for a molecule from
:func:`spacegroup_nn.data.from_molecule`, the canonical frame of its point group).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..groups.point_group import PointGroup, as_point_group
from ..groups.space_group import SpaceGroup
from ..solvers.tensors import TENSOR_KINDS, TensorKind, tensor_projector

__all__ = ["SymmetricTensorHead", "tensor_projector_batch"]


@functools.lru_cache(maxsize=1024)
def _projector_tensor(group: PointGroup, kind: str) -> Tensor:
    """``tensor_projector(group, kind)`` as a float64 CPU tensor, cached per (group, kind)."""
    return torch.from_numpy(np.array(tensor_projector(group, kind)))  # type: ignore[arg-type]


def tensor_projector_batch(
    groups: Sequence[PointGroup | SpaceGroup],
    kind: TensorKind,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """Stack the projectors of a list of groups, one per sample.

    Parameters
    ----------
    groups : sequence of PointGroup or SpaceGroup
        One group per sample; a space group stands for its point group in the Cartesian frame
        of its idealized lattice. Projectors are computed once per distinct group and cached.
    kind : {"rank2_symmetric", "piezoelectric", "elastic"}
    dtype : torch.dtype
        Output dtype (the projectors are computed in float64). (default: float64)
    device : torch.device or str, optional

    Returns
    -------
    Tensor
        ``(B, D, D)`` with ``B = len(groups)`` and ``D`` the number of Mandel coordinates of
        ``kind`` (6, 18 or 21): entry ``b`` is ``tensor_projector(groups[b], kind)``.
    """
    if kind not in TENSOR_KINDS:
        raise ValueError(f"unknown tensor kind {kind!r}; expected one of {sorted(TENSOR_KINDS)}")
    distinct: dict[PointGroup, int] = {}
    index = [distinct.setdefault(as_point_group(group), len(distinct)) for group in groups]
    size = TENSOR_KINDS[kind][1]
    if not distinct:
        return torch.zeros(0, size, size, dtype=dtype, device=device)
    table = torch.stack([_projector_tensor(group, kind) for group in distinct])
    return table.to(dtype=dtype, device=device)[torch.tensor(index, device=device)]


class SymmetricTensorHead(nn.Module):
    r"""Invariant features to a material tensor that obeys each sample's point group exactly.

    .. math::
        \mathbf{y}_b = P_b\, \big(\mathbf{W}_2\, \sigma(\mathbf{W}_1 \mathbf{x}_b + \mathbf{b}_1)
        + \mathbf{b}_2\big)

    with :math:`P_b` the sample's projector from :func:`tensor_projector_batch` (identity when
    ``project=False``: the unconstrained baseline). The output is in the Mandel coordinates
    of :func:`~spacegroup_nn.tensor_projector`: with ``project=True`` it satisfies
    :math:`P_b \mathbf{y}_b = \mathbf{y}_b` to round-off (about 1e-16 relative in float64).
    No parameter depends on the group.

    Args:
        in_channels (int): Size of the invariant input features.
        kind (str): ``"rank2_symmetric"`` (D = 6), ``"piezoelectric"`` (D = 18) or
            ``"elastic"`` (D = 21).
        hidden_channels (int, optional): Hidden size of the MLP. (default: :obj:`128`)
        project (bool, optional): Multiply by the projectors. (default: :obj:`True`)

    Shapes:
        - **input:** features :math:`(B, C)`, projectors :math:`(B, D, D)` (required when
          ``project=True``, ignored otherwise)
        - **output:** :math:`(B, D)`, the dtype of the features
    """

    def __init__(
        self, in_channels: int, kind: TensorKind, hidden_channels: int = 128, project: bool = True
    ) -> None:
        super().__init__()
        if kind not in TENSOR_KINDS:
            raise ValueError(f"unknown tensor kind {kind!r}; expected one of {sorted(TENSOR_KINDS)}")
        self.in_channels, self.kind = in_channels, kind
        self.hidden_channels, self.project = hidden_channels, project
        self.out_channels = TENSOR_KINDS[kind][1]
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hidden_channels), nn.SiLU(), nn.Linear(hidden_channels, self.out_channels)
        )

    def reset_parameters(self) -> None:
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def forward(self, x: Tensor, projector: Tensor | None = None) -> Tensor:
        out = self.mlp(x)
        if not self.project:
            return out
        if projector is None:
            raise ValueError("SymmetricTensorHead(project=True) needs the (B, D, D) projectors")
        expected = (out.shape[0], self.out_channels, self.out_channels)
        if tuple(projector.shape) != expected:
            raise ValueError(f"projectors must have shape {expected}, got {tuple(projector.shape)}")
        return torch.einsum("bij,bj->bi", projector.to(out.dtype), out)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, kind={self.kind!r}, "
            f"hidden_channels={self.hidden_channels}, project={self.project})"
        )
