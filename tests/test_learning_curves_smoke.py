"""Smoke test of benchmarks/learning_curves.py: a tiny synthetic set, every method, no data folder."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "learning_curves.py"


def test_learning_curves_smoke(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("learning_curves", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    docs = tmp_path / "docs" / "learning_curves.md"

    with torch.random.fork_rng():  # fit seeds torch; leave the global RNG as it was
        returned = module.main(["--smoke", "--out", str(tmp_path / "out"), "--docs", str(docs)])

    result = json.loads((tmp_path / "out" / "synthetic.json").read_text())
    assert result == json.loads(json.dumps(returned["synthetic"]))
    methods = {run["method"] for run in result["runs"]}
    assert methods == set(module.METHODS)
    assert {(run["size"], run["seed"]) for run in result["runs"]} == {
        (n, s) for n in (8, 16, 32) for s in (0, 1)
    }
    summary = module.summarize(result)
    for entry in summary.values():
        assert entry["sizes"] == [8, 16, 32] and len(entry["mae_mean"]) == 3
        assert entry["b"] == entry["b"] and entry["b_stderr"] >= 0  # fitted, not NaN
        assert set(entry["invariance_max"]) == {"group", "rigid", "description"}
    # exact by construction: our model everywhere; the unconstrained one under operations of
    # the group (which only permute its atoms), not under changes of description
    assert max(summary["exact"]["invariance_max"].values()) <= 1e-5
    assert summary["unconstrained"]["invariance_max"]["group"] <= 1e-5
    assert summary["unconstrained"]["invariance_max"]["description"] > 1e-3

    text = docs.read_text()
    assert "### synthetic" in text and "Smoke run" in text and "--smoke" in text
    assert (docs.parent / "figures" / "learning_curves_synthetic.png").is_file()

    # a second invocation on one more seed merges with the first
    with torch.random.fork_rng():
        module.main(["--smoke", "--seeds", "2", "--sizes", "8", "--methods", "exact",
                     "--out", str(tmp_path / "out"), "--docs", str(docs)])  # fmt: skip
    merged = json.loads((tmp_path / "out" / "synthetic.json").read_text())
    assert len(merged["runs"]) == len(result["runs"]) + 1

    # another step rule is another protocol: its record replaces the old one, runs and all
    with torch.random.fork_rng():
        module.main(["--smoke", "--seeds", "0", "--sizes", "8", "--methods", "exact", "--min-steps", "2",
                     "--out", str(tmp_path / "out"), "--docs", str(docs)])  # fmt: skip
    replaced = json.loads((tmp_path / "out" / "synthetic.json").read_text())
    assert [(run["size"], run["seed"], run["steps"]) for run in replaced["runs"]] == [(8, 0, 2)]
    assert len(replaced["invocations"]) == 1 and replaced["settings"]["min_steps"] == 2
