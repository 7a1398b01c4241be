import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MALFORMED_ROWS, write_malformed_rows, write_perovskite_folder
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar
from test_datasets import CSV_ROWS, write_csv

from spacegroup_nn import SpaceGroup
from spacegroup_nn.cli import main
from spacegroup_nn.groups import random_crystal


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
    runs = []
    for _ in range(2):  # predict reads the structures, no cache: the same predictions each time
        assert main(["predict", "--model", str(out), "--data", str(folder), "--out", str(predictions)]) == 0
        lines = predictions.read_text().splitlines()
        assert lines[0] == "id,prediction" and len(lines) == 13
        runs.append(lines)
    assert runs[0] == runs[1]
    single = tmp_path / "single.csv"
    assert main(["predict", "--model", str(out), "--data", str(folder / "p0.cif"), "--out", str(single)]) == 0
    assert single.read_text().splitlines()[1].split(",")[1] == lines[1].split(",")[1]
    assert main(["evaluate", "--model", str(out), *common]) == 0
    assert '"mae"' in capsys.readouterr().out
    assert (
        main(["predict", "--model", str(tmp_path / "nothing"), "--data", str(folder), "--out", str(single)])
        == 1
    )


# -- Rejects accounting: every dataset command keeps every good item and reports the others ----


def accounting(err: str) -> tuple[int, int, int, Path]:
    """``(good, rejected, total, report)`` of the line ``N good + M rejected = T ...; rejects in PATH``."""
    match = re.search(r"(\d+) good \+ (\d+) rejected = (\d+) [a-z ]+; rejects in (\S+)", err)
    assert match, err
    return int(match[1]), int(match[2]), int(match[3]), Path(match[4])


def report_rows(path: Path) -> dict[str, str]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "reason"]
    return dict(rows[1:])


@pytest.fixture
def malformed_folder(perovskite_folder):
    """The 12 perovskites of ``perovskite_folder`` plus the 5 bad rows of ``MALFORMED_ROWS``."""
    write_malformed_rows(perovskite_folder)
    return perovskite_folder


def check_report(err: str, expected_path: Path, good: int, bad: dict[str, str]) -> None:
    num_good, num_rejected, total, path = accounting(err)
    assert (num_good, num_rejected, total) == (good, len(bad), good + len(bad)) and path == expected_path
    rows = report_rows(path)
    assert set(rows) == set(bad)
    for row_id, fragment in bad.items():
        assert fragment in rows[row_id], (row_id, rows[row_id])


def test_train_evaluate_predict_report_every_rejected_row(tmp_path, capsys, malformed_folder):
    out, cache = tmp_path / "run", tmp_path / "cache"
    common = ["--data", str(malformed_folder), "--cache", str(cache)]
    train = ["train", *common, "--target", "target", "--epochs", "1", "--batch-size", "4", "--out", str(out)]
    assert main(train) == 0
    err = capsys.readouterr().err
    check_report(err, out / "rejects.csv", 12, MALFORMED_ROWS)
    metrics = json.loads((out / "metrics.json").read_text())
    assert sum(metrics["sizes"].values()) == 12  # every good row is in a split
    assert main(["evaluate", "--model", str(out), *common]) == 0
    captured = capsys.readouterr()
    check_report(captured.err, out / "evaluate_rejects.csv", 12, MALFORMED_ROWS)
    assert json.loads(captured.out)["count"] == 12
    predictions = tmp_path / "predictions.csv"
    command = ["predict", "--model", str(out), "--data", str(malformed_folder), "--out", str(predictions)]
    assert main(command) == 0
    # predict reads no labels: the row with a non-numeric target has a good structure
    unusable = {row_id: reason for row_id, reason in MALFORMED_ROWS.items() if row_id != "bad-target"}
    check_report(capsys.readouterr().err, tmp_path / "predictions_rejects.csv", 13, unusable)
    assert len(predictions.read_text().splitlines()) == 1 + 13


def test_predict_on_a_folder_predicts_every_good_file(tmp_path, capsys, perovskite_folder):
    out = tmp_path / "run"
    train = ["train", "--data", str(perovskite_folder), "--target", "target", "--epochs", "1",
             "--cache", str(tmp_path / "cache"), "--out", str(out)]  # fmt: skip
    assert main(train) == 0
    files = tmp_path / "files"
    files.mkdir()
    for index in range(3):
        (files / f"p{index}.cif").write_text((perovskite_folder / f"p{index}.cif").read_text())
    (files / "garbled.cif").write_text("data_x\nloop_\n_atom_site_label\n")
    (files / "nan_POSCAR.vasp").write_text("x\n1.0\n4 0 0\n0 4 0\n0 0 4\nSr\n1\ndirect\nnan 0 0\n")
    capsys.readouterr()
    report = tmp_path / "bad.csv"
    predictions = tmp_path / "predictions.csv"
    command = ["predict", "--model", str(out), "--data", str(files), "--out", str(predictions)]
    assert main([*command, "--rejects", str(report)]) == 0
    bad = {"garbled.cif": "StructureParseError", "nan_POSCAR.vasp": "NonFiniteCoordinatesError"}
    check_report(capsys.readouterr().err, report, 3, bad)
    assert [line.split(",")[0] for line in predictions.read_text().splitlines()] == [
        "id",
        "p0.cif",
        "p1.cif",
        "p2.cif",
    ]
    # one bad file: a one-line error and a non-zero exit; a folder of bad files: the same, after the report
    for data in (files / "garbled.cif", tmp_path / "only_bad"):
        if data.name == "only_bad":
            data.mkdir()
            (data / "garbled.cif").write_text("garbage")
        assert main(["predict", "--model", str(out), "--data", str(data), "--out", str(predictions)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert "garbled.cif" in err[-1] or "rejected" in err[-1]
        assert err[-1].startswith("spacegroup-nn predict: error: ")


def test_zero_shot_reports_every_rejected_row(tmp_path, capsys):
    path = write_csv(tmp_path / "data.csv", CSV_ROWS + several_groups())
    out = tmp_path / "zero_shot"
    command = ["zero-shot", "--data", str(path), "--target", "heat_ref", "--models", "transformer",
               "--epochs", "1", "--cache", str(tmp_path / "cache"), "--out", str(out)]  # fmt: skip
    assert main(command) == 0
    bad = {row[0]: row[3] for row in CSV_ROWS if row[3] is not None}
    bad["a1"] = "duplicate id"  # the second row with id a1 (the first is good)
    good = len(CSV_ROWS) - 8 + len(several_groups())
    err = capsys.readouterr().err
    num_good, num_rejected, total, report = accounting(err)
    assert (num_good, num_rejected, total, report) == (
        good,
        8,
        len(CSV_ROWS) + len(several_groups()),
        out / "rejects.csv",
    )
    with open(report, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    assert len(rows) == 8 and all(any(r[0] == i and f in r[1] for r in rows) for i, f in bad.items())
    sizes = json.loads((out / "zero_shot.json").read_text())["sizes"]
    assert sum(sizes.values()) == good


def test_demo_reports_the_cells_above_max_atoms(tmp_path, capsys, monkeypatch):
    from spacegroup_nn import cli
    from spacegroup_nn.datasets import SyntheticCrystals

    def small_synthetic(*args, **kwargs):  # 7 groups instead of 230; 221 has 96 atoms per cell
        groups = [1, 2, 3, 14, 47, 62, 221]
        return SyntheticCrystals(tmp_path / "cache", num_per_group=2, groups=groups, log=False)

    monkeypatch.setattr(cli, "load_dataset", small_synthetic)
    out = tmp_path / "demo"
    command = ["demo", "--epochs", "1", "--models", "transformer", "--max-atoms", "16", "--out", str(out)]
    assert main(command) == 0
    num_good, num_rejected, total, report = accounting(capsys.readouterr().err)
    assert (num_good, num_rejected, total, report) == (12, 2, 14, out / "rejects.csv")
    rows = report_rows(report)
    assert sorted(rows) == ["sg221-000", "sg221-001"]
    assert all("96 atoms, more than --max-atoms=16" in reason for reason in rows.values())
    sizes = json.loads((out / "zero_shot.json").read_text())["sizes"]
    assert sum(sizes.values()) == num_good


def several_groups() -> list[tuple[str, str, str, None]]:
    """CSV rows of random crystals of 8 groups (3 each), good rows with a target."""
    rng = np.random.default_rng(0)
    rows = []
    for number in (2, 14, 62, 123, 166, 191, 221, 225):
        for index in range(3):
            lattice, frac, orbits = random_crystal(SpaceGroup(number), rng, num_orbits=1)
            text = str(CifWriter(Structure(Lattice(lattice), [3] * len(orbits), frac)))
            rows.append((f"g{number}-{index}", text, f"{rng.normal():.3f}", None))
    return rows


# -- predict without labels, structure files by name; split and option errors ---------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """``(perovskite CGCNN folder, training output)`` of a one-epoch run on target ``target``."""
    root = tmp_path_factory.mktemp("trained")
    folder, out = write_perovskite_folder(root / "cgcnn"), root / "run"
    train = ["train", "--data", str(folder), "--target", "target", "--epochs", "1",
             "--cache", str(root / "cache"), "--out", str(out)]  # fmt: skip
    assert main(train) == 0
    return folder, out


def predicted(path: Path) -> dict[str, str]:
    with open(path, newline="") as handle:
        return {row["id"]: row["prediction"] for row in csv.DictReader(handle)}


def test_predict_reads_every_structure_file_name_and_reports_the_other_files(tmp_path, capsys, trained):
    folder, model = trained
    files = tmp_path / "files"
    files.mkdir()
    structure = Structure.from_file(folder / "p0.cif")
    (files / "a.cif").write_text((folder / "p1.cif").read_text())
    Poscar(structure).write_file(files / "CONTCAR")
    Poscar(structure).write_file(files / "POSCAR_2")
    (files / "notes.txt").write_text("measured on 2026-01-01")
    (files / "old_predictions.csv").write_text("id,prediction\n")  # beside structures: no dataset
    (files / ".DS_Store").write_text("")  # hidden: not an item
    out, report = tmp_path / "predictions.csv", tmp_path / "rejects.csv"
    command = ["predict", "--model", str(model), "--data", str(files), "--out", str(out)]
    assert main([*command, "--rejects", str(report)]) == 0
    others = {name: "not a CIF or POSCAR file" for name in ("notes.txt", "old_predictions.csv")}
    check_report(capsys.readouterr().err, report, 3, others)
    values = predicted(out)
    assert list(values) == ["CONTCAR", "POSCAR_2", "a.cif"]
    assert values["CONTCAR"] == values["POSCAR_2"]


def test_predict_needs_no_labels(tmp_path, capsys, trained):
    folder, model = trained
    out = tmp_path / "predictions.csv"
    assert main(["predict", "--model", str(model), "--data", str(folder), "--out", str(out)]) == 0
    labelled = predicted(out)
    # a CGCNN folder whose id_prop.csv has ids and no values
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    for name in ("p0", "p1", "p2"):
        (unlabelled / f"{name}.cif").write_text((folder / f"{name}.cif").read_text())
    (unlabelled / "id_prop.csv").write_text("p0\np1,\np2,0.95\n")
    assert main(["predict", "--model", str(model), "--data", str(unlabelled), "--out", str(out)]) == 0
    assert predicted(out) == {name: labelled[name] for name in ("p0", "p1", "p2")}
    capsys.readouterr()
    # a CSV without the model's target column ("target"): every parsable row is predicted
    data = write_csv(tmp_path / "data.csv")
    assert main(["predict", "--model", str(model), "--data", str(data), "--out", str(out)]) == 0
    bad = {"b1": "cannot parse", "b4": "DisorderedStructureError", "b5": "OverlappingAtomsError"}
    bad |= {"a1": "duplicate id", "b7": "empty 'cif'"}  # the target-less b2, b3 and b6 are predicted
    check_report(capsys.readouterr().err, tmp_path / "predictions_rejects.csv", len(CSV_ROWS) - len(bad), bad)
    assert list(predicted(out)) == ["a1", "a2", "a3", "b2", "b3", "b6"]


def last_error(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_split_and_subset_errors_are_one_line_messages(tmp_path, capsys, trained):
    folder, model = trained
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"training": ["p0", "p1"], "validation": ["p2"], "test": ["p3"]}))
    evaluate = ["evaluate", "--model", str(model), "--data", str(folder), "--cache", str(tmp_path)]
    assert main([*evaluate, "--split", str(split), "--subset", "val"]) == 1
    message = last_error(capsys)
    assert message.startswith("spacegroup-nn evaluate: error: ") and str(split) in message
    assert "no subset 'val'; the split has ['test', 'training', 'validation']" in message
    assert main([*evaluate, "--subset", "val"]) == 1
    assert "--subset val needs --split" in last_error(capsys)
    assert main([*evaluate, "--split", str(split), "--subset", "validation"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 1
    train = ["train", "--data", str(folder), "--target", "target", "--out", str(tmp_path / "t")]
    assert main([*train, "--cache", str(tmp_path), "--split", str(split)]) == 1
    assert "no subset 'train'; the split has ['test', 'training', 'validation']" in last_error(capsys)
    assert main(["train", "--data", "synthetic", "--split", str(split), "--out", str(tmp_path / "s")]) == 1
    assert "the synthetic set takes no split" in last_error(capsys)


def test_zero_shot_takes_no_split(tmp_path, capsys):
    command = ["zero-shot", "--data", "synthetic", "--split", "split.json", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as info:
        main(command)
    assert info.value.code == 2 and "unrecognized arguments: --split" in capsys.readouterr().err


# -- options and outputs checked before any work; empty subsets; evaluation targets -----------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--seed", "-1"),
        ("--epochs", "0"),
        ("--batch-size", "0"),
        ("--limit", "-1"),
        ("--lr", "nan"),
        ("--symprec", "0"),
        ("--shard-size", "0"),
        ("--epochs", "two"),
    ],
)
def test_bad_numbers_are_usage_errors_naming_the_option(option, value, capsys):
    command = ["train", "--data", "nowhere.csv", "--target", "y", "--out", "run", option, value]
    with pytest.raises(SystemExit) as info:
        main(command)
    assert info.value.code == 2 and f"argument {option}: " in capsys.readouterr().err


def test_predict_limit_is_never_negative_and_caps_synthetic(tmp_path, capsys, trained, monkeypatch):
    _, model = trained
    with pytest.raises(SystemExit):  # a negative limit would drop the last folder entry
        main(["predict", "--model", str(model), "--data", "x", "--out", "p.csv", "--limit", "-1"])
    from spacegroup_nn import workflows
    from spacegroup_nn.datasets import SyntheticCrystals

    def small_synthetic(*args, **kwargs):
        return SyntheticCrystals(tmp_path / "cache", num_per_group=2, groups=[1, 2, 14], log=False)

    monkeypatch.setattr(workflows, "load_dataset", small_synthetic)
    ids, crystals, _ = workflows.load_structures("synthetic", limit=3)
    assert len(ids) == len(crystals) == 3 and ids == [str(c.id) for c in crystals]


def test_output_paths_are_checked_before_any_work(tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    for command in ("train", "zero-shot"):
        args = [command, "--data", "nowhere.csv", "--target", "y", "--out", str(existing)]
        assert main(args) == 1
        assert last_error(capsys).endswith(f"--out {existing}: is an existing file, not a folder")
    args = ["predict", "--model", "nowhere", "--data", "x.cif", "--out", str(tmp_path)]
    assert main(args) == 1
    assert last_error(capsys).endswith(f"--out {tmp_path}: is a folder, not a file name")
    assert existing.read_text() == "keep me"


def test_zero_shot_checks_the_model_names_before_loading_data(tmp_path, capsys):
    args = ["zero-shot", "--data", "nowhere.csv", "--target", "y", "--out", str(tmp_path / "z")]
    assert main([*args, "--models", "transformer,,"]) == 1
    assert "unknown model ''" in last_error(capsys)
    assert main([*args, "--models", "transformer_augmented"]) == 1  # a valid name: data is read
    assert "nowhere.csv: does not exist" in last_error(capsys)


def test_empty_train_val_or_evaluated_subsets_are_errors_not_nan(tmp_path, capsys, trained):
    folder, model = trained
    common = ["--data", str(folder), "--cache", str(tmp_path / "cache")]
    train = ["train", *common, "--target", "target", "--epochs", "1", "--out", str(tmp_path / "t")]
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["p0", "p1"], "val": [], "test": ["p2"]}))
    assert main([*train, "--split", str(split)]) == 1
    assert last_error(capsys).endswith(f"{split}: subset 'val' has no crystals")
    split.write_text(json.dumps({"train": ["x1", "x2"], "val": ["p2"], "test": []}))
    assert main([*train, "--split", str(split)]) == 1
    message = last_error(capsys)
    assert "subset 'train' has no crystals; its 2 ids are not crystals of the data" in message
    assert "x1: not in the source" in message
    assert main([*train, "--limit", "2"]) == 1  # seeded 80/10/10 of 2 crystals: no validation
    assert "the seeded split leaves subset 'val' empty (2 good crystals)" in last_error(capsys)
    assert not (tmp_path / "t" / "best.pt").exists()
    evaluate = ["evaluate", "--model", str(model), *common, "--split", str(split), "--subset", "test"]
    assert main(evaluate) == 1
    assert last_error(capsys).endswith(f"{split}: subset 'test' has no crystals")


def test_evaluate_against_another_column_says_so(tmp_path, capsys, trained):
    folder, model = trained
    lines = (folder / "id_prop.csv").read_text().splitlines()
    (folder / "id_prop.csv").write_text("".join(f"{line},{line.split(',')[1]}\n" for line in lines))
    args = ["evaluate", "--model", str(model), "--data", str(folder), "--cache", str(tmp_path)]
    assert main(args) == 0
    assert "data_target" not in json.loads(capsys.readouterr().out)
    assert main([*args, "--target", "target_1"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["target"] == "target" and result["data_target"] == "target_1"
    assert "the model predicts 'target'; scored against the data's 'target_1'" in captured.err


def test_an_unwritable_report_path_is_a_one_line_error(tmp_path, capsys, trained):
    folder, model = trained
    out = tmp_path / "predictions.csv"
    args = ["predict", "--model", str(model), "--data", str(folder), "--out", str(out)]
    assert main([*args, "--rejects", str(tmp_path)]) == 1  # a folder where the report goes
    message = last_error(capsys)
    assert message.startswith("spacegroup-nn predict: error: ") and str(tmp_path) in message


def test_an_output_is_never_the_input_file(tmp_path, capsys):
    data = write_csv(tmp_path / "data.csv")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["a1"], "val": ["a2"]}))
    before = data.read_bytes(), split.read_bytes()
    predict = ["predict", "--model", "nowhere", "--data", str(data)]
    assert main([*predict, "--out", str(data)]) == 1
    assert last_error(capsys).endswith(f"--out {data}: is the --data file; it would be overwritten")
    assert main([*predict, "--out", str(tmp_path / "p.csv"), "--rejects", str(data)]) == 1
    assert "--rejects" in last_error(capsys)
    common = ["--data", str(data), "--target", "heat_ref", "--split", str(split)]
    train = ["train", *common, "--out", str(tmp_path / "t"), "--rejects", str(split)]
    assert main(train) == 1
    assert last_error(capsys).endswith(f"--rejects {split}: is the --split file; it would be overwritten")
    assert main(["evaluate", "--model", "nowhere", *common, "--rejects", str(data)]) == 1
    assert "is the --data file" in last_error(capsys)
    assert (data.read_bytes(), split.read_bytes()) == before
