"""Space groups, point groups, canonical settings and standardization (numpy only)."""

from .lattice_normalizer import lattice_normalizer_cosets
from .normalizer import EuclideanNormalizer, euclidean_normalizer
from .point_group import CRYSTALLOGRAPHIC_POINT_GROUPS, HERMANN_MAUGUIN, PointGroup, as_point_group
from .random_crystal import random_crystal
from .reading import parse_structure
from .space_group import SettingTransformation, SpaceGroup, canonical_hall_number
from .standardize import StandardCrystal, standardize

__all__ = [
    "CRYSTALLOGRAPHIC_POINT_GROUPS",
    "HERMANN_MAUGUIN",
    "EuclideanNormalizer",
    "PointGroup",
    "SettingTransformation",
    "SpaceGroup",
    "StandardCrystal",
    "as_point_group",
    "canonical_hall_number",
    "euclidean_normalizer",
    "lattice_normalizer_cosets",
    "parse_structure",
    "random_crystal",
    "standardize",
]
