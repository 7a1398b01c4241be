r"""Orbit solver: the symmetry-adapted Fourier basis of a space group.

An operation :math:`g = (R, t)` maps plane waves as
:math:`e_k(g x) = \omega^{12\,k \cdot t}\, e_{R^T k}(x)` with
:math:`e_k(x) = \exp(2\pi i\, k \cdot x)` and :math:`\omega = \exp(2\pi i/12)`. The group
therefore acts on plane waves by a monomial matrix (a permutation with 12th-root phases),
and its invariant subspace follows from orbits alone, in exact integer arithmetic:

* the orbit of ``k`` is :math:`\{R_g^T k\}`; its representative is its smallest index;
* ``k`` is extinct iff some operation of its stabilizer has :math:`12\,k \cdot t \not\equiv 0
  \pmod{12}`; extinction holds for the whole orbit;
* the group average :math:`\psi_k = \frac{1}{|G|}\sum_g e_k(g x)` satisfies
  :math:`\psi_{R_h^T k} = \omega^{-12\,k \cdot t_h}\, \psi_k`, so every member of an orbit is a
  fixed 12th root of unity times its representative.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..groups.normalizer import EuclideanNormalizer, euclidean_normalizer
from ..groups.space_group import SpaceGroup
from .wavevectors import MetricName, ball_index, metric_for_rotations

__all__ = ["SymmetryAdaptedBasis", "fourier_basis", "normalizer_basis"]


class SymmetryAdaptedBasis:
    """The G-invariant functions spanned by the plane waves of a fixed wave-vector ball.

    Build it with :func:`fourier_basis`. Arrays are read-only and indexed like
    ``wavevectors``, the index set shared by every group of the same metric.

    Attributes
    ----------
    group : SpaceGroup or EuclideanNormalizer
        The group (or the normalizer of a group, see :func:`normalizer_basis`).
    radius : float
        Cutoff of the ball, in reciprocal-lattice units.
    metric : str
        ``"orthogonal"`` or ``"hexagonal"``, the idealized metric of the ball.
    wavevectors : np.ndarray
        ``(K, 3)`` int64, all k != 0 within ``radius``.
    orbit : np.ndarray
        ``(K,)`` int64, index of the orbit of each k, orbits numbered by smallest member.
    orbit_representatives : np.ndarray
        ``(num_orbits,)`` int64, smallest wave-vector index of each orbit.
    orbit_sizes : np.ndarray
        ``(num_orbits,)`` int64.
    extinct : np.ndarray
        ``(K,)`` bool, True where every invariant function has a zero coefficient.
    phase_twelfths : np.ndarray
        ``(K,)`` int64 in ``0..11``: :math:`\\psi_k = \\omega^{p_k}\\, \\psi_{rep(k)}`.
    num_functions : int
        Number of independent real invariant functions, the number of non-extinct orbits.
    """

    def __init__(self, group: SpaceGroup | EuclideanNormalizer, radius: float) -> None:
        self.group = group
        self.radius = float(radius)
        self.metric: MetricName = metric_for_rotations(group.rotations)
        index = ball_index(self.metric, self.radius)
        self.wavevectors = index.wavevectors
        image = index.images(group.rotations)
        phase = index.phases(group.translations_twelfths)
        num_k = len(self.wavevectors)
        index = np.arange(num_k)

        representative = image.min(axis=0)
        stabilizes = image == index
        extinct = np.any(stabilizes & (phase != 0), axis=0)
        free_axes = getattr(group, "free_axes", None)
        if free_axes is not None:
            # averaging over a free translation along an axis kills every k with a component on it
            extinct |= np.any(self.wavevectors[:, free_axes] != 0, axis=1)
        # one operation h with R_h^T rep = k for every k; psi_k = omega^(-12 rep.t_h) psi_rep
        carrier = np.argmax(image[:, representative] == index, axis=0)
        phase_twelfths = (-phase[carrier, representative]) % 12
        self.orbit_representatives, self.orbit, self.orbit_sizes = np.unique(
            representative, return_inverse=True, return_counts=True
        )
        self.extinct = extinct
        self.phase_twelfths = phase_twelfths
        self._build_real_basis()
        for array in self._arrays():
            array.setflags(write=False)

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (
            self.orbit,
            self.orbit_representatives,
            self.orbit_sizes,
            self.extinct,
            self.phase_twelfths,
            self.function_orbit,
            self.source_wavevectors,
            self._term_slot,
            self._term_function,
            self._term_cos,
            self._term_sin,
        )

    def _build_real_basis(self) -> None:
        """Choose one real function per non-extinct orbit.

        A self-conjugate orbit (``-k`` in the orbit of ``k``) gives one real function, a
        fixed phase times its normalized orbit sum. A pair of conjugate orbits gives the real
        and imaginary parts of the orbit sum of the one with the smaller representative.
        """
        reps = self.orbit_representatives
        orbit_ids = np.arange(len(reps))
        negative = ball_index(self.metric, self.radius).negation[reps]
        self_conjugate = self.orbit[negative] == orbit_ids
        is_source = ~self.extinct[reps] & (orbit_ids <= self.orbit[negative])
        count = np.where(is_source, np.where(self_conjugate, 1, 2), 0)
        first = np.cumsum(count) - count

        #: ``(num_functions,)`` int64: orbit summed by each real function.
        self.function_orbit = np.repeat(orbit_ids, count)
        self.num_functions = len(self.function_orbit)
        second = np.arange(self.num_functions) - first[self.function_orbit]
        # conj(psi_rep) = omega^p psi_rep (p: phase of -rep), so exp(i pi p/12) psi_rep is real;
        # a conjugate pair gives sqrt(2) Re and sqrt(2) Im of the orbit sum
        unit = np.where(
            self_conjugate[self.function_orbit],
            np.exp(1j * np.pi * self.phase_twelfths[negative[self.function_orbit]] / 12),
            np.where(second == 0, np.sqrt(2.0), -1j * np.sqrt(2.0)),
        )
        #: ``(S,)`` int64: wave vectors of the orbits used by the real basis.
        self.source_wavevectors = np.flatnonzero(is_source[self.orbit])

        # f_j = Re(unit_j phi_o), phi_o = |O|^{-1/2} sum_{k in O} exp(i angle_k) with
        # angle_k = 2 pi (k.x - p_k/12): one (cos, sin) term per (function, k) pair
        source_orbit = self.orbit[self.source_wavevectors]
        repeats = count[source_orbit]
        self._term_slot = np.repeat(np.arange(len(source_orbit)), repeats)
        self._term_function = np.repeat(first[source_orbit], repeats) + (
            np.arange(repeats.sum()) - np.repeat(np.cumsum(repeats) - repeats, repeats)
        )
        scale = 1.0 / np.sqrt(self.orbit_sizes[self.function_orbit[self._term_function]])
        self._term_cos = unit.real[self._term_function] * scale
        self._term_sin = -unit.imag[self._term_function] * scale

    @property
    def num_orbits(self) -> int:
        """Number of orbits, extinct ones included."""
        return len(self.orbit_representatives)

    @property
    def stabilizer_orders(self) -> np.ndarray:
        """``(K,)`` int64, order of the stabilizer of each k (centring included)."""
        return self.group.order // self.orbit_sizes[self.orbit]

    def evaluate(self, frac_coords: Any) -> Any:
        r"""The real invariant basis at points ``frac_coords``.

        Functions are orthonormal on the unit cell,
        :math:`\int_{[0,1)^3} f_a f_b\, dx = \delta_{ab}`, and ordered by orbit.

        Parameters
        ----------
        frac_coords : np.ndarray or torch.Tensor
            ``(N, 3)`` fractional coordinates, float32 or float64.

        Returns
        -------
        np.ndarray or torch.Tensor
            ``(N, num_functions)``, same type, dtype and device as the input;
            differentiable for torch inputs.
        """
        ops = _array_ops(frac_coords)
        k = self.source_wavevectors
        angle = 2 * np.pi * (frac_coords @ ops.constant(self.wavevectors[k].T)) - ops.constant(
            2 * np.pi * self.phase_twelfths[k] / 12
        )
        slot = ops.index(self._term_slot)
        terms = ops.cos(angle)[:, slot] * ops.constant(self._term_cos) + ops.sin(angle)[
            :, slot
        ] * ops.constant(self._term_sin)
        return ops.segment_sum(terms, self._term_function, self.num_functions)

    def symmetrized(self, frac_coords: Any) -> Any:
        r"""Group averages :math:`\psi_k(x) = \frac{1}{|G|}\sum_g e_k(g x)` on the full index set.

        Zero exactly where ``k`` is extinct; :math:`\psi_{-k} = \overline{\psi_k}`.

        Parameters
        ----------
        frac_coords : np.ndarray or torch.Tensor
            ``(N, 3)`` fractional coordinates.

        Returns
        -------
        np.ndarray or torch.Tensor
            ``(N, K)`` complex (complex128 for float64 input, complex64 for float32).
        """
        live = np.flatnonzero(~self.extinct)
        orbit_of_k = self.orbit[live]
        # psi_k = omega^{p_k} |O|^{-1} sum_{k' in O} omega^{-p_k'} e_k'(x)
        ops = _array_ops(frac_coords)
        angle = 2 * np.pi * (frac_coords @ ops.constant(self.wavevectors[live].T)) - ops.constant(
            2 * np.pi * self.phase_twelfths[live] / 12
        )
        sums = ops.segment_sum(ops.exp_i(angle), orbit_of_k, self.num_orbits)
        scale = np.exp(2j * np.pi * self.phase_twelfths / 12) / self.orbit_sizes[self.orbit]
        values = sums[:, ops.index(self.orbit)] * ops.constant(scale)
        return values * ops.constant(~self.extinct)

    def nbytes(self) -> int:
        """Bytes held by this basis's own arrays (the shared wave-vector ball excluded)."""
        return sum(array.nbytes for array in self._arrays())

    def __repr__(self) -> str:
        return (
            f"SymmetryAdaptedBasis(group={self.group.symbol!r} (#{self.group.number}), "
            f"radius={self.radius:g}, wavevectors={len(self.wavevectors)}, "
            f"orbits={self.num_orbits}, extinct={int(self.extinct.sum())}, "
            f"num_functions={self.num_functions})"
        )


class _NumpyOps:
    def __init__(self, like: np.ndarray) -> None:
        self.dtype = like.dtype if like.dtype.kind == "f" else np.dtype(np.float64)

    def constant(self, array: np.ndarray) -> np.ndarray:
        if np.iscomplexobj(array):
            return array.astype(np.result_type(self.dtype, np.complex64))
        return np.asarray(array, dtype=self.dtype)

    @staticmethod
    def index(array: np.ndarray) -> np.ndarray:
        return array

    cos = staticmethod(np.cos)
    sin = staticmethod(np.sin)

    @staticmethod
    def exp_i(angle: np.ndarray) -> np.ndarray:
        return np.exp(1j * angle)

    @staticmethod
    def segment_sum(values: np.ndarray, segment: np.ndarray, count: int) -> np.ndarray:
        out = np.zeros((values.shape[0], count), dtype=values.dtype)
        np.add.at(out.T, segment, values.T)
        return out


class _TorchOps:
    def __init__(self, like: Any) -> None:
        import torch

        self.torch = torch
        self.like = like

    def constant(self, array: np.ndarray) -> Any:
        torch = self.torch
        if np.iscomplexobj(array):
            dtype = torch.complex128 if self.like.dtype == torch.float64 else torch.complex64
            return torch.tensor(array, dtype=dtype, device=self.like.device)
        if array.dtype == bool:
            return self.index(array)
        return torch.tensor(array, dtype=self.like.dtype, device=self.like.device)

    def index(self, array: np.ndarray) -> Any:
        return self.torch.tensor(array, device=self.like.device)

    def cos(self, x: Any) -> Any:
        return self.torch.cos(x)

    def sin(self, x: Any) -> Any:
        return self.torch.sin(x)

    def exp_i(self, angle: Any) -> Any:
        return self.torch.polar(self.torch.ones_like(angle), angle)

    def segment_sum(self, values: Any, segment: np.ndarray, count: int) -> Any:
        out = values.new_zeros((values.shape[0], count))
        return out.index_add(1, self.index(segment), values)


def _array_ops(frac_coords: Any) -> _NumpyOps | _TorchOps:
    if isinstance(frac_coords, np.ndarray):
        if frac_coords.ndim != 2 or frac_coords.shape[1] != 3:
            raise ValueError(f"frac_coords must have shape (N, 3), got {frac_coords.shape}")
        return _NumpyOps(frac_coords if frac_coords.dtype.kind == "f" else frac_coords.astype(float))
    if type(frac_coords).__module__.startswith("torch"):
        if frac_coords.ndim != 2 or frac_coords.shape[1] != 3:
            raise ValueError(f"frac_coords must have shape (N, 3), got {tuple(frac_coords.shape)}")
        return _TorchOps(frac_coords)
    raise TypeError(f"frac_coords must be a numpy array or a torch tensor, got {type(frac_coords)}")


@functools.lru_cache(maxsize=2048)
def _cached_basis(group: SpaceGroup, radius: float) -> SymmetryAdaptedBasis:
    return SymmetryAdaptedBasis(group, radius)


@functools.lru_cache(maxsize=2048)
def _cached_normalizer_basis(group: SpaceGroup, radius: float) -> SymmetryAdaptedBasis:
    return SymmetryAdaptedBasis(euclidean_normalizer(group), radius)


def normalizer_basis(group: SpaceGroup | int, radius: float = 5.0) -> SymmetryAdaptedBasis:
    """The Fourier basis of functions invariant under the Euclidean normalizer of ``group`` (cached).

    These functions are ``group``-invariant and, in addition, take the same values in every
    standard description of a crystal (any origin choice, any normalizer orientation). They
    are a subset of :func:`fourier_basis`: k along a polar axis are extinct, as are all
    k != 0 for P1.

    Parameters
    ----------
    group : SpaceGroup or int
        A group in a setting whose polar axes are coordinate axes (any canonical setting).
    radius : float
        Cutoff of the wave-vector ball (same index set as :func:`fourier_basis`).

    Returns
    -------
    SymmetryAdaptedBasis
        Its ``group`` attribute is the :class:`EuclideanNormalizer`.
    """
    if not isinstance(group, SpaceGroup):
        group = SpaceGroup(group)
    return _cached_normalizer_basis(group, float(radius))


def fourier_basis(group: SpaceGroup | int, radius: float = 5.0) -> SymmetryAdaptedBasis:
    """The symmetry-adapted Fourier basis of ``group`` at cutoff ``radius`` (cached).

    Parameters
    ----------
    group : SpaceGroup or int
        A group in any setting, or a space-group number (canonical setting).
    radius : float
        Cutoff of the wave-vector ball in reciprocal-lattice units (default 5: 514 wave
        vectors for orthogonal metrics, 418 for hexagonal ones).

    Returns
    -------
    SymmetryAdaptedBasis
    """
    if not isinstance(group, SpaceGroup):
        group = SpaceGroup(group)
    return _cached_basis(group, float(radius))
