import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from spacegroup_nn import SpaceGroup
from spacegroup_nn.data import from_structure
from spacegroup_nn.errors import InvalidGroupError
from spacegroup_nn.groups import random_crystal
from spacegroup_nn.nn import CrystalGraphNetwork, SpaceGroupTransformer, SymmetrizedFourierFeatures
from spacegroup_nn.testing import apply_operation, assert_invariant, invariance_error

ALL_NUMBERS = range(1, 231)
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


def crystal(number, dtype=torch.float64, seed=None, num_orbits=1):
    rng = np.random.default_rng(number if seed is None else seed)
    return from_structure(random_crystal(SpaceGroup(number), rng, num_orbits=num_orbits), dtype=dtype)


def small_transformer(**kwargs):
    torch.manual_seed(0)
    options = dict(hidden_channels=16, num_layers=2, heads=2, num_rbf=8, cutoff=3.0, environment_cutoff=3.0)
    return SpaceGroupTransformer(**{**options, **kwargs}).double().eval()


def moved_copies(data, operations):
    """The crystal once per listed operation of its group, every atom moved by it."""
    group = SpaceGroup(int(data.space_group))
    return [apply_operation(data, group.rotations[i], group.translations[i]) for i in operations]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("invariance", ["group", "normalizer"])
def test_features_are_invariant_under_every_operation_of_every_group(invariance, dtype):
    """Features are pointwise functions: random points and all their images, all 230 groups."""
    features = SymmetrizedFourierFeatures(invariance=invariance)
    rng = np.random.default_rng(0)
    frac, numbers = [], []
    for number in ALL_NUMBERS:
        group = SpaceGroup(number)
        points = rng.random((4, 3))
        frac.append(np.einsum("nij,pj->npi", group.rotations, points) + group.translations[:, None])
        numbers += [number] * group.order
    frac = torch.tensor(np.concatenate(frac), dtype=dtype)  # (operations, 4, 3)
    cell = torch.eye(3, dtype=dtype).expand(len(frac), 3, 3)
    batch = torch.arange(len(frac)).repeat_interleave(4)
    values = features(frac.reshape(-1, 3), cell, torch.tensor(numbers), batch).view(len(frac), 4, -1)
    first = np.cumsum([0] + [SpaceGroup(n).order for n in ALL_NUMBERS])[:-1]
    reference = values[torch.tensor(first)].repeat_interleave(
        torch.tensor([SpaceGroup(n).order for n in ALL_NUMBERS]), dim=0
    )
    assert (values - reference).abs().max() <= TOLERANCE[dtype]
    if invariance == "group":
        assert values.abs().amax(dim=(1, 2)).min() > 0.1  # every group has live functions


@pytest.mark.parametrize("invariance", ["group", "normalizer"])
def test_every_layer_is_invariant_under_every_operation_of_every_group(invariance):
    """Per-atom outputs of every block, under the generators of each group (and so under all)."""
    model = small_transformer(invariance=invariance)
    tokens = []
    for block in model.blocks:
        block.register_forward_hook(lambda module, args, output: tokens.append(output))
    for number in ALL_NUMBERS:
        data = crystal(number)
        tokens.clear()
        with torch.no_grad():
            out = model(Batch.from_data_list([data, *moved_copies(data, SpaceGroup(number).generators)]))
        assert (out - out[0]).abs().max() <= 1e-10 * max(1.0, out[0].abs().item()), number
        for rows in tokens:  # every atom of every copy keeps its tokens
            layer = rows.view(1 + len(SpaceGroup(number).generators), data.num_nodes, -1)
            assert (layer - layer[:1]).abs().max() <= 1e-10 * max(1.0, layer[0].abs().max().item()), number


@pytest.mark.parametrize("chunk", range(5))
def test_same_crystal_same_answer_under_every_description_change(chunk):
    models = [small_transformer(), CrystalGraphNetwork(hidden_channels=16, cutoff=4.0).double().eval()]
    for number in ALL_NUMBERS[chunk::5]:
        data = crystal(number, seed=1000 + number)
        for model in models:
            for kind in ("rigid", "description"):
                assert invariance_error(model, data, kind, seed=number) <= 1e-8, (number, kind, model)


def test_same_answer_on_real_structures(dataset_structures):
    model = small_transformer()
    for structure in dataset_structures:
        assert_invariant(
            model, from_structure(structure, dtype=torch.float64), ("group", "rigid", "description")
        )


def test_mixed_batch_equals_one_crystal_at_a_time():
    crystals = [crystal(n) for n in (1, 2, 14, 62, 99, 148, 166, 186, 194, 216)]
    for model in (small_transformer(), CrystalGraphNetwork(hidden_channels=16).double().eval()):
        batched = model(Batch.from_data_list(crystals))
        single = torch.cat([model(c).view(1) for c in crystals])
        torch.testing.assert_close(batched, single, rtol=1e-12, atol=1e-12)


def test_unseen_group_is_invariant_after_training():
    held_out = {227, 194, 14, 166}
    train = [crystal(n, seed=n + 7) for n in (1, 2, 5, 12, 15, 47, 62, 123, 139, 148, 191, 221, 225)]
    assert not held_out & {int(d.space_group) for d in train}
    torch.manual_seed(0)
    model = small_transformer().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    targets = torch.randn(len(train), dtype=torch.float64)
    for _ in range(20):
        optimizer.zero_grad()
        loss = (model(Batch.from_data_list(train)) - targets).square().mean()
        loss.backward()
        optimizer.step()
    model.eval()
    for number in sorted(held_out):
        assert_invariant(model, crystal(number), ("group", "description"))


def test_group_dropout_drops_whole_crystals_group_inputs_in_training_only():
    crystals = Batch.from_data_list([crystal(n) for n in (14, 62, 166, 225)])
    inputs = (crystals.z, crystals.pos, crystals.cell, crystals.space_group, crystals.batch)
    plain, dropped = small_transformer(), small_transformer(group_dropout=0.5)
    torch.testing.assert_close(dropped(crystals), plain(crystals), rtol=0, atol=0)
    encoder = dropped.encoder
    full = encoder(*inputs)
    fourier = encoder.fourier(encoder.features(*inputs[1:]))
    group = fourier + encoder.context(crystals.space_group)[crystals.batch]
    encoder.train()
    torch.manual_seed(0)
    seen = set()
    for _ in range(20):
        out = encoder(*inputs)
        for b in range(4):
            rows = crystals.batch == b
            kept = torch.allclose(out[rows], full[rows], rtol=0, atol=1e-12)
            assert kept or torch.allclose(out[rows], (full - group)[rows], rtol=0, atol=1e-12)
            seen.add(kept)
    assert seen == {True, False}
    with pytest.raises(ValueError, match="group_dropout"):
        small_transformer(group_dropout=1.0)


def test_one_hot_ablation_is_invariant_but_per_group():
    model = small_transformer(group_embedding=True)
    assert model.encoder.context.embedding is not None and model.encoder.context.mlp is None
    assert_invariant(model, crystal(62), ("group",))
    assert "group_embedding=True" in repr(model.encoder.context)


def test_pyg_surface():
    model = SpaceGroupTransformer()
    assert repr(model) == (
        "SpaceGroupTransformer(hidden_channels=128, num_layers=3, heads=4, out_channels=1, "
        "invariance='normalizer', environment=True)"
    )
    assert (
        repr(model.encoder.features)
        == "SymmetrizedFourierFeatures(radius=5, invariance='normalizer', out_channels=932)"
    )
    assert repr(CrystalGraphNetwork(fourier=False)).endswith("cutoff=8, fourier=False)")
    crystals = [crystal(n, torch.float32) for n in (2, 62, 194)]
    batch = next(iter(DataLoader(crystals, batch_size=3)))
    assert model(batch).shape == (3,)
    assert SpaceGroupTransformer(out_channels=4)(batch).shape == (3, 4)
    assert CrystalGraphNetwork(out_channels=2)(batch).shape == (3, 2)
    model.reset_parameters()


def test_atom_permutation_and_gradients():
    model = small_transformer()
    data = crystal(62)
    permuted = data.clone()
    order = torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(0))
    for key in ("z", "pos", "frac"):
        permuted[key] = data[key][order]
    torch.testing.assert_close(model(permuted), model(data), rtol=1e-12, atol=1e-12)
    data.pos.requires_grad_(True)
    model.train()
    model(data).sum().backward()
    assert torch.isfinite(data.pos.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("which", ["pairs", "environment"])
def test_output_is_continuous_as_images_cross_a_cutoff(which):
    model = small_transformer(cutoff=6.0, environment_cutoff=3.5)
    radius = model.cutoff if which == "pairs" else model.environment.cutoff

    def output(a):  # at a = radius, lattice images of both atoms lie on the cutoff sphere
        structure = Structure(Lattice.tetragonal(a, 4.1), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.37]])
        return model(from_structure(structure, dtype=torch.float64)).item()

    step = 1e-6
    assert abs(output(radius + step) - output(radius - step)) < 1e-5


def test_dataloader_batches_with_offsets():
    crystals = [crystal(n, torch.float32) for n in (2, 14, 166)]
    batch = next(iter(DataLoader(crystals, batch_size=3)))
    assert batch.cell.shape == (3, 3, 3) and batch.space_group.tolist() == [2, 14, 166]
    assert batch.ptr.tolist() == [0, *np.cumsum([c.num_nodes for c in crystals]).tolist()]
    assert batch.z.shape == batch.batch.shape == (sum(c.num_nodes for c in crystals),)


def test_cgcnn_baseline_settings():
    from spacegroup_nn.data import nearest_edges

    target, distance = torch.tensor([0, 0, 0, 1, 1, 2, 0]), torch.tensor([3.0, 1.0, 2.0, 5.0, 4.0, 1.0, 0.5])
    assert nearest_edges(target, distance, 2).tolist() == [1, 3, 4, 5, 6]
    baseline = CrystalGraphNetwork(fourier=False, max_neighbors=12, smooth=False)
    assert repr(baseline).endswith("fourier=False, max_neighbors=12, smooth=False)")
    assert baseline(Batch.from_data_list([crystal(62, torch.float32)])).shape == (1,)


@pytest.mark.parametrize("options", [{"batch_norm": True}, {"bias": False}, {"aggr": "mean"}])
def test_smooth_cgconv_is_cgconv_with_weighted_messages(options):
    from torch_geometric.nn import CGConv

    from spacegroup_nn.nn.cgcnn import SmoothCGConv

    torch.manual_seed(0)
    smooth = SmoothCGConv(16, dim=7, **options).double().eval()
    plain = CGConv(16, dim=7, **options).double().eval()
    plain.load_state_dict(smooth.state_dict())
    x, edge_attr = torch.randn(30, 16, dtype=torch.float64), torch.randn(200, 7, dtype=torch.float64)
    edge_index = torch.randint(0, 30, (2, 200))
    ones = torch.ones(200, dtype=torch.float64)
    assert torch.allclose(smooth(x, edge_index, edge_attr, ones), plain(x, edge_index, edge_attr), atol=1e-12)
    if options.get("aggr", "add") == "add":  # a weight scales each message: weight 0 removes its edge
        weight = (torch.arange(200) % 2).double()
        kept = weight.bool()
        expected = plain(x, edge_index[:, kept], edge_attr[kept])
        assert torch.allclose(smooth(x, edge_index, edge_attr, weight), expected, atol=1e-12)


def test_volume_per_atom_is_a_property_of_the_crystal():
    from spacegroup_nn.nn.encoder import log_volume_per_atom

    lattice, frac, _ = random_crystal(SpaceGroup(62), np.random.default_rng(0), num_orbits=1)
    doubled = np.diag([2.0, 1.0, 1.0]) @ lattice  # a 2 x 1 x 1 supercell holds twice the atoms
    cells = torch.tensor(np.stack([lattice, doubled]))
    batch = torch.tensor([0] * len(frac) + [1] * 2 * len(frac))
    volumes = log_volume_per_atom(cells, batch)
    assert abs(float(volumes[0] - volumes[1])) <= 1e-12
    assert abs(float(volumes[0]) - np.log(abs(np.linalg.det(lattice)) / len(frac))) <= 1e-12


@pytest.mark.parametrize("number", [-1, 0, 231])
def test_a_space_group_number_out_of_range_is_a_typed_error_naming_the_crystal(number):
    """Once group 230's tables are built, -1 would index them by wrap-around (and read out of
    bounds in the kernel): every module that reads the number checks it first."""
    batch = Batch.from_data_list([crystal(230), crystal(2)])
    features, model = SymmetrizedFourierFeatures(invariance="group"), small_transformer(group_embedding=True)
    features(batch.pos, batch.cell, batch.space_group, batch.batch)
    model(batch)
    batch.space_group = torch.tensor([230, number])
    match = rf"crystal 1 of the batch has space_group {number}, not a space-group number 1 to 230"
    for requires_grad in (False, True):  # the kernel and the torch path
        pos = batch.pos.clone().requires_grad_(requires_grad)
        with pytest.raises(InvalidGroupError, match=match):
            features(pos, batch.cell, batch.space_group, batch.batch)
    with pytest.raises(InvalidGroupError, match=match):
        model(batch)


@pytest.mark.parametrize("model", [small_transformer(), CrystalGraphNetwork().double().eval()], ids=type)
def test_a_batch_of_no_crystals_gives_no_predictions(model):
    """An empty selection of crystals (e.g. a filter that keeps none) gives an empty output."""
    empty = torch.zeros(0, dtype=torch.long)
    out = model(
        empty, torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0, 3, 3, dtype=torch.float64), empty, empty
    )
    assert out.shape == (0,)
