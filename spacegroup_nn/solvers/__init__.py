"""Invariant-subspace solvers (numpy only): plane-wave orbits and the dense oracle."""

from .plane_waves import SymmetryAdaptedBasis, fourier_basis, orbit_tables
from .wavevectors import METRICS, metric_for_rotations, wavevector_ball

__all__ = [
    "METRICS",
    "SymmetryAdaptedBasis",
    "fourier_basis",
    "metric_for_rotations",
    "orbit_tables",
    "wavevector_ball",
]
