import json
import os
import signal
import subprocess
import sys
import time

import torch


def train_command(folder, cache):
    return [sys.executable, "-m", "spacegroup_nn.cli", "train", "--data", str(folder), "--target", "target",
            "--cache", str(cache)]  # fmt: skip


def test_killed_training_resumes_to_identical_metrics(tmp_path, perovskite_folder):
    command = [*train_command(perovskite_folder, tmp_path / "cache"), "--epochs", "5", "--batch-size", "2"]
    subprocess.run([*command, "--out", str(tmp_path / "reference")], check=True, capture_output=True)
    reference = json.loads((tmp_path / "reference" / "metrics.json").read_text())

    run = tmp_path / "run"
    process = subprocess.Popen(
        [*command, "--out", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (run / "last.pt").is_file() and torch.load(run / "last.pt", weights_only=True)["epoch"] >= 2:
            os.kill(process.pid, signal.SIGKILL)  # somewhere in epoch 3
            break
        time.sleep(0.05)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (run / "metrics.json").exists()

    subprocess.run([*command, "--out", str(run), "--resume"], check=True, capture_output=True)
    resumed = json.loads((run / "metrics.json").read_text())
    for key in ("history", "val_mae", "test_mae", "best_epoch"):
        assert resumed[key] == reference[key], key


def test_resume_refuses_a_changed_configuration(tmp_path, perovskite_folder):
    command = [
        *train_command(perovskite_folder, tmp_path / "cache"),
        "--batch-size",
        "4",
        "--out",
        str(tmp_path),
    ]
    subprocess.run([*command, "--epochs", "1"], check=True, capture_output=True)
    result = subprocess.run([*command, "--epochs", "2", "--resume"], capture_output=True, text=True)
    assert result.returncode == 1 and "configuration changed (epochs)" in result.stderr
