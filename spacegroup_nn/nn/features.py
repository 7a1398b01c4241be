r"""Symmetrized Fourier features of atoms, on one fixed wave-vector index set for all groups.

For an atom at fractional position :math:`x` in a crystal of group :math:`G`, the features
are the group averages

.. math::
    \psi_k(x) = \frac{1}{|G|} \sum_{g \in G} e^{2\pi i\, k \cdot (R_g x + t_g)}

for every k of the fixed ball (zero where k is extinct). By default :math:`G` is replaced by
its Euclidean normalizer (see :func:`spacegroup_nn.solvers.normalizer_basis`), so features
are also identical in every standard description of the crystal. A crystal whose lattice is
more symmetric than its group needs (a P222 crystal with ``a = b``) has more standard
descriptions, related by isometries of its own lattice: its features are also averaged over
one of them per coset of the generic normalizer
(:func:`~spacegroup_nn.groups.lattice_normalizer_cosets`). ``invariance="group"``
uses the space group itself, as the reference paper does; ``invariance="none"`` gives the raw
plane waves :math:`e_k(x)` of every crystal (the P1 basis), the unconstrained baseline.

Index sets. Two balls exist, one per idealized metric (``"orthogonal"``: 514 wave vectors
at radius 5, ``"hexagonal"``: 418). The feature vector is their concatenation: a crystal
fills the block of its metric and leaves the other block zero. Within a block, index ``i``
means the same wave vector for every group, so a weight attached to it is shared by all
groups of that metric family. Since :math:`\psi_{-k} = \overline{\psi_k}`, each block holds
:math:`\mathrm{Re}\,\psi_k` and :math:`\mathrm{Im}\,\psi_k` for one k of every pair
:math:`\pm k`, i.e. ``K`` real numbers per block.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from ..groups import lattice_normalizer_cosets
from ..groups.space_group import NUM_SPACE_GROUPS, SpaceGroup
from ..solvers import SymmetryAdaptedBasis, fourier_basis, normalizer_basis
from ..solvers.wavevectors import ball_index
from . import _fourier_kernel
from ._fourier_kernel import TABLES
from ._utils import check_space_groups

__all__ = ["Invariance", "SymmetrizedFourierFeatures"]

Invariance = Literal["normalizer", "group", "none"]
METRIC_NAMES = ("orthogonal", "hexagonal")


class SymmetrizedFourierFeatures(nn.Module):
    r"""Atoms to real symmetrized plane-wave features on the fixed index set.

    Parameter-free. Vectorized over a batch of crystals of mixed groups: per-group tables
    (orbit, phase, weight of every k) are built on the first batch that contains a group, then
    kept. Two paths give the same values (to 1e-14 in float64): a fused C++ kernel
    (``spacegroup_nn/csrc``, compiled at installation) whenever no gradient is needed, and
    whole-array torch operations (gathered tables, one segment sum over orbits) when positions
    or cells require grad, or where the kernel could not be compiled.

    .. math::
        \mathbf{f}_i = \big[\mathrm{Re}\,\psi_k(x_i),\ \mathrm{Im}\,\psi_k(x_i)\big]_{k \in
        \text{half ball of the crystal's metric}}

    Args:
        radius (float, optional): Cutoff of the wave-vector balls. (default: :obj:`5.0`)
        invariance (str, optional): ``"normalizer"`` (invariant under every description
            change), ``"group"`` (the space group's own basis) or ``"none"`` (raw plane waves,
            not invariant: a baseline). (default: ``"normalizer"``)

    Shapes:
        - **input:** positions :math:`(N, 3)` Cartesian, cell :math:`(B, 3, 3)` (rows are
          lattice vectors), space-group numbers :math:`(B,)`, batch vector :math:`(N,)`
        - **output:** :math:`(N, F)` with :math:`F` = :attr:`out_channels`, same dtype as
          the positions (float32 or float64); differentiable with respect to positions
    """

    def __init__(self, radius: float = 5.0, invariance: Invariance = "normalizer") -> None:
        super().__init__()
        if invariance not in ("normalizer", "group", "none"):
            raise ValueError(f"invariance must be 'normalizer', 'group' or 'none', got {invariance!r}")
        self.radius = float(radius)
        self.invariance = invariance
        self.block_sizes = [len(ball_index(name, self.radius).wavevectors) for name in METRIC_NAMES]
        self.out_channels = sum(self.block_sizes)

        def tables(*shape: int, dtype: torch.dtype = torch.int32) -> Tensor:
            return torch.zeros(NUM_SPACE_GROUPS + 1, *shape, dtype=dtype)

        for name, size in zip(METRIC_NAMES, self.block_sizes, strict=True):
            index = ball_index(name, self.radius)
            half = np.flatnonzero(np.arange(size) < index.negation)
            buffers = {
                "wavevectors": torch.tensor(index.wavevectors, dtype=torch.int32),
                # one k of every +-k pair: the one with the smaller index
                "half": torch.tensor(half),
                "partner": torch.tensor(index.negation[half]),
                # per group and k: orbit and phase p (twelfths of a turn); per group and half-ball
                # k: orbit size, 0 if extinct; integers, so module casts leave them exact
                "orbit": tables(size),
                "twelfths": tables(size, dtype=torch.int8),
                "orbit_size": tables(size // 2),
            }
            for key, value in buffers.items():
                self.register_buffer(f"{name}_{key}", value, persistent=False)
        self.max_index = max(int(np.abs(ball_index(n, self.radius).wavevectors).max()) for n in METRIC_NAMES)
        self.register_buffer(
            "metric_of", torch.full((NUM_SPACE_GROUPS + 1,), -1, dtype=torch.long), persistent=False
        )

    def basis(self, number: int) -> SymmetryAdaptedBasis:
        """The basis whose group averages fill the features of space group ``number``."""
        if self.invariance == "none":
            return fourier_basis(1, self.radius)
        build = normalizer_basis if self.invariance == "normalizer" else fourier_basis
        return build(SpaceGroup(number), self.radius)

    def _table(self, name: str, key: str) -> Tensor:
        return self._buffers[f"{name}_{key}"]  # a plain dict lookup: this runs on every call

    def _ensure_tables(self, numbers: Tensor) -> None:
        known = self.metric_of[numbers]
        if bool((known >= 0).all()):
            return
        for number in torch.unique(numbers[known < 0]).tolist():  # once per group and module
            basis = self.basis(number)
            metric = METRIC_NAMES.index(basis.metric)
            self.metric_of[number] = metric
            name = METRIC_NAMES[metric]
            # psi_k = omega^{p_k} / |O| * sum_{k' in O} omega^{-p_k'} e_k'(x), zero if extinct
            orbit_size = np.where(basis.extinct, 0, basis.orbit_sizes[basis.orbit])
            half = self._table(name, "half").cpu().numpy()
            self._table(name, "orbit")[number] = torch.tensor(basis.orbit)
            self._table(name, "twelfths")[number] = torch.tensor(basis.phase_twelfths % 12)
            self._table(name, "orbit_size")[number] = torch.tensor(orbit_size[half])

    def forward(self, pos: Tensor, cell: Tensor, space_group: Tensor, batch: Tensor | None = None) -> Tensor:
        if batch is None:
            batch = pos.new_zeros(pos.shape[0], dtype=torch.long)
        space_group = space_group.view(-1).long()
        check_space_groups(space_group)
        if self.invariance == "none":  # every crystal is read as P1: raw plane waves
            space_group = torch.ones_like(space_group)
        self._ensure_tables(space_group)
        if self.invariance == "normalizer":
            copies = self._description_copies(pos, cell, space_group, batch)
            if copies is not None:  # mean over the crystal's descriptions of each atom
                copy_pos, copy_batch, copy_of = copies
                both = self._features(
                    torch.cat([pos, copy_pos]), cell, space_group, torch.cat([batch, copy_batch])
                )
                count = torch.ones(len(pos), dtype=pos.dtype, device=pos.device)
                count = count.index_add(0, copy_of, torch.ones_like(copy_of, dtype=pos.dtype))
                return both[: len(pos)].index_add(0, copy_of, both[len(pos) :]) / count.unsqueeze(-1)
        return self._features(pos, cell, space_group, batch)

    def _description_copies(
        self, pos: Tensor, cell: Tensor, space_group: Tensor, batch: Tensor
    ) -> tuple[Tensor, Tensor, Tensor] | None:
        """Positions ``(C, 3)``, batch ``(C,)`` and atom ``(C,)`` of every atom moved by each
        extra coset operation ``(A, s)`` of its crystal's lattice, or None if no crystal has one."""
        cells = cell.detach().to("cpu", torch.float64).numpy()
        metrics = np.round(cells @ cells.transpose(0, 2, 1), 6)  # the cosets depend on it alone
        extra = []
        for index, (number, metric) in enumerate(zip(space_group.tolist(), metrics, strict=True)):
            cosets = _extra_cosets(number, metric.tobytes())
            if cosets is not None:
                extra.append((index, *cosets))
        if not extra:
            return None
        positions, batches, atoms = [], [], []
        for index, rotations, translations in extra:
            atom = torch.nonzero(batch == index).view(-1)
            lattice = cell[index]
            frac = torch.linalg.solve(lattice.T, pos[atom].T).T  # (n, 3)
            moved = frac @ rotations.to(frac).transpose(1, 2) + translations.to(frac).unsqueeze(1)
            positions.append((moved @ lattice).reshape(-1, 3))
            batches.append(torch.full((moved.shape[0] * moved.shape[1],), index, device=batch.device))
            atoms.append(atom.repeat(len(rotations)))
        return torch.cat(positions), torch.cat(batches), torch.cat(atoms)

    def _features(self, pos: Tensor, cell: Tensor, space_group: Tensor, batch: Tensor) -> Tensor:
        """The features of atoms at ``pos``, tables built."""
        differentiable = torch.is_grad_enabled() and (pos.requires_grad or cell.requires_grad)
        if not differentiable and _fourier_kernel.supports(pos, cell, batch, self.metric_of):
            blocks = [{key: self._table(name, key) for key in TABLES} for name in METRIC_NAMES]
            return _fourier_kernel.symmetrized_fourier(
                pos, cell, space_group, batch, self.metric_of, blocks, self.max_index
            )
        frac = torch.linalg.solve(cell[batch].transpose(1, 2), pos.unsqueeze(-1)).squeeze(-1)
        frac = frac - torch.floor(frac)  # periodicity is exact; small angles keep float32 accurate
        numbers = space_group[batch]
        metric = self.metric_of[numbers]
        out = pos.new_zeros(pos.shape[0], self.out_channels)
        start = 0
        for code, (name, size) in enumerate(zip(METRIC_NAMES, self.block_sizes, strict=True)):
            atoms = torch.nonzero(metric == code).view(-1)
            if atoms.numel():
                out[atoms, start : start + size] = self._block(name, frac[atoms], numbers[atoms])
            start += size
        return out

    def _block(self, name: str, frac: Tensor, numbers: Tensor) -> Tensor:
        """The torch path (differentiable): the kernel's arithmetic as whole-array operations."""
        orbit = self._table(name, "orbit")[numbers].long()
        shift = (2 * np.pi / 12) * self._table(name, "twelfths")[numbers].to(frac.dtype)
        angle = 2 * np.pi * frac @ self._table(name, "wavevectors").to(frac.dtype).T - shift
        # orbit sums of omega^{-p} e_k, then psi_k = weight * omega^{p_k} * sum over its orbit
        sum_cos = torch.zeros_like(angle).scatter_add(1, orbit, torch.cos(angle))
        sum_sin = torch.zeros_like(angle).scatter_add(1, orbit, torch.sin(angle))
        half = self._table(name, "half")
        half_orbit = orbit[:, half]
        sum_cos, sum_sin = sum_cos.gather(1, half_orbit), sum_sin.gather(1, half_orbit)
        orbit_size, shift = self._table(name, "orbit_size")[numbers].to(frac.dtype), shift[:, half]
        weight = torch.where(orbit_size > 0, 1 / orbit_size, 0)
        out_cos, out_sin = weight * torch.cos(shift), weight * torch.sin(shift)
        return torch.cat(
            [out_cos * sum_cos - out_sin * sum_sin, out_sin * sum_cos + out_cos * sum_sin], dim=1
        )

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(radius={self.radius:g}, invariance={self.invariance!r}, "
            f"out_channels={self.out_channels})"
        )


@functools.lru_cache(maxsize=1 << 16)
def _extra_cosets(number: int, metric: bytes) -> tuple[Tensor, Tensor] | None:
    """The cosets of :func:`~spacegroup_nn.groups.lattice_normalizer_cosets` but the identity's,
    ``(m - 1, 3, 3)`` and ``(m - 1, 3)`` float64, for group ``number`` on a lattice of metric
    ``metric`` (the bytes of a ``(3, 3)`` float64 Gram matrix); None if ``m = 1``. Cached
    across modules: every crystal's lattice is analysed once per process."""
    lattice = np.linalg.cholesky(np.frombuffer(metric).reshape(3, 3))  # rows: a lattice of it
    rotations, translations = lattice_normalizer_cosets(SpaceGroup(number), lattice)
    if len(rotations) == 1:
        return None
    return torch.from_numpy(rotations[1:]), torch.from_numpy(translations[1:])
