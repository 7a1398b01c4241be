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


def last_epoch(run) -> int:
    """The epoch recorded in ``run/last.pt`` (0 before the first one is written)."""
    return torch.load(run / "last.pt", weights_only=True)["epoch"] if (run / "last.pt").is_file() else 0


def test_killed_training_resumes_to_identical_metrics(tmp_path, perovskite_folder):
    epochs = 5
    command = [
        *train_command(perovskite_folder, tmp_path / "cache"),
        "--epochs",
        str(epochs),
        "--batch-size",
        "2",
    ]
    subprocess.run([*command, "--out", str(tmp_path / "reference")], check=True, capture_output=True)
    reference = json.loads((tmp_path / "reference" / "metrics.json").read_text())

    run = tmp_path / "run"
    process = subprocess.Popen(
        [*command, "--out", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and last_epoch(run) < 1:
        time.sleep(0.02)
    seen = last_epoch(run)
    time.sleep(0.4 * reference["seconds_per_epoch"])  # well into the next epoch
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = last_epoch(run)
    # no state after `seen` was written: the kill landed inside epoch seen + 1, not between epochs
    assert 1 <= seen == killed_at < epochs and not (run / "metrics.json").exists()

    resumed_run = subprocess.run(
        [*command, "--out", str(run), "--resume"], check=True, capture_output=True, text=True
    )
    assert f"resuming after epoch {killed_at} of {epochs}" in resumed_run.stderr
    resumed = json.loads((run / "metrics.json").read_text())
    # the second process trained exactly the epochs after the last completed one
    assert resumed["sessions"] == [[1, killed_at], [killed_at + 1, epochs]]
    assert reference["sessions"] == [[1, epochs]]
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
