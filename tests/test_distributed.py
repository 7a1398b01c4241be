import json
import subprocess
import sys


def test_two_process_ddp_on_cpu(tmp_path, perovskite_folder):
    """torchrun with 2 CPU processes (gloo): ranks stay in sync (checked inside fit) and the loss falls."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "spacegroup_nn.train", "--data", str(perovskite_folder), "--target", "target",
               "--epochs", "4", "--batch-size", "2", "--lr", "3e-3", "--cache", str(tmp_path / "cache"),
               "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    losses = [entry["train_loss"] for entry in metrics["history"]]
    assert losses[-1] < losses[0]
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()
