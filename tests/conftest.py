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
