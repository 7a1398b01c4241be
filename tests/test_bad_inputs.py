"""A corpus of bad inputs, generated here: every case gets a typed error naming the item."""

import subprocess
import sys

import numpy as np
import pytest
from ase import Atoms
from pymatgen.core import Lattice, Molecule, Structure

from spacegroup_nn import standardize
from spacegroup_nn.errors import (
    DisorderedStructureError,
    EmptyStructureError,
    InvalidCellError,
    NonFiniteCoordinatesError,
    OverlappingAtomsError,
    StructureError,
    StructureParseError,
    SymmetryDetectionError,
    TooManyAtomsError,
    UnknownElementError,
)

CUBIC = 4.0 * np.eye(3)
PEROVSKITE = Structure.from_spacegroup(
    "Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]
)


def corpus_files(folder):
    """Bad files derived from a good CIF and POSCAR: truncated and garbled."""
    cif, poscar = PEROVSKITE.to(fmt="cif"), PEROVSKITE.to(fmt="poscar")
    rng = np.random.default_rng(0)
    files = {
        "truncated.cif": cif[: len(cif) // 3],
        "garbled.cif": "".join(rng.choice(list("abc_ 0123.\n#'"), size=400)),
        "empty.cif": "",
        "truncated_POSCAR.vasp": "\n".join(poscar.splitlines()[:6]),
        "garbled_POSCAR.vasp": "not a poscar\n1.0\nx y z\n",
        "partial.cif": cif.replace(
            "Sr  Sr0  1  0.00000000  0.00000000  0.00000000  1", "Sr  Sr0  1  0.0 0.0 0.0  0.5"
        ),
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return sorted(files)


BAD_OBJECTS = {
    "nan coordinates": ((CUBIC, [[0.0, np.nan, 0.0]], [1]), NonFiniteCoordinatesError),
    "inf lattice": ((np.diag([4.0, np.inf, 4.0]), [[0, 0, 0]], [1]), NonFiniteCoordinatesError),
    "zero volume": ((np.diag([4.0, 4.0, 0.0]), [[0, 0, 0]], [1]), InvalidCellError),
    "negative volume": ((np.diag([4.0, 4.0, -4.0]), [[0, 0, 0]], [1]), InvalidCellError),
    "overlapping atoms": ((CUBIC, [[0, 0, 0], [0.05, 0, 0]], [1, 8]), OverlappingAtomsError),
    "unknown element": ((CUBIC, [[0, 0, 0]], [150]), UnknownElementError),
    "empty": ((CUBIC, np.zeros((0, 3)), []), EmptyStructureError),
    "disordered": (
        Structure(Lattice.cubic(3.0), [{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]]),
        DisorderedStructureError,
    ),
    "molecule": (Molecule(["O", "H", "H"], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]), InvalidCellError),
    "non-periodic atoms": (Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]]), InvalidCellError),
    # a valid cell whose atoms overlap their own images: spglib's search fails
    "detection fails": (
        (np.diag([4.0, 4.0, 1e-12]), [[0, 0, 0], [0.5, 0.5, 0.5]], [1, 2]),
        SymmetryDetectionError,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_OBJECTS))
def test_bad_objects_get_typed_errors_naming_the_item(case):
    obj, error = BAD_OBJECTS[case]
    with pytest.raises(error, match=r"^item-7: "):
        standardize(obj, name="item-7")


def test_too_many_atoms():
    with pytest.raises(TooManyAtomsError, match="5 atoms, more than max_atoms=2"):
        standardize(PEROVSKITE, max_atoms=2, name="big")
    with pytest.raises(TooManyAtomsError, match="standardized cell"):  # primitive bcc -> 2 atoms
        standardize((1.435 * (1 - 2 * np.eye(3)), [[0, 0, 0]], [26]), max_atoms=1)


def test_bad_files_get_typed_errors_naming_the_file(tmp_path):
    for name in corpus_files(tmp_path):
        with pytest.raises(StructureError) as caught:
            standardize(tmp_path / name)
        assert name in str(caught.value)
        assert isinstance(caught.value, (StructureParseError, DisorderedStructureError)), name
    with pytest.raises(StructureParseError, match=r"missing\.cif"):
        standardize(tmp_path / "missing.cif")


def test_cli_exits_with_one_line_per_bad_file(tmp_path):
    for name in corpus_files(tmp_path):
        result = subprocess.run(
            [sys.executable, "-m", "spacegroup_nn.cli", "symmetry", str(tmp_path / name)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 1, name
        assert result.stderr.count("\n") == 1 and name in result.stderr and "Traceback" not in result.stderr
