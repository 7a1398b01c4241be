"""Symmetry diagnostics and approximate-symmetry tools for any torch model.

* :func:`invariance_error`: how much a model's output changes under the crystal's own
  operations, rigid motions, or changes of description (re-exported from
  :mod:`spacegroup_nn.testing`).
* :class:`GroupAveraged`: test-time averaging over the group, which makes any model exactly
  invariant to the crystal's operations.
* :func:`symmetry_loss`: the soft penalty :math:`\\lambda\\, \\|f(g \\cdot x) - f(x)\\|^2` over
  sampled operations, to encourage invariance in unconstrained models.
* :class:`RandomOperation`: an augmentation transform applying a random operation of the
  crystal's group.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import BaseTransform

from .groups import SpaceGroup
from .testing import apply_operation, invariance_error, move_batch, random_picks

__all__ = ["GroupAveraged", "RandomOperation", "invariance_error", "symmetry_loss"]


class GroupAveraged(nn.Module):
    r"""Average a model's prediction over every operation of each crystal's group.

    .. math::
        \bar f(x) = \frac{1}{|G|} \sum_{g \in G} f(g \cdot x)

    with atoms wrapped into the cell after each operation, so the average is exactly
    invariant under the crystal's operations whatever ``model`` is (the operations are then
    a group acting on wrapped coordinates). It costs :math:`\max |G|` forward passes.

    Args:
        model (torch.nn.Module): Maps a batch of crystals to ``(B,)`` or ``(B, C)``.

    Shapes:
        - **input:** a ``Batch`` of crystals from :func:`spacegroup_nn.data.from_structure`
        - **output:** as ``model``
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Batch) -> Tensor:
        orders = torch.tensor([SpaceGroup(int(n)).order for n in batch.space_group.view(-1)])
        total = 0.0
        for step in range(int(orders.max())):
            # a crystal of a smaller group repeats its operations with weight 0
            output = self.model(move_batch(batch, (step % orders).tolist(), wrap=True))
            weight = (step < orders).to(output.dtype).view(-1, *[1] * (output.ndim - 1))
            total = total + output * weight
        return total / orders.to(output.dtype).view(-1, *[1] * (output.ndim - 1))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.model})"


def symmetry_loss(
    model: nn.Module, batch: Batch, num_samples: int = 1, weight: float = 1.0, seed: int | None = None
) -> Tensor:
    r"""Soft invariance penalty :math:`\lambda \frac{1}{S}\sum_s \|f(g_s \cdot x) - f(x)\|^2`.

    Operations :math:`g_s` are drawn uniformly from each crystal's group. The loss is zero
    for exactly invariant models and differentiable with respect to the model's parameters.

    Parameters
    ----------
    model : torch.nn.Module
    batch : Batch
    num_samples : int
        Operations drawn per crystal.
    weight : float
        :math:`\lambda`.
    seed : int, optional
        Seed of the drawn operations (default: fresh randomness).
    """
    rng = np.random.default_rng(seed)
    reference = model(batch)
    penalty = reference.new_zeros(())
    for _ in range(num_samples):
        moved = model(move_batch(batch, random_picks(batch, rng)))
        penalty = penalty + (moved - reference).square().mean()
    return weight * penalty / num_samples


class RandomOperation(BaseTransform):
    """Augmentation: move every atom by one random operation of the crystal's group.

    The crystal is mapped onto itself (same group, same standardized cell), so the label is
    unchanged; only a model that is not exactly invariant notices.

    Args:
        seed (int, optional): Seed of the drawn operations.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def forward(self, data: Data) -> Data:
        group = SpaceGroup(int(data.space_group))
        pick = int(self.rng.integers(group.order))
        return apply_operation(data, group.rotations[pick], group.translations[pick])
