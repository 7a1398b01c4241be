"""Tests of ``standardize`` and ``random_crystal``: all 230 groups, real data, bad inputs."""

from __future__ import annotations

import csv
import functools
import importlib
import itertools
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import spglib
from ase import Atoms
from pymatgen.core import DummySpecies, Lattice, Structure
from scipy.spatial import cKDTree
from spglib.error import SpglibError

from spacegroup_nn.errors import (
    DisorderedStructureError,
    EmptyStructureError,
    InvalidCellError,
    NonFiniteCoordinatesError,
    OverlappingAtomsError,
    StructureParseError,
    SymmetryDetectionError,
    UnknownElementError,
)
from spacegroup_nn.groups import (
    SpaceGroup,
    StandardCrystal,
    canonical_hall_number,
    parse_structure,
    random_crystal,
    standardize,
)
from spacegroup_nn.groups._lattice import closest_pair

DATA = Path(os.environ.get("SPACEGROUP_NN_DATA", Path(__file__).parents[1].parent / "shared" / "datasets"))
VARIANTS = ("rotated", "translated", "permuted", "supercell", "cell_choice", "primitive")


# ---------------------------------------------------------------------------------------------
# helpers


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniform random proper rotation ``(3, 3)``."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def variant(cell: tuple, kind: str, rng: np.random.Generator) -> tuple:
    """An equivalent description of the crystal ``cell = (lattice, frac_coords, numbers)``."""
    lattice, frac_coords, numbers = cell
    if kind == "rotated":
        return lattice @ random_rotation(rng).T, frac_coords, numbers
    if kind == "translated":
        return lattice, (frac_coords + rng.random(3)) % 1.0, numbers
    if kind == "permuted":
        order = rng.permutation(len(numbers))
        return lattice, frac_coords[order], numbers[order]
    if kind == "supercell":
        scale = np.array([2.0, 1.0, 1.0])
        doubled = np.concatenate([frac_coords, frac_coords + np.eye(3)[0]]) / scale
        return np.diag(scale) @ lattice, doubled, np.concatenate([numbers, numbers])
    if kind == "cell_choice":  # a' = a + b, b' = b, c' = c
        basis = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]])
        return basis @ lattice, (frac_coords @ np.linalg.inv(basis)) % 1.0, numbers
    if kind == "primitive":  # the primitive cell of a centred lattice
        with warnings.catch_warnings():  # spglib's DeprecationWarning on OLD_ERROR_HANDLING
            warnings.simplefilter("ignore", DeprecationWarning)
            return spglib.standardize_cell(cell, to_primitive=True, no_idealize=True, symprec=1e-5)
    raise ValueError(kind)


def assert_self_mapped(crystal: StandardCrystal, atol: float = 1e-8) -> None:
    """Every operation of the group permutes the atoms, species included, up to ``atol``."""
    group, frac_coords, numbers = crystal.group, crystal.frac_coords, crystal.numbers
    images = np.einsum("gij,mj->gmi", group.rotations, frac_coords) + group.translations[:, None]
    images -= np.floor(images)
    images[images >= 1.0] = 0.0
    distances, indices = cKDTree(frac_coords, boxsize=1.0).query(images.reshape(-1, 3))
    assert distances.max() < atol, crystal
    indices = indices.reshape(group.order, crystal.num_atoms)
    np.testing.assert_array_equal(numbers[indices], np.broadcast_to(numbers, indices.shape))
    np.testing.assert_array_equal(
        np.sort(indices, axis=1), np.broadcast_to(np.arange(len(numbers)), indices.shape)
    )


def assert_atom_mapping(crystal: StandardCrystal, cell: tuple, tolerance: float) -> None:
    """Input atom i lies, after (P, p), within ``tolerance`` Å of its standardized atom."""
    _, frac_coords, numbers = cell
    assert crystal.atom_mapping.shape == (len(numbers),)
    assert crystal.atom_mapping.dtype == np.int64
    np.testing.assert_array_equal(crystal.numbers[crystal.atom_mapping], numbers)
    mapped = frac_coords @ crystal.transformation_matrix.T + crystal.origin_shift
    diff = mapped - crystal.frac_coords[crystal.atom_mapping]
    diff -= np.rint(diff)
    assert np.linalg.norm(diff @ crystal.lattice, axis=1).max() < tolerance


def assert_same_standard(crystal: StandardCrystal, reference: StandardCrystal) -> None:
    assert crystal.group == reference.group
    assert crystal.num_atoms == reference.num_atoms
    np.testing.assert_allclose(crystal.lattice, reference.lattice, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(np.sort(crystal.numbers), np.sort(reference.numbers))


def structure_of(cell: tuple) -> Structure:
    lattice, frac_coords, numbers = cell
    return Structure(Lattice(lattice), numbers.tolist(), frac_coords)


@functools.cache
def generic(number: int) -> tuple[tuple, StandardCrystal]:
    """A random crystal of group ``number`` and its standardization (computed once)."""
    cell = random_crystal(SpaceGroup(number), np.random.default_rng(number))
    return cell, standardize(cell)


# ---------------------------------------------------------------------------------------------
# all 230 groups


@pytest.mark.parametrize("number", range(1, 231))
def test_random_crystal_standardizes_to_its_group(number):
    cell, crystal = generic(number)
    group = SpaceGroup(number)
    assert crystal.group == group
    assert crystal.group.hall_number == canonical_hall_number(number)
    assert crystal.lattice.shape == (3, 3) and crystal.lattice.dtype == np.float64
    assert crystal.frac_coords.shape == (crystal.num_atoms, 3)
    assert crystal.frac_coords.dtype == np.float64
    assert np.all((crystal.frac_coords >= 0.0) & (crystal.frac_coords < 1.0))
    assert crystal.numbers.dtype == np.int64
    assert crystal.num_atoms == len(cell[2])  # the generator builds the conventional cell
    assert not crystal.frac_coords.flags.writeable
    assert_self_mapped(crystal)
    assert_atom_mapping(crystal, cell, tolerance=1e-8)
    np.testing.assert_array_equal(np.sort(crystal.atom_mapping), np.arange(crystal.num_atoms))


@pytest.mark.parametrize("number", range(1, 231))
def test_lattice_relation(number):
    """``lattice = inv(P).T @ input_lattice @ rotation.T`` for an exactly symmetric input."""
    (lattice, _, _), crystal = generic(number)
    expected = np.linalg.inv(crystal.transformation_matrix).T @ lattice @ crystal.rotation.T
    np.testing.assert_allclose(crystal.lattice, expected, rtol=0, atol=1e-8)
    np.testing.assert_allclose(crystal.rotation @ crystal.rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(crystal.rotation) == pytest.approx(1.0)


@pytest.mark.parametrize("kind", VARIANTS)
@pytest.mark.parametrize("number", range(1, 231))
def test_equivalent_inputs_give_the_same_standard(number, kind):
    cell, reference = generic(number)
    other = variant(cell, kind, np.random.default_rng([number, VARIANTS.index(kind)]))
    crystal = standardize(other)
    assert_same_standard(crystal, reference)
    assert_self_mapped(crystal)
    assert_atom_mapping(crystal, other, tolerance=1e-8)


# ---------------------------------------------------------------------------------------------
# input types


@pytest.mark.filterwarnings("ignore:No Pauling electronegativity:UserWarning")  # CIF of He
@pytest.mark.parametrize("number", [1, 2, 15, 68, 142, 148, 167, 194, 216, 230])
def test_input_types_agree(number, tmp_path):
    cell, reference = generic(number)
    lattice, frac_coords, numbers = cell
    structure = structure_of(cell)
    structure.to(filename=str(tmp_path / "crystal.cif"))
    structure.to(filename=str(tmp_path / "POSCAR"))
    inputs = {
        "list": [lattice.tolist(), frac_coords.tolist(), numbers.tolist()],
        "structure": structure,
        "atoms": Atoms(numbers=numbers, cell=lattice, scaled_positions=frac_coords, pbc=True),
        "poscar": tmp_path / "POSCAR",
        "cif": str(tmp_path / "crystal.cif"),  # 8 significant digits only
    }
    for kind, obj in inputs.items():
        crystal = standardize(obj)
        assert crystal.group == reference.group, kind
        atol = 1e-5 if kind == "cif" else 1e-8
        np.testing.assert_allclose(crystal.lattice, reference.lattice, rtol=0, atol=atol)
        assert crystal.num_atoms == reference.num_atoms
        assert_self_mapped(crystal)
        assert_atom_mapping(crystal, cell, tolerance=1e-5)


def test_to_structure_round_trip():
    _, crystal = generic(166)
    structure = crystal.to_structure()
    assert len(structure) == crystal.num_atoms
    np.testing.assert_allclose(structure.lattice.matrix, crystal.lattice)
    np.testing.assert_allclose(structure.frac_coords, crystal.frac_coords)
    again = standardize(structure)
    assert_same_standard(again, crystal)
    assert "R-3m" in repr(crystal)


# ---------------------------------------------------------------------------------------------
# real data


def _dataset_rows(name: str, count: int = 30) -> list[tuple[str, str]]:
    """``count`` evenly spaced ``(material_id, cif)`` rows of a benchmark dataset."""
    if not DATA.is_dir():
        pytest.skip(f"datasets folder {DATA} not found (set SPACEGROUP_NN_DATA)")
    if name == "mp_elastic":
        with open(DATA / name / "mp_elastic.json") as file:
            rows = sorted(json.load(file)["cif"].items())
    else:
        with open(DATA / name / "val.csv", newline="") as file:
            rows = [(row["material_id"], row["cif"]) for row in csv.DictReader(file)]
    picks = np.linspace(0, len(rows) - 1, count).astype(int)
    return [rows[i] for i in picks]


def _parse_cif(text: str) -> tuple:
    with warnings.catch_warnings():  # "fractional coordinates rounded to ideal values"
        warnings.simplefilter("ignore", UserWarning)
        structure = Structure.from_str(text, fmt="cif")
    return structure.lattice.matrix, structure.frac_coords, np.array(structure.atomic_numbers)


@pytest.mark.parametrize("symprec", [1e-5, 1e-3])
@pytest.mark.parametrize("name", ["perov_5", "carbon_24", "mp_elastic"])
def test_real_data(name, symprec):
    rng = np.random.default_rng(0)
    for material_id, cif in _dataset_rows(name):
        cell = _parse_cif(cif)
        reference = standardize(cell, symprec, name=material_id)
        assert_self_mapped(reference)
        assert_atom_mapping(reference, cell, tolerance=symprec)
        for kind in VARIANTS:
            other = variant(cell, kind, rng)
            crystal = standardize(other, symprec, name=material_id)
            assert_same_standard(crystal, reference)
            assert_self_mapped(crystal)
            assert_atom_mapping(crystal, other, tolerance=symprec)


# ---------------------------------------------------------------------------------------------
# random_crystal


def _brute_force_shortest_distance(lattice, frac_coords, reach=4):
    diff = frac_coords[None, :, :] - frac_coords[:, None, :]
    shortest = np.inf
    for shift in itertools.product(range(-reach, reach + 1), repeat=3):
        lengths = np.linalg.norm((diff + shift) @ lattice, axis=-1)
        if not any(shift):
            np.fill_diagonal(lengths, np.inf)
        shortest = min(shortest, lengths.min())
    return shortest


@pytest.mark.parametrize("number", [1, 2, 5, 14, 43, 88, 146, 160, 173, 199])
@pytest.mark.parametrize("num_orbits", [1, 3])
def test_random_crystal(number, num_orbits):
    group = SpaceGroup(number)
    lattice, frac_coords, numbers = random_crystal(
        group, np.random.default_rng(number), num_orbits=num_orbits, min_distance=1.5
    )
    assert frac_coords.shape == (num_orbits * group.order, 3)
    assert np.all((frac_coords >= 0) & (frac_coords < 1))
    np.testing.assert_array_equal(np.bincount(numbers), [0] + [group.order] * num_orbits)
    assert _brute_force_shortest_distance(lattice, frac_coords) == pytest.approx(1.5)
    if num_orbits > 1:
        assert standardize((lattice, frac_coords, numbers)).group == group


def test_random_crystal_in_a_non_canonical_setting():
    group = SpaceGroup.from_hall(canonical_hall_number(146) + 1)  # R3 in rhombohedral axes
    cell = random_crystal(group, np.random.default_rng(0))
    assert standardize(cell).group == SpaceGroup(146)


def test_random_crystal_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="num_orbits"):
        random_crystal(SpaceGroup(1), rng, num_orbits=0)
    with pytest.raises(ValueError, match="min_distance"):
        random_crystal(SpaceGroup(1), rng, min_distance=0.0)


# ---------------------------------------------------------------------------------------------
# bad inputs

CUBIC = np.eye(3) * 4.0
TWO_ATOMS = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])


@pytest.mark.parametrize(
    "obj",
    [
        (CUBIC, np.zeros((0, 3)), np.zeros(0, dtype=int)),
        (CUBIC, [], []),
        Structure(Lattice.cubic(4.0), [], []),
        Atoms(),
        Atoms(cell=CUBIC, pbc=True),
    ],
    ids=["arrays", "lists", "structure", "atoms", "atoms_with_cell"],
)
def test_empty(obj):
    with pytest.raises(EmptyStructureError, match="no atoms"):
        standardize(obj)


@pytest.mark.parametrize(
    ("lattice", "frac_coords", "match"),
    [
        (np.diag([4.0, np.nan, 4.0]), TWO_ATOMS, "lattice"),
        (np.diag([4.0, np.inf, 4.0]), TWO_ATOMS, "lattice"),
        (CUBIC, [[0.0, 0.0, 0.0], [0.5, np.nan, 0.5]], "atom 1"),
        (CUBIC, [[0.0, 0.0, -np.inf], [0.5, 0.5, 0.5]], "atom 0"),
    ],
)
def test_non_finite(lattice, frac_coords, match):
    with pytest.raises(NonFiniteCoordinatesError, match=match):
        standardize((lattice, frac_coords, [1, 2]))


def test_non_finite_atoms_positions():
    atoms = Atoms(numbers=[1, 2], cell=CUBIC, positions=[[0, 0, 0], [np.nan, 1, 1]], pbc=True)
    with pytest.raises(NonFiniteCoordinatesError, match="atom 1"):
        standardize(atoms)


@pytest.mark.parametrize(
    "lattice",
    [
        np.zeros((3, 3)),
        np.array([[4.0, 0, 0], [0, 4.0, 0], [4.0, 4.0, 0]]),  # coplanar vectors
        np.diag([4.0, 4.0, -4.0]),  # left-handed: negative volume
        np.array([[4.0, 0, 0], [0, 4.0, 0], [4.0, 4.0, 1e-9]]),
    ],
    ids=["zero", "coplanar", "negative", "nearly_coplanar"],
)
def test_invalid_cell(lattice):
    with pytest.raises(InvalidCellError, match="volume"):
        standardize((lattice, TWO_ATOMS, [1, 2]))
    atoms = Atoms(numbers=[1, 2], cell=lattice, positions=[[0, 0, 0], [1, 1, 1]], pbc=True)
    with pytest.raises(InvalidCellError, match="volume"):
        standardize(atoms)


def test_non_periodic_atoms():
    atoms = Atoms(numbers=[1, 2], cell=CUBIC, scaled_positions=TWO_ATOMS, pbc=[True, True, False])
    with pytest.raises(InvalidCellError, match="periodic"):
        standardize(atoms)


@pytest.mark.parametrize(
    "species",
    [["Fe", {"Fe": 0.5, "Co": 0.5}], ["Fe", {"Co": 0.5}], ["Fe", {"Co": 0.75, "Ni": 0.25}]],
    ids=["mixed", "partial", "mixed_full"],
)
def test_disordered_structure(species):
    structure = Structure(Lattice.cubic(4.0), species, TWO_ATOMS)
    with pytest.raises(DisorderedStructureError, match="site 1"):
        standardize(structure)


def test_disordered_cif(tmp_path):
    path = tmp_path / "partial.cif"
    Structure(Lattice.cubic(4.0), ["Fe", {"Co": 0.5}], TWO_ATOMS).to(filename=str(path))
    with warnings.catch_warnings():  # pymatgen warns about the stoichiometry
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(DisorderedStructureError, match=r"partial\.cif: site 1"):
            standardize(path)


@pytest.mark.parametrize(
    "numbers", [[0, 1], [1, 119], [-3, 1], [1, 200]], ids=["zero", "119", "negative", "200"]
)
def test_unknown_element(numbers):
    with pytest.raises(UnknownElementError, match="atomic number"):
        standardize((CUBIC, TWO_ATOMS, numbers))


def test_unknown_element_in_objects():
    atoms = Atoms(numbers=[0, 1], cell=CUBIC, scaled_positions=TWO_ATOMS, pbc=True)
    with pytest.raises(UnknownElementError, match="atom 0"):
        standardize(atoms)
    structure = Structure(Lattice.cubic(4.0), ["Fe", DummySpecies("X")], TWO_ATOMS)
    with pytest.raises(UnknownElementError, match="atom 1"):
        standardize(structure)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _cif_text(block: str = "FeCo") -> str:
    text = Structure(Lattice.cubic(4.0), ["Fe", "Co"], TWO_ATOMS).to(fmt="cif")
    return text.replace("data_FeCo", f"data_{block}")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda tmp: tmp / "missing.cif", "does not exist"),
        (lambda tmp: tmp, "is not a file"),
        (lambda tmp: _write(tmp / "garbled.cif", "loop_\n_x 1 2\n#@!$\n"), "cannot parse the CIF"),
        (lambda tmp: _write(tmp / "cut.cif", _cif_text()[:300]), "cannot parse the CIF"),
        (lambda tmp: _write(tmp / "two.cif", _cif_text("one") + _cif_text("two")), "2 structures"),
        (
            lambda tmp: _write(tmp / "one_garbled.cif", _cif_text("good") + _garbled_cif_text("bad")),
            r"2 data blocks with atom sites \(good, bad\), of which pymatgen read 1",
        ),
        (lambda tmp: _write(tmp / "notes.txt", "4.0 0 0\n"), "cannot read"),
        (lambda tmp: _write(tmp / "POSCAR", "Fe\n1.0\n4 0 0\n0 4 0\n"), "cannot parse the POSCAR"),
    ],
    ids=[
        "missing",
        "directory",
        "garbled_cif",
        "truncated_cif",
        "two_blocks",
        "one_garbled_block",
        "unknown",
        "poscar",
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")  # pymatgen's own complaints
def test_unreadable_files(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(StructureParseError, match=match) as info:
        standardize(path)
    assert str(path) in str(info.value)


def _garbled_cif_text(block: str) -> str:
    """A CIF block whose last coordinate is not a number."""
    text = _cif_text(block).rstrip().splitlines()
    text[-1] = " ".join([*text[-1].split()[:-2], "zz", text[-1].split()[-1]])
    return "\n".join(text) + "\n"


@pytest.mark.parametrize("order", ["garbled_last", "garbled_first"])
def test_a_garbled_block_is_not_skipped(order):
    blocks = [_cif_text("good"), _garbled_cif_text("bad")]
    if order == "garbled_first":
        blocks.reverse()
    with pytest.raises(
        StructureParseError, match=r"^item 3: the CIF has 2 data blocks .*'zz'.*expected exactly one"
    ):
        parse_structure("".join(blocks), "cif", name="item 3")
    with pytest.raises(StructureParseError, match="Invalid CIF file with no structures"):
        parse_structure(_garbled_cif_text("bad"), "cif", name="item 4")


def test_cif_with_a_publication_block(tmp_path):
    header = "data_global\n_journal_name_full 'J. Crystals'\n\n"
    path = _write(tmp_path / "paper.cif", header + _cif_text())
    with warnings.catch_warnings():  # pymatgen warns about the block without a structure
        warnings.simplefilter("ignore", UserWarning)
        crystal = standardize(path)
    assert crystal.group.number == 221


def test_cif_with_a_block_of_displacement_parameters_alone(tmp_path):
    """A block of ``_atom_site_aniso_*`` data has no positions: not a second structure."""
    aniso = "data_aniso\nloop_\n_atom_site_aniso_label\n_atom_site_aniso_U_11\nFe0 0.01\nCo1 0.02\n"
    path = _write(tmp_path / "aniso.cif", _cif_text() + aniso)
    with warnings.catch_warnings():  # pymatgen warns about the block without a structure
        warnings.simplefilter("ignore", UserWarning)
        crystal = standardize(path)
    assert crystal.group.number == 221


def test_truncated_poscar(tmp_path):
    full = tmp_path / "POSCAR"
    structure_of(generic(62)[0]).to(filename=str(full))
    cut = tmp_path / "cut_POSCAR"
    cut.write_text("".join(full.read_text().splitlines(keepends=True)[:-2]))
    with pytest.raises(StructureParseError, match="cut_POSCAR"):
        standardize(cut)


@pytest.mark.parametrize(
    "obj",
    [
        (CUBIC, TWO_ATOMS),
        (CUBIC[:2], TWO_ATOMS, [1, 2]),
        (CUBIC, TWO_ATOMS[:, :2], [1, 2]),
        (CUBIC, TWO_ATOMS, [1, 2, 3]),
        (CUBIC, TWO_ATOMS, [1.0, 2.0]),
        (CUBIC, TWO_ATOMS, [True, True]),
        (CUBIC, TWO_ATOMS, ["Fe", "Co"]),
        (CUBIC.astype(complex), TWO_ATOMS, [1, 2]),
        (CUBIC, [["a", "b", "c"], ["d", "e", "f"]], [1, 2]),
        42,
        {"lattice": CUBIC},
    ],
)
def test_malformed_input(obj):
    with pytest.raises(StructureParseError):
        standardize(obj)


@pytest.mark.parametrize("numbers", [[1, 1], [1, 2]], ids=["same_species", "different_species"])
def test_overlapping_atoms(numbers):
    frac_coords = [[0.1, 0.2, 0.3], [0.1, 0.2, 0.3 + 1e-7]]
    with pytest.raises(OverlappingAtomsError, match=r"atoms 0 and 1 .*closer than 0.5 Å"):
        standardize((CUBIC, frac_coords, numbers))
    # Across the cell boundary, through a periodic image.
    frac_coords = [[0.0, 0.2, 0.3], [1.0 - 1e-7, 0.2, 0.3]]
    with pytest.raises(OverlappingAtomsError, match="atoms 0 and 1"):
        standardize((CUBIC, frac_coords, numbers))
    # Apart at a tight tolerance, when overlaps are allowed.
    assert standardize((CUBIC, frac_coords, numbers), symprec=1e-8, min_distance=0).num_atoms >= 2


def test_spglib_failure():
    flat = np.diag([4.0, 4.0, 1e-12])  # a valid cell, but atoms overlap their own images
    with pytest.raises(SymmetryDetectionError, match="spglib"):
        standardize((flat, TWO_ATOMS, [1, 2]))


SKEWED = np.array([[10.0, 0.0, 0.0], [9.8, 0.3, 0.0], [0.0, 0.0, 10.0]])  # a - b is 0.36 Å long


def test_overlap_in_a_skewed_cell():
    # the nearest image is two cells away along b: rounding the fractional difference misses it
    with pytest.raises(OverlappingAtomsError, match=r"atoms 0 and 1 are 0\.18 Å apart, closer than 0\.5 Å"):
        standardize((SKEWED, [[0, 0, 0], [0.5, 0.5, 0]], [11, 17]))
    # and in a thin cell, where the nearest image lies 3e6 cells away along c
    thin = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 1e-7, 1e-7]])
    with pytest.raises(OverlappingAtomsError, match=r"atoms 0 and 1 are 0\.424 Å apart"):
        standardize((thin, [[0, 0, 0], [0, 0.15, 0]], [1, 2]))
    with pytest.raises(InvalidCellError, match="nearly degenerate"):  # two thin directions
        standardize((np.diag([4.0, 1e-9, 1e-9]), TWO_ATOMS, [1, 2]))


def test_skewed_description_of_a_valid_cell_is_accepted():
    # the same rock-salt crystal as the cubic cell, in a basis with long, skewed vectors
    skew = np.array([[1, 0, 0], [7, 1, 0], [3, -5, 1]])
    lattice = 5.64 * np.eye(3)
    frac_coords = np.array([[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]])
    frac_coords = np.concatenate([frac_coords, (frac_coords + 0.5) % 1.0])
    numbers = [11, 17, 17, 17, 17, 11, 11, 11]  # Na at fcc, Cl at the octahedral sites
    reference = standardize((lattice, frac_coords, numbers))
    skewed = standardize((skew @ lattice, frac_coords @ np.linalg.inv(skew) % 1.0, numbers))
    assert skewed.group == reference.group == SpaceGroup(225)
    assert skewed.num_atoms == reference.num_atoms == 8


def test_closest_pair_is_exact_for_skewed_cells():
    rng = np.random.default_rng(5)
    for _ in range(10):
        lattice, frac_coords, _ = random_crystal(SpaceGroup(2), rng, num_orbits=2, min_distance=1.0)
        skew = np.eye(3, dtype=np.int64)
        for _ in range(4):  # a random unimodular basis change with large entries
            k, l = rng.choice(3, size=2, replace=False)
            skew[k] += rng.integers(-4, 5) * skew[l]
        expected = _brute_force_shortest_distance(lattice, frac_coords)
        distance, i, j = closest_pair(skew @ lattice, frac_coords @ np.linalg.inv(skew))
        assert distance == pytest.approx(expected, rel=1e-12)
        assert distance == pytest.approx(1.0, rel=1e-12) and i != j
        assert closest_pair(lattice, frac_coords, below=0.999) == (np.inf, -1, -1)


def test_spglib_failure_is_wrapped(monkeypatch):
    def fail(*args, **kwargs):
        raise SpglibError("spacegroup search failed")

    module = importlib.import_module("spacegroup_nn.groups.standardize")  # not the function
    monkeypatch.setattr(module, "symmetry_dataset", fail)
    with pytest.raises(SymmetryDetectionError, match=r"mp-0: .*symprec=0\.1.*search failed"):
        standardize((CUBIC, TWO_ATOMS, [1, 2]), symprec=0.1, name="mp-0")


def test_name_in_messages():
    with pytest.raises(EmptyStructureError, match=r"^my-crystal: "):
        standardize((CUBIC, [], []), name="my-crystal")


@pytest.mark.parametrize("symprec", [0.0, -1e-5, np.nan])
def test_bad_symprec(symprec):
    with pytest.raises(ValueError, match="symprec"):
        standardize((CUBIC, TWO_ATOMS, [1, 2]), symprec=symprec)


def test_no_deprecation_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        standardize((CUBIC, TWO_ATOMS, [1, 2]))
