"""Finite point groups as lists of 3×3 orthogonal matrices, from symbols, crystals or molecules.

Conventions
-----------
* A point group is the list of its elements, ``(order, 3, 3)`` float64 orthogonal matrices
  acting on Cartesian column vectors ``x -> R x``. The identity comes first, then the other
  proper elements, then the improper ones (determinant -1). Entries within 1e-9 of a
  multiple of 1/2 are snapped to it, so crystallographic groups in a cubic frame are exact.
* Symbols are Schoenflies symbols as pymatgen's ``PointGroupAnalyzer`` writes them: ``"C1"``,
  ``"Ci"``, ``"Cs"``, ``"Cn"``, ``"Cnv"``, ``"Cnh"``, ``"S2n"`` (``"S6"`` for -3, not ``"C3i"``),
  ``"Dn"``, ``"Dnh"``, ``"Dnd"``, ``"T"``, ``"Td"``, ``"Th"``, ``"O"``, ``"Oh"``, ``"I"``,
  ``"Ih"``, and the continuous ``"C*v"``, ``"D*h"``, ``"Kh"``.
* Canonical frame of a symbol (:meth:`PointGroup.from_symbol`): principal axis along z;
  a twofold axis C2' along x (Dn, Dnh, Dnd); a vertical mirror containing x, i.e. with normal
  along y (Cnv). Cs is C1h: its mirror is the xy plane. T, Th, Td, O, Oh: twofold (T) or
  fourfold (O) axes along x, y, z, threefold axes along the body diagonals; Td has S4 along
  x, y, z and the mirror x = y. I and Ih: twofold axes along x, y, z (the frame of their
  subgroup T), a fivefold axis along (0, 1, phi), phi the golden ratio.
* Every group carries ``canonical_frame``, a proper rotation ``Q`` (3×3) with
  ``Q @ R @ Q.T`` an element of ``PointGroup.from_symbol(symbol)`` for every element ``R``:
  the point ``x`` of the group's own frame is ``Q @ x`` in the canonical frame.
* Continuous groups are replaced by finite subgroups with the same invariants up to a degree
  ``l_max`` (harmonics of degree ``l <= l_max`` of either parity, hence Cartesian tensors of
  rank ``<= l_max``); the group records ``l_max`` and solvers refuse higher degrees:
  ``C*v -> Cnv`` and ``D*h -> Dnh`` with ``n = truncation_order(l_max) = max(2, l_max + 1)``
  (a rotation by 2 pi / n about z fixes no harmonic component with ``0 < |m| <= l_max``, and
  the remaining elements are shared with the continuous group), and ``Kh -> Ih`` for
  ``l_max <= 5`` (the first invariant of I is at l = 6). For ``Kh`` with ``l_max > 5`` no
  finite group is exact: :class:`~spacegroup_nn.errors.InfinitePointGroupError`.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import (
    DisorderedStructureError,
    EmptyStructureError,
    InfinitePointGroupError,
    InvalidGroupError,
    NonFiniteCoordinatesError,
    OverlappingAtomsError,
    StructureParseError,
    SymmetryDetectionError,
)

if TYPE_CHECKING:
    from .space_group import SpaceGroup

__all__ = [
    "CRYSTALLOGRAPHIC_POINT_GROUPS",
    "DEFAULT_L_MAX",
    "HERMANN_MAUGUIN",
    "PointGroup",
    "as_point_group",
]

#: Default degree up to which continuous groups are represented exactly (rank-4 tensors fit).
DEFAULT_L_MAX = 4

#: Short Hermann-Mauguin symbol (as spglib writes it) -> Schoenflies, the 32 classes in IT order.
HERMANN_MAUGUIN: dict[str, str] = {
    "1": "C1", "-1": "Ci", "2": "C2", "m": "Cs", "2/m": "C2h", "222": "D2", "mm2": "C2v",
    "mmm": "D2h", "4": "C4", "-4": "S4", "4/m": "C4h", "422": "D4", "4mm": "C4v", "-42m": "D2d",
    "4/mmm": "D4h", "3": "C3", "-3": "S6", "32": "D3", "3m": "C3v", "-3m": "D3d", "6": "C6",
    "-6": "C3h", "6/m": "C6h", "622": "D6", "6mm": "C6v", "-6m2": "D3h", "6/mmm": "D6h",
    "23": "T", "m-3": "Th", "432": "O", "-43m": "Td", "m-3m": "Oh",
}  # fmt: skip

#: Schoenflies symbols of the 32 crystallographic point groups, in IT order.
CRYSTALLOGRAPHIC_POINT_GROUPS: tuple[str, ...] = tuple(HERMANN_MAUGUIN.values())

_HM_VARIANTS = {
    "-4m2": "-42m", "-62m": "-6m2", "321": "32", "312": "32", "3m1": "3m", "31m": "3m",
    "-3m1": "-3m", "-31m": "-3m", "m3": "m-3", "m3m": "m-3m",
}  # fmt: skip
_ALIASES = {"S2": "Ci", "C1h": "Cs", "C1v": "Cs", "C3i": "S6", "C∞v": "C*v", "D∞h": "D*h"}
_POLYHEDRAL_ORDERS = {"T": 12, "Td": 24, "Th": 24, "O": 24, "Oh": 48, "I": 60, "Ih": 120}
_CONTINUOUS = ("C*v", "D*h", "Kh")
_AXIAL = re.compile(r"^(C|D|S)([1-9][0-9]*)(v|h|d)?$")
_KH_EXACT_L_MAX = 5  # Ih has no invariant harmonic of degree 1..5 (its first is at l = 6)
_SNAP_TOL = 1e-9
_EXACT_ATOL = 1e-6


# ----------------------------------------------------------------------------- symbols


def _normalize_symbol(symbol: object) -> str:
    """The Schoenflies symbol named by a Schoenflies or Hermann-Mauguin ``symbol``."""
    if not isinstance(symbol, str):
        raise InvalidGroupError(f"point-group symbol must be a string, got {symbol!r}")
    name = symbol.strip().replace(" ", "")
    name = _HM_VARIANTS.get(name, name)
    if name in HERMANN_MAUGUIN:
        return HERMANN_MAUGUIN[name]
    name = _ALIASES.get(name, name)
    if name in ("C1", "Ci", "Cs") or name in _POLYHEDRAL_ORDERS or name in _CONTINUOUS:
        return name
    match = _AXIAL.match(name)
    if match:
        letter, n, suffix = match.group(1), int(match.group(2)), match.group(3)
        if letter == "C" and (suffix is None or n >= 2):
            return name
        if letter == "D" and n >= 2 and suffix != "v":
            return name
        if letter == "S" and suffix is None and n >= 4 and n % 2 == 0:
            return name
    raise InvalidGroupError(
        f"unknown point-group symbol {symbol!r}: expected a Schoenflies symbol (C1, Ci, Cs, Cn, Cnv, "
        "Cnh, S2n, Dn, Dnh, Dnd, T, Td, Th, O, Oh, I, Ih, C*v, D*h, Kh) or a Hermann-Mauguin "
        "symbol of a crystallographic class (e.g. 'm-3m', '4/mmm')"
    )


def _symbol_order(symbol: str) -> int:
    """Order of the finite group ``symbol`` (a normalized, non-continuous symbol)."""
    if symbol in _POLYHEDRAL_ORDERS:
        return _POLYHEDRAL_ORDERS[symbol]
    if symbol == "C1":
        return 1
    if symbol in ("Ci", "Cs"):
        return 2
    match = _AXIAL.match(symbol)
    letter, n, suffix = match.group(1), int(match.group(2)), match.group(3)  # type: ignore[union-attr]
    return n * (1 if letter == "S" else 2 if letter == "D" else 1) * (2 if suffix else 1)


# -------------------------------------------------------------------------- generators


def _rotation_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation by ``angle`` about ``axis`` (right-handed), Rodrigues' formula."""
    u = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    cross = np.array([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * (cross @ cross)


_C2X = np.diag([1.0, -1.0, -1.0])
_MIRROR_Z = np.diag([1.0, 1.0, -1.0])  # sigma_h
_MIRROR_Y = np.diag([1.0, -1.0, 1.0])  # sigma_v containing x
_INVERSION = -np.eye(3)
_C3_DIAGONAL = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # about (1, 1, 1)
_MIRROR_DIAGONAL = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # x <-> y
_C5_ICOSAHEDRAL = _rotation(np.array([0.0, 1.0, (1.0 + math.sqrt(5.0)) / 2.0]), 2.0 * math.pi / 5.0)


def _generators(symbol: str) -> list[np.ndarray]:
    """Generators of the finite group ``symbol`` (normalized) in its canonical frame."""
    tetrahedral = [np.diag([-1.0, -1.0, 1.0]), _C2X, _C3_DIAGONAL]
    polyhedral = {
        "T": tetrahedral,
        "Th": [*tetrahedral, _INVERSION],
        "Td": [*tetrahedral, _MIRROR_DIAGONAL],
        "O": [_rotation_z(math.pi / 2), _C3_DIAGONAL],
        "Oh": [_rotation_z(math.pi / 2), _C3_DIAGONAL, _INVERSION],
        "I": [*tetrahedral, _C5_ICOSAHEDRAL],
        "Ih": [*tetrahedral, _C5_ICOSAHEDRAL, _INVERSION],
        "C1": [],
        "Ci": [_INVERSION],
        "Cs": [_MIRROR_Z],
    }
    if symbol in polyhedral:
        return polyhedral[symbol]
    match = _AXIAL.match(symbol)
    letter, n, suffix = match.group(1), int(match.group(2)), match.group(3)  # type: ignore[union-attr]
    if letter == "S":
        return [_MIRROR_Z @ _rotation_z(2.0 * math.pi / n)]
    principal = _rotation_z(2.0 * math.pi / n)
    if letter == "C":
        extra = {None: [], "v": [_MIRROR_Y], "h": [_MIRROR_Z]}[suffix]
        return [principal, *extra]
    if suffix == "d":
        return [_MIRROR_Z @ _rotation_z(math.pi / n), _C2X]
    return [principal, _C2X, *([_MIRROR_Z] if suffix == "h" else [])]


def _snap(matrices: np.ndarray) -> np.ndarray:
    """Snap entries within 1e-9 of a multiple of 1/2 onto it."""
    halves = np.rint(matrices * 2.0) / 2.0
    return np.where(np.abs(matrices - halves) < _SNAP_TOL, halves, matrices)


def _sorted(rotations: np.ndarray) -> np.ndarray:
    """Identity first, then proper elements, then improper; ties broken by the entries."""
    det = np.rint(np.linalg.det(rotations))
    trace = np.trace(rotations, axis1=1, axis2=2)
    keys = np.rint(rotations.reshape(len(rotations), 9) * 1e6)
    order = np.lexsort((*keys.T[::-1], -np.rint(trace * 1e6), -det))
    return rotations[order]


def _generated(generators: list[np.ndarray], atol: float, limit: int) -> np.ndarray:
    """Identity first, then every product of ``generators``, ``(m, 3, 3)``.

    A breadth-first closure in which a product within a Frobenius distance ``atol`` of an
    element already found is that element, so noisy generators (a detected symmetry) close as
    well as exact ones. It stops once more than ``limit`` elements are found: ``m > limit``
    then says that the generators do not close into a group of order ``<= limit`` at ``atol``.
    """
    found = [np.eye(3)]
    frontier = [np.eye(3)]
    while frontier and len(found) <= limit:
        fresh = []
        for element in frontier:
            for generator in generators:
                product = element @ generator
                if _distances(np.array(found), product[None]).min() >= atol:
                    found.append(product)
                    fresh.append(product)
        frontier = fresh
    return np.array(found)


def _closure(generators: list[np.ndarray], limit: int) -> np.ndarray:
    """All products of exact ``generators`` (a finite group of order ``<= limit``),
    ``(order, 3, 3)``, snapped, sorted, read-only."""
    rotations = _sorted(_snap(_generated(generators, _EXACT_ATOL, limit)))
    rotations.setflags(write=False)
    return rotations


# ---------------------------------------------------------------------- identification


def _axes(rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Determinant, trace of the proper part ``det * R`` and unit rotation axis of each element.

    The axis of the proper part ``P`` comes from ``P + P^T - (tr P - 1) I = 2 (1 - cos) u u^T``,
    oriented by the antisymmetric part (arbitrary sign for half turns); it is zero for the
    identity and the inversion. Shapes ``(m,)``, ``(m,)``, ``(m, 3)``.
    """
    det = np.sign(np.linalg.det(rotations))
    proper = rotations * det[:, None, None]
    trace = np.trace(proper, axis1=1, axis2=2)
    outer = proper + np.transpose(proper, (0, 2, 1)) - (trace - 1.0)[:, None, None] * np.eye(3)
    column = np.argmax(np.einsum("mii->mi", outer), axis=1)
    axis = outer[np.arange(len(rotations)), :, column]
    norm = np.linalg.norm(axis, axis=1)
    has_axis = trace < 3.0 - 1e-6
    axis = np.where(has_axis[:, None], axis / np.where(norm > 0, norm, 1.0)[:, None], 0.0)
    anti = proper - np.transpose(proper, (0, 2, 1))
    anti = np.stack([anti[:, 2, 1], anti[:, 0, 2], anti[:, 1, 0]], axis=1)
    axis *= np.where(np.einsum("mi,mi->m", axis, anti) < 0, -1.0, 1.0)[:, None]
    return det, trace, axis


def _frame(first: np.ndarray, second: np.ndarray | None) -> np.ndarray:
    """Rows: an orthonormal right-handed frame whose first row is ``first``, second in its plane
    with ``second`` (or a fixed perpendicular when ``second`` is None)."""
    e1 = first / np.linalg.norm(first)
    if second is None:
        second = np.eye(3)[np.argmin(np.abs(e1))]
    e2 = second - (second @ e1) * e1
    e2 /= np.linalg.norm(e2)
    return np.stack([e1, e2, np.cross(e1, e2)])


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Frobenius distances ``(len(a), len(b))`` between two lists of 3×3 matrices."""
    a, b = a.reshape(len(a), 9), b.reshape(len(b), 9)
    squared = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def _embeds(source: np.ndarray, target: np.ndarray, frame: np.ndarray, atol: float) -> bool:
    """Whether every element of ``frame @ source @ frame.T`` is an element of ``target``, no two
    the same one (a bijection when the sizes agree)."""
    close = _distances(frame @ source @ frame.T, target) < atol
    return bool(np.all(close.sum(axis=1) == 1) and np.all(close.sum(axis=0) <= 1))


def _pinning(has_axis: np.ndarray, axis: np.ndarray, candidates: np.ndarray) -> tuple[int, int | None]:
    """Two elements that fix a frame: the element with an axis and the fewest ``candidates``,
    then the one with the fewest among those whose axis is not parallel to its axis (None if
    every axis is parallel)."""
    first = int(np.argmin(np.where(has_axis, candidates, np.inf)))
    skew = has_axis & (np.abs(axis @ axis[first]) < 1.0 - 1e-6)
    return first, int(np.argmin(np.where(skew, candidates, np.inf))) if skew.any() else None


def _embeddings(source: np.ndarray, target: np.ndarray, atol: float) -> Iterator[np.ndarray]:
    """Proper rotations ``Q`` with ``Q source Q^T`` a subset of ``target``, element by element.

    ``source`` and ``target`` are lists of orthogonal matrices ``(m, 3, 3)`` and ``(n, 3, 3)``.
    Two source elements fix the frame (:func:`_pinning`, fewest target elements of their kind:
    determinant and angle). Every pair of target elements of the same kinds, with the same
    angle between their axes, is tried with both orientations of each axis, and each ``Q``
    that maps the whole source into the target is yielded; a source whose axes are all
    parallel fixes ``Q`` up to a rotation about that axis, which maps such a group to itself.
    ``atol`` bounds the Frobenius distance between matched matrices.
    """
    if len(source) > len(target):
        return
    s_det, s_trace, s_axis = _axes(source)
    t_det, t_trace, t_axis = _axes(target)
    tol = max(3.0 * atol, 1e-6)
    same = (s_det[:, None] == t_det[None]) & (np.abs(s_trace[:, None] - t_trace[None]) < tol)
    same &= (np.linalg.norm(t_axis, axis=1) > 0.5)[None]
    s_has_axis = np.linalg.norm(s_axis, axis=1) > 0.5
    if not s_has_axis.any():  # C1 or Ci: nothing to align
        if _embeds(source, target, np.eye(3), atol):
            yield np.eye(3)
        return
    first, second = _pinning(s_has_axis, s_axis, same.sum(axis=1))
    if second is None:
        source_frame = _frame(s_axis[first], None)
        for i in np.flatnonzero(same[first]):
            for sign_i in (1.0, -1.0):
                frame = _frame(sign_i * t_axis[i], None).T @ source_frame
                if _embeds(source, target, frame, atol):
                    yield frame
        return
    source_frame = _frame(s_axis[first], s_axis[second])
    cosine = s_axis[first] @ s_axis[second]
    for i, j in itertools.product(np.flatnonzero(same[first]), np.flatnonzero(same[second])):
        for sign_i, sign_j in itertools.product((1.0, -1.0), repeat=2):
            if abs(sign_i * sign_j * (t_axis[i] @ t_axis[j]) - cosine) > tol:
                continue
            frame = _frame(sign_i * t_axis[i], sign_j * t_axis[j]).T @ source_frame
            if _embeds(source, target, frame, atol):
                yield frame


def _align(source: np.ndarray, target: np.ndarray, atol: float) -> np.ndarray | None:
    """A proper rotation ``Q`` with ``Q source Q^T = target`` as sets (the first of
    :func:`_embeddings`), or None if the sizes differ or none is found."""
    if len(source) != len(target):
        return None
    return next(_embeddings(source, target, atol), None)


def _signature(rotations: np.ndarray) -> np.ndarray:
    """Sorted ``(det, trace)`` pairs, ``(m, 2)``: equal for conjugate groups."""
    det = np.rint(np.linalg.det(rotations))
    trace = np.trace(rotations, axis1=1, axis2=2)
    order = np.lexsort((trace, det))
    return np.stack([det[order], trace[order]], axis=1)


def _candidate_symbols(order: int) -> list[str]:
    """Schoenflies symbols of the finite point groups of a given order."""
    symbols = [name for name, size in _POLYHEDRAL_ORDERS.items() if size == order]
    symbols += {1: ["C1"], 2: ["Ci", "Cs", "C2"]}.get(order, [f"C{order}"])
    if order % 2 == 0 and order >= 4:
        n = order // 2
        symbols += [f"C{n}v", f"C{n}h", f"S{order}", f"D{n}"]
    if order % 4 == 0 and order >= 8:
        symbols += [f"D{order // 4}h", f"D{order // 4}d"]
    return symbols


def _identify(rotations: np.ndarray, atol: float) -> tuple[str, np.ndarray]:
    """Schoenflies symbol and canonical frame of a finite group of orthogonal matrices."""
    signature = _signature(rotations)
    for symbol in _candidate_symbols(len(rotations)):
        canonical = _canonical(symbol).rotations
        if not np.allclose(_signature(canonical), signature, atol=max(atol, 1e-6)):
            continue
        frame = _align(rotations, canonical, atol)
        if frame is not None:
            return symbol, frame
    raise InvalidGroupError(f"the {len(rotations)} matrices are not conjugate to any finite point group")


def _validated(rotations: Any, atol: float) -> np.ndarray:
    """Check that ``rotations`` is a finite group of orthogonal matrices; return it sorted."""
    matrices = np.asarray(rotations, dtype=np.float64)
    if matrices.ndim != 3 or matrices.shape[1:] != (3, 3) or len(matrices) == 0:
        raise InvalidGroupError(f"expected rotations of shape (n, 3, 3) with n >= 1, got {matrices.shape}")
    if not np.all(np.isfinite(matrices)):
        raise InvalidGroupError("rotations must be finite")
    gram = matrices @ np.transpose(matrices, (0, 2, 1))
    if np.abs(gram - np.eye(3)).max() > atol:
        raise InvalidGroupError("rotations must be orthogonal matrices")
    if not np.any(_distances(matrices, np.eye(3)[None]) < atol):
        raise InvalidGroupError("rotations must contain the identity")
    products = np.einsum("aij,bjk->abik", matrices, matrices).reshape(-1, 3, 3)
    if not np.all((_distances(products, matrices) < atol).sum(axis=1) == 1):
        raise InvalidGroupError("rotations are not a group: a product is missing or elements are duplicated")
    return _sorted(_snap(matrices))


# ------------------------------------------------------------------------------ molecules


def _as_molecule(molecule: Any, min_distance: float) -> Any:
    """A validated pymatgen ``Molecule`` from a pymatgen ``Molecule`` or an ASE ``Atoms``."""
    from ase import Atoms
    from pymatgen.core import Molecule
    from scipy.spatial import cKDTree

    if isinstance(molecule, Atoms):
        molecule = Molecule(molecule.get_chemical_symbols(), molecule.positions)
    elif not isinstance(molecule, Molecule):
        raise StructureParseError(
            f"expected a pymatgen Molecule or an ASE Atoms, got {type(molecule).__name__}"
        )
    if len(molecule) == 0:
        raise EmptyStructureError("the molecule has no atoms")
    coords = np.asarray(molecule.cart_coords, dtype=np.float64)
    if not np.all(np.isfinite(coords)):
        index = int(np.flatnonzero(~np.all(np.isfinite(coords), axis=1))[0])
        raise NonFiniteCoordinatesError(f"atom {index} has a non-finite coordinate {coords[index].tolist()}")
    if not molecule.is_ordered:
        raise DisorderedStructureError("the molecule has a site with partial occupancy or mixed species")
    if len(coords) > 1:
        distances, neighbours = cKDTree(coords).query(coords, k=2)
        i = int(np.argmin(distances[:, 1]))
        if distances[i, 1] < min_distance:
            i, j = sorted((i, int(neighbours[i, 1])))
            raise OverlappingAtomsError(
                f"atoms {i} and {j} are {distances[i, 1]:.3f} Å apart (minimum {min_distance} Å)"
            )
    return molecule


class _Sites:
    """The atoms of a molecule about its centre, to test and refine candidate symmetries.

    Parameters
    ----------
    coords : np.ndarray
        ``(N, 3)`` float64 Cartesian coordinates (Å) relative to the centre of the group.
    species : list
        ``N`` species (anything with a stable ``str``); only atoms of one species match.
    """

    def __init__(self, coords: np.ndarray, species: list) -> None:
        from scipy.spatial import cKDTree

        labels = {name: index for index, name in enumerate(sorted(set(map(str, species))))}
        # a fourth coordinate far apart for different species: a near neighbour has the same species
        self._tag = 1e6 * np.array([labels[str(name)] for name in species], dtype=np.float64)[:, None]
        self.coords = np.asarray(coords, dtype=np.float64)
        self._tree = cKDTree(np.hstack([self.coords, self._tag]))

    def nearest(self, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each atom moved by ``rotation`` (3×3), the distance (Å) to the nearest atom of its
        species and that atom's index: float64 ``(N,)`` and int ``(N,)``."""
        return self._tree.query(np.hstack([self.coords @ rotation.T, self._tag]))

    def maps(self, rotations: np.ndarray, tolerance: float) -> bool:
        """Whether every element of ``rotations`` ``(m, 3, 3)`` moves every atom to within
        ``tolerance`` (Å) of an atom of its species."""
        return all(self.nearest(rotation)[0].max() < tolerance for rotation in rotations)

    def fitted(self, rotation: np.ndarray) -> np.ndarray:
        """The approximate symmetry ``rotation`` (3×3) made exact on the molecule.

        Each atom is matched with the atom of its species nearest its image, and the orthogonal
        matrix of the same determinant that maps the atoms onto their matches best (least
        squares, Kabsch's algorithm) is returned. It is exact when the match is a symmetry of
        the molecule, however far off ``rotation`` was within half the distance of two atoms.
        """
        _, match = self.nearest(rotation)
        u, _, vt = np.linalg.svd(self.coords[match].T @ self.coords)
        sign = np.sign(np.linalg.det(rotation)) * np.sign(np.linalg.det(u @ vt))
        return u @ np.diag([1.0, 1.0, sign]) @ vt


def _detected_operations(analyzer: Any, sites: _Sites, atol: float) -> np.ndarray:
    """The operations of ``analyzer`` (a pymatgen ``PointGroupAnalyzer``), refined on the
    molecule (:meth:`_Sites.fitted`) and closed under products (within a Frobenius distance
    ``atol``), ``(m, 3, 3)``; ``m`` exceeds the order of ``analyzer.sch_symbol`` when they do
    not close into a group of that order.

    pymatgen accepts an operation that moves atoms by up to its ``tolerance``, so its list can
    be a misoriented copy of the group; refining makes each operation exact.
    """
    order = _symbol_order(_normalize_symbol(analyzer.sch_symbol))
    generators = [sites.fitted(op.rotation_matrix) for op in analyzer.get_symmetry_operations()]
    return _generated(generators, atol, order)


def _placement(
    canonical: PointGroup, operations: np.ndarray, sites: _Sites, atol: float, tolerance: float
) -> np.ndarray | None:
    """A frame ``Q`` that puts the ``canonical`` group around the detected ``operations``
    (``Q operations Q^T`` a subset of it, :func:`_embeddings`) and makes it a symmetry of the
    molecule: every element of ``Q^T canonical Q`` maps ``sites`` onto themselves within
    ``tolerance``. None if no placement does.

    The operations can be a proper subgroup of the group pymatgen names: for ``S2n`` it
    returns only the rotations of ``Cn`` (it tests the rotoreflection that decides the symbol
    but never stores it), and an accidental spherical top can lose the twofold axes
    perpendicular to its principal axis. Placing the named group around the subgroup and
    checking it on the atoms recovers the whole group.
    """
    for frame in _embeddings(operations, canonical.rotations, atol):
        if sites.maps(frame.T @ canonical.rotations @ frame, tolerance):
            return frame
    return None


# ---------------------------------------------------------------------------- the class


class PointGroup:
    """A finite group of 3×3 orthogonal matrices: a point group in a given Cartesian frame.

    Parameters
    ----------
    rotations : array_like
        ``(n, 3, 3)`` orthogonal matrices forming a group (all elements, any order, any frame).
        The group is identified (symbol and canonical frame) by conjugation onto
        :meth:`from_symbol`'s groups. Use :meth:`from_symbol`, :meth:`from_molecule` or
        ``SpaceGroup.point_group`` for the usual constructions.
    atol : float
        Tolerance on matrix distances (Frobenius) for orthogonality, closure and identification.

    Attributes
    ----------
    symbol : str
        Schoenflies symbol (pymatgen's spelling, e.g. ``"C2v"``, ``"D6h"``, ``"S6"``, ``"C*v"``).
    rotations : np.ndarray
        ``(order, 3, 3)`` float64, read-only, orthogonal, identity first, proper before improper.
    order : int
        Number of elements (of the finite stand-in for ``C*v``, ``D*h``, ``Kh``).
    canonical_frame : np.ndarray
        ``(3, 3)`` float64 proper rotation ``Q``: ``Q @ R @ Q.T`` is in
        ``PointGroup.from_symbol(symbol).rotations`` for every element ``R``, and ``Q @ x``
        is the canonical position of the point ``x``. The identity for :meth:`from_symbol`.
    l_max : int or None
        For a continuous group, the degree up to which the finite stand-in is exact; None
        for a finite group (exact at every degree).

    Notes
    -----
    Equality compares the symbol, ``l_max`` and the set of matrices (to 1e-6), not the
    element order or the frame attribute; the hash uses symbol, order and ``l_max`` only.
    """

    def __init__(self, rotations: Any, *, atol: float = _EXACT_ATOL) -> None:
        matrices = _validated(rotations, atol)
        symbol, frame = _identify(matrices, atol)
        self._set(matrices, symbol, frame, None)

    def _set(self, rotations: np.ndarray, symbol: str, frame: np.ndarray, l_max: int | None) -> None:
        rotations = np.array(rotations, dtype=np.float64)
        frame = np.array(frame, dtype=np.float64)
        rotations.setflags(write=False)
        frame.setflags(write=False)
        self.symbol: str = symbol
        self.rotations: np.ndarray = rotations
        self.order: int = len(rotations)
        self.canonical_frame: np.ndarray = frame
        self.l_max: int | None = l_max

    @classmethod
    def _create(
        cls, rotations: np.ndarray, symbol: str, frame: np.ndarray, l_max: int | None = None
    ) -> PointGroup:
        group = cls.__new__(cls)
        group._set(rotations, symbol, frame, l_max)
        return group

    # ---------------------------------------------------------------- constructors

    @classmethod
    def from_symbol(cls, symbol: str, *, l_max: int = DEFAULT_L_MAX) -> PointGroup:
        """The group named by ``symbol``, in its canonical frame (see the module docstring).

        Parameters
        ----------
        symbol : str
            Schoenflies (``"D6h"``, ``"Td"``, ``"C12v"``, ``"S8"``; aliases ``"C3i"``, ``"S2"``,
            ``"C1h"``) or Hermann-Mauguin for the 32 crystallographic classes (``"m-3m"``,
            ``"4/mmm"``, ``"-4m2"``), or a continuous group ``"C*v"``, ``"D*h"``, ``"Kh"``.
        l_max : int
            Only for continuous groups: the degree up to which the finite stand-in is exact.

        Raises
        ------
        InvalidGroupError
            Unknown symbol.
        InfinitePointGroupError
            ``"Kh"`` with ``l_max > 5``.
        """
        name = _normalize_symbol(symbol)
        if name in _CONTINUOUS:
            return cls._truncated(name, l_max, np.eye(3))
        return _canonical(name)

    @staticmethod
    def truncation_order(l_max: int) -> int:
        """Order ``n`` of the axis of the stand-ins ``Cnv`` for ``C*v`` and ``Dnh`` for ``D*h``.

        ``n = max(2, l_max + 1)``: the smallest ``n`` for which ``Cnv`` (``Dnh``) has exactly
        the invariant harmonics of ``C*v`` (``D*h``) at every degree ``l <= l_max``.
        """
        if isinstance(l_max, bool) or not isinstance(l_max, (int, np.integer)) or l_max < 0:
            raise ValueError(f"l_max must be a non-negative integer, got {l_max!r}")
        return max(2, int(l_max) + 1)

    @classmethod
    def _truncated(cls, symbol: str, l_max: int, frame: np.ndarray) -> PointGroup:
        n = cls.truncation_order(l_max)
        if symbol == "Kh":
            if l_max > _KH_EXACT_L_MAX:
                raise InfinitePointGroupError(
                    f"Kh (a single atom, the full group O(3)) has no finite stand-in exact up to "
                    f"l_max={l_max}: Ih is exact only up to l_max={_KH_EXACT_L_MAX}; the only "
                    "O(3)-invariant harmonic is l = 0"
                )
            finite = "Ih"
        else:
            finite = f"C{n}v" if symbol == "C*v" else f"D{n}h"
        rotations = frame.T @ _canonical(finite).rotations @ frame
        return cls._create(rotations, symbol, frame, int(l_max))

    @classmethod
    def from_space_group(cls, space_group: SpaceGroup) -> PointGroup:
        """The point group of ``space_group`` in the Cartesian frame of its idealized lattice.

        A fractional rotation ``R`` becomes ``A R A^-1``, with ``A`` the lattice vectors as
        columns: a, b, c along x, y, z (identity metric) for every family but the hexagonal
        metric (trigonal and hexagonal groups in hexagonal axes), where ``a = (1, 0, 0)``,
        ``b = (-1/2, sqrt(3)/2, 0)``, ``c = (0, 0, 1)``.
        """
        unique = np.unique(np.asarray(space_group.rotations, dtype=np.float64), axis=0)
        lattice = np.eye(3)
        if space_group.is_hexagonal_metric:
            lattice = np.array([[1.0, -0.5, 0.0], [0.0, math.sqrt(3.0) / 2.0, 0.0], [0.0, 0.0, 1.0]])
        rotations = _sorted(_snap(lattice @ unique @ np.linalg.inv(lattice)))
        symbol = HERMANN_MAUGUIN[space_group.point_group_symbol]
        frame = _align(rotations, _canonical(symbol).rotations, _EXACT_ATOL)
        if frame is None:
            raise AssertionError(f"{space_group!r}: rotations are not conjugate to {symbol}")
        return cls._create(rotations, symbol, frame)

    @classmethod
    def from_molecule(
        cls,
        molecule: Any,
        *,
        tolerance: float = 0.3,
        eigen_tolerance: float = 0.01,
        matrix_tolerance: float = 0.1,
        l_max: int = DEFAULT_L_MAX,
        min_distance: float = 0.5,
    ) -> PointGroup:
        """The point group of a molecule, detected by pymatgen's ``PointGroupAnalyzer``.

        ``symbol`` is the analyzer's ``sch_symbol``. The rotations act on Cartesian
        coordinates relative to the centre of mass (``Molecule.center_of_mass``, atomic-mass
        weighted): ``x -> com + R (x - com)`` maps the molecule onto itself, every atom to
        within ``tolerance`` (Euclidean distance, checked) of an atom of its element. They form
        an exact group, ``canonical_frame.T @ R @ canonical_frame`` for ``R`` in
        ``PointGroup.from_symbol(symbol)``. The frame comes from the analyzer's operations
        (``get_symmetry_operations``), each first refined on the atoms (the orthogonal matrix
        that best maps every atom onto the atom nearest its image, so an operation that
        pymatgen accepted within its tolerance becomes exact) and closed under products
        (within a Frobenius distance ``matrix_tolerance``): the canonical group is placed
        around them and kept if it maps the molecule onto itself. The placement tolerates a
        short list: for ``S2n`` pymatgen returns only the rotations of ``Cn``. For a linear
        molecule (``"C*v"``, ``"D*h"``) the canonical frame puts the molecular axis (the
        inertia axis of zero moment, either direction) along z; for a single atom (``"Kh"``)
        it is the identity.

        Parameters
        ----------
        molecule : pymatgen.core.Molecule or ase.Atoms
            Positions in Å; periodic boundary conditions of an ``Atoms`` are ignored.
        tolerance, eigen_tolerance, matrix_tolerance : float
            pymatgen's tolerances (Å; relative inertia eigenvalues; matrices), with pymatgen's
            defaults; see above for their use in the check and the closure.
        l_max : int
            Degree up to which continuous groups (linear molecules, atoms) are exact.
        min_distance : float
            Atoms closer than this (Å) are rejected.

        Raises
        ------
        StructureParseError
            Not a pymatgen ``Molecule`` or an ASE ``Atoms``.
        EmptyStructureError, NonFiniteCoordinatesError, OverlappingAtomsError, DisorderedStructureError
            No atoms; a NaN or infinite coordinate; two atoms closer than ``min_distance``;
            partial occupancies.
        SymmetryDetectionError
            No exact group ``symbol`` containing the analyzer's operations maps the molecule
            onto itself within ``tolerance`` (pymatgen accepts an operation that moves each
            coordinate by up to ``tolerance``, so it can name a group the atoms miss by more).
        InfinitePointGroupError
            A single atom with ``l_max > 5``.
        """
        from pymatgen.symmetry.analyzer import PointGroupAnalyzer

        molecule = _as_molecule(molecule, min_distance)
        analyzer = PointGroupAnalyzer(
            molecule, tolerance=tolerance, eigen_tolerance=eigen_tolerance, matrix_tolerance=matrix_tolerance
        )
        symbol = analyzer.sch_symbol
        if symbol == "Kh":
            return cls._truncated(symbol, l_max, np.eye(3))
        centred = analyzer.centered_mol
        sites = _Sites(centred.cart_coords, list(centred.species))
        if symbol in _CONTINUOUS:
            axis = analyzer.principal_axes[int(np.argmin(np.abs(analyzer.eigvals)))]
            frame = np.roll(_frame(np.real(axis), None), -1, axis=0)  # rows x, y, z = axis
            group = cls._truncated(symbol, l_max, frame)
            if not sites.maps(group.rotations, tolerance):
                raise SymmetryDetectionError(
                    f"the {symbol} stand-in does not map the molecule onto itself within {tolerance} Å"
                )
            return group
        canonical = _canonical(_normalize_symbol(symbol))
        operations = _detected_operations(analyzer, sites, matrix_tolerance)
        frame = _placement(canonical, operations, sites, matrix_tolerance, tolerance)
        if frame is None:
            raise SymmetryDetectionError(
                f"no {symbol} group containing pymatgen's operations (refined on the molecule, "
                f"{len(operations)} after closure) maps the molecule onto itself within {tolerance} Å"
            )
        return cls._create(frame.T @ canonical.rotations @ frame, symbol, frame)

    # ------------------------------------------------------------------ properties

    @property
    def is_proper(self) -> bool:
        """Whether every element is a rotation (determinant +1)."""
        return bool(np.all(np.linalg.det(self.rotations) > 0))

    @property
    def has_inversion(self) -> bool:
        """Whether ``-I`` is an element (the group is centrosymmetric)."""
        return bool(np.any(_distances(self.rotations, -np.eye(3)[None]) < _EXACT_ATOL))

    @property
    def is_canonical(self) -> bool:
        """Whether the group is in the canonical frame of its symbol."""
        return bool(np.allclose(self.canonical_frame, np.eye(3), atol=_EXACT_ATOL))

    def canonical(self) -> PointGroup:
        """The same group in its canonical frame."""
        return PointGroup.from_symbol(self.symbol, l_max=DEFAULT_L_MAX if self.l_max is None else self.l_max)

    def check_degree(self, degree: int) -> None:
        """Raise :class:`~spacegroup_nn.errors.InfinitePointGroupError` when a finite stand-in
        of a continuous group is not exact at ``degree`` (a harmonic degree or tensor rank)."""
        if self.l_max is not None and degree > self.l_max:
            raise InfinitePointGroupError(
                f"{self.symbol} is represented by a finite group exact up to l_max={self.l_max}, "
                f"but degree {degree} was requested; build the group with l_max >= {degree}"
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PointGroup):
            return NotImplemented
        if (self.symbol, self.order, self.l_max) != (other.symbol, other.order, other.l_max):
            return False
        return bool(np.all((_distances(self.rotations, other.rotations) < _EXACT_ATOL).any(axis=1)))

    def __hash__(self) -> int:
        return hash(("PointGroup", self.symbol, self.order, self.l_max))

    def __repr__(self) -> str:
        extra = "" if self.l_max is None else f", l_max={self.l_max}"
        extra += "" if self.is_canonical else ", canonical=False"
        return f"PointGroup({self.symbol!r}, order={self.order}{extra})"


@functools.cache
def _canonical(symbol: str) -> PointGroup:
    """The finite group ``symbol`` (normalized) in its canonical frame."""
    rotations = _closure(_generators(symbol), _symbol_order(symbol))
    if len(rotations) != _symbol_order(symbol):
        raise AssertionError(f"{symbol}: closure has {len(rotations)} elements, not {_symbol_order(symbol)}")
    return PointGroup._create(rotations, symbol, np.eye(3))


def as_point_group(group: PointGroup | SpaceGroup) -> PointGroup:
    """``group`` itself, or the point group of a ``SpaceGroup`` (its ``point_group``)."""
    if isinstance(group, PointGroup):
        return group
    point_group = getattr(group, "point_group", None)
    if isinstance(point_group, PointGroup):
        return point_group
    raise TypeError(f"expected a PointGroup or a SpaceGroup, got {type(group).__name__}")
