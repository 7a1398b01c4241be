"""Symmetry diagnostics and approximate-symmetry tools for any torch model.

* :func:`invariance_error`: how much a model's output changes under the crystal's own
  operations, rigid motions, or changes of description (re-exported from
  :mod:`spacegroup_nn.testing`).
* :class:`GroupAveraged`: test-time averaging over the group (or its Euclidean normalizer),
  which makes any model exactly invariant to the crystal's operations (or to its equivalent
  descriptions, up to shifts along free axes).
* :func:`symmetry_loss`: the soft penalty :math:`\\lambda\\, \\|f(g \\cdot x) - f(x)\\|^2` over
  sampled operations, to encourage invariance in unconstrained models.
* :func:`random_description`: every crystal of a batch in a random equivalent standard
  description (the augmentation of :class:`~spacegroup_nn.training.TrainConfig`).

A model that reads atoms as a periodic, unordered set (pair distances, plane waves of
wrapped coordinates, sums or attention over atoms) is already exactly invariant under its
crystal's own operations: an operation of the group only permutes the atoms up to lattice
vectors. For such models the symmetry they can lack is the choice of description (origin,
axis setting, shift along polar axes): the Euclidean normalizer, ``over="normalizer"``.
* :class:`RandomOperation`: an augmentation transform applying a random operation of the
  crystal's group.
* :func:`symmetry_report`: the errors above and, per layer, the invariant share of its
  output, as a :class:`SymmetryReport` with a readable ``repr`` and a plot helper.
* :func:`without_group_inputs`: evaluate a model of this library without its group-specific
  inputs (Fourier features and group context), to measure how much its predictions owe them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import BaseTransform

from .groups import SpaceGroup, euclidean_normalizer
from .nn.encoder import AtomEncoder
from .testing import apply_operation, invariance_error, random_picks, transform_batch

__all__ = [
    "GroupAveraged",
    "RandomOperation",
    "SymmetryReport",
    "group_input_encoders",
    "invariance_error",
    "random_description",
    "symmetry_loss",
    "symmetry_report",
    "without_group_inputs",
]


Over = Literal["group", "normalizer"]


def _operations(number: int, over: Over) -> tuple[np.ndarray, np.ndarray]:
    """``(rotations, translations)`` of space group ``number`` or of its Euclidean normalizer
    (the finite list, which contains the group; shifts along free axes not included)."""
    group = SpaceGroup(number)
    if over == "group":
        return group.rotations, group.translations
    if over == "normalizer":
        normalizer = euclidean_normalizer(group)
        return normalizer.rotations, normalizer.translations
    raise ValueError(f"over must be 'group' or 'normalizer', got {over!r}")


def _move(
    batch: Batch, picks: Sequence[int], over: Over, wrap: bool = False, shifts: Tensor | None = None
) -> Batch:
    """Crystal ``i`` moved by operation ``picks[i]`` of its group or normalizer (plus ``shifts[i]``)."""
    operations = [_operations(int(n), over) for n in batch.space_group.view(-1).tolist()]
    pairs = list(zip(operations, picks, strict=True))
    rotations = torch.tensor(np.stack([r[p] for (r, _), p in pairs]))
    translations = torch.tensor(np.stack([t[p] for (_, t), p in pairs]))
    return transform_batch(batch, rotations, translations if shifts is None else translations + shifts, wrap)


def random_description(batch: Batch, rng: np.random.Generator) -> Batch:
    """Every crystal of ``batch`` in a random equivalent standard description.

    Each crystal is moved by a uniformly random element of the Euclidean normalizer of its
    group (:func:`spacegroup_nn.groups.euclidean_normalizer`: the group's operations, other
    origins and axis settings) followed by a uniform shift along its free (polar) axes. The
    cell, the group and the setting stay the same; an exactly description-independent model
    gives the same output, an unconstrained one generally does not.

    Parameters
    ----------
    batch : Batch
        Crystals from :func:`spacegroup_nn.data.from_structure`.
    rng : numpy.random.Generator
        Source of the drawn elements and shifts (advanced in place).
    """
    numbers = [int(n) for n in batch.space_group.view(-1).tolist()]
    normalizers = [euclidean_normalizer(SpaceGroup(n)) for n in numbers]
    picks = [int(rng.integers(normalizer.order)) for normalizer in normalizers]
    shifts = np.stack([np.where(normalizer.free_axes, rng.random(3), 0.0) for normalizer in normalizers])
    return _move(batch, picks, "normalizer", shifts=torch.tensor(shifts))


class GroupAveraged(nn.Module):
    r"""Average a model's prediction over every operation of each crystal's group.

    .. math::
        \bar f(x) = \frac{1}{|G|} \sum_{g \in G} f(g \cdot x)

    with atoms wrapped into the cell after each operation, so the average is exactly
    invariant under the crystal's operations whatever ``model`` is (the operations are then
    a group acting on wrapped coordinates). It costs :math:`\max |G|` forward passes.

    With ``over="normalizer"`` the average runs over the finite operation list of the
    group's Euclidean normalizer instead (a group modulo lattice and free translations that
    contains :math:`G`): the result is also independent of the origin and axis setting,
    except for shifts along free (polar) axes, which a finite average cannot remove.

    Args:
        model (torch.nn.Module): Maps a batch of crystals to ``(B,)`` or ``(B, C)``.
        over (str): ``"group"`` (default) or ``"normalizer"``.

    Shapes:
        - **input:** a ``Batch`` of crystals from :func:`spacegroup_nn.data.from_structure`
        - **output:** as ``model``
    """

    def __init__(self, model: nn.Module, over: Over = "group") -> None:
        super().__init__()
        _operations(1, over)  # validate
        self.model = model
        self.over = over

    def forward(self, batch: Batch) -> Tensor:
        numbers = [int(n) for n in batch.space_group.view(-1).tolist()]
        orders = torch.tensor([len(_operations(n, self.over)[0]) for n in numbers])
        total = 0.0
        for step in range(int(orders.max())):
            # a crystal of a smaller group repeats its operations with weight 0
            output = self.model(_move(batch, (step % orders).tolist(), self.over, wrap=True))
            weight = (step < orders).to(output.dtype).view(-1, *[1] * (output.ndim - 1))
            total = total + output * weight
        return total / orders.to(output.dtype).view(-1, *[1] * (output.ndim - 1))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.model}, over={self.over!r})"


def symmetry_loss(
    model: nn.Module,
    batch: Batch,
    num_samples: int = 1,
    weight: float = 1.0,
    seed: int | np.random.Generator | None = None,
    *,
    reference: Tensor | None = None,
    over: Over = "group",
) -> Tensor:
    r"""Soft invariance penalty :math:`\lambda \frac{1}{S}\sum_s \|f(g_s \cdot x) - f(x)\|^2`.

    Operations :math:`g_s` are drawn uniformly from each crystal's group (or its Euclidean
    normalizer, with ``over="normalizer"``). The loss is zero for exactly invariant models
    and differentiable with respect to the model's parameters.

    Parameters
    ----------
    model : torch.nn.Module
    batch : Batch
    num_samples : int
        Operations drawn per crystal.
    weight : float
        :math:`\lambda`.
    seed : int or numpy.random.Generator, optional
        Seed of the drawn operations, or a generator to draw them from (advanced in place;
        default: fresh randomness).
    reference : Tensor, optional
        ``model(batch)`` if already computed (e.g. for the data loss), to save a forward pass.
    over : str
        ``"group"``: operations of each crystal's group. ``"normalizer"``: random equivalent
        descriptions (:func:`random_description`), which a periodic model that treats atoms
        as a set can still be sensitive to.
    """
    _operations(1, over)  # validate
    rng = np.random.default_rng(seed)
    reference = model(batch) if reference is None else reference
    penalty = reference.new_zeros(())
    for _ in range(num_samples):
        if over == "normalizer":
            moved = model(random_description(batch, rng))
        else:
            moved = model(_move(batch, random_picks(batch, rng), "group"))
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


@dataclass
class SymmetryReport:
    """How symmetric a model is: output invariance errors and per-layer invariant content.

    Attributes
    ----------
    errors : dict[str, float]
        :func:`invariance_error` for ``"group"``, ``"rigid"`` and ``"description"``.
    layer_content : dict[str, float]
        For each layer, the share of its output's squared norm that is invariant under the
        sampled operations of each crystal's group: ``||mean_g h(g x)||^2 / mean_g
        ||h(g x)||^2``, 1 for an invariant layer, near ``1 / |G|`` for an unstructured one.
        Outputs are compared entry by entry, which suits per-atom and per-crystal outputs; a
        per-edge output (e.g. a pair bias before its sum) is reordered by the operations, so
        its share is below 1 even when the layer is exact.
    unread : dict[str, str]
        The layers examined that have no share, each with the reason (not called by the
        model's forward, e.g. for a stored geometry; no floating-point tensor output; called
        more than once per forward; an output shape that changes between operations).
    """

    errors: dict[str, float]
    layer_content: dict[str, float]
    unread: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        width = max([len(name) for name in self.layer_content] + [11])
        lines = ["SymmetryReport(", "  invariance error (largest relative change of the output):"]
        lines += [f"    {kind:<{width}}  {value:.3e}" for kind, value in self.errors.items()]
        lines.append("  invariant share of each layer's output:")
        lines += [f"    {name:<{width}}  {value:.6f}" for name, value in self.layer_content.items()]
        if self.unread:
            lines.append("  layers not read:")
            lines += [f"    {name:<{width}}  {reason}" for name, reason in self.unread.items()]
        return "\n".join([*lines, ")"])

    def plot(self, path: str | os.PathLike) -> None:
        """Bar charts of the errors (log scale) and the per-layer invariant share (matplotlib)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
        left.bar(list(self.errors), [max(v, 1e-17) for v in self.errors.values()])
        left.set_yscale("log")
        left.set_title("output invariance error")
        right.barh(list(self.layer_content), list(self.layer_content.values()))
        right.set_xlim(0, 1.05)
        right.set_title("invariant share per layer")
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)


def symmetry_report(
    model: nn.Module,
    structures: Sequence[Data],
    *,
    layers: Sequence[str] | None = None,
    num_samples: int = 8,
    seed: int = 0,
) -> SymmetryReport:
    """Invariance errors of ``model`` and the invariant share of its layers' outputs.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a ``Batch`` of crystals to one value (or vector) per crystal.
    structures : sequence of Data
        Crystals from :func:`spacegroup_nn.data.from_structure`.
    layers : sequence of str, optional
        Names of submodules (``model.named_modules()``) whose outputs to examine; default:
        the direct children, with the members of a ``ModuleList`` or ``ModuleDict`` in place
        of the container. A layer returning a tuple is read at its first element. A layer
        that cannot be read is listed in :attr:`SymmetryReport.unread` with the reason.
    num_samples : int
        Operations drawn per crystal for the layer content (with replacement).
    seed : int
    """
    crystals = list(structures)
    errors = {
        kind: invariance_error(model, crystals, kind, seed=seed) for kind in ("group", "rigid", "description")
    }
    modules = dict(model.named_modules())
    names = list(layers) if layers is not None else _default_layers(model)
    if missing := [name for name in names if name not in modules]:
        raise ValueError(f"the model has no submodules {missing}")
    captured: dict[str, list[Tensor]] = {name: [] for name in names}
    calls = dict.fromkeys(names, 0)

    def hook(name: str) -> Callable[[nn.Module, object, object], None]:
        def record(module: nn.Module, args: object, output: object) -> None:
            calls[name] += 1
            value = output[0] if isinstance(output, tuple) else output
            if isinstance(value, Tensor) and value.is_floating_point():
                captured[name].append(value.detach().double())

        return record

    handles = [modules[name].register_forward_hook(hook(name)) for name in names]
    rng = np.random.default_rng(seed)
    batch = Batch.from_data_list(crystals)
    try:
        with torch.no_grad():
            for _ in range(num_samples):
                model(_move(batch, random_picks(batch, rng), "group"))
    finally:
        for handle in handles:
            handle.remove()
    content, unread = {}, {}
    for name, outputs in captured.items():
        if calls[name] == 0:
            unread[name] = "not called by the model's forward"
        elif calls[name] > num_samples:
            unread[name] = "called more than once per forward"
        elif len(outputs) < num_samples:
            unread[name] = "its output (a tuple's first element) is not a floating-point tensor"
        elif any(o.shape != outputs[0].shape for o in outputs):
            unread[name] = "its output's shape changes between operations"
        else:
            stacked = torch.stack(outputs)
            total = stacked.square().sum(dim=tuple(range(1, stacked.ndim))).mean()
            content[name] = float(stacked.mean(dim=0).square().sum() / total) if total > 0 else 1.0
    return SymmetryReport(errors, content, unread)


def _default_layers(model: nn.Module) -> list[str]:
    """The direct children of ``model``, a container's members in place of the container."""
    names = []
    for name, child in model.named_children():
        if isinstance(child, nn.ModuleList | nn.ModuleDict):
            names += [f"{name}.{member}" for member, _ in child.named_children()]
        else:
            names.append(name)
    return names


def group_input_encoders(model: nn.Module) -> list[AtomEncoder]:
    """The :class:`~spacegroup_nn.nn.AtomEncoder` modules of ``model`` that have group inputs
    (Fourier features and group context), in module order; empty for a model without any."""
    return [m for m in model.modules() if isinstance(m, AtomEncoder) and m.features is not None]


@contextmanager
def without_group_inputs(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` with the group-specific inputs of every :class:`~spacegroup_nn.nn.AtomEncoder`
    left out (Fourier features and group context; elements and volume stay), as group dropout
    leaves them out in training; restored on exit.

    Raises
    ------
    ValueError
        If ``model`` has no encoder with group inputs: the ablation would change nothing.
    """
    encoders = group_input_encoders(model)
    if not encoders:
        raise ValueError(f"{type(model).__name__} has no AtomEncoder with group inputs to leave out")
    before = [encoder.group_inputs for encoder in encoders]
    for encoder in encoders:
        encoder.group_inputs = False
    try:
        yield model
    finally:
        for encoder, value in zip(encoders, before, strict=True):
            encoder.group_inputs = value
