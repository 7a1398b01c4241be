"""Small helpers shared by the modules."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import InvalidGroupError
from ..groups.space_group import NUM_SPACE_GROUPS

__all__ = ["check_space_groups", "reset_children"]


def check_space_groups(space_group: Tensor) -> None:
    """Raise :class:`~spacegroup_nn.errors.InvalidGroupError` naming the first crystal whose
    entry of ``space_group`` (``(B,)`` or ``(B, 1)`` integers) is not a space-group number
    1 to 230: such a number would index the group tables out of range or wrap around to
    another group."""
    space_group = space_group.view(-1)
    invalid = torch.nonzero((space_group < 1) | (space_group > NUM_SPACE_GROUPS)).view(-1)
    if invalid.numel():
        index = int(invalid[0])
        raise InvalidGroupError(
            f"crystal {index} of the batch has space_group {int(space_group[index])}, "
            f"not a space-group number 1 to {NUM_SPACE_GROUPS} ({invalid.numel()} of the "
            f"{space_group.numel()} crystals have none)"
        )


def reset_children(module: nn.Module) -> None:
    """Call ``reset_parameters`` on every child that has one, recursing into those that don't."""
    for child in module.children():
        if hasattr(child, "reset_parameters"):
            child.reset_parameters()
        else:
            reset_children(child)
