"""Public checks that any model is invariant: under the crystal's own operations, under rigid
motions, and under changes of description (atom order, supercell, cell choice, origin).

Usable on models not built with this library: a model is any callable that maps a PyG batch
of :func:`spacegroup_nn.data.from_structure` crystals to one value (or one vector) per crystal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import numpy as np
import torch
from pymatgen.core import Structure
from torch import Tensor
from torch_geometric.data import Batch, Data

from .data.crystal import data_to_structure, from_structure
from .data.variants import DESCRIPTION_CHANGES, RIGID_MOTIONS, variant
from .groups import SpaceGroup
from .nn.geometry import carry_geometry

__all__ = [
    "Kind",
    "apply_operation",
    "assert_invariant",
    "invariance_error",
    "random_picks",
    "transform_batch",
]

Kind = Literal["group", "rigid", "description"]
Model = Callable[[Batch], Tensor]


def apply_operation(data: Data, rotation: np.ndarray, translation: np.ndarray, wrap: bool = False) -> Data:
    """Move every atom of one crystal by ``x -> R x + t`` (fractional), keeping the cell.

    For an operation of the crystal's own group this maps the crystal onto itself. With
    ``wrap`` the new fractional coordinates are reduced to [0, 1), which makes the result
    independent of the lattice translation that accompanies the operation.
    """
    moved = data.clone()
    cell = data.cell.view(3, 3)
    frac = torch.linalg.solve(cell.T, data.pos.T).T
    frac = frac @ torch.tensor(rotation, dtype=frac.dtype).T + torch.tensor(translation, dtype=frac.dtype)
    if wrap:
        frac = frac - torch.floor(frac)
    moved.pos = frac @ cell
    if "frac" in data:
        moved.frac = frac
    return moved


def transform_batch(batch: Batch, rotations: Tensor, translations: Tensor, wrap: bool = False) -> Batch:
    """Crystal ``i`` of ``batch`` moved by ``x -> rotations[i] x + translations[i]`` (fractional).

    The arithmetic of :func:`apply_operation`, done for all atoms at once (no split into
    crystals), since augmentation, the soft loss and test-time averaging call it every step.
    A geometry stored in ``batch`` (:meth:`~spacegroup_nn.nn.SpaceGroupTransformer.prepare`)
    moves with the atoms when every move is an isometry of the lattice
    (:func:`~spacegroup_nn.nn.geometry.carry_geometry`), so it is not computed again.

    Parameters
    ----------
    batch : Batch
        Crystals from :func:`spacegroup_nn.data.from_structure`.
    rotations : Tensor
        ``(B, 3, 3)`` linear parts in each crystal's fractional coordinates.
    translations : Tensor
        ``(B, 3)`` fractional translations.
    wrap : bool
        Reduce the new fractional coordinates to [0, 1).
    """
    dtype, owner = batch.pos.dtype, batch.batch
    cells = batch.cell.view(-1, 3, 3)[owner]
    frac = torch.linalg.solve(cells.transpose(1, 2), batch.pos.unsqueeze(-1))
    frac = (rotations.to(dtype)[owner] @ frac).squeeze(-1) + translations.to(dtype)[owner]
    if wrap:
        frac = frac - torch.floor(frac)
    moved = batch.clone()
    moved.pos = (frac.unsqueeze(1) @ cells).squeeze(1)
    if "frac" in batch:
        moved.frac = frac
    carry_geometry(batch, moved, rotations)
    return moved


def random_picks(batch: Batch, rng: np.random.Generator) -> list[int]:
    """One uniformly random operation number of each crystal's group."""
    return [int(rng.integers(SpaceGroup(int(n)).order)) for n in batch.space_group.view(-1)]


def _as_data(items: Iterable[Data | Structure], dtype: torch.dtype) -> list[Data]:
    return [item if isinstance(item, Data) else from_structure(item, dtype=dtype) for item in items]


@torch.no_grad()
def _predict(model: Model, crystals: Sequence[Data], chunk: int = 16) -> Tensor:
    """Outputs ``(len(crystals), C)``, in batches of ``chunk`` crystals."""
    parts = [crystals[i : i + chunk] for i in range(0, len(crystals), chunk)]
    return torch.cat([model(Batch.from_data_list(list(part))).reshape(len(part), -1) for part in parts])


def invariance_error(
    model: Model,
    structures: Iterable[Data | Structure] | Data | Structure,
    kind: Kind = "group",
    *,
    num_samples: int | None = None,
    seed: int = 0,
    dtype: torch.dtype | None = None,
) -> float:
    """Largest relative change of a model's output over sampled transformations.

    Parameters
    ----------
    model : callable
        Maps a ``Batch`` of crystals to ``(B,)`` or ``(B, C)`` outputs; put it in eval mode.
    structures : Data, Structure, or an iterable of them
        Crystals; pymatgen structures are converted with :func:`from_structure`.
    kind : {"group", "rigid", "description"}
        ``"group"``: every operation of the crystal's space group (or ``num_samples`` random
        ones) applied to its standardized atoms. ``"rigid"``: random rotations and
        translations of the input structure, re-standardized. ``"description"``: atom
        permutation, 2x1x1 supercell, another cell choice, an equivalent origin.
    num_samples : int, optional
        Transformations per crystal (default: all operations for ``"group"``, one of each
        kind otherwise).
    seed : int
        Seed of the sampled transformations.
    dtype : torch.dtype, optional
        dtype for converting structures (default: torch's default dtype).

    Returns
    -------
    float
        :math:`\\max |y' - y| / \\max(|y|, 1)` over crystals, transformations and output
        components: relative for outputs larger than 1, absolute below.
    """
    if isinstance(structures, (Data, Structure)):
        structures = [structures]
    crystals = _as_data(structures, dtype or torch.get_default_dtype())
    rng = np.random.default_rng(seed)
    reference = _predict(model, crystals)
    worst = 0.0
    for index, crystal in enumerate(crystals):
        transformed = _transformed(crystal, kind, rng, num_samples)
        outputs = _predict(model, transformed)
        scale = reference[index].abs().max().clamp_min(1.0)
        worst = max(worst, float(((outputs - reference[index]).abs().max() / scale).item()))
    return worst


def _transformed(crystal: Data, kind: Kind, rng: np.random.Generator, num_samples: int | None) -> list[Data]:
    dtype = crystal.pos.dtype
    if kind == "group":
        group = SpaceGroup(int(crystal.space_group.view(-1)[0]))
        picks = range(group.order) if num_samples is None else rng.integers(group.order, size=num_samples)
        return [apply_operation(crystal, group.rotations[i], group.translations[i]) for i in picks]
    if kind not in ("rigid", "description"):
        raise ValueError(f"kind must be 'group', 'rigid' or 'description', got {kind!r}")
    kinds = RIGID_MOTIONS if kind == "rigid" else DESCRIPTION_CHANGES
    if num_samples is not None:
        kinds = tuple(rng.choice(kinds, size=num_samples))
    structure = data_to_structure(crystal)
    return [from_structure(variant(structure, k, rng), dtype=dtype) for k in kinds]


def assert_invariant(
    model: Model,
    structures: Iterable[Data | Structure] | Data | Structure,
    kinds: Sequence[Kind] = ("group", "rigid", "description"),
    *,
    tolerance: float | None = None,
    num_samples: int | None = None,
    seed: int = 0,
    dtype: torch.dtype | None = None,
) -> None:
    """Raise ``AssertionError`` if :func:`invariance_error` exceeds ``tolerance`` for any kind.

    Structures are converted with ``dtype`` (default: torch's default dtype). Default
    tolerances: float64 1e-10 for ``"group"`` and 1e-8 for ``"rigid"`` and ``"description"``
    (standardization re-derives positions, with round-off of its own); float32 1e-5.
    """
    if isinstance(structures, (Data, Structure)):
        structures = [structures]
    crystals = _as_data(structures, dtype or torch.get_default_dtype())
    dtype = crystals[0].pos.dtype
    for kind in kinds:
        error = invariance_error(model, crystals, kind, num_samples=num_samples, seed=seed)
        default = (1e-10 if kind == "group" else 1e-8) if dtype == torch.float64 else 1e-5
        limit = tolerance if tolerance is not None else default
        if not error <= limit:
            raise AssertionError(f"{kind} invariance error {error:.3e} exceeds {limit:.1e}")
