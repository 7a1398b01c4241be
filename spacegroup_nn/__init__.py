"""Neural networks exactly invariant to any space group, with weights shared by all groups."""

from .groups import SettingTransformation, SpaceGroup, canonical_hall_number

__version__ = "0.1.0"

__all__ = ["SettingTransformation", "SpaceGroup", "__version__", "canonical_hall_number"]
