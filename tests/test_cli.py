import subprocess
import sys

import pytest
from pymatgen.core import Lattice, Structure

from spacegroup_nn.cli import main


def test_demo_summarizes_all_230_groups(capsys):
    assert main(["bases"]) == 0
    out = capsys.readouterr().out
    assert " 227 Fd-3m" in out and " 230 Ia-3d" in out
    assert len([line for line in out.splitlines() if line[:4].strip().isdigit()]) == 230


def test_basis_prints_orbits_extinctions_and_conditions(capsys):
    assert main(["basis", "--group", "14"]) == 0
    out = capsys.readouterr().out
    assert "h0l: l=2n" in out and "0k0: k=2n" in out
    assert "extinct wave vectors: 44 of 514" in out
    assert main(["basis", "--hall", "526", "--radius", "3"]) == 0
    assert "Fd-3m" in capsys.readouterr().out


def test_symmetry_of_a_file(tmp_path, capsys):
    path = tmp_path / "nacl.cif"
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(
        filename=str(path)
    )
    assert main(["symmetry", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Fm-3m (No. 225)" in out and "atoms (8;" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["symmetry", "missing.cif"], "missing.cif"),
        (["basis", "--group", "231"], "1..230"),
        (["basis", "--group", "1", "--radius", "0.5"], "radius"),
    ],
)
def test_user_errors_exit_nonzero_with_one_line_and_no_traceback(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "spacegroup_nn.cli", *args], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_garbled_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.cif"
    path.write_text("data_x\n_cell_length_a 3\nloop_\n_atom_site_label\n")
    result = subprocess.run(
        [sys.executable, "-m", "spacegroup_nn.cli", "symmetry", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 1 and "bad.cif" in result.stderr and "Traceback" not in result.stderr


def test_train_predict_evaluate_from_the_command_line(tmp_path, capsys, perovskite_folder):
    folder = perovskite_folder
    cache, out = tmp_path / "cache", tmp_path / "run"
    common = ["--data", str(folder), "--cache", str(cache)]
    assert (
        main(
            ["train", *common, "--target", "target", "--epochs", "2", "--batch-size", "4", "--out", str(out)]
        )
        == 0
    )
    assert (out / "best.pt").is_file() and (out / "metrics.json").is_file()
    predictions = tmp_path / "predictions.csv"
    for _ in range(2):
        assert (
            main(
                [
                    "predict",
                    "--model",
                    str(out),
                    "--data",
                    str(folder),
                    "--out",
                    str(predictions),
                    "--cache",
                    str(cache),
                ]
            )
            == 0
        )
        lines = predictions.read_text().splitlines()
        assert lines[0] == "id,prediction" and len(lines) == 13
    single = tmp_path / "single.csv"
    assert main(["predict", "--model", str(out), "--data", str(folder / "p0.cif"), "--out", str(single)]) == 0
    assert single.read_text().splitlines()[1].split(",")[1] == lines[1].split(",")[1]
    assert main(["evaluate", "--model", str(out), *common]) == 0
    assert '"mae"' in capsys.readouterr().out
    assert (
        main(["predict", "--model", str(tmp_path / "nothing"), "--data", str(folder), "--out", str(single)])
        == 1
    )
