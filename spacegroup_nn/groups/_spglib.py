"""Calls into spglib's detection routines with one error convention across versions.

spglib < 2.8 signals failure by returning ``None`` (with a message from
``spglib.get_error_message``) and, from 2.7, warns about this old convention on every call;
newer versions raise ``spglib.error.SpglibError``. These wrappers always raise
``SpglibError`` on failure and never warn.
"""

from __future__ import annotations

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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = function(*args, **kwargs)
        message = spglib.get_error_message() if result is None else None
    if result is None:
        raise SpglibError(message or "spglib returned no result")
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
    return _call(spglib.get_spacegroup_type, hall_number)


def database_operations(hall_number: int) -> dict[str, np.ndarray]:
    """``spglib.get_symmetry_from_database``: ``rotations`` and ``translations``."""
    return _call(spglib.get_symmetry_from_database, hall_number)
