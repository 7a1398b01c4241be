"""Smoke test of benchmarks/bench_molecules.py: g2 checks and QM9 (installed qm9pack), tiny sizes."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from conftest import load_script


@pytest.fixture(scope="module")
def bench_molecules():
    return load_script("bench_molecules")


def test_qm9_read_offline_from_installed_package(bench_molecules):
    if importlib.util.find_spec("qm9pack") is None:
        pytest.skip("qm9pack is not installed (pip install -e '.[test]')")
    rows = bench_molecules.read_qm9(max_rows=3)
    assert [row["id"] for row in rows] == ["dsgdb9nsd_000001", "dsgdb9nsd_000002", "dsgdb9nsd_000003"]
    methane = rows[0]
    assert abs(methane["gap_eV"] - 0.5048 * bench_molecules.HARTREE_EV) < 1e-9
    assert methane["alpha"].shape == (3, 3) and abs(methane["alpha"][0, 0] - 13.211) < 1e-12
    data = bench_molecules.qm9_data(rows[2])  # water: C2v, a diagonal tensor in the canonical frame
    assert data.symbol == "C2v" and data.alpha.shape == (1, 4, 6)
    assert torch.allclose(data.alpha[0, :, 3:], torch.zeros(4, 3), atol=1e-5)
    assert sorted(data.alpha[0, 0, :3].tolist()) == pytest.approx([4.492, 6.398, 8.049], abs=1e-4)


def test_thole_proxy(bench_molecules):
    """One atom: its own polarizability; a diatomic: largest along the bond."""
    single = bench_molecules.thole_polarizability(["C"], np.zeros((1, 3)))
    np.testing.assert_allclose(single, 1.405 * bench_molecules.BOHR3_PER_ANGSTROM3 * np.eye(3))
    pair = bench_molecules.thole_polarizability(["N", "N"], np.array([[0, 0, 0], [0, 0, 1.1]]))
    assert pair[2, 2] > pair[0, 0] > 0 and pair[0, 0] == pytest.approx(pair[1, 1])
    np.testing.assert_allclose(pair, pair.T)


def test_bench_molecules_smoke(bench_molecules, tmp_path):
    if importlib.util.find_spec("qm9pack") is None:
        pytest.skip("qm9pack is not installed (pip install -e '.[test]')")
    out, doc = tmp_path / "bench_molecules.json", tmp_path / "benchmarks_molecules.md"
    threads = torch.get_num_threads()
    with torch.random.fork_rng():
        returned = bench_molecules.main(["--smoke", "--out", str(out), "--doc", str(doc)])
    assert torch.get_num_threads() == threads

    results = json.loads(out.read_text())
    assert results == json.loads(json.dumps(returned))
    assert results["smoke"] is True

    g2 = results["g2"]
    assert g2["agree_with_pymatgen"] == g2["agree_after_rotation"] == g2["molecules"] == 12
    for errors in g2["max_invariance_error"].values():
        assert errors["float64"] <= 1e-10 and errors["float32"] <= 1e-5
    assert g2["orientation_error_scalar_float64"] <= 1e-8

    assert results["qm9"]["sizes"] == {"train": 24, "val": 8, "test": 8}
    for name in ("PointGroupNetwork", "SchNet"):
        assert results["gap"][name]["test_mae_eV"] > 0
    polarizability = results["polarizability"]
    assert polarizability["projected"]["symmetry_error_max_bohr3"]["float64"] <= 1e-10
    assert polarizability["unconstrained"]["symmetry_error_max_bohr3"]["float64"] > 1e-3
    assert polarizability["target_symmetry_defect"]["max"] < 1e-3
    check = results["qm9"]["frame_check"]
    assert (
        check["molecules"] == 40
        and check["correlation_principal_axes"] > check["correlation_coordinate_frame"]
    )

    text = doc.read_text()
    assert text.count("`python benchmarks/bench_molecules.py --smoke") >= 4  # every section names it
    assert "Smoke run" in text
