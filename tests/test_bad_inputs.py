"""A corpus of bad inputs, generated here, for every input route.

Each case of issue 7 is rendered in every route that can express it: CIF text (the rows of a
CSV dataset), a CIF file, a POSCAR file, a pymatgen ``Structure`` and an ASE ``Atoms``. Every
one must raise its typed error from :mod:`spacegroup_nn.errors`, with a message that starts
with the item's name and states the problem. Cases a route cannot express are listed in
:data:`NOT_EXPRESSIBLE` with the reason, so the corpus is complete by construction.

"Negative volume" means a left-handed lattice (negative determinant of the lattice vectors
as rows): a cell length of -3.9 Å in every route, which gives such a lattice.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.data import atomic_numbers
from pymatgen.core import Lattice, Molecule, Structure

from spacegroup_nn import standardize
from spacegroup_nn.cli import main
from spacegroup_nn.errors import (
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
from spacegroup_nn.groups.reading import parse_structure

ROUTES = ("cif_text", "cif_file", "poscar_file", "structure", "atoms")
TEXT_ROUTES = ("cif_text", "cif_file", "poscar_file")
SITE_KEYS = ("type_symbol", "label", "fract_x", "fract_y", "fract_z", "occupancy")
WATER = [("O", (0.0, 0.0, 0.0)), ("H", (0.96, 0.0, 0.0)), ("H", (-0.24, 0.93, 0.0))]


@dataclass(frozen=True)
class Site:
    symbol: str
    frac: tuple[float, float, float]
    occupancy: float = 1.0


@dataclass(frozen=True)
class Crystal:
    """A crystal by cell parameters (Å, degrees) and sites: what every route can write."""

    cell: tuple[float, ...] = (3.9, 3.9, 3.9, 90.0, 90.0, 90.0)
    sites: tuple[Site, ...] = (
        Site("Sr", (0.0, 0.0, 0.0)),
        Site("Ti", (0.5, 0.5, 0.5)),
        Site("O", (0.5, 0.5, 0.0)),
        Site("O", (0.5, 0.0, 0.5)),
        Site("O", (0.0, 0.5, 0.5)),
    )

    def with_site(self, index: int, **changes) -> Crystal:
        sites = list(self.sites)
        sites[index] = replace(sites[index], **changes)
        return replace(self, sites=tuple(sites))


@dataclass(frozen=True)
class Case:
    error: type[Exception]
    problem: str  # a regular expression the message must match after the name
    crystal: Crystal | None = Crystal()  # None: the case is not a crystal (see ``text``)
    text: str | None = None  # raw text of the text routes instead of the crystal's
    options: dict = field(default_factory=dict)  # keyword arguments of standardize


PEROVSKITE = Crystal()


def with_cell(*cell: float) -> Crystal:
    return replace(PEROVSKITE, cell=cell)


CASES = {
    "truncated": Case(StructureParseError, "cannot parse"),
    "garbled": Case(StructureParseError, "cannot parse"),
    "empty file": Case(StructureParseError, "cannot parse", text=""),
    "nan coordinates": Case(
        NonFiniteCoordinatesError, "non-finite", PEROVSKITE.with_site(1, frac=(math.nan, 0.5, 0.5))
    ),
    "inf coordinates": Case(
        NonFiniteCoordinatesError, "non-finite", PEROVSKITE.with_site(2, frac=(0.5, math.inf, 0.0))
    ),
    "inf cell": Case(NonFiniteCoordinatesError, "non-finite", with_cell(math.inf, 3.9, 3.9, 90, 90, 90)),
    "zero volume": Case(InvalidCellError, "zero( or negative)? volume", with_cell(3.9, 3.9, 0.0, 90, 90, 90)),
    "flat angles": Case(
        InvalidCellError, "zero( or negative)? volume", with_cell(3.9, 3.9, 3.9, 90, 90, 180)
    ),
    "negative volume": Case(
        InvalidCellError, "negative volume.*left-handed", with_cell(3.9, 3.9, -3.9, 90, 90, 90)
    ),
    "overlapping atoms": Case(
        OverlappingAtomsError,
        r"atoms \d and \d are 0.195 Å apart, closer than 0.5 Å",
        replace(PEROVSKITE, sites=(*PEROVSKITE.sites, Site("O", (0.05, 0.0, 0.0)))),
    ),
    "partial occupancy": Case(
        DisorderedStructureError, "(disordered|partial occupancy).*Sr", PEROVSKITE.with_site(0, occupancy=0.5)
    ),
    "unknown element": Case(
        UnknownElementError, "'Xx?'.*not a chemical element", PEROVSKITE.with_site(0, symbol="Xx")
    ),
    "too many atoms": Case(TooManyAtomsError, "5 atoms, more than max_atoms=2", options={"max_atoms": 2}),
    "molecule": Case(InvalidCellError, "molecule|not periodic", crystal=None),
    # symprec larger than half the 0.05 Å period: spglib finds no group (it does at 1e-5)
    "detection fails": Case(
        SymmetryDetectionError,
        r"no space group at symprec=0.1 Å",
        Crystal(cell=(4.0, 4.0, 0.05, 90, 90, 90), sites=(Site("H", (0.0, 0.0, 0.0)),)),
        options={"symprec": 0.1},
    ),
}

NOT_EXPRESSIBLE = {
    ("truncated", "structure"): "an object is built, not parsed",
    ("truncated", "atoms"): "an object is built, not parsed",
    ("garbled", "structure"): "an object is built, not parsed",
    ("garbled", "atoms"): "an object is built, not parsed",
    ("empty file", "structure"): "an object is built, not parsed (an empty one: test_empty_objects)",
    ("empty file", "atoms"): "an object is built, not parsed (an empty one: test_empty_objects)",
    ("partial occupancy", "poscar_file"): "POSCAR has no occupancy field",
}


# -- Rendering a case in a route -------------------------------------------------------------


def cif_text(crystal: Crystal, name: str = "item") -> str:
    """A P1 CIF of ``crystal``, written by hand so that any value (nan, -3.9) goes in as is."""
    a, b, c, alpha, beta, gamma = crystal.cell
    lines = [f"data_{name.replace(' ', '_')}"]
    lines += [f"_cell_length_{k} {v}" for k, v in zip("abc", (a, b, c), strict=True)]
    lines += [
        f"_cell_angle_{k} {v}" for k, v in zip(("alpha", "beta", "gamma"), (alpha, beta, gamma), strict=True)
    ]
    lines += ["_symmetry_space_group_name_H-M 'P 1'", "loop_", " _symmetry_equiv_pos_as_xyz", "  'x, y, z'"]
    lines += ["loop_", *(f" _atom_site_{key}" for key in SITE_KEYS)]
    for index, site in enumerate(crystal.sites):
        lines.append(f"  {site.symbol} {site.symbol}{index} {' '.join(map(str, site.frac))} {site.occupancy}")
    return "\n".join(lines) + "\n"


def lattice_matrix(crystal: Crystal) -> np.ndarray:
    return Lattice.from_parameters(*crystal.cell).matrix


def poscar_text(crystal: Crystal) -> str:
    symbols = [site.symbol for site in crystal.sites]
    lines = ["corpus", "1.0"] + [" ".join(map(str, row)) for row in lattice_matrix(crystal)]
    lines += [" ".join(symbols), " ".join("1" for _ in symbols), "direct"]
    lines += [" ".join(map(str, site.frac)) + f" {site.symbol}" for site in crystal.sites]
    return "\n".join(lines) + "\n"


def xyz_text() -> str:
    return f"{len(WATER)}\nwater\n" + "".join(f"{s} {x} {y} {z}\n" for s, (x, y, z) in WATER)


def good_text(route: str) -> str:
    return poscar_text(PEROVSKITE) if route == "poscar_file" else cif_text(PEROVSKITE)


def case_text(name: str, route: str) -> str:
    case = CASES[name]
    if name == "truncated":
        text = good_text(route)
        return text[: len(text) // 2]
    if name == "garbled":
        return "".join(np.random.default_rng(len(route)).choice(list("abc_ 0123.\n#'"), size=400))
    if case.text is not None:
        return case.text
    if case.crystal is None:
        return xyz_text()
    return poscar_text(case.crystal) if route == "poscar_file" else cif_text(case.crystal, name)


def structure(crystal: Crystal) -> Structure:
    species = [{site.symbol: site.occupancy} for site in crystal.sites]
    frac = [site.frac for site in crystal.sites]
    return Structure(Lattice(lattice_matrix(crystal)), species, frac)


def atoms(crystal: Crystal) -> Atoms:
    """ASE ``Atoms``; unknown symbols become number 0 (``"X"``).

    Occupancies go where ASE's CIF reader puts them (``info["occupancy"]`` by site kind).
    """
    numbers = [atomic_numbers.get(site.symbol, 0) for site in crystal.sites]
    lattice = lattice_matrix(crystal)
    positions = np.array([site.frac for site in crystal.sites]) @ lattice
    result = Atoms(numbers=numbers, positions=positions, cell=lattice, pbc=True)
    result.arrays["spacegroup_kinds"] = np.arange(len(numbers))
    result.info["occupancy"] = {str(i): {s.symbol: s.occupancy} for i, s in enumerate(crystal.sites)}
    return result


def molecule(route: str) -> Molecule | Atoms:
    symbols, positions = zip(*WATER, strict=True)
    return Molecule(symbols, positions) if route == "structure" else Atoms(symbols, positions=positions)


def route_input(name: str, route: str, folder: Path) -> tuple[object, str]:
    """Case ``name`` rendered in ``route``: the input of ``standardize`` and the item's name."""
    case = CASES[name]
    label = f"{route}-{name}"
    if route == "cif_text":  # the route of the CSV datasets: parse the text, then standardize
        return lambda: parse_structure(case_text(name, route), "cif", label), label
    if route in TEXT_ROUTES:
        path = folder / (f"{label}.cif" if route == "cif_file" else f"{label}_POSCAR.vasp")
        path.write_text(case_text(name, route))
        return lambda: path, str(path)
    if case.crystal is None:
        return lambda: molecule(route), label
    return lambda: structure(case.crystal) if route == "structure" else atoms(case.crystal), label


CORPUS = [(name, route) for name in CASES for route in ROUTES if (name, route) not in NOT_EXPRESSIBLE]


@pytest.mark.parametrize(("name", "route"), CORPUS, ids=[f"{r}-{n}" for n, r in CORPUS])
def test_every_case_gets_its_typed_error_naming_the_item(name, route, tmp_path):
    case = CASES[name]
    make, label = route_input(name, route, tmp_path)
    with pytest.raises(case.error) as caught:
        standardize(make(), name=label, **case.options)
    message = str(caught.value)
    assert type(caught.value) is case.error, message
    assert message.startswith(f"{label}: ") and re.search(case.problem, message[len(label) :]), message


def test_the_corpus_covers_every_case_of_the_issue_in_every_route():
    issue = ["truncated", "garbled", "nan coordinates", "inf coordinates", "zero volume", "negative volume",
             "overlapping atoms", "partial occupancy", "unknown element", "too many atoms", "molecule",
             "detection fails"]  # fmt: skip
    assert set(issue) <= set(CASES) and set(NOT_EXPRESSIBLE) <= {(n, r) for n in CASES for r in ROUTES}
    for name in issue:
        covered = {route for n, route in CORPUS if n == name}
        missing = set(ROUTES) - covered
        assert all((name, route) in NOT_EXPRESSIBLE for route in missing), (name, missing)
        assert len(covered) >= 4 or name in ("truncated", "garbled"), name


def test_good_inputs_pass_in_every_route(tmp_path):
    """The renderers are faithful: without the defect every route gives Pm-3m."""
    (tmp_path / "good.cif").write_text(cif_text(PEROVSKITE))
    (tmp_path / "good_POSCAR.vasp").write_text(poscar_text(PEROVSKITE))
    inputs = [parse_structure(cif_text(PEROVSKITE), "cif", "good"), tmp_path / "good.cif",
              tmp_path / "good_POSCAR.vasp", structure(PEROVSKITE), atoms(PEROVSKITE)]  # fmt: skip
    assert [standardize(item).group.symbol for item in inputs] == ["Pm-3m"] * 5
    thin = CASES["detection fails"].crystal
    assert standardize(structure(thin), symprec=1e-5).group.number == 123  # the tolerance decides


def test_left_handed_cells_are_one_typed_error_everywhere():
    """A left-handed lattice is rejected (negative volume), never a crash, also from raw arrays."""
    left = np.diag([3.9, 3.9, -3.9])
    for obj in ((left, [[0, 0, 0]], [38]), Structure(Lattice(left), ["Sr"], [[0, 0, 0]])):
        with pytest.raises(InvalidCellError, match=r"negative volume .* left-handed; swap two"):
            standardize(obj, name="left")


def test_empty_objects():
    for obj in ((np.eye(3) * 4, np.zeros((0, 3)), []), Atoms(cell=np.eye(3) * 4, pbc=True)):
        with pytest.raises(EmptyStructureError, match=r"^empty: the structure has no atoms"):
            standardize(obj, name="empty")


def test_unknown_element_names_the_symbol_not_a_garbage_number(tmp_path):
    (tmp_path / "x_POSCAR.vasp").write_text(poscar_text(PEROVSKITE.with_site(0, symbol="Qq")))
    with pytest.raises(UnknownElementError) as caught:
        standardize(tmp_path / "x_POSCAR.vasp")
    assert "'Qq'" in str(caught.value) and not any(
        len(word) > 6 and word.strip("-").isdigit() for word in str(caught.value).split()
    )
    with pytest.raises(UnknownElementError, match="atomic number 150, not a chemical element"):
        standardize((np.eye(3) * 4, [[0, 0, 0]], [150]), name="z")  # fmt: skip


def test_too_many_atoms_in_the_standardized_cell():
    with pytest.raises(TooManyAtomsError, match="standardized cell"):  # primitive bcc -> 2 atoms
        standardize((1.435 * (1 - 2 * np.eye(3)), [[0, 0, 0]], [26]), max_atoms=1)


def test_missing_file():
    with pytest.raises(StructureParseError, match=r"missing\.cif: does not exist"):
        standardize("missing.cif")


def test_cli_prints_one_line_per_bad_file(tmp_path, capsys):
    """`spacegroup-nn symmetry` on every bad file of the corpus: exit 1 and one line naming the file."""
    names = sorted(
        {name for name, route in CORPUS if route in ("cif_file", "poscar_file") and not CASES[name].options}
    )
    for name in names:
        for suffix, route in ((".cif", "cif_file"), ("_POSCAR.vasp", "poscar_file")):
            if (name, route) in NOT_EXPRESSIBLE:
                continue
            path = tmp_path / f"{name.replace(' ', '_')}{suffix}"
            path.write_text(case_text(name, route))
            assert main(["symmetry", str(path)]) == 1, path.name
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and path.name in err, err  # fmt: skip


def test_cli_has_no_traceback_in_a_fresh_process(tmp_path):
    path = tmp_path / "truncated.cif"
    path.write_text(case_text("truncated", "cif_file"))
    result = subprocess.run([sys.executable, "-m", "spacegroup_nn.cli", "symmetry", str(path)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "truncated.cif" in result.stderr and "Traceback" not in result.stderr
