import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

DATASETS = Path(os.environ.get("SPACEGROUP_NN_DATA", Path(__file__).parents[2] / "shared" / "datasets"))


@pytest.fixture(scope="session")
def datasets_dir():
    """The ../shared/datasets folder (tests using it skip when it is absent)."""
    if not DATASETS.is_dir():
        pytest.skip(f"datasets folder {DATASETS} not found (set SPACEGROUP_NN_DATA)")
    return DATASETS


@pytest.fixture(scope="session")
def dataset_structures(datasets_dir):
    """A few real structures from ../shared/datasets."""
    import pandas as pd
    from pymatgen.core import Structure

    structures = []
    for name in ("perov_5/val.csv", "carbon_24/val.csv"):
        rows = pd.read_csv(DATASETS / name).head(4)
        structures += [Structure.from_str(cif, fmt="cif") for cif in rows["cif"]]
    return structures


def write_perovskite_folder(folder: Path) -> Path:
    """Write a CGCNN-style folder: 12 cubic perovskite CIFs and ``id_prop.csv`` (target a / 4)."""
    import numpy as np
    from pymatgen.core import Lattice, Structure

    folder.mkdir()
    rows = []
    for index, a in enumerate(np.linspace(3.8, 4.6, 12)):
        structure = Structure.from_spacegroup(
            "Pm-3m", Lattice.cubic(a), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]
        )
        structure.to(filename=str(folder / f"p{index}.cif"))
        rows.append(f"p{index},{a / 4:.4f}")
    (folder / "id_prop.csv").write_text("\n".join(rows) + "\n")
    return folder


#: Rows that ``write_malformed_rows`` adds to a CGCNN folder: id -> expected fragment of the reason.
MALFORMED_ROWS = {
    "bad-garbled": "StructureParseError",
    "bad-missing": "no structure file",
    "bad-target": "not a number",
    "bad-disordered": "DisorderedStructureError",
    "bad-overlap": "OverlappingAtomsError",
}


def write_malformed_rows(folder: Path) -> dict[str, str]:
    """Add the :data:`MALFORMED_ROWS` to the CGCNN folder ``folder``; returns them."""
    from pymatgen.core import Lattice, Structure

    (folder / "bad-garbled.cif").write_text("data_x\n_cell_length_a 3\nloop_\n_atom_site_label\n")
    (folder / "bad-target.cif").write_text((folder / "p0.cif").read_text())
    disordered = Structure(Lattice.cubic(4.0), [{"Sr": 0.5}, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    disordered.to(filename=str(folder / "bad-disordered.cif"))
    overlap = Structure(Lattice.cubic(4.0), ["Sr", "O"], [[0, 0, 0], [0.02, 0, 0]])
    overlap.to(filename=str(folder / "bad-overlap.cif"))
    rows = {"bad-garbled": "1.0", "bad-missing": "1.0", "bad-target": "abc", "bad-disordered": "1.0"}
    rows["bad-overlap"] = "1.0"
    with open(folder / "id_prop.csv", "a") as handle:
        handle.writelines(f"{row_id},{value}\n" for row_id, value in rows.items())
    return MALFORMED_ROWS


@pytest.fixture
def perovskite_folder(tmp_path):
    """A CGCNN-style folder: 12 cubic perovskite CIFs and ``id_prop.csv`` (target a / 4)."""
    return write_perovskite_folder(tmp_path / "cgcnn")


def load_script(name: str) -> ModuleType:
    """The benchmark script ``benchmarks/<name>.py`` as a module (benchmarks are not a package)."""
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
