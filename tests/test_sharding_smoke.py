"""Smoke test of benchmarks/bench_sharding.py: tiny sizes, one measurement process, JSON written."""

from __future__ import annotations

import json

from conftest import load_script


def test_bench_sharding_smoke(tmp_path, datasets_dir):
    bench = load_script("bench_sharding")
    out = tmp_path / "bench_sharding.json"
    returned = bench.main(["--smoke", "--out", str(out), "--work-dir", str(tmp_path / "work")])
    results = json.loads(out.read_text())
    assert results == json.loads(json.dumps(returned)) and results["smoke"] is True
    rows = results["rows"]
    assert [r["num_rows"] for r in rows] == [20, 40]
    for row in rows:
        assert row["num_good"] + row["num_rejected"] == row["num_rows"]
        assert row["num_shards"] == row["num_rows"] // 10
        assert row["build_s"] > 0 and row["peak_main_MB"] > 0 and row["disk_bytes"] > 0
    fit = results["extrapolation"]["fits"]["1"]
    assert fit["points"] == [20, 40] and {"build_s", "peak_main_MB", "disk", "reader_ids"} <= set(fit)
    # the input is written row by row: 40 rows of perov_5 and carbon_24 CIFs
    lines = (tmp_path / "work" / "input.csv").read_text().count("data_")
    assert lines == 40
