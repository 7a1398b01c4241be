"""Calls into spglib's detection routines with one error convention across versions.

spglib 2.7 and 2.8 signal failure by returning ``None`` unless
``spglib.error.OLD_ERROR_HANDLING`` is False, and warn about that convention on every call;
later versions raise ``spglib.error.SpglibError``. These wrappers opt in to the exceptions
for the duration of the call, so errors carry spglib's message, and never warn.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
import spglib
from spglib.error import SpglibError

from ..errors import InvalidGroupError

__all__ = [
    "NUM_HALL_NUMBERS",
    "SpglibError",
    "check_hall_number",
    "database_operations",
    "primitive_cell",
    "spacegroup_type",
    "spacegroup_type_from_symmetry",
    "symmetry_dataset",
]

NUM_HALL_NUMBERS = 530


def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
    previous = getattr(spglib.error, "OLD_ERROR_HANDLING", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if previous is not None:  # opt in to exceptions that carry spglib's message
            spglib.error.OLD_ERROR_HANDLING = False
        try:
            result = function(*args, **kwargs)
        finally:
            if previous is not None:
                spglib.error.OLD_ERROR_HANDLING = previous
    if result is None:
        raise SpglibError("spglib returned no result")
    return result


def symmetry_dataset(
    cell: tuple[np.ndarray, np.ndarray, np.ndarray], symprec: float, angle_tolerance: float = -1.0
) -> Any:
    """``spglib.get_symmetry_dataset`` in the default (canonical) setting; raises SpglibError."""
    return _call(spglib.get_symmetry_dataset, cell, symprec=symprec, angle_tolerance=angle_tolerance)


def primitive_cell(
    cell: tuple[np.ndarray, np.ndarray, np.ndarray], symprec: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``spglib.standardize_cell`` to the primitive cell, not idealized; raises SpglibError."""
    return _call(spglib.standardize_cell, cell, to_primitive=True, no_idealize=True, symprec=symprec)


def spacegroup_type_from_symmetry(rotations: np.ndarray, translations: np.ndarray, symprec: float) -> Any:
    """``spglib.get_spacegroup_type_from_symmetry``; raises SpglibError."""
    return _call(spglib.get_spacegroup_type_from_symmetry, rotations, translations, symprec=symprec)


def check_hall_number(hall: object) -> int:
    """``hall`` as an ``int``.

    Raises
    ------
    InvalidGroupError
        If ``hall`` is not an integer (``bool`` excluded) in 1..530.
    """
    if isinstance(hall, bool) or not isinstance(hall, (int, np.integer)):
        raise InvalidGroupError(f"Hall number must be an integer in 1..{NUM_HALL_NUMBERS}, got {hall!r}")
    if not 1 <= hall <= NUM_HALL_NUMBERS:
        raise InvalidGroupError(f"Hall number must be in 1..{NUM_HALL_NUMBERS}, got {hall}")
    return int(hall)


def spacegroup_type(hall_number: int) -> Any:
    """``spglib.get_spacegroup_type`` (cached: the 530 types are read once).

    Raises
    ------
    InvalidGroupError
        If ``hall_number`` is not an integer in 1..530.
    """
    return _all_spacegroup_types()[check_hall_number(hall_number) - 1]


@functools.cache
def _all_spacegroup_types() -> tuple[Any, ...]:
    """The types of all 530 Hall numbers, read once."""
    return _call(lambda: tuple(spglib.get_spacegroup_type(hall) for hall in range(1, NUM_HALL_NUMBERS + 1)))


def database_operations(hall_number: int) -> dict[str, np.ndarray]:
    """``spglib.get_symmetry_from_database``: ``rotations`` and ``translations``."""
    return _call(spglib.get_symmetry_from_database, hall_number)
