"""Space groups, point groups, canonical settings and standardization (numpy only)."""

from .space_group import SettingTransformation, SpaceGroup, canonical_hall_number

__all__ = ["SettingTransformation", "SpaceGroup", "canonical_hall_number"]
