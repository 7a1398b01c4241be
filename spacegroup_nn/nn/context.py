"""Group-level context computed from a space group's operations, never from its number.

Every group, seen in training or not, gets a descriptor from its operations: crystal family,
centring, point group, order, inversion, the share of screw and glide operations, and the
number of polar (free) axes. A learned embedding per group number exists only as an explicit
option (``group_embedding=True``, in place of the descriptor), the ablation that mirrors the
reference paper's one-hot group input; it cannot generalize to unseen groups.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor, nn

from ..groups import SpaceGroup
from ..groups.space_group import NUM_SPACE_GROUPS
from ._utils import check_space_groups

__all__ = ["DESCRIPTOR_SIZE", "GroupContext", "group_descriptor"]

FAMILIES = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "hexagonal", "cubic")
CENTRINGS = ("P", "A", "B", "C", "I", "F", "R")
POINT_GROUPS = (
    "1", "-1", "2", "m", "2/m", "222", "mm2", "mmm", "4", "-4", "4/m", "422", "4mm", "-42m",
    "4/mmm", "3", "-3", "32", "3m", "-3m", "6", "-6", "6/m", "622", "6mm", "-6m2", "6/mmm",
    "23", "m-3", "432", "-43m", "m-3m",
)  # fmt: skip
DESCRIPTOR_SIZE = len(FAMILIES) + len(CENTRINGS) + len(POINT_GROUPS) + 5


def _one_hot(value: str, options: tuple[str, ...]) -> np.ndarray:
    return (np.array(options) == value).astype(np.float64)


def _intrinsic_fraction(group: SpaceGroup) -> float:
    """Share of operations with a screw or glide part (not a lattice or centring vector)."""
    count = 0
    for rotation, translation in zip(group.rotations, group.translations, strict=True):
        # intrinsic part w = (1/n) sum_{j<n} R^j t, n the order of R
        powers = [np.eye(3, dtype=np.int64)]
        while not np.array_equal(rotation @ powers[-1], np.eye(3)):
            powers.append(rotation @ powers[-1])
        intrinsic = sum(power @ translation for power in powers) / len(powers)
        offsets = (intrinsic - group.centring_vectors + 0.5) % 1.0 - 0.5
        count += not np.any(np.all(np.abs(offsets) < 1e-9, axis=1))
    return count / group.order


def _polar_dimension(group: SpaceGroup) -> int:
    """Dimension of the subspace fixed by every rotation (free origin directions)."""
    stacked = (group.rotations - np.eye(3, dtype=np.int64)).reshape(-1, 3)
    return 3 - int(np.linalg.matrix_rank(stacked))


@functools.cache
def group_descriptor(number: int) -> np.ndarray:
    """``(DESCRIPTOR_SIZE,)`` float64 descriptor of space group ``number``, from its operations."""
    group = SpaceGroup(number)
    point_group_order = len(np.unique(group.rotations, axis=0))
    has_inversion = any(np.array_equal(r, -np.eye(3)) for r in group.rotations)
    descriptor = np.concatenate(
        [
            _one_hot(group.crystal_family, FAMILIES),
            _one_hot(group.centring, CENTRINGS),
            _one_hot(group.point_group_symbol, POINT_GROUPS),
            [
                np.log2(group.order) / 8,
                point_group_order / 48,
                float(has_inversion),
                _intrinsic_fraction(group),
                _polar_dimension(group) / 3,
            ],
        ]
    )
    descriptor.setflags(write=False)
    return descriptor


class GroupContext(nn.Module):
    r"""A per-crystal context vector from the group's operations.

    .. math::
        \mathbf{c}_b = \mathrm{MLP}(\mathbf{d}(G_b))
        \quad\text{or, with } \texttt{group\_embedding=True},\quad
        \mathbf{c}_b = \mathbf{E}[n_b]

    with :math:`\mathbf{d}` the fixed descriptor of :func:`group_descriptor`. The learned
    per-number embedding :math:`\mathbf{E}` replaces the descriptor in the one-hot ablation
    (the reference paper's group input): a group never seen in training keeps its initial,
    zero vector, so the model knows nothing of it beyond its symmetrized features.

    Args:
        out_channels (int): Size of the context vector.
        group_embedding (bool, optional): Condition on a learned embedding of the group
            number instead of the descriptor. (default: :obj:`False`)

    Shapes:
        - **input:** space-group numbers :math:`(B,)`
        - **output:** :math:`(B, C)`
    """

    def __init__(self, out_channels: int, group_embedding: bool = False) -> None:
        super().__init__()
        self.out_channels = out_channels
        if group_embedding:
            self.mlp, self.embedding = None, nn.Embedding(NUM_SPACE_GROUPS + 1, out_channels)
        else:
            self.mlp = nn.Sequential(
                nn.Linear(DESCRIPTOR_SIZE, out_channels), nn.SiLU(), nn.Linear(out_channels, out_channels)
            )
            self.embedding = None
            table = np.stack([np.zeros(DESCRIPTOR_SIZE)] + [group_descriptor(n) for n in range(1, 231)])
            self.register_buffer("descriptors", torch.tensor(table, dtype=torch.float32), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.embedding is not None:
            nn.init.zeros_(self.embedding.weight)
            return
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def forward(self, space_group: Tensor) -> Tensor:
        check_space_groups(space_group)
        if self.embedding is not None:
            return self.embedding(space_group)
        return self.mlp(self.descriptors[space_group].to(self.mlp[0].weight.dtype))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(out_channels={self.out_channels}, "
            f"group_embedding={self.embedding is not None})"
        )
