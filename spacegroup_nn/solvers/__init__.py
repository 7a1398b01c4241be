"""Invariant-subspace solvers (numpy only): plane-wave orbits and the dense oracle."""

from .dense import group_average, invariant_subspace, plane_wave_representation
from .harmonics import (
    harmonic_character,
    harmonic_representation,
    invariant_harmonics,
    molien_counts,
    real_spherical_harmonics,
    wigner_real,
)
from .plane_waves import SymmetryAdaptedBasis, fourier_basis, normalizer_basis
from .reflection_conditions import ReflectionCondition, reflection_conditions
from .tensors import (
    TENSOR_KINDS,
    TensorKind,
    symmetrize_tensor,
    tensor_encoder,
    tensor_projector,
    tensor_representation,
)
from .wavevectors import METRICS, WavevectorIndex, ball_index, metric_for_rotations, wavevector_ball

__all__ = [
    "METRICS",
    "TENSOR_KINDS",
    "ReflectionCondition",
    "SymmetryAdaptedBasis",
    "TensorKind",
    "WavevectorIndex",
    "ball_index",
    "fourier_basis",
    "group_average",
    "harmonic_character",
    "harmonic_representation",
    "invariant_harmonics",
    "invariant_subspace",
    "metric_for_rotations",
    "molien_counts",
    "normalizer_basis",
    "plane_wave_representation",
    "real_spherical_harmonics",
    "reflection_conditions",
    "symmetrize_tensor",
    "tensor_encoder",
    "tensor_projector",
    "tensor_representation",
    "wavevector_ball",
    "wigner_real",
]
