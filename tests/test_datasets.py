"""Tests of spacegroup_nn.datasets: readers, CrystalDataset, splits, SyntheticCrystals."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar

from spacegroup_nn.datasets import (
    DEFAULT_SYMPREC,
    CrystalDataset,
    DatasetError,
    InvalidTarget,
    Record,
    Reject,
    SyntheticCrystals,
    detect_format,
    load_split,
    random_split,
    read_alignn,
    read_cgcnn,
    read_csv,
    read_json,
    read_records,
)
from spacegroup_nn.errors import SpacegroupNNError

DATASETS = Path(os.environ.get("SPACEGROUP_NN_DATA", Path(__file__).parents[2] / "shared" / "datasets"))

# ------------------------------------------------------------------------------------------
# Fixture structures, written as CIF / POSCAR text in tmp_path


def nacl(a: float = 5.64) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def cscl(a: float = 4.12) -> Structure:
    return Structure(Lattice.cubic(a), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def noisy_nacl() -> Structure:
    """NaCl with 0.003 Å of noise: P1 at symprec 1e-5, Fm-3m at the default 0.1."""
    structure = nacl()
    noise = np.random.default_rng(1).normal(scale=0.003, size=(len(structure), 3))
    return Structure(
        structure.lattice, structure.species, structure.cart_coords + noise, coords_are_cartesian=True
    )


def disordered() -> Structure:
    return Structure(Lattice.cubic(4.0), [{"Na": 0.5, "K": 0.5}, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def overlapping() -> Structure:
    return Structure(Lattice.cubic(4.0), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.52]])


def cif(structure: Structure) -> str:
    return str(CifWriter(structure))


GARBLED_CIF = "data_broken\n_cell_length_a 4.0\n_cell_length_b oops\nloop_\n_atom_site_label\nNa1 0 0\n"

# id, cif text, heat_ref, expected reject-reason fragment (None: good)
CSV_ROWS = [
    ("a1", cif(nacl()), "0.5", None),
    ("a2", cif(cscl()), "-1.25", None),
    ("a3", cif(noisy_nacl()), "2.0", None),
    ("b1", GARBLED_CIF, "1.0", "cannot parse"),
    ("b2", cif(cscl(4.3)), "", "no value for target"),
    ("b3", cif(cscl(4.4)), "nan", "NaN"),
    ("b4", cif(disordered()), "1.0", "DisorderedStructureError"),
    ("b5", cif(overlapping()), "1.0", "OverlappingAtomsError"),
    ("a1", cif(nacl(5.7)), "1.0", "duplicate id"),
    ("b6", cif(cscl(4.5)), "abc", "not a number"),
    ("b7", "", "1.0", "empty 'cif'"),
]
GOOD_IDS = ["a1", "a2", "a3"]


def write_csv(path: Path, rows=CSV_ROWS) -> Path:
    frame = pd.DataFrame(
        {
            "material_id": [r[0] for r in rows],
            "cif": [r[1] for r in rows],
            "formula": ["X"] * len(rows),
            "heat_ref": [r[2] for r in rows],
        }
    )
    frame.to_csv(path)  # with the unnamed index column, as in the CDVAE files
    return path


def all_ids(split: dict[str, list[str]]) -> list[str]:
    return [i for ids in split.values() for i in ids]


def check_accounting(dataset, rows) -> None:
    """good + rejected == input rows, and every bad row is rejected with the expected reason."""
    assert dataset.num_good + len(dataset.rejects) == dataset.num_rows == len(rows)
    assert len(dataset) == dataset.num_good
    reasons = [reason for _, reason in dataset.rejects]
    for row_id, *_, expected in rows:
        if expected is not None:
            assert any(row_id == i and expected in r for i, r in dataset.rejects), (row_id, expected, reasons)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "data.csv")


# ------------------------------------------------------------------------------------------
# Readers


def test_read_csv_reports_every_row(csv_file: Path) -> None:
    reader = read_csv(csv_file)
    assert len(reader) == len(CSV_ROWS) and reader.format == "csv"
    assert {"heat_ref", "formula"} <= set(reader.target_names)
    records, rejects = reader.read()
    assert len(records) + len(rejects) == len(CSV_ROWS)
    assert [r.id for r in rejects] == ["b1", "a1", "b7"]  # parse errors, duplicate, empty CIF
    first = records[0]
    assert isinstance(first, Record) and isinstance(first.structure, Structure)
    assert first.id == "a1" and first.targets["heat_ref"] == 0.5 and first.targets["formula"] == "X"
    by_id = {r.id: r for r in records}
    assert "heat_ref" not in by_id["b2"].targets  # empty cell: missing
    assert np.isnan(by_id["b3"].targets["heat_ref"])
    assert isinstance(rejects[0], Reject) and "cannot parse the CIF" in rejects[0].reason


def test_read_csv_folder_pools_files_and_limit(tmp_path: Path) -> None:
    write_csv(tmp_path / "test.csv", CSV_ROWS[:4])
    write_csv(tmp_path / "val.csv", CSV_ROWS[4:8])
    (tmp_path / "split.json").write_text("{}")
    reader = read_records(tmp_path)
    assert reader.format == "csv" and len(reader) == 8
    assert reader.ids == [r[0] for r in CSV_ROWS[:8]]  # name order: test.csv, then val.csv
    assert len(read_csv(tmp_path, limit=6)) == 6
    assert read_csv(tmp_path, limit=2).ids == ["a1", "a2"]


def test_read_csv_without_cif_column(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    pd.DataFrame({"material_id": ["a"], "y": [1.0]}).to_csv(path)
    with pytest.raises(DatasetError, match=r"x\.csv.*no 'cif' column"):
        read_csv(path)


def test_reader_edge_cases(tmp_path: Path) -> None:
    # Two data blocks in one CIF; no id column (ids from file and row); garbled JSON.
    path = tmp_path / "two.csv"
    pd.DataFrame({"cif": [cif(nacl()) + "\n" + cif(cscl()), cif(cscl())], "e": [1, 2]}).to_csv(
        path, index=False
    )
    records, rejects = read_csv(path).read()
    assert rejects == [
        Reject("two.csv:1", "StructureParseError: two.csv:1: the CIF holds 2 structures, expected one")
    ]
    assert records[0].id == "two.csv:2" and records[0].targets == {"e": 2.0}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"bad\.json: cannot read the JSON"):
        read_json(tmp_path / "bad.json")
    # id_prop.csv with several target columns and a blank line.
    folder = tmp_path / "multi"
    folder.mkdir()
    (folder / "m1.cif").write_text(cif(nacl()))
    (folder / "id_prop.csv").write_text("m1,1.5,2.5\n\n")
    reader = read_records(folder)
    assert reader.format == "cgcnn" and len(reader) == 1
    assert next(iter(reader)).targets == {"target": 1.5, "target_1": 2.5}


def write_json(path: Path) -> Path:
    rows = {
        "mp-1": (cif(nacl()), 24, 15, [[float(i == j) for j in range(6)] for i in range(6)]),
        "mp-2": (cif(cscl()), 18, -3, [[1.0] * 6] * 6),  # negative G: no log10_G_Voigt
        "mp-3": (GARBLED_CIF, 10, 5, [[0.0] * 6] * 6),
        "mp-4": (cif(cscl(4.3)), 0, 4, [[0.0] * 6] * 5),  # K = 0; tensor of the wrong shape
    }
    columns = {
        "material_id": {k: k for k in rows},
        "cif": {k: v[0] for k, v in rows.items()},
        "elasticity.K_Voigt": {k: v[1] for k, v in rows.items()},
        "elasticity.G_Voigt": {k: v[2] for k, v in rows.items()},
        "elasticity.elastic_tensor": {k: v[3] for k, v in rows.items()},
        "spacegroup.crystal_system": {k: "cubic" for k in rows},
    }
    path.write_text(json.dumps(columns))
    return path


def test_read_json_columns_and_log10_targets(tmp_path: Path) -> None:
    path = write_json(tmp_path / "elastic.json")
    assert detect_format(path) == "json" and detect_format(tmp_path) == "json"
    records, rejects = read_json(tmp_path).read()
    assert [r.id for r in records] == ["mp-1", "mp-2", "mp-4"] and [r.id for r in rejects] == ["mp-3"]
    first = records[0].targets
    assert first["log10_K_Voigt"] == pytest.approx(np.log10(24)) and first["elasticity.K_Voigt"] == 24.0
    assert isinstance(records[1].targets["log10_G_Voigt"], InvalidTarget)
    assert "not positive" in records[1].targets["log10_G_Voigt"].reason
    assert isinstance(records[2].targets["log10_K_Voigt"], InvalidTarget)


def test_read_json_rows_layout(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(
        json.dumps([{"material_id": "x", "cif": cif(nacl()), "e": 1.5}, {"cif": cif(cscl()), "e": 2}])
    )
    records, rejects = read_json(path).read()
    assert [r.id for r in records] == ["x", "1"] and not rejects and records[1].targets == {"e": 2.0}


def write_cgcnn(folder: Path) -> list[tuple]:
    folder.mkdir()
    files = {
        "c1": cif(nacl()),
        "c2": cif(cscl()),
        "c3": GARBLED_CIF,
        "c4": cif(cscl(4.3)),
        "c5": cif(cscl(4.4)),
    }
    files |= {"c6": cif(disordered()), "c7": cif(overlapping())}
    for name, text in files.items():
        (folder / f"{name}.cif").write_text(text)
    rows = [
        ("c1", "1.0", None),
        ("c2", "2.0", None),
        ("c3", "3.0", "cannot parse"),
        ("c4", "", "no value for target"),
        ("c5", "nan", "NaN"),
        ("c6", "1.0", "DisorderedStructureError"),
        ("c7", "1.0", "OverlappingAtomsError"),
        ("c8", "1.0", "no structure file c8.cif"),
        ("c1", "1.0", "duplicate id"),
    ]
    (folder / "id_prop.csv").write_text("".join(f"{i},{t}\n" for i, t, _ in rows) + "\n")
    (folder / "atom_init.json").write_text("{}")
    return rows


def test_read_cgcnn(tmp_path: Path) -> None:
    rows = write_cgcnn(tmp_path / "cgcnn")
    assert detect_format(tmp_path / "cgcnn") == "cgcnn"
    reader = read_cgcnn(tmp_path / "cgcnn")
    records, rejects = reader.read()
    assert len(records) + len(rejects) == len(rows) == len(reader)
    assert [r.id for r in rejects] == ["c3", "c8", "c1"]
    assert records[0].targets == {"target": 1.0}
    assert len(read_cgcnn(tmp_path / "cgcnn", limit=3)) == 3


def test_id_prop_row_without_a_value_is_rejected_and_the_read_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "cgcnn"
    folder.mkdir()
    for name, structure in (("c1", nacl()), ("c2", cscl()), ("c3", cscl(4.3))):
        (folder / f"{name}.cif").write_text(cif(structure))
    (folder / "id_prop.csv").write_text("c1,1.0\nc2\nc3,3.0\n")
    records, rejects = read_cgcnn(folder).read()
    assert [r.id for r in records] == ["c1", "c2", "c3"] and not rejects  # c2's structure is usable
    assert records[1].targets == {"target": InvalidTarget("no target value (id_prop.csv line 2)")}
    dataset = CrystalDataset(folder, "target", root=tmp_path / "cache", log=False)
    assert dataset.ids == ["c1", "c3"] and dataset.num_rows == 3
    assert dataset.rejects == [Reject("c2", "no target value (id_prop.csv line 2)")]


def write_alignn(folder: Path) -> list[tuple]:
    folder.mkdir()
    Poscar(nacl()).write_file(folder / "POSCAR-n1.vasp")
    Poscar(cscl()).write_file(folder / "POSCAR-n2.vasp")
    (folder / "POSCAR-n3.vasp").write_text("garbled\n1.0\n1 0\n")
    (folder / "n4.cif").write_text(cif(cscl(4.3)))
    rows = [
        ("POSCAR-n1.vasp", "-1.5", None),
        ("POSCAR-n2.vasp", "2.5", None),
        ("POSCAR-n3.vasp", "0.0", "cannot parse the POSCAR"),
        ("n4.cif", "0.5", None),
        ("POSCAR-n5.vasp", "0.5", "no structure file"),
        ("POSCAR-n1.vasp", "nan", "duplicate id"),
    ]
    (folder / "id_prop.csv").write_text("".join(f"{i},{t}\n" for i, t, _ in rows))
    return rows


def test_read_alignn(tmp_path: Path) -> None:
    rows = write_alignn(tmp_path / "alignn")
    assert detect_format(tmp_path / "alignn") == "alignn"
    records, rejects = read_alignn(tmp_path / "alignn").read()
    assert len(records) + len(rejects) == len(rows)
    assert [r.id for r in records] == ["POSCAR-n1.vasp", "POSCAR-n2.vasp", "n4.cif"]
    assert records[0].targets == {"target": -1.5} and len(records[0].structure) == 8


def test_detect_format_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    for path, message in [
        (tmp_path / "missing", "does not exist"),
        (tmp_path / "empty", "unknown dataset layout"),
        (tmp_path / "notes.txt", "unknown dataset file type"),
    ]:
        with pytest.raises(DatasetError, match=message) as info:
            detect_format(path)
        assert str(path) in str(info.value)
    assert issubclass(DatasetError, SpacegroupNNError) and issubclass(DatasetError, ValueError)
    (tmp_path / "orphan").mkdir()
    (tmp_path / "orphan" / "id_prop.csv").write_text("x,1\n")
    with pytest.raises(DatasetError, match="orphan"):
        detect_format(tmp_path / "orphan")


# ------------------------------------------------------------------------------------------
# CrystalDataset


def test_crystal_dataset_accounting_and_items(csv_file: Path, tmp_path: Path, capsys) -> None:
    dataset = CrystalDataset(csv_file, "heat_ref", root=tmp_path / "cache")
    check_accounting(dataset, CSV_ROWS)
    assert dataset.ids == GOOD_IDS
    assert f"{len(GOOD_IDS)} good + 8 rejected = 11 rows" in capsys.readouterr().err
    data = dataset[0]
    assert data.id == "a1" and data.y.dtype == torch.float32 and data.y.shape == (1,)
    assert data.cell.shape == (1, 3, 3) and data.pos.dtype == torch.float32
    assert int(data.space_group) == 225 and data.z.shape == (8,)
    assert torch.equal(dataset[2].space_group, torch.tensor([225]))  # noisy NaCl at symprec 0.1
    assert int(dataset[1].space_group) == 221
    assert dataset[1].y.item() == -1.25
    out = dataset.write_rejects(tmp_path / "rejects.csv")
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "reason"] and len(rows) == 1 + len(dataset.rejects)
    # Batching works with string ids.
    from torch_geometric.loader import DataLoader

    batch = next(iter(DataLoader(dataset, batch_size=3)))
    assert batch.y.shape == (3,) and batch.cell.shape == (3, 3, 3) and batch.id == GOOD_IDS


def test_crystal_dataset_other_formats(tmp_path: Path) -> None:
    rows = write_cgcnn(tmp_path / "cgcnn")
    dataset = CrystalDataset(tmp_path / "cgcnn", "target", root=tmp_path / "cache", log=False)
    check_accounting(dataset, rows)
    rows = write_alignn(tmp_path / "alignn")
    dataset = CrystalDataset(tmp_path / "alignn", "target", root=tmp_path / "cache", log=False)
    check_accounting(dataset, rows)
    write_json(tmp_path / "elastic.json")
    log_g = CrystalDataset(tmp_path / "elastic.json", "log10_G_Voigt", root=tmp_path / "cache", log=False)
    assert log_g.ids == ["mp-1", "mp-4"] and log_g.num_rows == 4
    assert dict(log_g.rejects)["mp-2"] == "elasticity.G_Voigt = -3 is not positive, no log10"
    tensor = CrystalDataset(
        tmp_path / "elastic.json", "elasticity.elastic_tensor", root=tmp_path / "c", log=False
    )
    assert tensor[0].y.shape == (1, 6, 6) and tensor.ids == ["mp-1", "mp-2"]
    assert "shape" in dict(tensor.rejects)["mp-4"]


def test_crystal_dataset_errors(csv_file: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no target 'heat'.*heat_ref"):
        CrystalDataset(csv_file, "heat", root=tmp_path, log=False)
    with pytest.raises(DatasetError, match="all 1 rows were rejected"):
        CrystalDataset(csv_file, "heat_ref", root=tmp_path, log=False, limit=1, min_distance=10.0)


def test_crystal_dataset_cache(csv_file: Path, tmp_path: Path, monkeypatch) -> None:
    calls = []
    build = CrystalDataset.build
    monkeypatch.setattr(CrystalDataset, "build", lambda self: calls.append(1) or build(self))
    root = tmp_path / "cache"
    start = time.perf_counter()
    first = CrystalDataset(csv_file, "heat_ref", root=root, log=False)
    built = time.perf_counter() - start
    start = time.perf_counter()
    second = CrystalDataset(csv_file, "heat_ref", root=root, log=False)
    cached = time.perf_counter() - start
    assert not first.from_cache and second.from_cache and len(calls) == 1 and cached < built
    assert second.rejects == first.rejects and second.ids == first.ids
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a.pos, b.pos) and torch.equal(a.y, b.y)
    # A new tolerance, target or limit is a new cache entry.
    strict = CrystalDataset(csv_file, "heat_ref", root=root, symprec=1e-5, log=False)
    assert not strict.from_cache and len(calls) == 2
    assert int(strict[2].space_group) != 225  # the noisy NaCl is not Fm-3m at 1e-5
    assert not CrystalDataset(csv_file, "heat_ref", root=root, limit=3, log=False).from_cache
    # So is a modified source file.
    os.utime(csv_file, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert not CrystalDataset(csv_file, "heat_ref", root=root, log=False).from_cache
    assert CrystalDataset(csv_file, "heat_ref", root=root, log=False).from_cache
    assert not CrystalDataset(csv_file, "heat_ref", root=root, log=False, force_reload=True).from_cache
    # With content hashes, a new mtime alone keeps the cache; new content does not.
    assert not CrystalDataset(csv_file, "heat_ref", root=root, content_hash=True, log=False).from_cache
    os.utime(csv_file, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert CrystalDataset(csv_file, "heat_ref", root=root, content_hash=True, log=False).from_cache
    write_csv(csv_file, CSV_ROWS[:5])
    changed = CrystalDataset(csv_file, "heat_ref", root=root, content_hash=True, log=False)
    assert not changed.from_cache and changed.num_rows == 5
    assert len(calls) == 7


def test_worker_processes_give_the_same_result(csv_file: Path, tmp_path: Path) -> None:
    serial = CrystalDataset(csv_file, "heat_ref", root=tmp_path / "a", log=False)
    parallel = CrystalDataset(csv_file, "heat_ref", root=tmp_path / "b", num_workers=2, log=False)
    assert parallel.rejects == serial.rejects and parallel.ids == serial.ids
    assert all(torch.equal(a.pos, b.pos) for a, b in zip(serial, parallel, strict=True))
    groups = [3, 75, 168]
    serial = SyntheticCrystals(tmp_path / "a", num_per_group=2, groups=groups, log=False)
    parallel = SyntheticCrystals(tmp_path / "b", num_per_group=2, groups=groups, num_workers=2, log=False)
    assert all(
        torch.equal(a.pos, b.pos) and torch.equal(a.y, b.y) for a, b in zip(serial, parallel, strict=True)
    )


# ------------------------------------------------------------------------------------------
# Splits


def test_load_split_and_random_split(tmp_path: Path) -> None:
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["a", 1], "val": ["b"], "test": []}))
    assert load_split(path) == {"train": ["a", "1"], "val": ["b"], "test": []}
    path.write_text(json.dumps({"train": ["a"], "test": ["a"]}))
    with pytest.raises(DatasetError, match="'a' appears in 'train' and 'test'"):
        load_split(path)
    path.write_text("[1, 2]")
    with pytest.raises(DatasetError, match=r"split\.json"):
        load_split(path)
    ids = [f"id{i}" for i in range(103)]
    split = random_split(ids, seed=3)
    assert [len(v) for v in split.values()] == [82, 10, 11] or sum(len(v) for v in split.values()) == 103
    assert sorted(all_ids(split)) == sorted(ids)
    assert split == random_split(ids, seed=3) and split != random_split(ids, seed=4)
    assert [len(v) for v in random_split(ids[:10]).values()] == [8, 1, 1]
    with pytest.raises(DatasetError, match="sum to 1"):
        random_split(ids, fractions=(0.5, 0.1, 0.1))


def test_subsets_report_rejected_and_unknown_ids(csv_file: Path, tmp_path: Path, capsys) -> None:
    split = {"train": ["a3", "a1", "b1"], "val": ["a2", "zz"], "test": ["b3"]}
    dataset = CrystalDataset(csv_file, "heat_ref", root=tmp_path, split=split)
    err = capsys.readouterr().err
    assert "split 'train': 2 of 3 ids kept, 1 rejected, 0 not in the source" in err
    assert "split 'val': 1 of 2 ids kept, 0 rejected, 1 not in the source" in err
    assert dataset.splits["train"].ids == ["a3", "a1"] and dataset.splits["test"].ids == []
    missing = dataset.split_missing
    assert [r.id for r in missing["train"]] == ["b1"] and missing["train"][0].reason.startswith("rejected: ")
    assert missing["val"] == [Reject("zz", "not in the source")] and "NaN" in missing["test"][0].reason
    kept = sum(len(s) for s in dataset.splits.values())
    assert kept + sum(len(m) for m in missing.values()) == sum(len(v) for v in split.values())
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["a2"]}))
    subsets = dataset.subsets(path)
    assert list(subsets) == ["train"] and subsets["train"][0].id == "a2"
    assert int(subsets["train"][0].space_group) == 221
    generated = dataset.subsets(random_split(dataset.ids, seed=0))
    assert sum(len(s) for s in generated.values()) == len(dataset)


# ------------------------------------------------------------------------------------------
# Synthetic crystals


def test_synthetic_deterministic_and_cached(tmp_path: Path) -> None:
    groups = [1, 2, 14, 160, 194, 225]
    first = SyntheticCrystals(tmp_path / "a", num_per_group=2, groups=groups, log=False)
    second = SyntheticCrystals(tmp_path / "b", num_per_group=2, groups=groups, log=False)
    assert not first.from_cache and not second.from_cache
    assert len(first) == 12 and first.num_rows == 12 and not first.rejects
    for a, b in zip(first, second, strict=True):
        assert a.id == b.id
        for key in ("z", "pos", "frac", "cell", "y", "space_group", "requested_group"):
            assert torch.equal(a[key], b[key]), key
    assert SyntheticCrystals(tmp_path / "a", num_per_group=2, groups=groups, log=False).from_cache
    other = SyntheticCrystals(tmp_path / "a", num_per_group=2, groups=groups, seed=1, log=False)
    assert not other.from_cache and not torch.equal(other[0].pos, first[0].pos)
    data = first[0]
    assert data.y.dtype == torch.float32 and data.y.shape == (1,) and data.id == "sg001-000"
    # Charge neutral cation/anion pairs: two species in equal numbers.
    for data in first:
        species, counts = torch.unique(data.z, return_counts=True)
        assert len(species) == 2 and counts[0] == counts[1]
    # Ewald energy as pymatgen computes it on the stored (conventional) cell.
    from pymatgen.analysis.ewald import EwaldSummation

    from spacegroup_nn.data import data_to_structure
    from spacegroup_nn.datasets import ANIONS, CATIONS

    data = first[4]  # a group-14 crystal
    structure = data_to_structure(data)
    charges = {el: q for q, names in CATIONS.items() for el in names} | {
        el: -q for q, names in ANIONS.items() for el in names
    }
    structure.add_oxidation_state_by_element({el.symbol: charges[el.symbol] for el in structure.composition})
    energy = EwaldSummation(structure).total_energy / len(structure)
    assert data.y.item() == pytest.approx(energy, rel=1e-4, abs=1e-4)


def test_synthetic_covers_all_230_groups(tmp_path: Path) -> None:
    dataset = SyntheticCrystals(tmp_path, num_per_group=1, log=False)
    assert len(dataset) == 230 and not dataset.rejects and dataset.num_rows == 230
    requested = torch.cat([d.requested_group for d in dataset])
    detected = torch.cat([d.space_group for d in dataset])
    assert torch.equal(requested, torch.arange(1, 231))
    assert dataset.mismatched == [] and torch.equal(detected, requested)
    assert max(d.num_nodes for d in dataset) == 384  # two orbits of the order-192 groups
    # A group's crystals do not depend on the other requested groups.
    alone = SyntheticCrystals(tmp_path, num_per_group=1, groups=[14], log=False)
    assert torch.equal(alone[0].pos, dataset[13].pos) and torch.equal(alone[0].y, dataset[13].y)


# ------------------------------------------------------------------------------------------
# Real datasets (../shared/datasets or $SPACEGROUP_NN_DATA)


def real(name: str) -> Path:
    if not (DATASETS / name).is_dir():
        pytest.skip(f"dataset {DATASETS / name} not found (set SPACEGROUP_NN_DATA)")
    return DATASETS / name


@pytest.mark.parametrize(
    ("name", "target", "fmt"),
    [
        ("perov_5", "heat_ref", "csv"),
        ("carbon_24", "energy_per_atom", "csv"),
        ("mp_elastic", "log10_K_Voigt", "json"),
    ],
)
def test_real_datasets_load_quickly(name: str, target: str, fmt: str, tmp_path: Path) -> None:
    folder = real(name)
    assert detect_format(folder) == fmt
    dataset = CrystalDataset(folder, target, root=tmp_path, limit=24, split=folder / "split.json", log=False)
    assert dataset.num_good + len(dataset.rejects) == dataset.num_rows == 24
    assert dataset.num_good >= 20
    assert all(d.y.shape == (1,) and torch.isfinite(d.y).all() for d in dataset)
    kept = sum(len(s) for s in dataset.splits.values())
    missing = sum(len(m) for m in dataset.split_missing.values())
    assert kept == dataset.num_good and kept + missing == len(all_ids(load_split(folder / "split.json")))


def test_real_mp_elastic_rejects_non_positive_moduli() -> None:
    folder = real("mp_elastic")
    reader = read_json(folder)
    assert len(reader) == 1211
    invalid = [row.id for row in reader._rows if isinstance(row.targets["log10_G_Voigt"], InvalidTarget)]
    assert len(invalid) == 7  # 1211 rows, 1204 with K > 0 and G > 0 (the split)
    split_ids = set(all_ids(load_split(folder / "split.json")))
    assert len(split_ids) == 1204 and not split_ids & set(invalid)


def test_real_default_symprec_finds_symmetry(tmp_path: Path) -> None:
    folder = real("carbon_24")
    loose = CrystalDataset(folder, "energy_per_atom", root=tmp_path, limit=30, log=False)
    strict = CrystalDataset(folder, "energy_per_atom", root=tmp_path, limit=30, symprec=1e-5, log=False)
    assert DEFAULT_SYMPREC == 0.1
    count_p1 = lambda d: sum(int(x.space_group) == 1 for x in d)  # noqa: E731
    assert count_p1(loose) < count_p1(strict) // 2


# ------------------------------------------------------------------------------------------
# Bad sources found by the adversarial audit


def test_repeated_csv_column_is_an_error_not_a_silent_rename(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    write_csv(path, CSV_ROWS[:3])
    lines = path.read_text().split("\n", 1)
    path.write_text(lines[0] + ",heat_ref\n" + lines[1].replace('\n"', ',9.9\n"'))
    with pytest.raises(DatasetError, match=r"repeats the column\(s\) \['heat_ref'\]") as info:
        read_csv(path)
    assert str(path) in str(info.value)


def test_non_utf8_csv_names_the_line_and_parser_errors_are_one_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", CSV_ROWS[:3])
    text = path.read_bytes()
    path.write_bytes(text.replace(b"data_", b"data_\xff", 1))
    line = text[: text.index(b"data_")].count(b"\n") + 1
    with pytest.raises(DatasetError, match=rf"line {line} is not UTF-8 text") as info:
        list(read_csv(path))
    assert str(path) in str(info.value)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("material_id,cif,heat_ref\nx1,data_x,1.0\nx2,data_y,1.0,extra\n")
    with pytest.raises(DatasetError, match="ParserError") as info:
        list(read_csv(ragged))
    assert "\n" not in str(info.value)


def test_id_prop_file_names_outside_the_folder_are_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "alignn"
    folder.mkdir()
    Poscar(nacl()).write_file(folder / "POSCAR-a")
    Poscar(cscl()).write_file(tmp_path / "POSCAR-outside")
    (folder / "id_prop.csv").write_text(
        f"POSCAR-a,1.0\n../POSCAR-outside,2.0\n{tmp_path / 'POSCAR-outside'},3\n"
    )
    records, rejects = read_alignn(folder).read()
    assert [r.id for r in records] == ["POSCAR-a"]
    assert [r.id for r in rejects] == ["../POSCAR-outside", str(tmp_path / "POSCAR-outside")]
    assert all("points outside the folder (id_prop.csv line" in r.reason for r in rejects)


def test_split_ids_must_be_strings_or_integers(tmp_path: Path) -> None:
    path = tmp_path / "split.json"
    for bad, kind in [(3961.0, "float"), (None, "NoneType"), ([1], "list"), (True, "bool")]:
        path.write_text(json.dumps({"train": ["a", bad], "val": []}))
        with pytest.raises(DatasetError, match=rf"split\.json: id .* in 'train' is a {kind}"):
            load_split(path)
    path.write_text(json.dumps({"train": ["a", 7], "val": []}))
    assert load_split(path) == {"train": ["a", "7"], "val": []}


def test_a_source_without_rows_says_so(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", [])
    with pytest.raises(DatasetError, match="the source has no rows"):
        CrystalDataset(path, "heat_ref", root=tmp_path / "cache", log=False)
    with pytest.raises(DatasetError, match="the source has no rows"):
        CrystalDataset(write_csv(tmp_path / "more.csv"), "heat_ref", root=tmp_path / "cache", limit=0)


def test_split_report_names_the_unknown_ids(csv_file: Path, tmp_path: Path, capsys) -> None:
    CrystalDataset(csv_file, "heat_ref", root=tmp_path, split={"train": ["a1", "zz", "yy"]})
    assert "2 not in the source (e.g. 'zz', 'yy')" in capsys.readouterr().err


def test_a_target_of_another_shape_names_the_row_that_set_the_shape(tmp_path: Path) -> None:
    rows = [{"material_id": "m0", "cif": cif(nacl()), "y": [1.0, 2.0]}]
    rows += [{"material_id": f"m{i}", "cif": cif(cscl(4.0 + 0.1 * i)), "y": float(i)} for i in (1, 2)]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows))
    dataset = CrystalDataset(path, "y", root=tmp_path / "cache", log=False)
    assert dataset.num_good == 1 and [r.id for r in dataset.rejects] == ["m1", "m2"]
    assert all(r.reason.endswith("not (2,) like the first good row (m0)") for r in dataset.rejects)


def test_a_byte_order_mark_is_not_part_of_the_first_id(tmp_path: Path) -> None:
    folder = tmp_path / "cgcnn"
    folder.mkdir()
    for name, structure in (("m1", nacl()), ("m2", cscl())):
        CifWriter(structure).write_file(folder / f"{name}.cif")
    (folder / "id_prop.csv").write_text("m1,1.0\nm2,2.0\n", encoding="utf-8-sig")  # as Excel saves it
    assert detect_format(folder) == "cgcnn"
    records, rejects = read_cgcnn(folder).read()
    assert [r.id for r in records] == ["m1", "m2"] and not rejects
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([{"material_id": "m1", "cif": cif(nacl()), "y": 1.0}]), encoding="utf-8-sig")
    assert [r.id for r in read_json(rows).read()[0]] == ["m1"]
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["m1"]}), encoding="utf-8-sig")
    assert load_split(split) == {"train": ["m1"]}


def test_a_target_beyond_float32_is_rejected_not_stored_as_inf(tmp_path: Path) -> None:
    rows = [
        ("m1", cif(nacl()), "1e39", None),
        ("m2", cif(cscl()), "-3.5e38", None),
        ("m3", cif(nacl(5.7)), "1", None),
    ]
    dataset = CrystalDataset(write_csv(tmp_path / "data.csv", rows), "heat_ref", root=tmp_path, log=False)
    assert [r.id for r in dataset.rejects] == ["m1", "m2"]
    assert all("beyond the float32 range" in r.reason for r in dataset.rejects)
    assert torch.isfinite(dataset[0].y).all()


def test_the_survey_counts_lattices_more_symmetric_than_their_group(tmp_path: Path) -> None:
    from spacegroup_nn.datasets.survey import symmetry_survey

    sites = {"species": ["Na", "Cl"], "coords": [[0.1, 0.2, 0.3], [0.6, 0.15, 0.8]]}
    rows = [  # P222 (from the 2-fold axes) on a tetragonal lattice, then on an orthorhombic one
        Structure.from_spacegroup("P222", Lattice.orthorhombic(6, b, 7), **sites) for b in (6, 6.5)
    ]
    path = tmp_path / "two.csv"
    pd.DataFrame({"material_id": ["tied", "generic"], "cif": [CifWriter(s).__str__() for s in rows]}).to_csv(
        path, index=False
    )
    (survey,), num_rows, num_parsed = symmetry_survey(path, [1e-5])
    assert (num_rows, num_parsed, dict(survey.groups), survey.special_lattices) == (2, 2, {16: 2}, 1)
