"""Smoke test of benchmarks/bench_layers.py: every stage runs on tiny sizes and writes its JSON."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from conftest import load_script

from spacegroup_nn.training import load_checkpoint


def test_bench_layers_smoke(tmp_path):
    bench_layers = load_script("bench_layers")
    out = tmp_path / "bench_layers.json"

    with torch.random.fork_rng():  # the script seeds torch; leave the global RNG as it was
        returned = bench_layers.main(["--smoke", "--out", str(out)])

    results = json.loads(out.read_text())
    assert results == json.loads(json.dumps(returned))
    assert results["smoke"] is True
    assert {"machine", "features", "memory", "training", "load_average_start", "total_s"} <= set(results)

    features = results["features"]
    assert features["max_abs_error"]["float64"]["ours_vs_dense"] <= 1e-10
    assert {"required_speedup", "meets_requirement", "K", "num_atoms"} <= set(features)
    assert features["K"] == {"orthogonal": 514, "hexagonal": 418}
    assert {t["threads"] for t in features["timings"]} >= {1}
    for timing in features["timings"]:
        assert {"dtype", "ours", "dense", "speedup_median", "speedup_min"} <= set(timing)
        assert timing["ours"]["median_ms"] > 0 and timing["dense"]["median_ms"] > 0

    memory = results["memory"]
    assert {"tables_bytes", "layer_bytes", "basis_arrays_bytes", "dense_bytes", "ratio_layer"} <= set(memory)
    assert 0 < memory["tables_bytes"] <= memory["layer_bytes"] < memory["dense_bytes"]

    training = results["training"]
    for kind in ("perov_5_like", "carbon_24_like"):
        assert training[kind]["dataset"]["atoms_max"] <= 24
        for key in ("models", "models_flush_denormal"):
            models = training[kind][key]
            assert set(models) == {"transformer", "cgcnn_fourier", "cgcnn", "cgcnn_12nn"}
            for model in models.values():
                assert model["crystals_per_s"] > 0
                assert {"forward_ms", "radius_graph_ms", "edges"} <= set(model["breakdown"])
            assert "features_ms" in models["cgcnn_fourier"]["breakdown"]
            assert "geometry_ms" in models["transformer"]["breakdown"]
            for name in ("transformer", "cgcnn_fourier"):
                assert {"throughput_vs_cgcnn", "throughput_best_vs_cgcnn"} <= set(models[name])
            assert "others_share" in training[kind][f"{key}_cpu"]
    assert training["perov_5_like"]["dataset"]["atoms_max"] == 5


def test_run_all_smoke(tmp_path, datasets_dir):
    """The property benchmark and zero-shot run end to end on 40 rows for 1 epoch."""
    module = load_script("run_all")
    docs = tmp_path / "benchmarks.md"
    module.main(["--smoke", "--datasets", "carbon_24", "--out", str(tmp_path / "out"), "--docs", str(docs),
                 "--cache", str(tmp_path / "cache"), "--data-dir", str(datasets_dir)])  # fmt: skip
    text = docs.read_text()
    assert "## carbon_24" in text and "## Zero-shot: carbon_24" in text
    assert "Training CPU time of all runs" in text and "not recorded" not in text
    # the runs of one dataset share its graph searches, which the CPU totals count once
    table = json.loads((tmp_path / "out" / "property_carbon_24.json").read_text())
    zero_shot = json.loads((tmp_path / "out" / "zero_shot_carbon_24.json").read_text())
    assert table["graph_cpu_seconds"] > 0 and zero_shot["runs"][0]["graph_cpu_seconds"] > 0
    assert module._graph_cpu(zero_shot) == zero_shot["runs"][0]["graph_cpu_seconds"]
    assert (tmp_path / "figures" / "parity_carbon_24.png").is_file()
    assert (tmp_path / "figures" / "per_group_carbon_24.png").is_file()
    (tmp_path / "figures" / "per_group_carbon_24.png").unlink()
    options = ["--datasets", "carbon_24", "--out", str(tmp_path / "out"), "--docs", str(docs)]
    options += ["--cache", str(tmp_path / "cache"), "--data-dir", str(datasets_dir)]
    (tmp_path / "out" / "notes.md").write_text("Hand-written reading.\n")
    module.main(["--smoke", "--replot", *options])
    assert (tmp_path / "figures" / "per_group_carbon_24.png").is_file()
    assert "## Reading the results\n\nHand-written reading.\n" in docs.read_text()
    docs.unlink()  # the page alone needs only the JSON, no checkpoints
    module.main(["--page-only", "--out", str(tmp_path / "out"), "--docs", str(docs)])
    assert "## Zero-shot: carbon_24" in docs.read_text()


def test_run_all_tunes_learning_rates_then_batch_sizes_on_validation_and_uses_them(
    tmp_path, datasets_dir, capsys
):
    """``--tune`` writes each model's validation MAE per rate, ``--tune batch_size`` per batch at
    the tuned rate; the table then trains at both choices."""
    module = load_script("run_all")
    out = tmp_path / "out"
    options = ["--smoke", "--datasets", "mp_elastic_K", "--out", str(out),
               "--docs", str(tmp_path / "benchmarks.md"), "--cache", str(tmp_path / "cache"),
               "--data-dir", str(datasets_dir)]  # fmt: skip
    module.main([*options, "--tune"])
    partial = {"setting": "batch_size", "best": {"transformer": 16}}  # from a run with fewer models
    (out / "tune_batch_size_mp_elastic_K.json").write_text(json.dumps(partial))
    module.main([*options, "--tune", "batch_size"])  # tuning a setting never reads its old choice
    rates = json.loads((out / "tune_lr_mp_elastic_K.json").read_text())
    batches = json.loads((out / "tune_batch_size_mp_elastic_K.json").read_text())
    for tuned, setting in ((rates, "lr"), (batches, "batch_size")):
        assert tuned["setting"] == setting and set(tuned["runs"]) == {"transformer", "cgcnn"}
        for model, entry in tuned["runs"].items():
            assert [float(value) for value in entry] == list(module.TUNING[setting])
            assert tuned["best"][model] == float(min(entry, key=lambda value: entry[value]["val_mae"]))
    for model, fixed in batches["fixed"].items():  # batch sizes are tuned at the tuned rates
        assert fixed["lr"] == rates["best"][model]
        _, config = load_checkpoint(module.Run("mp_elastic_K", model, 1, fixed["lr"], 16, 0).directory(out))
        assert (config.lr, config.batch_size) == (rates["best"][model], 16)
    assert not (out / "property_mp_elastic_K.json").exists()  # tuning only

    module.main([*options, "--no-zero-shot"])
    table = json.loads((out / "property_mp_elastic_K.json").read_text())
    for model, entry in table["models"].items():
        tuned = (rates["best"][model], batches["best"][model])
        assert (entry["lr"], entry["batch_size"]) == tuned
        _, config = load_checkpoint(module.Run("mp_elastic_K", model, 1, *tuned, 0).directory(out))
        assert (config.lr, config.batch_size) == tuned
        # runs of equal settings train once: the batch grid's run at the tuning rate's batch is
        # that rate's run, and the table's first seed is the tuned run (records kept as trained)
        default_batch = rates["fixed"][model]["batch_size"]
        assert (batches["runs"][model][str(default_batch)]["cpu_seconds"]
                == rates["runs"][model][f"{tuned[0]:g}"]["cpu_seconds"])  # fmt: skip
        assert entry["cpu_seconds"][0] == batches["runs"][model][str(tuned[1])]["cpu_seconds"]
    tuning = [run["cpu_seconds"] for result in (rates, batches) for entry in result["runs"].values()
              for run in entry.values()]  # fmt: skip
    every = tuning + [seconds for entry in table["models"].values() for seconds in entry["cpu_seconds"]]
    distinct = module._distinct_cpu([rates, batches, table])
    assert len(distinct) == len(every) - 2 * len(table["models"]) and set(distinct) == set(every)
    beyond_table = module._distinct_cpu([rates, batches], besides=[table])
    assert len(beyond_table) == len(tuning) - 2 * len(table["models"])
    unrecorded = {**table, "models": {model: {"lr": entry["lr"], "batch_size": entry["batch_size"]}
                                      for model, entry in table["models"].items()}}  # fmt: skip
    assert module._distinct_cpu([unrecorded]) == [None] * len(table["models"])  # older records
    text = (tmp_path / "benchmarks.md").read_text()
    assert "| model | lr 0.0003 | lr 0.001 | lr 0.003 |" in text
    assert "| model | batch 16 | batch 32 | batch 64 |" in text
    namespace = argparse.Namespace(out=out, batch_size=None)
    with pytest.raises(SystemExit, match="'transformer_raw' was not tuned"):  # never a silent default
        module._setting("mp_elastic_K", "transformer_raw", "lr", namespace)
    assert module._setting("mp_elastic_K", "transformer_raw", "batch_size", argparse.Namespace(
        out=out, batch_size=8)) == 8  # an explicit --batch-size wins over the tuned one  # fmt: skip
    scratch = tmp_path / "scratch"  # --tuned-from: another --out trains at out's choices
    scratch_options = [*options, "--out", str(scratch)]  # the last --out wins
    module.main([*scratch_options, "--no-zero-shot", "--models", "cgcnn", "--tuned-from", str(out)])
    tuned = (rates["best"]["cgcnn"], batches["best"]["cgcnn"])
    _, config = load_checkpoint(module.Run("mp_elastic_K", "cgcnn", 1, *tuned, 0).directory(scratch))
    assert (config.lr, config.batch_size) == tuned
    (scratch / "tune_lr_mp_elastic_K.json").write_text(json.dumps({"best": {"cgcnn": 0.1}}))
    with pytest.raises(SystemExit, match=r"tune_lr_mp_elastic_K\.json differs"):  # never overwritten
        module.main([*scratch_options, "--no-zero-shot", "--tuned-from", str(out)])
    with pytest.raises(SystemExit):  # a scratch run never writes the repository's page
        module.main(["--datasets", "mp_elastic_K", "--out", str(scratch), "--tuned-from", str(out)])
    assert "give its page its own --docs" in capsys.readouterr().err


def test_run_all_trains_augmented_and_plain_models_apart(tmp_path):
    """The augmented baseline is its own run, never the plain model's run of equal settings."""
    from spacegroup_nn.training import TrainConfig

    module = load_script("run_all")
    models = ("transformer_raw", "transformer_raw_augmented")
    plain, augmented = (TrainConfig.for_model(model, target="y", seed=0) for model in models)
    assert augmented.name == "transformer_raw_augmented" and plain.name == "transformer_raw"
    assert module.Run.of("d", plain).directory(tmp_path) != module.Run.of("d", augmented).directory(tmp_path)
    settings = {"lr": augmented.lr, "batch_size": augmented.batch_size}
    table = {"dataset": "d", "epochs": augmented.epochs, "models": {augmented.name: settings}}
    assert module.Run.in_table(table, augmented.name, 0) == module.Run.of("d", augmented)


def test_run_all_rejects_unknown_and_untunable_datasets(capsys):
    module = load_script("run_all")
    with pytest.raises(SystemExit):
        module.main(["--datasets", "perov5"])
    assert "unknown datasets ['perov5']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        module.main(["--datasets", "synthetic", "--tune"])
    assert "has none" in capsys.readouterr().err


def test_run_all_embeds_generated_pages_one_level_down():
    module = load_script("run_all")
    page = ["# Molecules", "text", "```bash", "# a shell comment", "```", "## QM9"]
    assert module._section(page) == ["## Molecules", "text", "```bash", "# a shell comment", "```", "### QM9"]
    assert module._section(["## Elastic", "### Table"]) == ["## Elastic", "### Table"]


def test_environment_cutoff_smoke(tmp_path, datasets_dir):
    """The environment-radius screen trains one run per radius and leaves MODELS as it was."""
    from spacegroup_nn.training import MODELS

    module = load_script("environment_cutoff")
    models = dict(MODELS)
    result = module.main(["--limit", "40", "--epochs", "1", "--cutoffs", "3,5", "--seeds", "0,1",
                          "--out", str(tmp_path), "--json", str(tmp_path / "screen.json"),
                          "--cache", str(tmp_path / "cache"), "--data-dir", str(datasets_dir)])  # fmt: skip
    assert MODELS == models
    assert json.loads((tmp_path / "screen.json").read_text()) == result
    assert set(result["runs"]) == {"3", "5"} and result["best"] in (3.0, 5.0)
    for run in result["runs"].values():
        assert len(run["val_mae"]) == 2 and all(mae > 0 for mae in run["val_mae"])
        assert all(seconds > 0 for seconds in run["cpu_seconds"])
    assert "| 3 |" in module.table(result)


def test_group_dropout_smoke(tmp_path):
    """The group-dropout screen runs the zero-shot protocol per rate at the settings tuned for
    ``transformer`` and leaves MODELS as it was."""
    from spacegroup_nn.training import MODELS

    module = load_script("group_dropout")
    models = dict(MODELS)
    (tmp_path / "tune_lr_synthetic.json").write_text(json.dumps({"best": {"transformer": 3e-3}}))
    result = module.main(["--dataset", "synthetic", "--limit", "60", "--epochs", "1", "--rates", "0,0.5",
                          "--seeds", "0", "--out", str(tmp_path), "--json", str(tmp_path / "screen.json"),
                          "--cache", str(tmp_path / "cache")])  # fmt: skip
    assert MODELS == models
    assert json.loads((tmp_path / "screen.json").read_text()) == result
    assert set(result["runs"]) == {"0", "0.5"}
    for run in result["runs"].values():
        assert len(run["held_out_mae"]) == 1 and run["held_out_mae"][0] > 0
    assert "| 0.5 |" in module.table(result)
    trained = json.loads((tmp_path / "group_dropout" / "synthetic" / "seed0" / "zero_shot.json").read_text())
    assert {entry["lr"] for entry in trained["models"].values()} == {3e-3}


@pytest.mark.parametrize("rates", ["0.5,0.50", "1,0.5", "-0.1"])
def test_group_dropout_rejects_repeated_or_out_of_range_rates(rates, capsys):
    with pytest.raises(SystemExit):
        load_script("group_dropout").main(["--rates", rates])
    assert "--rates" in capsys.readouterr().err


def _settings(model):
    """Every plain setting of every submodule: what makes two models the same architecture."""
    plain = (bool, int, float, str)
    return {
        name: {k: v for k, v in vars(m).items() if isinstance(v, plain)} for name, m in model.named_modules()
    }


@pytest.mark.parametrize(("script", "default"), [("environment_cutoff", 3.5), ("group_dropout", 0.5)])
def test_a_screen_at_the_default_setting_trains_the_tables_model(script, default):
    """A screen varies one setting of ``transformer``: at the table's value it is that model."""
    from spacegroup_nn.training import MODELS

    torch.manual_seed(0)
    variant = load_script(script)._transformer(1, default)
    torch.manual_seed(0)
    table = MODELS["transformer"](1)
    assert _settings(variant) == _settings(table)
    pairs = zip(variant.state_dict().values(), table.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


@pytest.mark.parametrize("cutoffs", ["3,3.0", "0,3", "3,7"])
def test_environment_cutoff_rejects_repeated_or_out_of_range_radii(cutoffs, capsys):
    with pytest.raises(SystemExit):
        load_script("environment_cutoff").main(["--cutoffs", cutoffs])
    assert "--cutoffs" in capsys.readouterr().err


def test_zero_shot_group_inputs_smoke(tmp_path, capsys):
    """The ablation reloads run_all's zero-shot runs, reproduces their held-out MAE as trained
    and evaluates them without group inputs; models without such inputs are refused."""
    out, cache = tmp_path / "out", str(tmp_path / "cache")
    load_script("run_all").main(["--datasets", "synthetic", "--zero-shot-only", "--limit", "60",
                                 "--epochs", "1", "--seeds", "0", "--zero-shot-models", "transformer,cgcnn",
                                 "--out", str(out), "--docs", str(tmp_path / "b.md"),
                                 "--cache", cache])  # fmt: skip
    module = load_script("zero_shot_group_inputs")
    result = module.main(["--dataset", "synthetic", "--models", "transformer", "--seeds", "0",
                          "--limit", "60", "--runs", str(out / "zero_shot"), "--cache", cache,
                          "--json", str(tmp_path / "screen.json")])  # fmt: skip
    assert json.loads((tmp_path / "screen.json").read_text()) == result
    recorded = json.loads((out / "zero_shot" / "synthetic" / "seed0" / "zero_shot.json").read_text())
    run, as_trained = result["runs"]["transformer"], recorded["models"]["transformer"]["held_out_mae"]
    assert run["held_out_mae"][0] == pytest.approx(as_trained, rel=1e-5)
    assert run["held_out_mae_without"][0] != run["held_out_mae"][0] and run["held_out_mae_without"][0] > 0
    per_system, systems = run["held_out_per_system"][0], recorded["models"]["transformer"]["per_system"]
    assert per_system == pytest.approx({system: mae for system, (mae, _) in systems.items()}, rel=1e-5)
    assert set(run["held_out_per_system_without"][0]) == set(per_system)
    text = module.table(result)
    assert "| transformer |" in text and "| model | " + " | ".join(sorted(per_system)) + " |" in text
    with pytest.raises(SystemExit):
        module.main(["--models", "cgcnn"])
    assert "no group inputs" in capsys.readouterr().err


def test_run_all_replot_redraws_the_zero_shot_figure_from_the_json(tmp_path):
    """``--replot`` draws the zero-shot figure of the recorded results as the run drew it, from
    the summary JSON alone (it holds every seed's run; the run directories are not needed)."""
    import shutil

    module = load_script("run_all")
    out, docs = tmp_path / "out", tmp_path / "docs" / "benchmarks.md"
    options = ["--datasets", "synthetic", "--out", str(out), "--docs", str(docs),
               "--cache", str(tmp_path / "cache")]  # fmt: skip
    module.main([*options, "--zero-shot-only", "--limit", "60", "--epochs", "1", "--seeds", "1",
                 "--zero-shot-models", "transformer,cgcnn"])  # fmt: skip
    figure = tmp_path / "docs" / "figures" / "zero_shot_synthetic.png"
    drawn = figure.read_bytes()
    figure.unlink()
    shutil.rmtree(out / "zero_shot")  # checkpoints and per-seed records gone
    module.main([*options, "--replot"])
    assert figure.read_bytes() == drawn
    assert "![zero-shot](figures/zero_shot_synthetic.png)" in docs.read_text()


def test_run_all_refuses_to_tune_rates_after_batch_sizes(tmp_path, datasets_dir, capsys):
    """Rates are tuned at the default batches: once ``--out`` (or ``--tuned-from``) holds a batch
    choice, ``--tune lr`` is a usage error naming it, before any data is read, unless
    ``--retune`` asks for a second round, which then runs at the tuned batches."""
    module = load_script("run_all")
    out, other = tmp_path / "out", tmp_path / "other"
    options = ["--smoke", "--datasets", "mp_elastic_K", "--models", "cgcnn", "--docs", str(tmp_path / "b.md"),
               "--cache", str(tmp_path / "cache"), "--data-dir", str(datasets_dir)]  # fmt: skip
    module.main([*options, "--out", str(out), "--tune", "lr"])  # from scratch: allowed
    module.main([*options, "--out", str(out), "--tune", "batch_size"])
    chosen = json.loads((out / "tune_batch_size_mp_elastic_K.json").read_text())["best"]["cgcnn"]
    for tuned_from in ([], ["--tuned-from", str(out)]):  # in --out, or copied there
        target = out if not tuned_from else other
        with pytest.raises(SystemExit):
            module.main([*options, "--out", str(target), *tuned_from, "--tune", "--data-dir", "/nowhere"])
        assert f"{out / 'tune_batch_size_mp_elastic_K.json'} exists" in capsys.readouterr().err
    assert not other.exists()
    module.main([*options, "--out", str(out), "--tune", "lr", "--retune"])
    rates = json.loads((out / "tune_lr_mp_elastic_K.json").read_text())
    assert rates["fixed"]["cgcnn"]["batch_size"] == chosen


def test_reproduce_sh_refuses_a_results_directory_with_tuning(tmp_path):
    """reproduce.sh runs from scratch in an empty OUT: a tuning there is refused before any
    command runs, unless RESUME=1 continues that reproduction."""
    import os
    import subprocess
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "reproduce.sh"
    out = tmp_path / "out"
    out.mkdir()
    (out / "tune_lr_perov_5.json").write_text("{}")
    env = {**os.environ, "OUT": str(out), "CPU_LOG": str(tmp_path / "cpu.tsv"), "DOCS_DIR": str(tmp_path)}
    command = ["bash", str(script), "carbon_24", "perov_5"]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and f"{out / 'tune_lr_perov_5.json'} exists" in done.stderr
    assert "RESUME=1" in done.stderr and not (tmp_path / "cpu.tsv").exists()


def test_run_all_rejects_unknown_models_before_loading_data(tmp_path, capsys):
    module = load_script("run_all")
    options = ["--datasets", "perov_5", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path)]
    for option in ("--models", "--zero-shot-models"):
        with pytest.raises(SystemExit):
            module.main([*options, option, "transformer,foo"])
        assert f"{option}: unknown model 'foo'" in capsys.readouterr().err
    page = ["--page-only", "--docs", str(tmp_path / "b.md")]
    module.main([*options, "--models", "transformer_raw_augmented", *page])  # a valid name passes
    with pytest.raises(SystemExit):
        module.main([*options, "--seeds", "0,one"])
    assert "--seeds takes comma-separated integers" in capsys.readouterr().err


def test_run_all_smoke_fills_only_the_options_not_given(tmp_path, monkeypatch):
    module = load_script("run_all")
    seen = []

    class Stop(Exception):
        pass

    def run_dataset(name, args):
        seen.append(args)
        raise Stop

    monkeypatch.setattr(module, "run_dataset", run_dataset)
    options = ["--smoke", "--datasets", "perov_5", "--out", str(tmp_path), "--docs", str(tmp_path / "b.md")]
    explicit = ["--seeds", "3,4", "--epochs", "2", "--limit", "10", "--models", "cgcnn"]
    for extra in ([], explicit):
        with pytest.raises(Stop):
            module.main([*options, *extra])
    smoke, given = seen
    assert (smoke.seeds, smoke.epochs, smoke.limit, smoke.models) == ([0], 1, 40, ["transformer", "cgcnn"])
    assert (given.seeds, given.epochs, given.limit, given.models) == ([3, 4], 2, 10, ["cgcnn"])
    assert given.zero_shot_models == ["transformer"]  # not given: the smoke default


def test_run_all_refuses_to_drop_the_models_a_record_holds(tmp_path, capsys):
    """Each command rewrites a dataset's record from the models it trains: a rerun of some of
    them alone would lose the others' rows, so it is a usage error before any data is read."""
    module = load_script("run_all")
    out = tmp_path / "out"
    out.mkdir()
    runs = {"transformer": {}, "cgcnn": {}}
    (out / "tune_lr_perov_5.json").write_text(json.dumps({"runs": runs}))
    (out / "property_perov_5.json").write_text(json.dumps({"models": runs}))
    (out / "zero_shot_synthetic.json").write_text(json.dumps({"runs": [{"models": runs}]}))
    options = ["--out", str(out), "--data-dir", str(tmp_path / "nowhere"), "--docs", str(tmp_path / "b.md")]
    for command, path in [
        (["--datasets", "perov_5", "--tune", "lr", "--models", "transformer"], "tune_lr_perov_5.json"),
        (["--datasets", "perov_5", "--models", "transformer"], "property_perov_5.json"),
        (["--datasets", "synthetic", "--zero-shot-models", "transformer"], "zero_shot_synthetic.json"),
    ]:
        with pytest.raises(SystemExit):
            module.main([*options, *command])
        assert (
            f"{out / path} holds models ['cgcnn'] that this command does not train" in capsys.readouterr().err
        )
