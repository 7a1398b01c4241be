import dataclasses
import json

import numpy as np
import pytest
import torch

from spacegroup_nn import SpaceGroup, testing
from spacegroup_nn.data import from_structure
from spacegroup_nn.datasets import DatasetError
from spacegroup_nn.errors import SpacegroupNNError
from spacegroup_nn.groups import random_crystal
from spacegroup_nn.training import (
    CheckpointError,
    DivergenceError,
    GraphCache,
    TrainConfig,
    evaluate,
    fit,
    load_checkpoint,
    predict,
)
from spacegroup_nn.zero_shot import holdout_groups, run_zero_shot, zero_shot_split

NUMBERS = [2, 5, 14, 47, 62, 75, 123, 143, 148, 166, 191, 194, 195, 221, 225]


@pytest.fixture(scope="module")
def crystals():
    rng = np.random.default_rng(0)
    data = []
    for index in range(45):
        crystal = from_structure(random_crystal(SpaceGroup(NUMBERS[index % len(NUMBERS)]), rng, num_orbits=1))
        crystal.y = torch.tensor([float(crystal.num_nodes) / 10 + rng.normal(scale=0.1)])
        data.append(crystal)
    return data


@pytest.mark.parametrize("model", ["transformer", "cgcnn", "transformer_raw"])
def test_train_predict_evaluate_and_reload(crystals, tmp_path, model):
    config = TrainConfig(model=model, epochs=2, batch_size=8, augment=model == "transformer_raw")
    metrics = fit(config, crystals[:30], crystals[30:38], tmp_path, test_data=crystals[38:], progress=False)
    assert json.loads((tmp_path / "metrics.json").read_text())["val_mae"] == metrics["val_mae"]
    assert metrics["best_epoch"] in (1, 2) and len(metrics["history"]) == 2
    first, second = predict(tmp_path, crystals[38:]), predict(tmp_path, crystals[38:])
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert evaluate(tmp_path, crystals[38:])["mae"] == pytest.approx(metrics["test_mae"], rel=1e-6)


@pytest.mark.parametrize("model", ["transformer", "cgcnn"])
def test_graphs_are_searched_once_per_run_not_per_step(crystals, tmp_path, searches, model):
    config = TrainConfig(model=model, epochs=2, batch_size=8)
    fit(config, crystals[:30], crystals[30:38], tmp_path, test_data=crystals[38:], progress=False)
    assert searches == [30, 8, 7]  # one vectorized search each for train, val and test, none per step


@pytest.fixture
def searches(monkeypatch):
    """The number of every graph search's crystals, in order."""
    from spacegroup_nn.data import graph

    counts = []
    search = graph.radius_graph_pbc

    def counted(pos, cell, cutoff, batch=None, **kwargs):
        counts.append(cell.view(-1, 3, 3).shape[0])
        return search(pos, cell, cutoff, batch, **kwargs)

    monkeypatch.setattr(graph, "radius_graph_pbc", counted)
    return counts


def test_graph_cache_searches_each_graph_once_and_runs_train_as_without_it(
    crystals, tmp_path, searches, monkeypatch
):
    train, val = crystals[:30], crystals[30:38]
    cache = GraphCache()
    models = ("transformer", "transformer_raw", "cgcnn")
    configs = [TrainConfig.for_model(model, epochs=1, batch_size=8) for model in models]
    rng = torch.random.get_rng_state()
    prepared = {config.model: (cache(train, config), cache(val, config)) for config in configs}
    assert torch.equal(torch.random.get_rng_state(), rng)  # building models to read graphs
    # the transformers read one graph (6 A, every neighbour), CGCNN its own (8 A, 12 nearest)
    assert searches == [30, 8, 30, 8] and cache.cpu_seconds > 0
    assert prepared["transformer"][0] is prepared["transformer_raw"][0] is cache(train, configs[1])
    assert all("edge_index" not in crystal for crystal in train)  # the inputs are untouched
    # augmentation moves crystals by isometries, which carry a stored geometry but not a graph
    augmented = TrainConfig.for_model("transformer_raw_augmented", epochs=1, batch_size=8)
    assert cache(train, augmented) is prepared["transformer_raw"][0]
    assert cache(train, TrainConfig.for_model("cgcnn_augmented")) is train
    searches.clear()
    carried = fit(augmented, *prepared["transformer_raw"], tmp_path / "augmented", progress=False)
    assert not searches  # every moved batch kept its geometry
    with monkeypatch.context() as patch:  # recomputed at every step instead
        patch.setattr(testing, "carry_geometry", lambda *args: None)
        recomputed = fit(augmented, train, val, tmp_path / "recomputed", progress=False)
    assert searches  # the moved batches searched their graphs
    for mine, reference in zip(carried["history"], recomputed["history"], strict=True):
        assert mine["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-5)
        assert mine["val_mae"] == pytest.approx(reference["val_mae"], rel=1e-5)
    for config in configs[::2]:
        searches.clear()
        cached = fit(config, *prepared[config.model], tmp_path / config.model / "cached", progress=False)
        assert not searches  # fit reuses the stored graphs
        plain = fit(config, train, val, tmp_path / config.model / "plain", progress=False)
        assert cached["history"] == plain["history"]


def test_same_seed_same_metrics(crystals, tmp_path):
    runs = [
        fit(
            TrainConfig(epochs=2, batch_size=8, seed=3),
            crystals[:20],
            crystals[20:26],
            tmp_path / str(i),
            progress=False,
        )
        for i in range(2)
    ]
    assert runs[0]["history"] == runs[1]["history"]


def test_checkpoint_errors(crystals, tmp_path):
    assert issubclass(CheckpointError, SpacegroupNNError) and issubclass(CheckpointError, ValueError)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path)
    fit(TrainConfig(epochs=1, batch_size=8), crystals[:10], crystals[10:14], tmp_path, progress=False)
    payload = torch.load(tmp_path / "best.pt", weights_only=True)
    torch.save({**payload, "version": "0.0.0"}, tmp_path / "best.pt")
    with pytest.raises(CheckpointError, match=r"0\.0\.0"):
        load_checkpoint(tmp_path)
    torch.save({**payload, "config": {**payload["config"], "model": "cgcnn"}}, tmp_path / "best.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path)
    (tmp_path / "best.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(tmp_path)


def test_config_validation():
    with pytest.raises(ValueError, match="unknown model"):
        TrainConfig(model="resnet")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="symmetry_weight"):
        TrainConfig(symmetry_weight=-1.0)


def test_symmetry_weight_adds_the_soft_loss(crystals, tmp_path):
    """The penalty changes an unconstrained model's training, deterministically and resumably."""

    def run(name, weight, epochs=2, resume=False):
        config = TrainConfig(model="transformer_raw", epochs=epochs, batch_size=8, symmetry_weight=weight)
        return fit(config, crystals[:16], crystals[16:20], tmp_path / name, progress=False, resume=resume)

    plain, soft, again = run("plain", 0.0), run("soft", 10.0), run("again", 10.0)
    assert soft["history"] == again["history"] != plain["history"]
    # resuming a finished run re-checks its configuration, including the new field
    assert run("soft", 10.0, resume=True)["history"] == soft["history"]
    with pytest.raises(CheckpointError, match=r"configuration changed \(symmetry_weight\)"):
        run("soft", 1.0, resume=True)


def test_state_without_symmetry_weight_resumes(crystals, tmp_path):
    """A training state written before ``symmetry_weight`` existed counts it as 0."""
    config = TrainConfig(epochs=1, batch_size=8)
    metrics = fit(config, crystals[:8], crystals[8:12], tmp_path, progress=False)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    del state["config"]["symmetry_weight"]
    torch.save(state, tmp_path / "last.pt")
    resumed = fit(config, crystals[:8], crystals[8:12], tmp_path, progress=False, resume=True)
    assert resumed["history"] == metrics["history"]


def test_checkpoints_with_the_removed_extra_field_load_and_resume(crystals, tmp_path):
    """``TrainConfig.extra`` (never read, always ``{}``) is gone; checkpoints that have it still work."""
    assert "extra" not in {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(epochs=1, batch_size=8)
    metrics = fit(config, crystals[:8], crystals[8:12], tmp_path, progress=False)
    for name in ("best.pt", "last.pt"):
        payload = torch.load(tmp_path / name, weights_only=True)
        payload["config"]["extra"] = {}
        torch.save(payload, tmp_path / name)
    assert load_checkpoint(tmp_path)[1] == config
    resumed = fit(config, crystals[:8], crystals[8:12], tmp_path, progress=False, resume=True)
    assert resumed["history"] == metrics["history"]


def with_y(crystal, y: torch.Tensor):
    copy = crystal.clone()
    copy.y = y
    return copy


def test_non_scalar_targets_are_a_clear_error_before_training(crystals, tmp_path):
    tensor = [with_y(c, torch.ones(1, 6, 6)) for c in crystals[:12]]
    for index, crystal in enumerate(tensor, start=1):
        crystal.id = f"mp-{index}"
    config = TrainConfig(target="elasticity.elastic_tensor", epochs=1, batch_size=8)
    message = r"target 'elasticity.elastic_tensor': crystal mp-1 has y of shape \(1, 6, 6\)"
    with pytest.raises(DatasetError, match=message):
        fit(config, tensor[:8], tensor[8:], tmp_path / "tensor", progress=False)
    # one tensor crystal in the validation data would broadcast silently in the loss
    with pytest.raises(DatasetError, match=r"shape \(1, 6, 6\)"):
        fit(config, crystals[:8], tensor[8:9], tmp_path / "one", progress=False)
    assert not (tmp_path / "one").exists()  # raised before training
    unlabelled = [with_y(c, None) for c in crystals[:8]]
    with pytest.raises(DatasetError, match="has no y"):
        fit(config, unlabelled, crystals[8:12], tmp_path / "none", progress=False)
    fit(TrainConfig(epochs=1, batch_size=8), crystals[:8], crystals[8:12], tmp_path / "run", progress=False)
    with pytest.raises(DatasetError, match=r"target 'y': crystal mp-1 has y of shape \(1, 6, 6\)"):
        evaluate(tmp_path / "run", tensor)


def test_holdout_is_stratified_and_never_leaks(crystals):
    numbers = list(range(1, 231))
    held = holdout_groups(numbers, fraction=0.2, seed=0)
    assert len(held) >= 0.2 * 230
    families = {SpaceGroup(n).crystal_family for n in held}
    assert families == {SpaceGroup(n).crystal_family for n in numbers}
    assert holdout_groups(numbers, 0.2, 0) == held != holdout_groups(numbers, 0.2, 1)
    split = zero_shot_split(crystals, fraction=0.2, seed=0)
    trained = {int(c.space_group) for c in split.train + split.val + split.test}
    assert not trained & set(split.held_out_groups)
    assert {int(c.space_group) for c in split.held_out} == set(split.held_out_groups)
    assert len(split.train) + len(split.val) + len(split.test) + len(split.held_out) == len(crystals)


@pytest.mark.parametrize(
    ("numbers", "options", "message"),
    [
        ([221, 99, 62, 160, 2], {}, "no group can be held out"),  # one group per family
        (None, {"fraction": 0}, "fraction must lie in"),
        (None, {"fraction": 1.0}, "fraction must lie in"),
        (None, {"test_fraction": 0}, "test_fraction must lie in"),
        (None, {"val_fraction": 0.01}, "too few for training, validation and test"),
    ],
)
def test_zero_shot_split_refuses_an_empty_part(crystals, numbers, options, message):
    """Checked before any model trains: no empty held-out set, test set or training set."""
    data = crystals
    if numbers is not None:
        data = [c.clone() for c in crystals[: len(numbers)]]
        for crystal, number in zip(data, numbers, strict=True):
            crystal.space_group = torch.tensor([number])
    with pytest.raises(DatasetError, match=message):
        zero_shot_split(data, **options)


def test_zero_shot_runs_searching_each_graph_once_over_models_and_seeds(crystals, tmp_path, searches):
    cache, models = GraphCache(), ["transformer", "transformer_onehot"]
    options = {"epochs": 1, "batch_size": 8, "progress": False, "graphs": cache}
    tuned = {"transformer_onehot": {"lr": 3e-3, "batch_size": 4}}  # one model's own settings
    results = run_zero_shot(crystals, models, tmp_path / "seed0", model_options=tuned, **options)
    trained = {name: (entry["lr"], entry["batch_size"]) for name, entry in results["models"].items()}
    assert trained == {"transformer": (TrainConfig.lr, 8), "transformer_onehot": (3e-3, 4)}
    for entry in results["models"].values():
        assert entry["held_out_mae"] > 0 and entry["in_distribution_mae"] > 0
        assert set(entry["per_group"]) == set(results["protocol"]["held_out_groups"])
    assert (tmp_path / "seed0" / "zero_shot.json").is_file()
    assert searches == [len(crystals)] and results["graph_cpu_seconds"] == cache.cpu_seconds > 0
    other_seed = run_zero_shot(crystals, models, tmp_path / "seed1", seed=1, **options)
    assert searches == [len(crystals)] and other_seed["graph_cpu_seconds"] == 0


def test_config_for_benchmark_model_names():
    config = TrainConfig.for_model("transformer_raw_augmented", epochs=2)
    assert (config.model, config.augment, config.epochs) == ("transformer_raw", True, 2)
    assert not TrainConfig.for_model("cgcnn").augment
    with pytest.raises(ValueError, match="unknown model"):
        TrainConfig.for_model("cgcnn_augmented_twice")


def test_finished_run_evaluated_again_keeps_its_training_time(crystals, tmp_path):
    config = TrainConfig(model="cgcnn", epochs=1, batch_size=8)
    trained = fit(config, crystals[:30], crystals[30:38], tmp_path, test_data=crystals[38:], progress=False)
    again = fit(
        config, crystals[:30], crystals[30:38], tmp_path, test_data=crystals[38:], progress=False, resume=True
    )
    assert again == trained  # the graph search for the evaluation is not training time


def test_a_diverging_run_is_a_clear_error_not_a_missing_checkpoint(crystals, tmp_path):
    """A NaN loss never improves on the best validation MAE, so no checkpoint would be
    written and the run would end in "no checkpoint"; it stops at the first NaN instead."""
    config = TrainConfig(model="cgcnn", epochs=2, batch_size=8, lr=1e30)
    with pytest.raises(DivergenceError, match=r"training 'cgcnn' diverged: .* of epoch 1 \(lr 1e\+30\)"):
        fit(config, crystals[:16], crystals[16:24], tmp_path, progress=False)
    assert issubclass(DivergenceError, SpacegroupNNError)
