"""Invariant-subspace solvers (numpy only): plane-wave orbits and the dense oracle."""

from .dense import group_average, invariant_subspace, plane_wave_representation
from .plane_waves import SymmetryAdaptedBasis, fourier_basis, normalizer_basis
from .reflection_conditions import ReflectionCondition, reflection_conditions
from .wavevectors import METRICS, WavevectorIndex, ball_index, metric_for_rotations, wavevector_ball

__all__ = [
    "METRICS",
    "ReflectionCondition",
    "SymmetryAdaptedBasis",
    "WavevectorIndex",
    "ball_index",
    "fourier_basis",
    "group_average",
    "invariant_subspace",
    "metric_for_rotations",
    "normalizer_basis",
    "plane_wave_representation",
    "reflection_conditions",
    "wavevector_ball",
]
