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
    data = bench_molecules.qm9_data(rows[2])  # water, C2v: the eigenvalues of the file's tensor
    assert data.symbol == "C2v" and data.alpha.shape == (1, 3) and data.alpha.dtype == torch.float64
    assert data.alpha[0].tolist() == pytest.approx([4.492, 6.398, 8.049], abs=1e-4)


def test_spectral_errors_do_not_depend_on_the_frame(bench_molecules):
    """A tensor rotated anywhere scores as itself; its spectral distance is the Frobenius
    distance after the best rotation."""
    from scipy.spatial.transform import Rotation

    from spacegroup_nn.solvers.tensors import tensor_encoder

    encoder = torch.tensor(tensor_encoder("rank2_symmetric"))
    tensor = torch.tensor([[9.0, 1.0, 0.5], [1.0, 7.0, -0.3], [0.5, -0.3, 4.0]], dtype=torch.float64)
    rotation = torch.tensor(Rotation.random(random_state=1).as_matrix())
    mandel = torch.stack([encoder @ tensor.ravel(), encoder @ (rotation @ tensor @ rotation.T).ravel()])
    target = torch.linalg.eigvalsh(tensor).expand(2, 3)
    errors = bench_molecules.spectral_errors(mandel, target)
    assert all(value < 1e-12 for value in errors.values())
    shifted = bench_molecules.spectral_errors(mandel, target + torch.tensor([0.0, 0.0, 1.0]))
    assert shifted["test_spectral_distance_bohr3"] == pytest.approx(1.0)
    assert shifted["test_isotropic_mae_bohr3"] == pytest.approx(1 / 3)


def test_symmetry_errors_apply_the_molecules_rotations(bench_molecules):
    """Water (C2v): a tensor with the C2 axis and mirrors as principal axes has no error in any
    frame; an off-diagonal entry across the axis is caught."""
    from ase.collections import g2

    from spacegroup_nn import PointGroup
    from spacegroup_nn.data import from_molecule

    water = g2["H2O"]
    data = from_molecule(water, dtype=torch.float64)
    data.file_rotations = PointGroup.from_molecule(water).rotations
    symmetric = torch.tensor([[4.0, 5.0, 6.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    broken = torch.tensor([[4.0, 5.0, 6.0, 0.0, 0.0, 0.7]], dtype=torch.float64)
    errors = bench_molecules.symmetry_errors([data], {"float64": symmetric, "broken": broken})
    assert errors["symmetry_error_max_bohr3"]["float64"] < 1e-14
    assert errors["symmetry_error_max_bohr3"]["broken"] > 0.5
    assert errors["symmetric_test_molecules"] == 1


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
    for head in ("projected", "unconstrained"):
        assert (
            polarizability[head]["test_spectral_distance_bohr3"]
            >= polarizability[head]["test_isotropic_mae_bohr3"]
        )
    check = results["qm9"]["frame_check"]
    assert (
        check["molecules"] == 40
        and check["correlation_principal_axes"] > check["correlation_coordinate_frame"]
    )

    text = doc.read_text()
    assert text.count("`python benchmarks/bench_molecules.py --smoke") >= 4  # every section names it
    assert "Smoke run" in text
