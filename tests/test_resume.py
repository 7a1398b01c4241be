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


def kill_inside_an_epoch(command: list[str], run) -> tuple[int, int] | None:
    """Start ``command``, SIGKILL it halfway through the epoch after its second write of last.pt.

    Returns the epochs of last.pt just before and after the kill, or ``None`` if the run
    finished first (epochs take milliseconds, and a loaded machine can delay the watcher).
    """
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    writes, stamp, deadline = [], None, time.monotonic() + 120
    while len(writes) < 2 and process.poll() is None and time.monotonic() < deadline:
        current = (run / "last.pt").stat().st_mtime_ns if (run / "last.pt").is_file() else None
        if current != stamp:
            stamp = current
            writes.append(time.monotonic())
        time.sleep(0.002)
    seen = last_epoch(run)
    time.sleep(0.5 * (writes[1] - writes[0]) if len(writes) == 2 else 0)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return (seen, last_epoch(run)) if process.returncode == -signal.SIGKILL else None


def test_killed_training_resumes_to_identical_metrics(tmp_path, perovskite_folder):
    epochs = 20
    command = [
        *train_command(perovskite_folder, tmp_path / "cache"),
        "--epochs",
        str(epochs),
        "--batch-size",
        "2",
    ]
    subprocess.run([*command, "--out", str(tmp_path / "reference")], check=True, capture_output=True)
    reference = json.loads((tmp_path / "reference" / "metrics.json").read_text())

    # Kill inside an epoch after the second: time one epoch from the writes of last.pt, then
    # wait half as long again. The mean seconds_per_epoch cannot time this, the first epoch
    # (graph search, warm-up) is many times longer than the others. Epochs take milliseconds
    # here, so a kill that a load spike lets slip past an epoch boundary, or past the end of
    # the run, is retried in a fresh directory.
    for attempt in range(5):
        run = tmp_path / f"run{attempt}"
        killed = kill_inside_an_epoch([*command, "--out", str(run)], run)
        if killed is not None and killed[0] == killed[1] and 2 <= killed[1] < epochs:
            break
    assert killed is not None, "every run finished before it could be killed"
    seen, killed_at = killed
    # no state after `seen` was written: the kill landed inside epoch seen + 1, not between epochs
    assert seen == killed_at and 2 <= killed_at < epochs and not (run / "metrics.json").exists()

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
