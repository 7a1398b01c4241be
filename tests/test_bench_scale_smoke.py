"""Smoke test of benchmarks/bench_scale.py: one small cell per family, JSON with command and load."""

from __future__ import annotations

import json

from conftest import load_script


def test_bench_scale_smoke(tmp_path):
    bench = load_script("bench_scale")
    out = tmp_path / "bench_scale.json"
    returned = bench.main(["--smoke", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results == json.loads(json.dumps(returned)) and results["smoke"] is True
    assert results["command"] == f"python benchmarks/bench_scale.py --smoke --out {out}"
    assert len(results["load_average_start"]) == len(results["load_average_end"]) == 3
    rows = results["rows"]
    assert [(row["family"], row["group"]) for row in rows] == list(bench.FAMILIES.items())
    assert {"triclinic", "trigonal (R)"} <= {row["family"] for row in rows}
    for row in rows:
        assert row["atoms"] > 0 and row["forward_s"] > 0 and row["train_step_s"] > 0 and row["peak_MB"] > 0
    assert next(row for row in rows if row["group"] == 166)["atoms"] % 36 == 0  # R-3m, hexagonal axes
