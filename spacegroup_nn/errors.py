"""Typed errors raised by ``spacegroup_nn``.

Every error derives from :class:`SpacegroupNNError` and from ``ValueError``, so callers can
catch either. Messages name the
offending item (a file path, a structure id, an atom index) and the problem.
"""

from __future__ import annotations

__all__ = [
    "DisorderedStructureError",
    "EmptyStructureError",
    "InfinitePointGroupError",
    "InvalidCellError",
    "InvalidGroupError",
    "NonFiniteCoordinatesError",
    "OverlappingAtomsError",
    "SpacegroupNNError",
    "StructureError",
    "StructureParseError",
    "SymmetryDetectionError",
    "TooManyAtomsError",
    "UnknownElementError",
]


class SpacegroupNNError(Exception):
    """Base class of every error raised on purpose by ``spacegroup_nn``."""


class InvalidGroupError(SpacegroupNNError, ValueError):
    """A space-group number, Hall number or operation set does not name a valid group."""


class InfinitePointGroupError(InvalidGroupError):
    """A continuous point group (C*v, D*h, Kh) has no finite stand-in at the requested degree."""


class StructureError(SpacegroupNNError, ValueError):
    """A crystal structure cannot be used as given."""


class StructureParseError(StructureError):
    """A structure file or object could not be read (missing, truncated, garbled, unknown type)."""


class EmptyStructureError(StructureError):
    """The structure has no atoms."""


class NonFiniteCoordinatesError(StructureError):
    """A lattice vector or coordinate is NaN or infinite."""


class InvalidCellError(StructureError):
    """The lattice has zero or negative volume, or the input is not periodic in three dimensions.

    The volume is the signed determinant of the lattice vectors (as rows): a left-handed set
    of vectors has negative volume. CIF cell parameters have negative volume when a length is
    negative or the angles close no cell. A molecule passed as a crystal is this error too.
    """


class OverlappingAtomsError(StructureError):
    """Two atoms are closer than the allowed minimum distance."""


class DisorderedStructureError(StructureError):
    """A site has partial occupancy or mixed species."""


class UnknownElementError(StructureError):
    """A species is not a chemical element (the message names its symbol or atomic number)."""


class TooManyAtomsError(StructureError):
    """The structure has more atoms than the configured maximum."""


class SymmetryDetectionError(StructureError):
    """spglib could not determine the space group at the given tolerance."""
