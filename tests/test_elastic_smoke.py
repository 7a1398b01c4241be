"""Smoke test of benchmarks/bench_elastic.py: a tiny run on the first mp_elastic rows."""

from __future__ import annotations

import json

import torch
from conftest import load_script


def test_bench_elastic_smoke(tmp_path, datasets_dir):
    bench_elastic = load_script("bench_elastic")
    out, docs = tmp_path / "bench_elastic.json", tmp_path / "benchmarks_elastic.md"

    with torch.random.fork_rng():  # the script seeds torch; leave the global RNG as it was
        returned = bench_elastic.main(
            ["--smoke", "--data-dir", str(datasets_dir), "--out", str(out), "--docs", str(docs)]
        )

    results = json.loads(out.read_text())
    assert results == json.loads(json.dumps(returned))
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
    assert text.startswith("## mp_elastic") and "python benchmarks/bench_elastic.py --smoke" in text
