"""Smoke test of benchmarks/learning_curves.py: a tiny synthetic set, every method, no data folder."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from spacegroup_nn.training import load_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "learning_curves.py"


def _script(monkeypatch):
    spec = importlib.util.spec_from_file_location("learning_curves", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_learning_curves_smoke(tmp_path, monkeypatch):
    module = _script(monkeypatch)
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


def test_learning_curves_take_each_methods_tuned_settings(tmp_path, monkeypatch):
    module = _script(monkeypatch)
    cache, out, docs = tmp_path / "cache", tmp_path / "out", tmp_path / "docs" / "learning_curves.md"
    smoke = argparse.Namespace(smoke=True, cache=cache, synthetic_max_atoms=None)
    train_size = len(module.load("synthetic", smoke)["train"])
    tuned = {"transformer": (3e-4, 4), "transformer_raw": (1e-3, 8), "transformer_raw_augmented": (2e-3, 8)}
    models = {model: {"lr": lr, "batch_size": batch} for model, (lr, batch) in tuned.items()}
    table = {"epochs": 2, "sizes": {"train": train_size}, "models": models}
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "property_synthetic.json").write_text(json.dumps(table))
    options = ["--smoke", "--sizes", "8,16", "--seeds", "0", "--tuned-from", str(tables),
               "--cache", str(cache), "--out", str(out), "--docs", str(docs)]  # fmt: skip

    with torch.random.fork_rng():
        module.main(options)

    result = json.loads((out / "synthetic.json").read_text())
    assert result["settings"]["tuned_from"] == "property_synthetic.json"
    batch = {method: tuned[spec.tuned_as or "transformer_raw"][1] for method, spec in module.METHODS.items()}
    # every size gets at least the table's full run, epochs * ceil(train_size / batch) steps
    steps = {method: 2 * math.ceil(train_size / b) for method, b in batch.items()}
    for run in result["runs"]:
        per_epoch = math.ceil(run["size"] / batch[run["method"]])
        assert steps[run["method"]] <= run["steps"] < steps[run["method"]] + per_epoch, run
    assert result["budgets"]["augmentation"] == {
        "lr": 2e-3, "batch_size": 8, "epochs": 2, "min_steps": steps["augmentation"]}  # fmt: skip
    runs = next((out / "runs" / "synthetic").glob("protocol-*"))
    for method, (lr, b) in (("exact", tuned["transformer"]), ("soft_loss", tuned["transformer_raw"])):
        _, config = load_checkpoint(runs / method / "n8_seed0")
        assert (config.lr, config.batch_size) == (lr, b)
        assert config.epochs == max(2, math.ceil(steps[method] / math.ceil(8 / b)))
    assert "tuned in `property_synthetic.json`" in docs.read_text()

    # a record with runs of some methods only still renders
    partial = dict(result, runs=[run for run in result["runs"] if run["method"] == "exact"])
    assert "exact as `transformer`" in module._budget_text(partial, [8, 16])
    assert "soft_loss" not in module._budget_text(partial, [8, 16])

    # a table that does not fit the data, or lacks a method's model, is refused
    wrong_size = {**table, "sizes": {"train": train_size + 1}}
    no_model = {**table, "models": {m: v for m, v in models.items() if m != "transformer_raw_augmented"}}
    for broken, message in ((wrong_size, "training split"), (no_model, "transformer_raw_augmented")):
        (tables / "property_synthetic.json").write_text(json.dumps(broken))
        with pytest.raises(SystemExit, match=message):
            module.main(options)

    # a table of some models serves the methods that train as them, and no others
    (tables / "property_synthetic.json").write_text(json.dumps(no_model))
    chosen = argparse.Namespace(tuned_from=tables, methods=["exact", "soft_loss"])
    budgets, _ = module.budgets_for("synthetic", train_size, chosen)
    assert "exact" in budgets and "augmentation" not in budgets
    no_raw = {**table, "models": {"transformer": models["transformer"]}}
    (tables / "property_synthetic.json").write_text(json.dumps(no_raw))
    averaging = next(name for name, spec in module.METHODS.items() if spec.trained_as is not None)
    averaging_only = argparse.Namespace(tuned_from=tables, methods=[averaging])
    with pytest.raises(SystemExit, match="transformer_raw"):  # averaging reuses a trained method
        module.budgets_for("synthetic", train_size, averaging_only)


def test_learning_curves_reject_unknown_datasets_before_loading(tmp_path, monkeypatch, capsys):
    module = _script(monkeypatch)
    with pytest.raises(SystemExit):
        module.main(["--datasets", "perov5", "--out", str(tmp_path), "--data-dir", str(tmp_path / "nowhere")])
    assert "unknown datasets ['perov5']" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


def test_every_benchmark_script_summarizes_itself_in_its_first_line():
    """``--help`` shows the first line of each script's docstring: a whole summary, not half of one."""
    scripts = sorted(SCRIPT.parent.glob("[!_]*.py"))
    assert len(scripts) > 5
    for script in scripts:
        first, second = script.read_text().split('"""', 2)[1].splitlines()[:2]
        assert first.endswith(".") and not second.strip(), f"{script.name}: {first!r} {second!r}"
