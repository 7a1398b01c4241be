import numpy as np
import pytest
import torch
from torch import nn
from torch_geometric.data import Batch

from spacegroup_nn import SpaceGroup
from spacegroup_nn.data import from_structure
from spacegroup_nn.diagnostics import GroupAveraged, RandomOperation, invariance_error, symmetry_loss
from spacegroup_nn.groups import random_crystal
from spacegroup_nn.nn import SpaceGroupTransformer


class Centroid(nn.Module):
    """Not invariant: a function of the unwrapped Cartesian positions (not lattice-periodic)."""

    def forward(self, batch):
        values = torch.tanh(batch.pos @ torch.tensor([0.3, -0.2, 0.1], dtype=batch.pos.dtype))
        return torch.zeros(batch.num_graphs, dtype=values.dtype).index_add(0, batch.batch, values)


@pytest.fixture(scope="module")
def crystals():
    rng = np.random.default_rng(0)
    return [
        from_structure(random_crystal(SpaceGroup(n), rng), dtype=torch.float64) for n in (4, 14, 62, 148, 194)
    ]


@pytest.fixture(scope="module")
def invariant_model():
    torch.manual_seed(0)
    return SpaceGroupTransformer(hidden_channels=16, num_layers=1, heads=2, num_rbf=8).double().eval()


def test_invariant_model_has_near_zero_errors(crystals, invariant_model):
    for kind in ("group", "rigid", "description"):
        assert invariance_error(invariant_model, crystals, kind, num_samples=4) <= 1e-8


def test_non_invariant_model_has_clear_errors(crystals):
    assert invariance_error(Centroid(), crystals, "group") > 1e-2
    assert invariance_error(Centroid(), crystals, "description") > 1e-2


def test_group_averaging_makes_any_model_invariant(crystals):
    averaged = GroupAveraged(Centroid())
    assert invariance_error(averaged, crystals, "group", num_samples=2) <= 1e-10
    single = torch.cat([averaged(Batch.from_data_list([c])) for c in crystals])
    torch.testing.assert_close(averaged(Batch.from_data_list(crystals)), single)


def test_symmetry_loss(crystals, invariant_model):
    batch = Batch.from_data_list(crystals)
    assert symmetry_loss(invariant_model, batch, num_samples=3, seed=0).item() <= 1e-20
    loss = symmetry_loss(Centroid(), batch, num_samples=3, weight=2.0, seed=0)
    assert loss.item() > 1e-3


def test_random_operation_keeps_the_crystal(crystals):
    from spacegroup_nn.data import data_to_structure
    from spacegroup_nn.groups import standardize

    transform = RandomOperation(seed=0)
    for crystal in crystals:
        moved = transform(crystal.clone())
        before, after = standardize(data_to_structure(crystal)), standardize(data_to_structure(moved))
        assert before.group == after.group
        np.testing.assert_allclose(before.lattice, after.lattice, atol=1e-8)
        assert before.num_atoms == after.num_atoms


def test_symmetry_report(crystals, invariant_model, tmp_path):
    from spacegroup_nn.diagnostics import symmetry_report

    report = symmetry_report(invariant_model, crystals, num_samples=4)
    assert max(report.errors.values()) <= 1e-8
    assert report.layer_content["encoder"] == pytest.approx(1.0, abs=1e-10)
    assert report.layer_content["readout"] == pytest.approx(1.0, abs=1e-10)
    assert report.layer_content["blocks.0"] == pytest.approx(1.0, abs=1e-10)  # a ModuleList's members
    # layers without a share are named with the reason, not left out
    assert report.unread == {
        "pairs": "its output (a tuple's first element) is not a floating-point tensor",
        "environment": "not called by the model's forward",
    }
    assert "invariant share of each layer's output" in repr(report)
    assert "layers not read:" in repr(report) and "environment" in repr(report)
    with pytest.raises(ValueError, match="no submodules"):
        symmetry_report(invariant_model, crystals, layers=["encoder", "nonexistent"])
    report.plot(tmp_path / "report.png")
    assert (tmp_path / "report.png").is_file()

    class Unconstrained(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(3, 8, dtype=torch.float64)

        def forward(self, batch):
            hidden = torch.tanh(self.first(batch.pos))
            return torch.zeros(batch.num_graphs, dtype=hidden.dtype).index_add(
                0, batch.batch, hidden.sum(dim=1)
            )

    torch.manual_seed(0)
    loose = symmetry_report(Unconstrained(), crystals, num_samples=4)
    assert loose.errors["group"] > 1e-2 and loose.layer_content["first"] < 0.99


@pytest.fixture(scope="module")
def raw_model():
    """Periodic and permutation invariant, but reads raw plane waves: description dependent."""
    torch.manual_seed(0)
    model = SpaceGroupTransformer(hidden_channels=16, num_layers=1, heads=2, num_rbf=8, invariance="none")
    return model.double().eval()


def test_random_description_moves_only_description_dependent_models(crystals, invariant_model, raw_model):
    from spacegroup_nn.diagnostics import random_description

    batch = Batch.from_data_list(crystals)
    moved = random_description(batch, np.random.default_rng(0))
    torch.testing.assert_close(moved.cell, batch.cell, rtol=0, atol=0)
    assert torch.equal(moved.space_group, batch.space_group) and not torch.allclose(moved.pos, batch.pos)
    with torch.no_grad():
        torch.testing.assert_close(invariant_model(moved), invariant_model(batch), rtol=0, atol=1e-10)
        assert (raw_model(moved) - raw_model(batch)).abs().max() > 1e-3
    # operations of the group only permute the atoms: the raw model does not notice them
    assert invariance_error(raw_model, crystals, "group", num_samples=4) <= 1e-10


def test_normalizer_averaging_and_loss(crystals, invariant_model, raw_model):
    # P2_1/c; P2_1 (crystals[0]) has a free origin along b, which no finite average removes
    nonpolar = crystals[1:2]
    assert invariance_error(raw_model, nonpolar, "description") > 1e-3
    averaged = GroupAveraged(raw_model, over="normalizer")
    assert invariance_error(averaged, nonpolar, "description") <= 1e-10
    assert invariance_error(averaged, crystals[:2], "group", num_samples=2) <= 1e-10
    batch = Batch.from_data_list(crystals)
    assert symmetry_loss(invariant_model, batch, seed=0, over="normalizer").item() <= 1e-20
    assert symmetry_loss(raw_model, batch, seed=0, over="normalizer").item() > 1e-8
    with pytest.raises(ValueError, match="over"):
        GroupAveraged(raw_model, over="lattice")


def test_without_group_inputs_leaves_out_what_group_dropout_does(crystals, invariant_model):
    from spacegroup_nn.diagnostics import group_input_encoders, without_group_inputs

    assert group_input_encoders(invariant_model) == [invariant_model.encoder]
    assert group_input_encoders(Centroid()) == []
    batch = Batch.from_data_list(crystals)
    full = invariant_model(batch)
    as_p1 = batch.clone()
    as_p1.space_group = torch.ones_like(batch.space_group)
    encoder = invariant_model.encoder
    inputs = (batch.z, batch.pos, batch.cell, batch.space_group, batch.batch)
    group = encoder.fourier(encoder.features(*inputs[1:])) + encoder.context(batch.space_group)[batch.batch]
    encoded = encoder(*inputs)
    with without_group_inputs(invariant_model) as model:
        ablated = model(batch)
        torch.testing.assert_close(model(as_p1), ablated, rtol=0, atol=0)  # the group no longer matters
        torch.testing.assert_close(encoder(*inputs), encoded - group, rtol=0, atol=1e-12)
    assert not torch.allclose(ablated, full)
    torch.testing.assert_close(invariant_model(batch), full, rtol=0, atol=0)  # restored on exit
    with pytest.raises(ValueError, match="no AtomEncoder with group inputs"):
        with without_group_inputs(Centroid()):
            pass
