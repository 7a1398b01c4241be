"""Reflection conditions, read off the extinction mask of a symmetry-adapted basis.

The International Tables list general reflection conditions per class of reflections
(``hkl``, zones such as ``0kl``, rows such as ``00l``) as linear congruences, e.g.
``h+k+l=2n`` for I centring or ``0kl: k+l=4n`` for the d glides of Fd-3m. Here each class
gets the fewest simple congruences that, together with those of the classes before it,
reproduce the extinct wave vectors of the class exactly.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .plane_waves import SymmetryAdaptedBasis

__all__ = ["ReflectionCondition", "reflection_conditions"]

Predicate = Callable[[np.ndarray], np.ndarray]

# (label, predicate on (K, 3) Miller indices, indices that vary within the class)
_ORTHOGONAL_CLASSES: list[tuple[str, Predicate, tuple[int, ...]]] = [
    ("hkl", lambda k: np.ones(len(k), bool), (0, 1, 2)),
    ("0kl", lambda k: k[:, 0] == 0, (1, 2)),
    ("h0l", lambda k: k[:, 1] == 0, (0, 2)),
    ("hk0", lambda k: k[:, 2] == 0, (0, 1)),
    ("hhl", lambda k: k[:, 0] == k[:, 1], (0, 2)),
    ("h00", lambda k: (k[:, 1] == 0) & (k[:, 2] == 0), (0,)),
    ("0k0", lambda k: (k[:, 0] == 0) & (k[:, 2] == 0), (1,)),
    ("00l", lambda k: (k[:, 0] == 0) & (k[:, 1] == 0), (2,)),
]
_HEXAGONAL_CLASSES: list[tuple[str, Predicate, tuple[int, ...]]] = [
    ("hkil", lambda k: np.ones(len(k), bool), (0, 1, 2)),
    ("hki0", lambda k: k[:, 2] == 0, (0, 1)),
    ("hh-2hl", lambda k: k[:, 0] == k[:, 1], (0, 2)),
    ("h-h0l", lambda k: k[:, 0] == -k[:, 1], (0, 2)),
    ("000l", lambda k: (k[:, 0] == 0) & (k[:, 1] == 0), (2,)),
]


@dataclass(frozen=True)
class ReflectionCondition:
    """Reflections of class ``reflections`` occur only if every congruence in ``conditions`` holds.

    Attributes
    ----------
    reflections : str
        Class label, e.g. ``"hkl"``, ``"0kl"``, ``"00l"`` (``"hkil"``, ``"000l"`` in
        hexagonal axes, with i = -h-k).
    conditions : tuple of str
        Congruences such as ``"h+k+l=2n"``; ``n`` is any integer.
    unexplained : int
        Extinct reflections of the class no simple congruence accounts for (0 in practice).
    """

    reflections: str
    conditions: tuple[str, ...]
    unexplained: int = 0

    def __str__(self) -> str:
        text = f"{self.reflections}: {', '.join(self.conditions)}"
        return text + (f" (+{self.unexplained} other absences)" if self.unexplained else "")


@functools.cache
def _candidates(free: tuple[int, ...]) -> tuple[tuple[np.ndarray, int, str], ...]:
    """Congruences ``a.k = 0 mod m`` in the free indices, simplest first."""
    found = []
    for coefficients in itertools.product(range(-2, 3), repeat=len(free)):
        if not any(coefficients) or next(c for c in coefficients if c) < 0:
            continue
        for modulus in (2, 3, 4, 6):
            # one representative per congruence: coefficients in (-m/2, m/2], gcd 1
            half = (modulus + 1) // 2 - 1
            if any((c + half) % modulus - half != c for c in coefficients):
                continue
            if np.gcd.reduce([*coefficients, modulus]) != 1:
                continue
            vector = np.zeros(3, dtype=np.int64)
            vector[list(free)] = coefficients
            found.append((vector, modulus, _describe(vector, modulus)))
    found.sort(key=lambda c: (np.count_nonzero(c[0]), np.abs(c[0]).sum(), c[1], np.count_nonzero(c[0] < 0)))
    return tuple(found)


def _describe(vector: np.ndarray, modulus: int) -> str:
    terms = ""
    for coefficient, name in zip(vector, "hkl", strict=True):
        if coefficient:
            sign = "-" if coefficient < 0 else ("+" if terms else "")
            terms += sign + (f"{abs(coefficient)}" if abs(coefficient) != 1 else "") + name
    return f"{terms}={modulus}n"


def reflection_conditions(basis: SymmetryAdaptedBasis) -> list[ReflectionCondition]:
    """General reflection conditions implied by the extinctions of ``basis``.

    Classes are visited from general to special; a class is listed only if it adds a
    condition to those already implied for its members.

    Parameters
    ----------
    basis : SymmetryAdaptedBasis

    Returns
    -------
    list of ReflectionCondition
    """
    classes = _HEXAGONAL_CLASSES if basis.metric == "hexagonal" else _ORTHOGONAL_CLASSES
    # a reflection is in a class if some member of its orbit is (h-hl is hhl in 4/mmm);
    # congruences are evaluated on that member, as in the International Tables
    images, masks, kept = [], [], []
    for entry in classes:
        image = _class_image(basis, entry[1])
        if not any(np.array_equal(image >= 0, mask) for mask in masks):  # drop equivalent zones
            images.append(image)
            masks.append(image >= 0)
            kept.append(entry)
    allowed = ~basis.extinct
    predicted = np.ones(len(allowed), bool)
    result = []
    for position, (label, _, free) in enumerate(kept):
        members, image = masks[position], basis.wavevectors[images[position]]
        # explain each extinction in the most special class that contains it
        own = members & ~np.any(masks[position + 1 :], axis=0) if position + 1 < len(masks) else members
        added = []
        while np.any(own & predicted & ~allowed):
            best = None
            for vector, modulus, text in _candidates(free):
                holds = ~members | (image @ vector % modulus == 0)
                if np.any(allowed & ~holds):
                    continue
                removed = np.count_nonzero(own & predicted & ~holds)
                if removed and (best is None or removed > best[0]):
                    best = (removed, text, holds)
            if best is None:
                break
            predicted &= best[2]
            added.append(best[1])
        unexplained = int(np.count_nonzero(own & predicted & ~allowed))
        if added or unexplained:
            result.append(ReflectionCondition(label, tuple(added), unexplained))
    return result


def _class_image(basis: SymmetryAdaptedBasis, predicate: Predicate) -> np.ndarray:
    """``(K,)`` int64: k itself if it satisfies ``predicate``, else the first member of its
    orbit that does, else -1."""
    satisfies = predicate(basis.wavevectors)
    satisfying = np.flatnonzero(satisfies)[::-1]
    first = np.full(basis.num_orbits, -1, dtype=np.int64)
    first[basis.orbit[satisfying]] = satisfying  # the last write, the smallest index, wins
    return np.where(satisfies, np.arange(len(satisfies)), first[basis.orbit])
