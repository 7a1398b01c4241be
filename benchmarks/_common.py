"""What the benchmark scripts share that needs neither torch nor the package (so the scripts that
measure the memory of their imports, as ``bench_sharding.py`` does, can import it too)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The folder of the benchmark datasets: ``$SPACEGROUP_NN_DATA``, else ``../shared/datasets``
#: beside the repository.
DEFAULT_DATA = Path(os.environ.get("SPACEGROUP_NN_DATA", ROOT.parent / "shared" / "datasets"))


def mean_std(values: Sequence[float]) -> str:
    """``mean ± std`` of ``values`` (population std, as ``np.std``) for a table cell."""
    import numpy as np  # here, not at the top: see the module's docstring

    return f"{np.mean(values):.4g} ± {np.std(values):.2g}"
