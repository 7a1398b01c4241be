"""Standardization of crystals to the canonical setting of their space group, with spglib.

Conventions
-----------
* Lattices hold the lattice vectors as rows, in Å (as pymatgen, ASE and spglib do).
* Fractional coordinates ``x`` are column vectors; Cartesian positions are ``x @ lattice``.
* The standardized crystal is spglib's idealized conventional cell in the canonical setting of
  its space-group type (the smallest Hall number, see
  :func:`~spacegroup_nn.groups.canonical_hall_number`), so the operations of
  ``SpaceGroup(number)`` map its atoms exactly onto themselves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import (
    DisorderedStructureError,
    EmptyStructureError,
    InvalidCellError,
    NonFiniteCoordinatesError,
    OverlappingAtomsError,
    StructureParseError,
    SymmetryDetectionError,
    TooManyAtomsError,
    UnknownElementError,
)
from ._lattice import closest_pair
from ._spglib import SpglibError, symmetry_dataset
from .reading import read_structure
from .space_group import SpaceGroup, canonical_hall_number

if TYPE_CHECKING:
    from ase import Atoms
    from pymatgen.core import IStructure, Structure
    from spglib import SpglibDataset

__all__ = ["StandardCrystal", "standardize"]

MAX_ATOMIC_NUMBER = 118

# A cell is degenerate when its volume is below this fraction of |a| |b| |c|.
_MIN_RELATIVE_VOLUME = 1e-8


@dataclass(frozen=True, eq=False, repr=False)
class StandardCrystal:
    """A crystal in the standardized conventional cell of the canonical setting of its group.

    Built by :func:`standardize`; every array is read-only.

    Attributes
    ----------
    group : SpaceGroup
        The space group in its canonical setting, with operations from spglib's database (not
        the detected ones, which carry numerical noise).
    lattice : np.ndarray
        ``(3, 3)`` float64, the idealized conventional lattice vectors as rows, in Å (spglib's
        ``std_lattice``), in spglib's standard orientation.
    frac_coords : np.ndarray
        ``(M, 3)`` float64 in ``[0, 1)``, fractional coordinates of the ``M`` atoms of the
        conventional cell (spglib's symmetrized ``std_positions``). Every operation
        ``(R, t)`` of ``group`` maps them onto themselves with the same species, modulo
        lattice translations, up to round-off.
    numbers : np.ndarray
        ``(M,)`` int64 atomic numbers.
    rotation : np.ndarray
        ``(3, 3)`` float64, the rigid rotation ``Q`` (spglib's ``std_rotation_matrix``) from the
        Cartesian frame of the input to that of the standardized crystal: a Cartesian column
        vector ``r`` of the input becomes ``Q r``.
    transformation_matrix : np.ndarray
        ``(3, 3)`` float64, spglib's ``P``: an input fractional position ``x`` lies at
        ``P x + origin_shift`` (mod 1) in the standardized cell. The lattices are related by
        ``lattice ≈ inv(P).T @ input_lattice @ rotation.T``, with equality for an exactly
        symmetric input (idealization removes the strain otherwise).
    origin_shift : np.ndarray
        ``(3,)`` float64 in ``[0, 1)``, spglib's ``p``.
    atom_mapping : np.ndarray
        ``(N,)`` int64 for the ``N`` input atoms: input atom ``i`` lands on standardized atom
        ``atom_mapping[i]``, which has the same species. Several input atoms map to one
        standardized atom when the input is a supercell; an input primitive cell of a centred
        lattice covers only some of the standardized atoms.
    symprec : float
        Distance tolerance of the detection, in Å.
    angle_tolerance : float
        Angle tolerance of the detection, in degrees (negative: spglib's default).
    """

    group: SpaceGroup
    lattice: np.ndarray
    frac_coords: np.ndarray
    numbers: np.ndarray
    rotation: np.ndarray
    transformation_matrix: np.ndarray
    origin_shift: np.ndarray
    atom_mapping: np.ndarray
    symprec: float
    angle_tolerance: float

    @property
    def num_atoms(self) -> int:
        """Number of atoms ``M`` in the standardized conventional cell."""
        return len(self.numbers)

    def to_structure(self) -> Structure:
        """The standardized crystal as a pymatgen ``Structure``."""
        from pymatgen.core import Lattice, Structure

        return Structure(Lattice(self.lattice), self.numbers.tolist(), self.frac_coords)

    def __repr__(self) -> str:
        return f"StandardCrystal(group={self.group!r}, num_atoms={self.num_atoms}, symprec={self.symprec})"


def standardize(
    obj: Structure | Atoms | tuple | str | os.PathLike,
    symprec: float = 1e-5,
    angle_tolerance: float = -1.0,
    *,
    min_distance: float = 0.5,
    max_atoms: int | None = None,
    name: str | None = None,
) -> StandardCrystal:
    """Detect the space group of a crystal and standardize it to the canonical setting.

    Parameters
    ----------
    obj : Structure, Atoms, tuple or path
        An ordered pymatgen ``Structure``; an ASE ``Atoms`` periodic in three dimensions; a
        tuple ``(lattice, frac_coords, numbers)`` of a ``(3, 3)`` real array (lattice vectors
        as rows, Å), an ``(N, 3)`` real array and an ``(N,)`` integer array of atomic numbers
        (1..118); or the path of a file pymatgen reads (CIF, POSCAR, ...), read with
        :func:`~spacegroup_nn.groups.reading.read_structure`. A CIF must hold exactly one
        structure. For CIF or POSCAR text use
        :func:`~spacegroup_nn.groups.parse_structure` first.
    symprec : float
        Distance tolerance of the symmetry detection, in Å. The default is spglib's 1e-5
        (pymatgen's ``SpacegroupAnalyzer`` uses 0.01). Relaxed structures written with few
        digits may need 1e-3 to 1e-1 to reveal their group.
    angle_tolerance : float
        Angle tolerance in degrees; negative selects spglib's default.
    min_distance : float
        Atoms closer than ``max(min_distance, symprec)`` Å (periodic images included) are
        rejected as overlapping (default 0.5 Å).
    max_atoms : int, optional
        Reject inputs, or standardized cells, with more atoms than this (default: no limit).
    name : str, optional
        Label of the structure in error messages (default: the path, or the input's type).

    Returns
    -------
    StandardCrystal
        The standardized crystal and the transformation from the input.

    Raises
    ------
    StructureParseError
        A file is missing or unreadable, or ``obj`` has an unsupported type or malformed arrays.
    EmptyStructureError
        The structure has no atoms.
    NonFiniteCoordinatesError
        The lattice or a coordinate is NaN or infinite.
    InvalidCellError
        The lattice has zero volume, or negative volume: its determinant (vectors as rows) is
        negative, i.e. the vectors are left-handed (swap two of them); or the input is a
        molecule or not periodic in 3D.
    DisorderedStructureError
        A site has partial occupancy or mixed species (pymatgen species, or ASE's
        ``info["occupancy"]`` from its CIF reader).
    UnknownElementError
        A species is not a chemical element (a dummy species, named by its symbol, or an
        atomic number outside 1..118).
    OverlappingAtomsError
        Two atoms are closer than ``max(min_distance, symprec)``.
    TooManyAtomsError
        More than ``max_atoms`` atoms in the input or the standardized cell.
    SymmetryDetectionError
        spglib fails at the given tolerance.

    Examples
    --------
    The primitive cell of bcc iron becomes the conventional cubic cell of Im-3m:

    >>> crystal = standardize((1.435 * (1 - 2 * np.eye(3)), [[0, 0, 0]], [26]))
    >>> crystal.group.symbol, crystal.num_atoms, crystal.atom_mapping
    ('Im-3m', 2, array([0]))
    >>> crystal.lattice.round(3)
    array([[2.87, 0.  , 0.  ],
           [0.  , 2.87, 0.  ],
           [0.  , 0.  , 2.87]])
    """
    if not (np.isfinite(symprec) and symprec > 0):
        raise ValueError(f"symprec must be a positive number of Å, got {symprec}")
    label = name if name is not None else _default_label(obj)
    if type(obj).__name__ in ("Molecule", "IMolecule") and type(obj).__module__.startswith("pymatgen"):
        raise InvalidCellError(
            f"{label}: a Molecule is not a periodic crystal (see PointGroup.from_molecule)"
        )
    lattice, frac_coords, numbers = _as_cell(obj, label)
    _check_count(len(numbers), max_atoms, "input", label)
    _validate_cell(lattice, frac_coords, numbers, label)
    _check_separation(lattice, frac_coords, max(min_distance, symprec), label)
    dataset = _detect(lattice, frac_coords, numbers, symprec, angle_tolerance, label)
    std_frac_coords = _wrap(dataset.std_positions)
    _check_count(len(std_frac_coords), max_atoms, "standardized cell", label)
    std_lattice = np.asarray(dataset.std_lattice, dtype=np.float64)
    transformation_matrix = np.asarray(dataset.transformation_matrix, dtype=np.float64)
    origin_shift = _wrap(dataset.origin_shift)
    atom_mapping = _atom_mapping(
        frac_coords @ transformation_matrix.T + origin_shift,
        np.asarray(dataset.mapping_to_primitive),
        std_lattice,
        std_frac_coords,
        np.asarray(dataset.std_mapping_to_primitive),
    )
    return StandardCrystal(
        group=SpaceGroup(int(dataset.number)),
        lattice=_read_only(std_lattice),
        frac_coords=_read_only(std_frac_coords),
        numbers=_read_only(np.asarray(dataset.std_types, dtype=np.int64)),
        rotation=_read_only(np.asarray(dataset.std_rotation_matrix, dtype=np.float64)),
        transformation_matrix=_read_only(transformation_matrix),
        origin_shift=_read_only(origin_shift),
        atom_mapping=_read_only(atom_mapping),
        symprec=float(symprec),
        angle_tolerance=float(angle_tolerance),
    )


def _default_label(obj: object) -> str:
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    return f"input {type(obj).__name__}"


def _as_cell(obj: object, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lattice, frac_coords, numbers)`` arrays of any supported input, unvalidated."""
    from ase import Atoms
    from pymatgen.core import IStructure

    if isinstance(obj, (str, os.PathLike)):
        return _from_structure(read_structure(Path(obj), label), label)
    if isinstance(obj, IStructure):
        return _from_structure(obj, label)
    if isinstance(obj, Atoms):
        return _from_atoms(obj, label)
    if isinstance(obj, (tuple, list)):
        return _from_tuple(obj, label)
    raise StructureParseError(
        f"{label}: expected a pymatgen Structure, an ASE Atoms, a (lattice, frac_coords, "
        f"numbers) tuple or a file path, got {type(obj).__name__}"
    )


def _from_structure(structure: IStructure, label: str) -> tuple[np.ndarray, ...]:
    from pymatgen.core import DummySpecies

    for index, site in enumerate(structure):
        if not site.is_ordered:
            raise DisorderedStructureError(
                f"{label}: site {index} is disordered (species {site.species}); "
                "only ordered structures have a space group"
            )
        if isinstance(site.specie, DummySpecies):
            raise UnknownElementError(
                f"{label}: atom {index} is {site.specie.symbol!r}, not a chemical element"
            )
    if not all(structure.lattice.pbc):
        raise InvalidCellError(f"{label}: the lattice is not periodic in 3D (pbc={structure.lattice.pbc})")
    numbers = np.array([site.specie.Z for site in structure], dtype=np.int64)
    return structure.lattice.matrix, structure.frac_coords.reshape(-1, 3), numbers


def _from_atoms(atoms: Atoms, label: str) -> tuple[np.ndarray, ...]:
    lattice = np.array(atoms.cell.array, dtype=np.float64)
    numbers = np.array(atoms.numbers, dtype=np.int64)
    if len(atoms) == 0:
        return lattice, np.zeros((0, 3)), numbers
    if not atoms.pbc.all():
        raise InvalidCellError(f"{label}: the Atoms are not periodic in 3D (pbc={atoms.pbc})")
    _check_lattice(lattice, label)
    _check_occupancy(atoms, label)
    positions = np.asarray(atoms.positions, dtype=np.float64)
    _check_finite(positions, "Cartesian position (Å)", label)
    return lattice, np.linalg.solve(lattice.T, positions.T).T, numbers


def _check_occupancy(atoms: Atoms, label: str) -> None:
    """Partial occupancies that ASE's CIF reader keeps in ``info["occupancy"]`` (by site kind)."""
    occupancy = atoms.info.get("occupancy")
    kinds = atoms.arrays.get("spacegroup_kinds")
    if occupancy is None or kinds is None:
        return
    for index, kind in enumerate(kinds):
        species = occupancy.get(str(kind), {})
        if len(species) > 1 or any(value != 1 for value in species.values()):
            raise DisorderedStructureError(
                f"{label}: atom {index} has partial occupancy {species}; "
                "only ordered structures have a space group"
            )


def _from_tuple(cell: tuple | list, label: str) -> tuple[np.ndarray, ...]:
    if len(cell) != 3:
        raise StructureParseError(
            f"{label}: expected a (lattice, frac_coords, numbers) triple, got {len(cell)} items"
        )
    lattice, frac_coords, numbers = (np.asarray(item) for item in cell)
    if lattice.dtype.kind not in "iuf" or lattice.shape != (3, 3):
        raise StructureParseError(
            f"{label}: lattice must be a real (3, 3) array, got {lattice.dtype} {lattice.shape}"
        )
    if numbers.size == 0 and frac_coords.size == 0:
        return lattice.astype(np.float64), np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    if numbers.dtype.kind not in "iu" or numbers.ndim != 1:
        raise StructureParseError(
            f"{label}: numbers must be a 1-D integer array of atomic numbers, got "
            f"{numbers.dtype} {numbers.shape}"
        )
    if frac_coords.dtype.kind not in "iuf" or frac_coords.shape != (len(numbers), 3):
        raise StructureParseError(
            f"{label}: frac_coords must be a real ({len(numbers)}, 3) array to match numbers, "
            f"got {frac_coords.dtype} {frac_coords.shape}"
        )
    return lattice.astype(np.float64), frac_coords.astype(np.float64), numbers.astype(np.int64)


def _validate_cell(lattice: np.ndarray, frac_coords: np.ndarray, numbers: np.ndarray, label: str) -> None:
    if len(numbers) == 0:
        raise EmptyStructureError(f"{label}: the structure has no atoms")
    _check_lattice(lattice, label)
    _check_finite(frac_coords, "fractional coordinates", label)
    bad = np.flatnonzero((numbers < 1) | (numbers > MAX_ATOMIC_NUMBER))
    if len(bad):
        from ase.data import chemical_symbols

        number = int(numbers[bad[0]])
        symbol = f" ({chemical_symbols[number]!r})" if 0 <= number < len(chemical_symbols) else ""
        raise UnknownElementError(
            f"{label}: atom {bad[0]} has atomic number {number}{symbol}, not a chemical "
            f"element (1..{MAX_ATOMIC_NUMBER})"
        )


def _check_finite(coords: np.ndarray, what: str, label: str) -> None:
    """Raise :class:`NonFiniteCoordinatesError` for the first row of ``(N, 3)`` ``coords``
    that holds a NaN or an infinity."""
    bad = np.flatnonzero(~np.isfinite(coords).all(axis=1))
    if len(bad):
        raise NonFiniteCoordinatesError(f"{label}: atom {bad[0]} has non-finite {what} {coords[bad[0]]}")


def _check_lattice(lattice: np.ndarray, label: str) -> None:
    """Raise unless the lattice ``(3, 3)`` (rows) is finite, right-handed and not degenerate.

    The volume is the signed determinant: a left-handed set of lattice vectors has negative
    volume and is rejected with :class:`InvalidCellError` (swap two vectors to fix it).
    """
    if not np.isfinite(lattice).all():
        raise NonFiniteCoordinatesError(f"{label}: the lattice has non-finite entries {lattice.tolist()}")
    volume = np.linalg.det(lattice)
    if abs(volume) <= _MIN_RELATIVE_VOLUME * np.prod(np.linalg.norm(lattice, axis=1)):
        raise InvalidCellError(
            f"{label}: the lattice has zero volume ({volume:.6g} Å^3): its vectors are (nearly) "
            "linearly dependent"
        )
    if volume < 0:
        raise InvalidCellError(
            f"{label}: the lattice has negative volume ({volume:.6g} Å^3): its vectors are "
            "left-handed; swap two of them (and the matching fractional coordinates)"
        )


def _check_count(count: int, max_atoms: int | None, what: str, label: str) -> None:
    if max_atoms is not None and count > max_atoms:
        raise TooManyAtomsError(f"{label}: the {what} has {count} atoms, more than max_atoms={max_atoms}")


def _check_separation(lattice: np.ndarray, frac_coords: np.ndarray, threshold: float, label: str) -> None:
    """Raise if two atoms (of any species) are closer than ``threshold`` Å, images included.

    The search is exact for skewed and thin cells too
    (:func:`~spacegroup_nn.groups._lattice.closest_pair`). An atom near its own images (a
    short lattice vector) is left to spglib. spglib rejects pairs closer than its tolerance
    only when they have the same species: a pair of different species at one position is
    otherwise silently accepted.
    """
    try:
        distance, i, j = closest_pair(lattice, frac_coords, below=threshold, self_images=False)
    except ValueError as error:
        raise InvalidCellError(f"{label}: {error}") from None
    if i >= 0:
        i, j = sorted((i, j))
        raise OverlappingAtomsError(
            f"{label}: atoms {i} and {j} are {distance:.3g} Å apart, closer than {threshold:g} Å; "
            "they overlap"
        )


def _detect(
    lattice: np.ndarray,
    frac_coords: np.ndarray,
    numbers: np.ndarray,
    symprec: float,
    angle_tolerance: float,
    label: str,
) -> SpglibDataset:
    """spglib's dataset in the canonical setting; failures are ``SymmetryDetectionError``."""
    try:
        dataset = symmetry_dataset((lattice, frac_coords, numbers), symprec, angle_tolerance)
    except SpglibError as error:
        raise SymmetryDetectionError(
            f"{label}: spglib found no space group at symprec={symprec} Å, "
            f"angle_tolerance={angle_tolerance}: {error}"
        ) from error
    canonical = canonical_hall_number(int(dataset.number))
    if dataset.hall_number != canonical:
        raise SymmetryDetectionError(
            f"{label}: spglib standardized to Hall number {dataset.hall_number}, not the "
            f"canonical {canonical} of space group {dataset.number}"
        )
    return dataset


def _atom_mapping(
    mapped: np.ndarray,
    input_to_primitive: np.ndarray,
    std_lattice: np.ndarray,
    std_frac_coords: np.ndarray,
    std_to_primitive: np.ndarray,
) -> np.ndarray:
    """Index ``(N,)`` of the standardized atom nearest to each mapped input atom.

    The candidates of an input atom are the standardized copies of its primitive-cell atom
    (as many as there are centring vectors): same species, and far apart compared with the
    tolerance, as they differ by centring translations.
    """
    candidates = np.argsort(std_to_primitive, kind="stable").reshape(std_to_primitive.max() + 1, -1)
    candidates = candidates[input_to_primitive]
    diff = mapped[:, None, :] - std_frac_coords[candidates]
    diff -= np.rint(diff)
    nearest = np.argmin(np.linalg.norm(diff @ std_lattice, axis=-1), axis=1)
    return candidates[np.arange(len(mapped)), nearest].astype(np.int64)


def _wrap(values: np.ndarray) -> np.ndarray:
    """Reduce fractional values to ``[0, 1)`` (``-1e-17 % 1.0`` would give ``1.0``)."""
    wrapped = np.asarray(values, dtype=np.float64) % 1.0
    wrapped[wrapped >= 1.0] = 0.0
    return wrapped


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array
