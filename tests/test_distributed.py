"""Two-process DDP on CPU (gloo) under torchrun, and the device / backend choice of each rank."""

import json
import subprocess
import sys

import pytest
import torch

from spacegroup_nn import training

# Runs `spacegroup-nn train` in one rank and records what the rank prints (file descriptors 1
# and 2), which files it writes under --out (audit events of open-for-writing and renames: the
# checkpoints are renamed into place) and its parameters at every check of fit's ranks-in-sync.
PROBE = """
import json, os, sys
from pathlib import Path
import torch
from spacegroup_nn import training
from spacegroup_nn.cli import main

rank, probe, argv = os.environ["RANK"], Path(sys.argv[1]), sys.argv[2:]
out = str(Path(argv[argv.index("--out") + 1]).resolve())
for fd, stream in ((1, "stdout"), (2, "stderr")):
    os.dup2(os.open(probe / f"{stream}-{rank}.txt", os.O_WRONLY | os.O_CREAT), fd)
writes = set()

def audit(event, args):
    if event == "open" and isinstance(args[1], str) and set(args[1]) & set("wax+"):
        path = os.path.abspath(args[0])
    elif event == "os.rename":
        path = os.path.abspath(args[1])
    else:
        return
    if path.startswith(out):
        writes.add(os.path.relpath(path, out))

sys.addaudithook(audit)
snapshots, check = [], training._Distributed.check_in_sync

def recording(self, model):
    snapshots.append(torch.cat([p.detach().flatten() for p in model.parameters()]).clone())
    check(self, model)

training._Distributed.check_in_sync = recording
code = main(["train", *argv])
torch.save(snapshots, probe / f"params-{rank}.pt")
(probe / f"writes-{rank}.json").write_text(json.dumps(sorted(writes)))
sys.exit(code)
"""


def test_two_process_ddp_on_cpu(tmp_path, perovskite_folder):
    """Ranks stay in sync at every epoch, the loss falls, and only rank 0 speaks and writes."""
    out, probe = tmp_path / "run", tmp_path / "probe"
    probe.mkdir()
    (tmp_path / "probe.py").write_text(PROBE)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(tmp_path / "probe.py"), str(probe), "--data", str(perovskite_folder), "--target", "target",
               "--epochs", "4", "--batch-size", "2", "--lr", "3e-3", "--cache", str(tmp_path / "cache"),
               "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:] + (probe / "stderr-0.txt").read_text()[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    losses = [entry["train_loss"] for entry in metrics["history"]]
    assert losses[-1] < losses[0]
    params = [torch.load(probe / f"params-{rank}.pt") for rank in (0, 1)]
    assert len(params[0]) == len(params[1]) == 4  # one check per epoch
    for epoch, (first, second) in enumerate(zip(*params, strict=True)):
        assert torch.equal(first, second), f"ranks differ after epoch {epoch + 1}"
    assert not torch.equal(params[0][0], params[0][-1])  # and they did train
    writes = [json.loads((probe / f"writes-{rank}.json").read_text()) for rank in (0, 1)]
    assert {"best.pt", "last.pt", "metrics.json", "rejects.csv"} <= set(writes[0]) and writes[1] == []
    assert "12 good + 0 rejected = 12 rows" in (probe / "stderr-0.txt").read_text()
    assert "best epoch" in (probe / "stdout-0.txt").read_text()
    assert (probe / "stdout-1.txt").read_text() == (probe / "stderr-1.txt").read_text() == ""


@pytest.mark.parametrize(("cuda", "backend", "device"), [(True, "nccl", "cuda:1"), (False, "gloo", "cpu")])
def test_each_rank_picks_its_backend_and_device(monkeypatch, cuda, backend, device):
    calls = []
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", str(d))))
    monkeypatch.setattr(training.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(training.dist, "init_process_group", lambda b: calls.append(("init", b)))
    monkeypatch.setattr(training.dist, "get_rank", lambda: 3)
    world = training._Distributed()
    assert (world.backend, str(world.device), world.rank, world.size) == (backend, device, 3, 4)
    assert calls == ([("set_device", "cuda:1")] if cuda else []) + [("init", backend)]  # device first


def test_one_process_trains_on_the_cpu(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    world = training._Distributed()
    assert (world.size, world.rank, str(world.device)) == (1, 0, "cpu")
    model = torch.nn.Linear(2, 1)
    assert world.wrap(model) is model
