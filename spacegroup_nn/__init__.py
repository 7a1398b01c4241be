"""Neural networks exactly invariant to any space group, with weights shared by all groups."""

from .groups import (
    EuclideanNormalizer,
    SettingTransformation,
    SpaceGroup,
    StandardCrystal,
    canonical_hall_number,
    euclidean_normalizer,
    standardize,
)
from .solvers import SymmetryAdaptedBasis, fourier_basis, normalizer_basis

__version__ = "0.1.0"

__all__ = [
    "EuclideanNormalizer",
    "SettingTransformation",
    "SpaceGroup",
    "StandardCrystal",
    "SymmetryAdaptedBasis",
    "__version__",
    "canonical_hall_number",
    "euclidean_normalizer",
    "fourier_basis",
    "normalizer_basis",
    "standardize",
]
