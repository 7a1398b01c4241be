"""Smoke test of benchmarks/bench_elastic.py: a tiny run on the first mp_elastic rows."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from conftest import load_script


def test_bench_elastic_smoke(tmp_path, datasets_dir):
    bench_elastic = load_script("bench_elastic")
    out, docs = tmp_path / "bench_elastic.json", tmp_path / "benchmarks_elastic.md"

    with torch.random.fork_rng():  # the script seeds torch; leave the global RNG as it was
        returned = bench_elastic.main(
            [
                "--smoke",
                "--epochs",
                "2",
                "--data-dir",
                str(datasets_dir),
                "--out",
                str(out),
                "--docs",
                str(docs),
            ]
        )

    results = json.loads(out.read_text())
    assert results == json.loads(json.dumps(returned))
    assert results["settings"]["epochs"] == 2 and results["settings"]["limit"] == 24  # given, smoke
    assert (
        results["smoke"] is True and sum(results["sizes"].values()) == results["targets"]["num_crystals"] > 0
    )
    assert set(results["heads"]) == {"exact", "unconstrained"}
    exact, free = results["heads"]["exact"], results["heads"]["unconstrained"]
    assert exact["symmetry_error_max"] <= 1e-10  # every group met in the run, float64
    assert free["symmetry_error_max"] > 1e-3  # the unconstrained head is not symmetric
    run = exact["runs"][0]
    assert run["symmetry_error"]["num_groups"] == results["targets"]["num_groups"]
    for key in ("mae_voigt_gpa", "mae_k_voigt_gpa", "mae_g_voigt_gpa", "mae_log10_k_voigt"):
        assert run["test"][key] >= 0
    assert len(run["test"]["mae_per_entry_gpa"]) == 21
    # the targets are Laue-invariant in the IEEE frame (round-off), not in the structure's frame
    residual = results["targets"]["target_laue_residual"]
    assert residual["ieee"]["median"] < 1e-12 < residual["structure"]["median"]
    text = docs.read_text()
    assert (
        text.startswith("## mp_elastic") and "python benchmarks/bench_elastic.py --smoke --epochs 2" in text
    )


def test_symmetry_error_applies_every_operation_to_the_cartesian_tensor():
    import numpy as np
    from pymatgen.core import Lattice, Structure

    from spacegroup_nn.data.elastic import elastic_coordinates, elastic_crystal

    bench_elastic = load_script("bench_elastic")
    structure = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.6), ["Cu"], [[0, 0, 0]])
    cubic = np.zeros((6, 6))
    cubic[:3, :3] = 120.0
    cubic[np.arange(3), np.arange(3)] = 170.0
    cubic[np.arange(3, 6), np.arange(3, 6)] = 75.0
    data, _ = elastic_crystal(structure, cubic, dtype=torch.float64)
    assert len(bench_elastic.cartesian_point_group(data)) == 48
    assert bench_elastic.symmetry_error(data.y.numpy()[0], data) < 1e-14
    broken = cubic.copy()
    broken[0, 5] = broken[5, 0] = 10.0  # C16 is zero in every cubic class
    assert bench_elastic.symmetry_error(elastic_coordinates(broken), data) > 1e-2


def test_the_elastic_page_quotes_the_current_scalar_table():
    """The elastic page copies the mp_elastic K table's test MAE as its scalar baseline when it
    runs: rerunning that table means rerunning ``bench_elastic.py``, or the page goes stale."""
    results = Path(__file__).parents[1] / "benchmarks" / "results"
    quoted = json.loads((results / "bench_elastic.json").read_text())["scalar_baseline"]["models"]
    table = json.loads((results / "run_all" / "property_mp_elastic_K.json").read_text())["models"]
    assert {name: entry["test_mae_mean"] for name, entry in quoted.items()} == {
        name: entry["test_mae_mean"] for name, entry in table.items()
    }
