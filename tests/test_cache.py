import hashlib
import json
import subprocess
import sys
from pathlib import Path

import torch

from spacegroup_nn.datasets import CrystalDataset, ShardedCrystalDataset


def test_damaged_cache_is_rebuilt(tmp_path, perovskite_folder):
    first = CrystalDataset(perovskite_folder, "target", root=tmp_path, log=False)
    data_file = next(p for p in (tmp_path / "processed").glob("*.pt") if not p.name.startswith("pre_"))
    for damage in (lambda b: b[: len(b) // 2], lambda b: b[:100] + bytes(50) + b[150:]):
        data_file.write_bytes(damage(data_file.read_bytes()))
        again = CrystalDataset(perovskite_folder, "target", root=tmp_path, log=False)
        assert not again.from_cache and len(again) == len(first)
        torch.testing.assert_close(again[3].pos, first[3].pos)
    assert CrystalDataset(perovskite_folder, "target", root=tmp_path, log=False).from_cache


def test_two_processes_build_the_same_entry(tmp_path, perovskite_folder):
    code = (
        "import sys; from spacegroup_nn.datasets import CrystalDataset; "
        f"d = CrystalDataset({str(perovskite_folder)!r}, 'target', root={str(tmp_path)!r}, log=False); "
        "print(len(d))"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [process.communicate()[0].strip() for process in processes]
    assert [process.returncode for process in processes] == [0, 0] and outputs == ["12", "12"]
    assert CrystalDataset(perovskite_folder, "target", root=tmp_path, log=False).from_cache


class WritesMarker:
    """A pickle whose loading would write the file ``path``: the payload of a malicious cache."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "unpickled"))


def plant(data_file: Path, marker: Path) -> None:
    """Replace ``data_file`` by a malicious pickle and fix its recorded checksum to match."""
    torch.save({"data": WritesMarker(marker), "slices": None}, data_file)
    meta_file = data_file.with_suffix(".json")
    meta = json.loads(meta_file.read_text())
    meta["sha256"] = hashlib.sha256(data_file.read_bytes()).hexdigest()
    if "bytes" in meta:  # a shard: the manifest records its size too
        manifest_file = data_file.parent / "manifest.json"
        manifest = json.loads(manifest_file.read_text())
        manifest["shards"][int(data_file.stem.split("-")[1])]["bytes"] = data_file.stat().st_size
        manifest_file.write_text(json.dumps(manifest))
    meta_file.write_text(json.dumps(meta))


def test_a_malicious_cache_file_is_never_unpickled(tmp_path, perovskite_folder):
    first = CrystalDataset(perovskite_folder, "target", root=tmp_path, log=False)
    marker = tmp_path / "marker"
    data_file = next(p for p in (tmp_path / "processed").glob("*.pt") if not p.name.startswith("pre_"))
    plant(data_file, marker)
    # PyG's own processing step would unpickle these side files
    for name in ("pre_transform.pt", "pre_filter.pt"):
        torch.save(WritesMarker(marker), tmp_path / "processed" / name)
    again = CrystalDataset(perovskite_folder, "target", root=tmp_path, log=False)
    assert not marker.exists(), "a cache file was unpickled"
    assert not again.from_cache and again.ids == first.ids  # rebuilt
    torch.testing.assert_close(again[3].pos, first[3].pos)


def test_a_malicious_shard_is_never_unpickled(tmp_path, perovskite_folder):
    first = ShardedCrystalDataset(perovskite_folder, "target", root=tmp_path, shard_size=5, log=False)
    expected = first[7].pos
    marker = tmp_path / "marker"
    plant(first.shard_dir / "shard-000001.pt", marker)
    again = ShardedCrystalDataset(perovskite_folder, "target", root=tmp_path, shard_size=5, log=False)
    assert again.from_cache  # sizes and manifest look intact: the shard is checked when loaded
    torch.testing.assert_close(again[7].pos, expected)
    assert not marker.exists(), "a shard was unpickled"
    assert not again.from_cache  # shard 1 was rebuilt
