r"""Symmetrized spherical-harmonic features of atoms in molecules, one index set for all point groups.

A molecule is described around its centre (centre of mass) in the canonical frame of its
point group :math:`G` (see :func:`spacegroup_nn.data.from_molecule`). For an atom at
:math:`\mathbf{x}` the features are the group averages of Gaussian-type solid harmonics,

.. math::
    f_{nlm}(\mathbf{x}) = e^{-|\mathbf{x}|^2 / 2 s_n^2}\,
        \Big[\frac{1}{|G|} \sum_{g \in G} D_l(g)\Big]_{m m'}
        \Big(\frac{|\mathbf{x}|}{s_n}\Big)^{l} Y_{lm'}(\hat{\mathbf{x}})
    = e^{-|\mathbf{x}|^2 / 2 s_n^2} \frac{1}{|G|}\sum_{g \in G}
        \Big(\frac{|g\mathbf{x}|}{s_n}\Big)^{l} Y_{lm}(\widehat{g\mathbf{x}}),

for the radial widths :math:`s_n` and every :math:`(l, m)` with :math:`l \le l_{max}`: the
density of the atom's whole orbit :math:`G\mathbf{x}`, expanded on a fixed basis. The
projector :math:`P_G = \frac{1}{|G|}\sum_g D(g)` is :math:`B B^\top` for the orthonormal
invariant harmonics :math:`B` of :func:`spacegroup_nn.solvers.harmonics.invariant_harmonics`,
so :math:`f(g\mathbf{x}) = P_G D(g) S(\mathbf{x}) = f(\mathbf{x})` exactly. Index
:math:`(n, l, m)` means the same function for every group: a weight attached to it is shared
by all point groups, seen in training or not. Real harmonics follow the convention of
:mod:`spacegroup_nn.solvers.harmonics` (``m = -l..l``, no Condon-Shortley phase); solid
harmonics :math:`r^l Y_{lm}` are polynomials, so the features are smooth everywhere, an atom at
the centre included.

Point groups enter as integer codes (:func:`point_group_code`) so that a PyG batch carries them
as a tensor: ``1000 * family + n``, stable across processes.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import InvalidGroupError
from ..groups.point_group import DEFAULT_L_MAX, PointGroup
from ..solvers.harmonics import invariant_harmonics

__all__ = [
    "SymmetrizedHarmonicFeatures",
    "point_group_code",
    "point_group_from_code",
    "spherical_harmonics",
]

_FAMILIES = (
    "C1", "Ci", "Cs", "C", "Cv", "Ch", "S", "D", "Dh", "Dd",
    "T", "Td", "Th", "O", "Oh", "I", "Ih", "C*v", "D*h", "Kh",
)  # fmt: skip
_AXIAL = re.compile(r"^(C|D|S)([0-9]+)(v|h|d)?$")
_EXPONENT_FLOOR = -60.0  # exp(-60) ~ 1e-26: no float32 subnormals in the radial Gaussians


def point_group_code(symbol: str) -> int:
    """Integer code ``1000 * family + n`` of a point group named by its Schoenflies symbol.

    Families, in order: C1, Ci, Cs, Cn, Cnv, Cnh, S2n, Dn, Dnh, Dnd, T, Td, Th, O, Oh, I, Ih,
    C*v, D*h, Kh (``n`` is 0 for the non-axial ones). Any spelling accepted by
    :meth:`PointGroup.from_symbol` works (``"m-3m"`` gives the code of ``"Oh"``).

    Raises
    ------
    InvalidGroupError
        Unknown symbol.
    """
    name = PointGroup.from_symbol(symbol).symbol
    if name in _FAMILIES:
        return 1000 * _FAMILIES.index(name)
    match = _AXIAL.match(name)
    if match is None:  # pragma: no cover - from_symbol only returns the names above
        raise InvalidGroupError(f"no code for point group {symbol!r}")
    letter, n, suffix = match.group(1), int(match.group(2)), match.group(3) or ""
    return 1000 * _FAMILIES.index(letter + suffix) + n


def point_group_from_code(code: int, l_max: int = DEFAULT_L_MAX) -> PointGroup:
    """The point group of :func:`point_group_code` ``code``, in its canonical frame.

    ``l_max`` is the degree up to which the finite stand-ins of ``C*v``, ``D*h`` and ``Kh`` are
    exact (see :meth:`PointGroup.from_symbol`).
    """
    family, n = divmod(int(code), 1000)
    if not 0 <= family < len(_FAMILIES):
        raise InvalidGroupError(f"{code} is not a point-group code")
    name = _FAMILIES[family]
    if name[0] in "CDS" and name not in ("C1", "Ci", "Cs", "C*v", "D*h"):
        name = f"{name[0]}{n}{name[1:]}"
    elif n:
        raise InvalidGroupError(f"{code} is not a point-group code")
    return PointGroup.from_symbol(name, l_max=l_max)


def spherical_harmonics(l_max: int, vectors: Tensor, normalize: bool = True) -> Tensor:
    r"""Real spherical harmonics of every degree ``l <= l_max``, in torch.

    The convention of :func:`spacegroup_nn.solvers.harmonics.real_spherical_harmonics`
    (``m = -l..l``, orthonormal, no Condon-Shortley phase), all degrees concatenated: index
    ``l**2 + l + m``. The same recurrence in ``z`` as the numpy version, on homogeneous
    polynomials.

    Parameters
    ----------
    l_max : int
        Highest degree.
    vectors : Tensor
        ``(..., 3)`` Cartesian vectors, float32 or float64.
    normalize : bool
        ``True``: :math:`Y_{lm}(\hat{\mathbf{x}})` (vectors must be non-zero); ``False``: the
        solid harmonics :math:`|\mathbf{x}|^l Y_{lm}(\hat{\mathbf{x}})`, homogeneous
        polynomials, smooth at the origin.

    Returns
    -------
    Tensor
        ``(..., (l_max + 1) ** 2)``, the dtype and device of ``vectors``, differentiable with
        respect to them.
    """
    if normalize:
        vectors = vectors / torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
    x, y, z = vectors.unbind(-1)
    r2 = (vectors * vectors).sum(-1)
    out: list[Tensor | None] = [None] * (l_max + 1) ** 2
    cos_m, sin_m = torch.ones_like(x), torch.zeros_like(x)  # Re and Im of (x + iy)^m
    for m in range(l_max + 1):
        if m:
            cos_m, sin_m = x * cos_m - y * sin_m, x * sin_m + y * cos_m
        # Q_j: homogeneous of degree j - m, Q_j = |x|^(j-m) d^m P_j / dz^m at z / |x|
        previous, current = torch.zeros_like(x), torch.full_like(x, float(math.prod(range(1, 2 * m, 2))))
        for l in range(m, l_max + 1):
            if l > m:
                following = ((2 * l - 1) * z * current - (l + m - 1) * r2 * previous) / (l - m)
                previous, current = current, following
            norm = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - m) / math.factorial(l + m))
            if m == 0:
                out[l * l + l] = norm * current
            else:
                out[l * l + l + m] = math.sqrt(2.0) * norm * current * cos_m
                out[l * l + l - m] = math.sqrt(2.0) * norm * current * sin_m
    return torch.stack(out, dim=-1)  # type: ignore[arg-type]


class SymmetrizedHarmonicFeatures(nn.Module):
    r"""Atoms of molecules to point-group-invariant harmonic features on a fixed index set.

    Parameter-free. Vectorized over a batch of molecules of mixed point groups: the projector
    :math:`P_G` of every group is gathered per atom and applied in one batched product. The
    projector of a group is built on the first batch that contains it, then kept.

    .. math::
        f_{i,nlm} = e^{-|\mathbf{x}_i|^2 / 2 s_n^2}\,
            \big[P_{G_{b(i)}}\, S(\mathbf{x}_i / s_n)\big]_{lm}

    with :math:`S` the solid harmonics (:func:`spherical_harmonics` with
    ``normalize=False``) and :math:`s_n` geometric between ``min_width`` and ``max_width``.

    Args:
        l_max (int, optional): Highest degree. (default: :obj:`4`)
        num_radial (int, optional): Number of radial widths. (default: :obj:`8`)
        min_width (float, optional): Smallest width in Angstrom. (default: :obj:`0.5`)
        max_width (float, optional): Largest width in Angstrom. (default: :obj:`4.0`)
        symmetrize (bool, optional): ``False`` skips the projection (the raw harmonics, not
            invariant: a baseline). (default: :obj:`True`)

    Shapes:
        - **input:** positions :math:`(N, 3)` relative to each molecule's centre, in the
          canonical frame of its point group; point-group codes :math:`(B,)`
          (:func:`point_group_code`); batch vector :math:`(N,)`
        - **output:** :math:`(N, F)`, :math:`F = ` ``num_radial * (l_max + 1) ** 2`` =
          :attr:`out_channels`, index ``n * (l_max + 1) ** 2 + l ** 2 + l + m``; the dtype of
          the positions (float32 or float64); differentiable with respect to positions
    """

    def __init__(
        self,
        l_max: int = 4,
        num_radial: int = 8,
        min_width: float = 0.5,
        max_width: float = 4.0,
        symmetrize: bool = True,
    ) -> None:
        super().__init__()
        self.l_max, self.num_radial, self.symmetrize = int(l_max), int(num_radial), symmetrize
        self.min_width, self.max_width = float(min_width), float(max_width)
        self.num_harmonics = (self.l_max + 1) ** 2
        self.out_channels = self.num_radial * self.num_harmonics
        widths = torch.logspace(math.log10(min_width), math.log10(max_width), num_radial, dtype=torch.float64)
        self.register_buffer("widths", widths, persistent=False)
        # the projector is block-diagonal in l: its blocks, flattened and concatenated per group
        self.block_sizes = [(2 * l + 1) ** 2 for l in range(self.l_max + 1)]
        empty = torch.zeros(0, sum(self.block_sizes), dtype=torch.float64)
        self.register_buffer("projectors", empty, persistent=False)
        self._rows: dict[int, int] = {}

    def _blocks(self, group: PointGroup) -> Tensor:
        """The diagonal blocks ``B_l B_l^T`` of the projector :math:`P_G`, flattened and concatenated."""
        blocks = invariant_harmonics(group, self.l_max)
        return torch.from_numpy(np.concatenate([(basis @ basis.T).ravel() for basis in blocks.values()]))

    def _rows_of(self, codes: Tensor) -> Tensor:
        """Row of the projector table of every code, building missing rows (once per group)."""
        unique, inverse = torch.unique(codes, return_inverse=True)
        fresh = [code for code in unique.tolist() if code not in self._rows]
        if fresh:
            table = [self._blocks(point_group_from_code(code, self.l_max)) for code in fresh]
            self._rows.update({code: len(self._rows) + i for i, code in enumerate(fresh)})
            self.projectors = torch.cat([self.projectors, torch.stack(table).to(self.projectors.device)])
        rows = torch.tensor([self._rows[code] for code in unique.tolist()], device=codes.device)
        return rows[inverse]

    def forward(self, pos: Tensor, point_group: Tensor, batch: Tensor | None = None) -> Tensor:
        if batch is None:
            batch = pos.new_zeros(pos.shape[0], dtype=torch.long)
        widths = self.widths.to(pos.dtype)
        scaled = pos.unsqueeze(1) / widths[:, None]  # (N, K, 3)
        exponent = (-0.5 * (scaled * scaled).sum(-1)).clamp_min(_EXPONENT_FLOOR)
        values = spherical_harmonics(self.l_max, scaled, normalize=False)  # (N, K, L)
        if self.symmetrize:
            rows = self._rows_of(point_group.view(-1).long())
            blocks = self.projectors.to(pos.dtype)[rows[batch]].split(self.block_sizes, dim=1)
            values = torch.cat(
                [
                    values[..., l * l : (l + 1) ** 2] @ block.view(-1, 2 * l + 1, 2 * l + 1).transpose(1, 2)
                    for l, block in enumerate(blocks)
                ],
                dim=-1,
            )
        return (values * torch.exp(exponent).unsqueeze(-1)).reshape(pos.shape[0], self.out_channels)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(l_max={self.l_max}, num_radial={self.num_radial}, "
            f"widths=({self.min_width:g}, {self.max_width:g}), symmetrize={self.symmetrize}, "
            f"out_channels={self.out_channels})"
        )
