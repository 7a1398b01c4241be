"""Space groups from spglib's database, in one canonical setting per type.

Conventions
-----------
* Fractional coordinates ``x`` are column vectors of the conventional cell. An operation
  ``(R, t)`` acts as ``x -> R x + t``; ``R`` is an integer matrix, ``t`` lies in ``[0, 1)^3``.
* The operation list is taken modulo lattice translations and includes the centring
  translations, so ``order = |point group| * (number of centring vectors)``.
* The canonical setting of a type is the setting with the smallest Hall number, which is also
  the setting spglib standardizes to by default: unique axis b and cell choice 1 for
  monoclinic groups, origin choice 1 where two origins are tabulated, hexagonal axes for
  rhombohedral groups.
* Every translation in the database is a multiple of 1/12; ``translations_twelfths`` holds it
  as an exact integer, so phases ``exp(2 pi i k.t)`` are exact 12th roots of unity.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import InvalidGroupError
from ._spglib import (
    NUM_HALL_NUMBERS,
    SpglibError,
    check_hall_number,
    database_operations,
    spacegroup_type,
    spacegroup_type_from_symmetry,
    symmetry_dataset,
)
from .point_group import PointGroup
from .random_crystal import random_crystal

__all__ = [
    "CrystalFamily",
    "SettingTransformation",
    "SpaceGroup",
    "canonical_hall_number",
]

CrystalFamily = Literal["triclinic", "monoclinic", "orthorhombic", "tetragonal", "hexagonal", "cubic"]

NUM_SPACE_GROUPS = 230

# First space-group number of each crystal system (trigonal and hexagonal share a family).
_SYSTEM_STARTS = (
    (195, "cubic"),
    (168, "hexagonal"),
    (143, "trigonal"),
    (75, "tetragonal"),
    (16, "orthorhombic"),
    (3, "monoclinic"),
    (1, "triclinic"),
)


@functools.cache
def _type_numbers() -> np.ndarray:
    """Space-group type number of every Hall number; entry 0 is unused. Shape ``(531,)``."""
    numbers = np.zeros(NUM_HALL_NUMBERS + 1, dtype=np.int64)
    for hall in range(1, NUM_HALL_NUMBERS + 1):
        numbers[hall] = spacegroup_type(hall).number
    return numbers


def canonical_hall_number(number: int) -> int:
    """Hall number of the canonical setting of space-group type ``number`` (1..230).

    It is the smallest Hall number of the type, the setting that
    ``spglib.get_symmetry_dataset`` standardizes to by default.
    """
    _check_number(number)
    return int(np.flatnonzero(_type_numbers() == number)[0])


def _check_number(number: object) -> int:
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
        raise InvalidGroupError(f"space-group number must be an integer in 1..230, got {number!r}")
    if not 1 <= number <= NUM_SPACE_GROUPS:
        raise InvalidGroupError(f"space-group number must be in 1..230, got {number}")
    return int(number)


@functools.cache
def _database_operations(hall: int) -> tuple[np.ndarray, np.ndarray]:
    """Rotations ``(n, 3, 3)`` and translations in twelfths ``(n, 3)``, int64, identity first."""
    ops = database_operations(hall)
    rotations = np.asarray(ops["rotations"], dtype=np.int64)
    scaled = np.asarray(ops["translations"], dtype=np.float64) * 12.0
    twelfths = np.rint(scaled).astype(np.int64)
    if np.abs(scaled - twelfths).max() > 1e-8:
        raise AssertionError(f"Hall {hall}: a translation is not a multiple of 1/12")
    twelfths %= 12
    identity = np.flatnonzero(
        np.all(rotations == np.eye(3, dtype=np.int64), axis=(1, 2)) & np.all(twelfths == 0, axis=1)
    )[0]
    order = np.r_[identity, np.delete(np.arange(len(rotations)), identity)]
    rotations, twelfths = rotations[order], twelfths[order]
    rotations.setflags(write=False)
    twelfths.setflags(write=False)
    return rotations, twelfths


@dataclass(frozen=True)
class SettingTransformation:
    """Change of setting ``x_canonical = matrix @ x + origin_shift`` (fractional, mod 1).

    The lattice vectors (rows) are related by ``original = matrix.T @ canonical`` (spglib's
    ``transformation_matrix`` convention).

    Attributes
    ----------
    matrix : np.ndarray
        ``(3, 3)`` float64. Rational entries (multiples of 1/24); its determinant is the
        volume of the original cell divided by that of the canonical cell: 1 for every
        setting except rhombohedral axes, where it is 1/3 (the hexagonal cell of the
        canonical setting holds three rhombohedral cells).
    origin_shift : np.ndarray
        ``(3,)`` float64 in ``[0, 1)``, a multiple of 1/24.
    """

    matrix: np.ndarray
    origin_shift: np.ndarray

    def apply(self, frac_coords: np.ndarray) -> np.ndarray:
        """Map fractional coordinates ``(N, 3)`` to the canonical setting, ``(N, 3)`` in [0, 1).

        Each atom is mapped once: no centring copies are added. When the canonical cell is
        larger (rhombohedral axes, determinant 1/3), the ``N`` images fill a third of it; adding
        the canonical group's ``centring_vectors`` to them gives the whole conventional cell.
        """
        return (np.asarray(frac_coords) @ self.matrix.T + self.origin_shift) % 1.0

    def conjugate(self, rotations: np.ndarray, translations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Express operations ``(R, t)`` of the original setting in the canonical one.

        Returns rotations ``(n, 3, 3)`` float64 and translations ``(n, 3)`` float64 in [0, 1).
        """
        inverse = np.linalg.inv(self.matrix)
        new_rotations = self.matrix @ rotations @ inverse
        new_translations = (
            translations @ self.matrix.T
            + self.origin_shift
            - np.einsum("nij,j->ni", new_rotations, self.origin_shift)
        ) % 1.0
        return new_rotations, new_translations


class SpaceGroup:
    """A space group as the finite list of its operations modulo lattice translations.

    Parameters
    ----------
    number : int
        International space-group number, 1..230. The group is built in its canonical setting
        (see :func:`canonical_hall_number`); use :meth:`from_hall` for any of the 530 settings.

    Attributes
    ----------
    number : int
        Space-group type, 1..230.
    hall_number : int
        spglib Hall number of the setting, 1..530.
    symbol : str
        Short Hermann-Mauguin symbol, e.g. ``"Fd-3m"``.
    hall_symbol : str
        Hall symbol of the setting.
    setting : str
        spglib's setting label (``"b1"``, ``"1"``, ``"H"``, ... or ``""``).
    rotations : np.ndarray
        ``(order, 3, 3)`` int64, acting on fractional column vectors. Identity first.
    translations : np.ndarray
        ``(order, 3)`` float64 in ``[0, 1)``, exact multiples of 1/12.
    translations_twelfths : np.ndarray
        ``(order, 3)`` int64 in ``0..11``, equal to ``12 * translations``.
    order : int
        Number of operations, centring translations included.
    point_group_symbol : str
        Hermann-Mauguin symbol of the point group, e.g. ``"m-3m"``.
    centring : str
        Lattice centring: one of ``"P", "A", "B", "C", "I", "F", "R"``.
    crystal_system : str
        One of the seven crystal systems (``"trigonal"`` included).
    crystal_family : str
        One of the six crystal families; trigonal and hexagonal groups share ``"hexagonal"``.
    lattice_system : str
        One of the seven lattice systems; rhombohedral groups are ``"rhombohedral"``, other
        trigonal groups ``"hexagonal"``.
    """

    def __init__(self, number: int) -> None:
        self._init_setting(canonical_hall_number(_check_number(number)))

    @classmethod
    def from_hall(cls, hall_number: int) -> SpaceGroup:
        """The group in the setting of spglib Hall number ``hall_number`` (1..530)."""
        group = cls.__new__(cls)
        group._init_setting(check_hall_number(hall_number))
        return group

    @classmethod
    def from_operations(
        cls, rotations: np.ndarray, translations: np.ndarray, symprec: float = 1e-5
    ) -> SpaceGroup:
        """Identify a set of operations with a database setting.

        Parameters
        ----------
        rotations : array_like
            ``(n, 3, 3)`` integer matrices acting on fractional column vectors.
        translations : array_like
            ``(n, 3)`` fractional translations (taken mod 1).
        symprec : float
            Tolerance on translations, in fractional units, in ``(0, 1/24)``. Every
            translation of the database is a multiple of 1/12, so each component must lie
            within ``symprec`` of one (modulo 1); it is snapped to it, and the group is then
            checked in exact integer arithmetic. Noisy translations (spglib's detected ones)
            are thus accepted, without the error of products growing with the noise.

        Returns
        -------
        SpaceGroup
            The database setting with these operations (in any order), with its exact
            translations. Three pairs of settings of Ccce (Hall 322 and 324, 326 and 328,
            330 and 332) have the same operations; the smaller Hall number is returned.

        Raises
        ------
        ValueError
            If ``symprec`` is not in ``(0, 1/24)``.
        InvalidGroupError
            If the operations are malformed, a translation is not within ``symprec`` of a
            multiple of 1/12, or the operations do not form a group modulo lattice
            translations, or form a group that is not one of the 530 database settings.
        """
        if not 0 < symprec < 1 / 24:
            raise ValueError(f"symprec must be in (0, 1/24) (fractional units), got {symprec}")
        rotations = np.asarray(rotations)
        translations = np.asarray(translations, dtype=np.float64)
        if (
            rotations.ndim != 3
            or rotations.shape[1:] != (3, 3)
            or translations.shape
            != (
                len(rotations),
                3,
            )
        ):
            raise InvalidGroupError(
                f"expected rotations (n, 3, 3) and translations (n, 3), got {rotations.shape} "
                f"and {translations.shape}"
            )
        if len(rotations) == 0 or not np.all(np.isfinite(translations)):
            raise InvalidGroupError("operations must be a non-empty list with finite translations")
        if not np.array_equal(rotations, np.rint(rotations)):
            raise InvalidGroupError("rotation matrices must have integer entries")
        rotations = np.rint(rotations).astype(np.int64)
        if not np.all(np.isin(np.rint(np.linalg.det(rotations)), (-1, 1))):
            raise InvalidGroupError("rotation matrices must have determinant +1 or -1")
        twelfths = _twelfths(translations, symprec)
        keys = _operation_keys(rotations, twelfths)
        if len(set(keys)) != len(keys):
            raise InvalidGroupError("operations contain duplicates modulo lattice translations")
        products_r = np.einsum("aij,bjk->abik", rotations, rotations).reshape(-1, 3, 3)
        products_t = (np.einsum("aij,bj->abi", rotations, twelfths) + twelfths[:, None]).reshape(-1, 3)
        missing = set(_operation_keys(products_r, products_t)) - set(keys)
        if missing:
            raise InvalidGroupError(
                f"operations are not closed under composition: {len(missing)} products are missing"
            )
        try:
            info = spacegroup_type_from_symmetry(rotations, twelfths / 12.0, symprec)
        except SpglibError as error:
            raise InvalidGroupError(f"spglib could not identify the operations: {error}") from None
        # spglib names the type (and its standard setting): find the setting among the type's
        settings = [int(hall) for hall in np.flatnonzero(_type_numbers() == info.number)]
        for hall in settings:
            group = cls.from_hall(hall)
            if set(keys) == set(_operation_keys(group.rotations, group.translations_twelfths)):
                return group
        raise InvalidGroupError(
            f"operations form a group of type {info.number} ({info.international_short}) but are "
            f"not exactly any of its database settings (Hall {settings[0]}..{settings[-1]})"
        )

    def _init_setting(self, hall: int) -> None:
        info = spacegroup_type(hall)
        self.number: int = int(info.number)
        self.hall_number: int = hall
        self.symbol: str = info.international_short
        self.hall_symbol: str = info.hall_symbol
        self.setting: str = info.choice
        self.point_group_symbol: str = info.pointgroup_international
        self.rotations, self.translations_twelfths = _database_operations(hall)
        self.translations = self.translations_twelfths / 12.0
        self.translations.setflags(write=False)
        self.order: int = len(self.rotations)
        self.centring: str = info.international_short[0]
        self.crystal_system: str = next(name for start, name in _SYSTEM_STARTS if self.number >= start)
        self.crystal_family: CrystalFamily = (
            "hexagonal" if self.crystal_system == "trigonal" else self.crystal_system  # type: ignore[assignment]
        )
        if self.crystal_system == "trigonal":
            self.lattice_system: str = "rhombohedral" if self.centring == "R" else "hexagonal"
        else:
            self.lattice_system = self.crystal_system

    @property
    def is_canonical(self) -> bool:
        """Whether this is the canonical setting of its type."""
        return self.hall_number == canonical_hall_number(self.number)

    @property
    def is_hexagonal_metric(self) -> bool:
        """Whether the lattice family needs the hexagonal metric (a = b, gamma = 120 deg).

        True for trigonal and hexagonal groups in hexagonal axes (rhombohedral groups in
        rhombohedral axes are not).
        """
        return self.crystal_family == "hexagonal" and self.setting != "R"

    @property
    def centring_vectors(self) -> np.ndarray:
        """Translations of the pure-translation operations, ``(c, 3)`` float64, zero first."""
        pure = np.all(self.rotations == np.eye(3, dtype=np.int64), axis=(1, 2))
        return self.translations[pure]

    @functools.cached_property
    def point_generators(self) -> tuple[int, ...]:
        """Indices of operations whose rotations generate the point group (at most three)."""
        generated = {np.eye(3, dtype=np.int64).tobytes()}
        chosen: list[int] = []
        for index, rotation in enumerate(self.rotations):
            if rotation.tobytes() in generated:
                continue
            chosen.append(index)
            frontier = [np.frombuffer(key, dtype=np.int64).reshape(3, 3) for key in generated]
            while frontier:  # close the set under right multiplication by the generators
                products = [a @ self.rotations[i] for a in frontier for i in chosen]
                frontier = [p for p in products if p.tobytes() not in generated]
                generated.update(p.tobytes() for p in frontier)
        return tuple(chosen)

    @functools.cached_property
    def point_group(self) -> PointGroup:
        """The crystal class as a :class:`PointGroup` of Cartesian orthogonal matrices.

        The distinct rotations ``R`` (fractional) become ``A R A^-1`` in the Cartesian frame
        of the idealized lattice of the setting, ``A`` holding a, b, c as columns: a, b, c
        along x, y, z, except for the hexagonal metric (:attr:`is_hexagonal_metric`) where
        a = (1, 0, 0), b = (-1/2, sqrt(3)/2, 0), c = (0, 0, 1). ``symbol`` is the Schoenflies
        symbol of :attr:`point_group_symbol`; ``canonical_frame`` rotates this frame onto the
        canonical one of :meth:`PointGroup.from_symbol`. Tensors projected with this group
        (see :mod:`spacegroup_nn.solvers.tensors`) are expressed in this Cartesian frame.
        """
        return PointGroup.from_space_group(self)

    @property
    def generators(self) -> tuple[int, ...]:
        """Indices of operations that generate the group modulo lattice translations.

        The point-group generators plus the centring translations. A function invariant under
        these operations is invariant under every operation.
        """
        pure = np.flatnonzero(np.all(self.rotations == np.eye(3, dtype=np.int64), axis=(1, 2)))
        return (*self.point_generators, *(int(i) for i in pure[1:]))

    @property
    def to_canonical(self) -> SettingTransformation:
        """Transformation from this setting to the canonical setting of the type."""
        return _to_canonical(self.hall_number)

    def canonical(self) -> SpaceGroup:
        """The same type in its canonical setting."""
        return SpaceGroup(self.number)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpaceGroup) and other.hall_number == self.hall_number

    def __hash__(self) -> int:
        return hash(("SpaceGroup", self.hall_number))

    def __repr__(self) -> str:
        setting = f", setting={self.setting!r}" if self.setting else ""
        return (
            f"SpaceGroup(number={self.number}, symbol={self.symbol!r}, "
            f"hall_number={self.hall_number}{setting}, order={self.order})"
        )

    def __reduce__(self):
        return (SpaceGroup.from_hall, (self.hall_number,))


def _twelfths(translations: np.ndarray, symprec: float) -> np.ndarray:
    """Translations ``(n, 3)`` snapped to exact twelfths, int64 in ``0..11``.

    Raises :class:`InvalidGroupError`, naming the operation, for a component farther than
    ``symprec`` from every multiple of 1/12 (modulo 1).
    """
    scaled = np.asarray(translations, dtype=np.float64) % 1.0 * 12.0
    twelfths = np.rint(scaled)
    off = np.flatnonzero(np.any(np.abs(scaled - twelfths) >= 12.0 * symprec, axis=1))
    if len(off):
        raise InvalidGroupError(
            f"operation {off[0]} has translation {np.asarray(translations)[off[0]].tolist()}, not "
            f"within symprec={symprec:g} of multiples of 1/12 (modulo 1) as in every database setting"
        )
    return twelfths.astype(np.int64) % 12


def _operation_keys(rotations: np.ndarray, twelfths: np.ndarray) -> list[tuple[bytes, tuple[int, ...]]]:
    """Hashable keys of operations modulo lattice translations, exact.

    ``rotations`` ``(n, 3, 3)`` int64, ``twelfths`` ``(n, 3)`` integer translations in units
    of 1/12 (any range; taken mod 12).
    """
    steps = np.asarray(twelfths, dtype=np.int64) % 12
    return [(r.tobytes(), tuple(int(v) for v in s)) for r, s in zip(rotations, steps, strict=True)]


def _snap(values: np.ndarray, denominator: int = 24) -> np.ndarray:
    snapped = np.rint(np.asarray(values) * denominator) / denominator
    if np.abs(snapped - values).max() > 1e-6:
        raise AssertionError(f"{values} is not a multiple of 1/{denominator}")
    return snapped


@functools.cache
def _to_canonical(hall: int) -> SettingTransformation:
    group = SpaceGroup.from_hall(hall)
    if group.is_canonical:
        return SettingTransformation(np.eye(3), np.zeros(3))
    crystal = random_crystal(group, np.random.default_rng(hall), num_orbits=3, min_distance=None)
    dataset = symmetry_dataset(crystal, symprec=1e-6)
    if dataset.number != group.number:
        raise AssertionError(f"Hall {hall}: spglib did not recover the group of a generic crystal")
    matrix = _snap(dataset.transformation_matrix)
    origin_shift = _snap(dataset.origin_shift) % 1.0
    transformation = SettingTransformation(matrix, origin_shift)
    matrix.setflags(write=False)
    origin_shift.setflags(write=False)
    return transformation
