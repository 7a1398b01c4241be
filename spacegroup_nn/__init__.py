"""Neural networks exactly invariant to any space group, with weights shared by all groups."""

from .groups import (
    EuclideanNormalizer,
    PointGroup,
    SettingTransformation,
    SpaceGroup,
    StandardCrystal,
    canonical_hall_number,
    euclidean_normalizer,
    standardize,
)
from .solvers import SymmetryAdaptedBasis, fourier_basis, normalizer_basis
from .solvers.harmonics import invariant_harmonics
from .solvers.tensors import symmetrize_tensor, tensor_projector

__version__ = "0.1.0"

__all__ = [
    "EuclideanNormalizer",
    "PointGroup",
    "SettingTransformation",
    "SpaceGroup",
    "StandardCrystal",
    "SymmetryAdaptedBasis",
    "__version__",
    "canonical_hall_number",
    "euclidean_normalizer",
    "fourier_basis",
    "invariant_harmonics",
    "normalizer_basis",
    "standardize",
    "symmetrize_tensor",
    "tensor_projector",
]
