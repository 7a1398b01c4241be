"""Smoke test of benchmarks/bench_basis.py: the radius-5 build, memory and throughput, in seconds."""

from __future__ import annotations

import json

import pytest
from conftest import load_script


def test_bench_basis_smoke(tmp_path):
    bench = load_script("bench_basis")
    out = tmp_path / "bench_basis.json"
    returned = bench.main(["--smoke", "--points", "50", "--out", str(out)])

    results = json.loads(out.read_text())
    assert results == returned and results["smoke"] is True
    assert results["command"] == f"python benchmarks/bench_basis.py --smoke --points 50 --out {out}"
    build = results["cold_build_radius_5"]
    assert "cold_build_radius_10" not in results and build["median_s"] > 0 and build["held_MB"] > 0
    # the dense K x K tables at each group's own K: 52 hexagonal and trigonal groups have 418
    assert build["groups_per_K"] == {"418": 52, "514": 178} and build["wavevectors"] == [418, 514]
    assert build["dense_MB"] * 1e6 == pytest.approx(178 * 514**2 * 16 + 52 * 418**2 * 16, abs=1e-3)
    for number, functions in ((1, 514), (227, 7)):
        assert results[f"throughput_group_{number}"]["functions"] == functions
    table = bench.render(results)
    assert "radius 5 (K = [418, 514])" in table and "898 MB" in table and "radius 10" not in table


def test_bench_basis_rejects_empty_timings(capsys):
    with pytest.raises(SystemExit):
        load_script("bench_basis").main(["--repeats", "0"])
    assert "--repeats" in capsys.readouterr().err
