"""ShardedCrystalDataset: same items and rejects as CrystalDataset, damaged shards, resume, loaders."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_perovskite_folder
from test_datasets import CSV_ROWS, GOOD_IDS, check_accounting, write_csv
from torch_geometric.loader import DataLoader

from spacegroup_nn.datasets import CrystalDataset, DatasetError, ShardedCrystalDataset, ShardSampler
from spacegroup_nn.datasets import sharded as sharded_module


def assert_same_items(first, second) -> None:
    assert len(first) == len(second) and first.ids == second.ids
    for a, b in zip(first, second, strict=True):
        assert a.id == b.id and set(a.keys()) == set(b.keys())
        for key in a.keys():
            if key != "id":
                assert torch.equal(a[key], b[key]), key


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "data.csv")


@pytest.fixture(scope="module")
def perovskite_folder(tmp_path_factory) -> Path:
    """The CGCNN folder of conftest's ``perovskite_folder`` (12 perovskites), made once for this module."""
    return write_perovskite_folder(tmp_path_factory.mktemp("sharding") / "cgcnn")


def test_shards_equal_the_in_memory_dataset(csv_file: Path, tmp_path: Path, capsys) -> None:
    memory = CrystalDataset(csv_file, "heat_ref", root=tmp_path / "cache")
    # 11 rows in shards of 4: rejects in every shard, the duplicate id 'a1' across shards
    sharded = ShardedCrystalDataset(csv_file, "heat_ref", root=tmp_path / "cache", shard_size=4)
    assert "3 good + 8 rejected = 11 rows in 3 shards" in capsys.readouterr().err
    assert sharded.num_shards == 3 and not sharded.from_cache
    check_accounting(sharded, CSV_ROWS)
    assert sharded.rejects == memory.rejects and sharded.ids == GOOD_IDS
    assert_same_items(memory, sharded)
    again = ShardedCrystalDataset(csv_file, "heat_ref", root=tmp_path / "cache", shard_size=4, log=False)
    assert again.from_cache and again.rejects == memory.rejects
    assert_same_items(memory, again)
    written = sharded.write_rejects(tmp_path / "rejects.csv").read_text().splitlines()
    assert len(written) == 1 + len(memory.rejects)


def test_parallel_workers_and_splits(perovskite_folder: Path, tmp_path: Path) -> None:
    memory = CrystalDataset(perovskite_folder, "target", root=tmp_path, log=False)
    split = {"train": [f"p{i}" for i in range(8)], "val": ["p9", "p8"], "test": ["p10", "p11", "nope"]}
    sharded = ShardedCrystalDataset(
        perovskite_folder, "target", root=tmp_path, split=split, shard_size=5, num_workers=2, log=False
    )
    assert sharded.num_shards == 3
    assert_same_items(memory, sharded)
    assert sharded.splits["val"].ids == ["p9", "p8"] and len(sharded.splits["train"]) == 8
    assert sharded.split_missing["test"][0].reason == "not in the source"
    assert list(sharded.splits["val"].shard_of()) == [1, 1]
    with pytest.raises(DatasetError, match="no target 'energy'"):
        ShardedCrystalDataset(perovskite_folder, "energy", root=tmp_path, shard_size=5, log=False)
    with pytest.raises(DatasetError, match="shard_size"):
        ShardedCrystalDataset(perovskite_folder, "target", root=tmp_path, shard_size=0)


def test_damaged_shards_are_rebuilt(perovskite_folder: Path, tmp_path: Path) -> None:
    first = ShardedCrystalDataset(perovskite_folder, "target", root=tmp_path, shard_size=5, log=False)
    shard = first.shard_dir / "shard-000001.pt"
    # Bytes changed in place: found by the checksum when the shard is loaded.
    data = shard.read_bytes()
    middle = len(data) // 2
    shard.write_bytes(
        data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]
    )
    opened = ShardedCrystalDataset(perovskite_folder, "target", root=tmp_path, shard_size=5, log=False)
    assert opened.from_cache
    assert_same_items(opened, first)  # ``opened`` loads shard 1 first
    assert not opened.from_cache and shard.read_bytes() == data
    # Truncated or missing: found by size when the dataset is opened.
    for damage in (lambda: shard.write_bytes(data[: len(data) // 2]), shard.unlink):
        damage()
        again = ShardedCrystalDataset(perovskite_folder, "target", root=tmp_path, shard_size=5, log=False)
        assert not again.from_cache and shard.read_bytes() == data
        assert_same_items(first, again)


def test_interrupted_processing_resumes(perovskite_folder: Path, tmp_path: Path, monkeypatch) -> None:
    built = []
    original = sharded_module._process_shard

    def interrupted(task):
        if len(built) == 2:
            raise KeyboardInterrupt  # e.g. Ctrl-C during the third shard
        built.append(task[0])
        return original(task)

    monkeypatch.setattr(sharded_module, "_process_shard", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ShardedCrystalDataset(perovskite_folder, "target", root=tmp_path, shard_size=3, log=False)
    assert built == [0, 1]
    monkeypatch.setattr(
        sharded_module, "_process_shard", lambda task: built.append(task[0]) or original(task)
    )
    resumed = ShardedCrystalDataset(perovskite_folder, "target", root=tmp_path, shard_size=3, log=False)
    assert built == [0, 1, 2, 3] and resumed.num_shards == 4  # shards 0 and 1 were kept
    memory = CrystalDataset(perovskite_folder, "target", root=tmp_path, log=False)
    assert_same_items(memory, resumed)
    forced = ShardedCrystalDataset(
        perovskite_folder, "target", root=tmp_path, shard_size=3, log=False, force_reload=True
    )
    assert built[4:] == [0, 1, 2, 3] and not forced.from_cache


def _build(folder: str, root: str, queue) -> None:
    dataset = ShardedCrystalDataset(folder, "target", root=root, shard_size=5, log=False)
    queue.put(len(dataset))


def test_two_processes_build_the_same_entry(perovskite_folder: Path, tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=_build, args=(str(perovskite_folder), str(tmp_path), queue)) for _ in "ab"
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [process.exitcode for process in processes] == [0, 0]
    assert [queue.get(timeout=5), queue.get(timeout=5)] == [12, 12]
    assert ShardedCrystalDataset(
        perovskite_folder, "target", root=tmp_path, shard_size=5, log=False
    ).from_cache


def test_data_loader_sampler_and_fit(perovskite_folder: Path, tmp_path: Path) -> None:
    from spacegroup_nn.training import TrainConfig, fit

    dataset = ShardedCrystalDataset(
        perovskite_folder, "target", root=tmp_path, shard_size=5, cache_shards=1, log=False
    )
    batches = list(DataLoader(dataset, batch_size=5))
    assert [b.num_graphs for b in batches] == [5, 5, 2]
    assert batches[1].id == dataset.ids[5:10] and batches[0].cell.shape == (5, 3, 3)
    sampler = ShardSampler(dataset, seed=3)
    epochs = [list(sampler), list(sampler)]
    shards = dataset.shard_of()
    for order in epochs:
        assert sorted(order) == list(range(12))
        runs = shards[order]
        assert (np.diff(runs) != 0).sum() == 2  # one shard after the other
    assert epochs[0] != epochs[1]
    sampler.set_epoch(0)
    assert list(sampler) == epochs[0]
    loader = DataLoader(dataset, batch_size=4, sampler=ShardSampler(dataset, seed=3))
    loaded = [i for batch in loader for i in batch.id]
    assert loaded == [dataset.ids[i] for i in epochs[0]]
    # fit takes any map-style dataset: the sharded subsets work as they are
    config = TrainConfig(model="cgcnn", epochs=1, batch_size=8)
    metrics = fit(
        config,
        dataset.index_select(range(8)),
        dataset.index_select(range(8, 12)),
        tmp_path / "run",
        progress=False,
    )
    assert metrics["sizes"] == {"train": 8, "val": 4, "test": 0}


def test_shard_sampler_splits_each_epoch_between_ranks(perovskite_folder: Path, tmp_path: Path) -> None:
    dataset = ShardedCrystalDataset(perovskite_folder, "target", root=tmp_path, shard_size=5, log=False)
    view = dataset.index_select(range(11))  # 11 items over 2 ranks: one repeated as padding
    whole = list(ShardSampler(view, seed=1))
    ranks = [ShardSampler(view, seed=1, num_replicas=2, rank=rank) for rank in (0, 1)]
    shares = [list(sampler) for sampler in ranks]
    assert [len(sampler) for sampler in ranks] == [6, 6] and [len(share) for share in shares] == [6, 6]
    padded = whole + whole[:1]
    assert shares == [padded[0::2], padded[1::2]]
    with pytest.raises(ValueError, match="rank"):
        ShardSampler(view, num_replicas=2, rank=2)


def test_fit_reads_sharded_data_shard_by_shard(perovskite_folder: Path, tmp_path: Path, monkeypatch) -> None:
    from spacegroup_nn import training

    dataset = ShardedCrystalDataset(
        perovskite_folder, "target", root=tmp_path, shard_size=3, cache_shards=1, log=False
    )
    view = dataset.index_select([11, 0, 5, 3, 8, 1])  # shards 3, 0, 1, 1, 2, 0
    expected = torch.cat([view[i].y for i in range(len(view))])
    view._cache.clear()
    loads = []
    original = sharded_module.load_collated
    monkeypatch.setattr(sharded_module, "load_collated", lambda path: loads.append(path) or original(path))
    assert torch.equal(training._targets(view), expected)  # in the view's order
    assert len(loads) == 4  # each shard once, although the view's order revisits shards 0 and 1
    world = training._Distributed()
    sampler = training._train_sampler(view, training.TrainConfig(seed=2), world, torch.Generator())
    assert isinstance(sampler, ShardSampler) and sampler.seed == 2


def test_train_command_from_shards_is_deterministic_and_resumes(
    perovskite_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    from spacegroup_nn import training
    from spacegroup_nn.cli import main

    def train(out: str, *extra: str) -> dict:
        command = ["train", "--data", str(perovskite_folder), "--target", "target", "--shard-size", "4",
                   "--epochs", "2", "--batch-size", "4", "--cache", str(tmp_path / "cache")]  # fmt: skip
        command += ["--out", out]
        assert main([*command, *extra]) == 0
        return json.loads((Path(out) / "metrics.json").read_text())

    reference = train(str(tmp_path / "a"))
    assert list((tmp_path / "cache" / "processed").glob("*/manifest.json"))  # built in shards
    assert train(str(tmp_path / "b"))["history"] == reference["history"]
    calls = []
    original = training.mean_absolute_error

    def interrupted(*args, **kwargs):  # Ctrl-C at the end of epoch 2, before its state is saved
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "mean_absolute_error", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(str(tmp_path / "c"))
    monkeypatch.setattr(training, "mean_absolute_error", original)
    resumed = train(str(tmp_path / "c"), "--resume")
    assert resumed["sessions"] == [[1, 1], [2, 2]]
    for key in ("history", "val_mae", "test_mae", "best_epoch"):
        assert resumed[key] == reference[key], key
