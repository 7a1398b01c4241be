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

__all__ = [
    "SpglibError",
    "database_operations",
    "spacegroup_type",
    "spacegroup_type_from_symmetry",
    "symmetry_dataset",
]


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


def spacegroup_type_from_symmetry(rotations: np.ndarray, translations: np.ndarray, symprec: float) -> Any:
    """``spglib.get_spacegroup_type_from_symmetry``; raises SpglibError."""
    return _call(spglib.get_spacegroup_type_from_symmetry, rotations, translations, symprec=symprec)


def spacegroup_type(hall_number: int) -> Any:
    """``spglib.get_spacegroup_type``; raises SpglibError."""
    return _all_spacegroup_types()[hall_number - 1]


@functools.cache
def _all_spacegroup_types() -> tuple[Any, ...]:
    """The types of all 530 Hall numbers, read once."""
    return _call(lambda: tuple(spglib.get_spacegroup_type(hall) for hall in range(1, 531)))


def database_operations(hall_number: int) -> dict[str, np.ndarray]:
    """``spglib.get_symmetry_from_database``: ``rotations`` and ``translations``."""
    return _call(spglib.get_symmetry_from_database, hall_number)
