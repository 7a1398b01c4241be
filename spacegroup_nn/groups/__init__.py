"""Space groups, point groups, canonical settings and standardization (numpy only)."""

from .normalizer import EuclideanNormalizer, euclidean_normalizer
from .random_crystal import random_crystal
from .space_group import SettingTransformation, SpaceGroup, canonical_hall_number
from .standardize import StandardCrystal, standardize

__all__ = [
    "EuclideanNormalizer",
    "SettingTransformation",
    "SpaceGroup",
    "StandardCrystal",
    "canonical_hall_number",
    "euclidean_normalizer",
    "random_crystal",
    "standardize",
]
