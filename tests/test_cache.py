import subprocess
import sys

import torch

from spacegroup_nn.datasets import CrystalDataset


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
