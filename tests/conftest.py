import os
from pathlib import Path

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
