"""Element inputs: a learned embedding on top of fixed physical descriptors of the element."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..groups.standardize import MAX_ATOMIC_NUMBER

__all__ = ["ELEMENT_PROPERTIES", "ElementEmbedding", "element_descriptors"]

#: pymatgen ``Element`` attributes of the descriptor and the map applied before
#: standardization (logarithms for quantities spanning orders of magnitude)
ELEMENT_PROPERTIES: dict[str, Callable[[float], float]] = {
    "row": float,
    "group": float,
    "X": float,
    "atomic_radius": float,
    "atomic_mass": math.log,
    "mendeleev_no": float,
    "ionization_energy": float,
    "electron_affinity": float,
    "molar_volume": math.log,
    "melting_point": math.log,
}
BLOCKS = ("s", "p", "d", "f")


def _mapped_property(element: object, name: str) -> float:
    """Property ``name`` of a pymatgen ``Element``, mapped; NaN where pymatgen has no value."""
    try:
        value = getattr(element, name)
    except (AttributeError, KeyError, ValueError, TypeError):
        return math.nan
    transform = ELEMENT_PROPERTIES[name]
    if value is None or not math.isfinite(value := float(value)) or (transform is math.log and value <= 0):
        return math.nan
    return transform(value)


@functools.cache
def element_descriptors() -> np.ndarray:
    """``(MAX_ATOMIC_NUMBER + 1, len(ELEMENT_PROPERTIES) + 4)`` float64 descriptors, row ``z``.

    Columns: the properties of :data:`ELEMENT_PROPERTIES` from pymatgen's periodic table,
    each mapped, then standardized to zero mean and unit variance over the elements that
    have it; an element without a value gets 0 (the mean). Then the one-hot block
    (s, p, d, f). Row 0 (no element) is zero. The same physical priors as the atom
    features of CGCNN (Xie & Grossman 2018): elements rare in the training data still get
    an informative input.
    """
    from pymatgen.core.periodic_table import Element

    table = np.full((MAX_ATOMIC_NUMBER + 1, len(ELEMENT_PROPERTIES)), math.nan)
    blocks = np.zeros((MAX_ATOMIC_NUMBER + 1, len(BLOCKS)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns on every missing property
        for z in range(1, MAX_ATOMIC_NUMBER + 1):
            element = Element.from_Z(z)
            table[z] = [_mapped_property(element, name) for name in ELEMENT_PROPERTIES]
            blocks[z, BLOCKS.index(element.block)] = 1.0
    mean, std = np.nanmean(table[1:], axis=0), np.nanstd(table[1:], axis=0)
    standardized = np.where(np.isfinite(table), (table - mean) / std, 0.0)
    descriptors = np.concatenate([standardized, blocks], axis=1)
    descriptors.setflags(write=False)
    return descriptors


class ElementEmbedding(nn.Module):
    r"""Element features :math:`\mathbf{e}(z) = \mathbf{W}\mathbf{d}(z) + \mathbf{E}[z]`.

    :math:`\mathbf{d}` are the fixed descriptors of :func:`element_descriptors`; the learned
    per-element correction :math:`\mathbf{E}` starts at zero, so an element seen rarely (or
    never) in training keeps the features its physical properties give it.

    Args:
        channels (int): Output size.

    Shapes:
        - **input:** atomic numbers :math:`(N,)`, int64
        - **output:** :math:`(N, C)`
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        table = torch.tensor(element_descriptors(), dtype=torch.float32)
        self.register_buffer("descriptors", table, persistent=False)
        self.linear = nn.Linear(table.shape[1], channels)
        self.correction = nn.Embedding(MAX_ATOMIC_NUMBER + 1, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()
        nn.init.zeros_(self.correction.weight)

    def forward(self, z: Tensor) -> Tensor:
        return self.linear(self.descriptors[z].to(self.linear.weight.dtype)) + self.correction(z)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels})"
