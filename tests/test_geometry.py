"""Pair sums, neighbour moments and their storage: the parameter-free geometry of the transformer."""

import copy

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from spacegroup_nn.data import edge_vectors, from_structure, radius_graph_pbc
from spacegroup_nn.diagnostics import random_description
from spacegroup_nn.groups import SpaceGroup, euclidean_normalizer, random_crystal
from spacegroup_nn.nn import SpaceGroupTransformer
from spacegroup_nn.nn.geometry import stored_geometry
from spacegroup_nn.nn.pairs import PeriodicPairFeatures
from spacegroup_nn.testing import transform_batch

#: Atoms moved per group in the test of carried geometries (every normalizer element up to it).
MOVED_ATOMS = 2000


def crystals():
    """Small crystals of 2, 1, 3 and 8 atoms, in float64."""
    structures = [
        Structure(Lattice.cubic(4.1), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure(Lattice.cubic(2.9), ["Fe"], [[0, 0, 0]]),
        Structure(
            Lattice.hexagonal(3.2, 5.1), ["Ga", "N", "N"], [[0, 0, 0], [1 / 3, 2 / 3, 0.38], [0.5, 0.1, 0.7]]
        ),
        Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]]),
    ]
    return [from_structure(structure, dtype=torch.float64) for structure in structures]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SpaceGroupTransformer(hidden_channels=16, num_layers=2, heads=2, radius=2.0).double().eval()


def test_pair_sums_add_up_the_images_of_each_pair():
    batch = Batch.from_data_list(crystals())
    edge_index, shift = radius_graph_pbc(batch.pos, batch.cell, 6.0, batch.batch)
    vectors = edge_vectors(batch.pos, batch.cell, edge_index, shift, batch.batch)
    features = PeriodicPairFeatures(6.0, 8)
    pairs = features(edge_index, vectors, batch.num_nodes)
    # one image at a time gives the terms of the sum; they add up per (target, source)
    reference = torch.zeros(batch.num_nodes, batch.num_nodes, 9, dtype=torch.float64)
    for edge in range(edge_index.shape[1]):
        single = features(edge_index[:, edge : edge + 1], vectors[edge : edge + 1], batch.num_nodes)
        reference[edge_index[1, edge], edge_index[0, edge]] += single.terms[0]
    source, target = pairs.index
    order = target * batch.num_nodes + source
    assert torch.equal(torch.sort(order).values, order)
    torch.testing.assert_close(pairs.terms, reference[target, source], rtol=0, atol=1e-14)
    assert not reference.index_put((target, source), torch.zeros(9, dtype=torch.float64)).any()


def test_stored_geometry_gives_the_outputs_of_the_computed_one(model):
    data = crystals()
    prepared = model.prepare(data)
    assert all(stored_geometry(crystal, model.geometry_key) is not None for crystal in prepared)
    assert all(stored_geometry(crystal, model.geometry_key) is None for crystal in data)  # inputs untouched
    assert model.prepare(prepared)[2] is prepared[2]  # prepared once
    computed = model(Batch.from_data_list(data))
    batch = next(iter(DataLoader(prepared, batch_size=len(prepared))))
    assert stored_geometry(batch, model.geometry_key) is not None
    torch.testing.assert_close(model(batch), computed, rtol=0, atol=1e-12)
    single = [model(Batch.from_data_list([crystal])) for crystal in prepared]
    torch.testing.assert_close(torch.cat(single), computed, rtol=0, atol=1e-12)


def test_a_stale_or_foreign_geometry_is_never_read(model):
    prepared = model.prepare(crystals())[0]
    moved = prepared.clone()
    moved.pos = moved.pos + torch.tensor([0.1, 0.0, 0.0], dtype=torch.float64)
    assert stored_geometry(moved, model.geometry_key) is None
    converted = prepared.clone()
    converted.pos = converted.pos.float()
    assert stored_geometry(converted, model.geometry_key) is None
    edited = prepared.clone()
    edited.z = torch.tensor([11, 9])  # the neighbour elements of the moments change
    assert stored_geometry(edited, model.geometry_key) is None
    settings = {"hidden_channels": 16, "num_layers": 2, "heads": 2, "radius": 2.0}
    other = SpaceGroupTransformer(**settings, environment_cutoff=3.0)
    assert stored_geometry(prepared, other.geometry_key) is None
    plain = SpaceGroupTransformer(**settings, environment=False)
    replaced = plain.prepare([prepared])[0]
    assert stored_geometry(replaced, model.geometry_key) is None
    assert stored_geometry(replaced, plain.geometry_key).neighbours is None
    # edited crystals get the outputs of what they now hold
    for changed, attribute in ((moved, "pos"), (edited, "z")):
        fresh = crystals()[0]
        fresh[attribute] = changed[attribute]
        torch.testing.assert_close(model(changed), model(fresh), rtol=0, atol=1e-12)


def test_prepare_batches_crystals_whose_stored_geometry_is_stale(model):
    prepared = model.prepare(crystals())
    prepared[1] = prepared[1].clone()
    prepared[1].pos = prepared[1].pos + 0.05  # stale: recomputed in one chunk with fresh crystals
    mixed = [prepared[1], *crystals()[2:]]
    again = model.prepare(mixed)
    assert all(stored_geometry(crystal, model.geometry_key) is not None for crystal in again)
    for crystal, source in zip(again, mixed, strict=True):
        torch.testing.assert_close(model(crystal), model(Batch.from_data_list([source])), rtol=0, atol=1e-12)


def test_gradients_with_respect_to_positions_ignore_the_stored_geometry(model):
    prepared = model.prepare(crystals())[2]
    gradients = []
    for crystal in (prepared.clone(), crystals()[2]):
        crystal.pos.requires_grad_(True)
        model(crystal).sum().backward()
        gradients.append(crystal.pos.grad)
    assert gradients[0].abs().max() > 0
    torch.testing.assert_close(gradients[0], gradients[1], rtol=0, atol=1e-12)


def test_float32_and_crystals_without_pairs_or_neighbours():
    torch.manual_seed(0)
    model = SpaceGroupTransformer(hidden_channels=16, num_layers=2, heads=2, radius=2.0).eval()
    isolated = Structure(Lattice.cubic(7.0), ["Na"], [[0, 0, 0]])  # no image within 6 A
    salt = Structure(Lattice.cubic(4.1), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    data = [from_structure(isolated), from_structure(salt)]
    prepared = model.prepare(data)
    assert prepared[0].pair_terms.shape == (0, 33) and prepared[0].neighbour_moments.shape[0] == 0
    assert prepared[1].pair_terms.dtype == torch.float32
    batch = next(iter(DataLoader(prepared, batch_size=2)))
    out = model(batch)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, model(Batch.from_data_list(data)), rtol=1e-6, atol=1e-6)


def computed_geometry(model, batch):
    """The geometry ``model`` computes for ``batch``, ignoring any stored one."""
    return model.geometry(batch.z, batch.pos, batch.cell, batch.batch)


def assert_same_geometry(stored, computed, tolerance, label=None):
    """The same pairs and neighbour rows, and features within ``tolerance`` of the largest."""
    assert torch.equal(stored.pairs.index, computed.pairs.index), label
    assert torch.equal(stored.neighbours.atom, computed.neighbours.atom), label
    assert torch.equal(stored.neighbours.species, computed.neighbours.species), label
    for mine, reference in (
        (stored.pairs.terms, computed.pairs.terms),
        (stored.neighbours.moments, computed.neighbours.moments),
    ):
        assert float((mine - reference).abs().max()) <= tolerance * float(reference.abs().max()), label


def _moved_by_normalizer(number, dtype):
    """A crystal of group ``number``, its normalizer elements (all, or a seeded sample of about
    :data:`MOVED_ATOMS` atoms), and random shifts along the free axes."""
    rng = np.random.default_rng(number)
    crystal = from_structure(random_crystal(SpaceGroup(number), rng, num_orbits=2), dtype=dtype)
    normalizer = euclidean_normalizer(SpaceGroup(number))
    count = min(normalizer.order, max(MOVED_ATOMS // crystal.num_nodes, 4))
    picks = np.sort(rng.choice(normalizer.order, count, replace=False))
    shifts = np.where(normalizer.free_axes, rng.random((count, 3)), 0.0)
    rotations = torch.tensor(normalizer.rotations[picks])
    return crystal, rotations, torch.tensor(normalizer.translations[picks] + shifts)


def test_moves_by_the_normalizer_carry_the_geometry_of_the_moved_crystal_in_every_group():
    torch.manual_seed(0)
    model = SpaceGroupTransformer(hidden_channels=16, num_layers=1, heads=2, radius=2.0, cutoff=3.5)
    model = model.double().eval()  # radii of a few neighbours: the test's cost is the graph search
    for number in range(1, 231):
        crystal, rotations, translations = _moved_by_normalizer(number, torch.float64)
        copies = [crystal] * len(rotations)
        wrap = number % 2 == 0
        carried = transform_batch(Batch.from_data_list(model.prepare(copies)), rotations, translations, wrap)
        stored = stored_geometry(carried, model.geometry_key)
        assert stored is not None, number
        moved = transform_batch(Batch.from_data_list(copies), rotations, translations, wrap)
        assert torch.equal(carried.pos, moved.pos)
        assert_same_geometry(stored, computed_geometry(model, moved), 1e-10, number)


@pytest.mark.parametrize("number", [2, 15, 62, 141, 166, 194, 227])
def test_float32_moves_carry_the_geometry_and_keep_the_outputs(model, number):
    single = copy.deepcopy(model).float()  # the model in float32
    crystal, rotations, translations = _moved_by_normalizer(number, torch.float32)
    copies = [crystal] * len(rotations)
    carried = transform_batch(Batch.from_data_list(single.prepare(copies)), rotations, translations)
    moved = transform_batch(Batch.from_data_list(copies), rotations, translations)
    # float32 positions of ~10 A carry ~1e-6 A of round-off, which the Gaussians' slopes turn
    # into ~1e-5 of the largest feature in either computation; a wrong rotation would be O(1)
    stored = stored_geometry(carried, single.geometry_key)
    assert_same_geometry(stored, computed_geometry(single, moved), 1e-4, number)
    reference = single(moved)
    error = (single(carried) - reference).abs().max() / reference.abs().max()
    assert float(error) <= 1e-5


def test_moves_that_are_not_isometries_of_the_lattice_carry_nothing(model):
    prepared = Batch.from_data_list(model.prepare(crystals()[2:]))  # atoms off the origin
    shear = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # not an isometry
    half = torch.diag(torch.tensor([0.5, 1.0, 1.0]))  # not a map of the lattice onto itself
    for linear in (shear, half):
        moved = transform_batch(prepared, torch.stack([torch.eye(3), linear]), torch.zeros(2, 3))
        assert not torch.equal(moved.pos, prepared.pos)
        assert stored_geometry(moved, model.geometry_key) is None
    plain = transform_batch(
        Batch.from_data_list(crystals()[:2]), torch.eye(3).expand(2, 3, 3), torch.zeros(2, 3)
    )
    assert "geometry_key" not in plain  # nothing stored, nothing carried


def test_random_descriptions_of_prepared_crystals_give_the_outputs_of_moved_ones(model):
    data = [
        from_structure(random_crystal(SpaceGroup(n), np.random.default_rng(n)), dtype=torch.float64)
        for n in (2, 14, 62, 139, 166, 194, 221)
    ]
    prepared = random_description(Batch.from_data_list(model.prepare(data)), np.random.default_rng(3))
    moved = random_description(Batch.from_data_list(data), np.random.default_rng(3))
    # crystals of different cells in one batch: each row turns by the rotation of its own crystal
    assert_same_geometry(
        stored_geometry(prepared, model.geometry_key), computed_geometry(model, moved), 1e-10
    )
    torch.testing.assert_close(model(prepared), model(moved), rtol=0, atol=1e-12)


def test_a_stale_geometry_is_not_carried_and_moved_positions_with_gradients_recompute(model):
    prepared = Batch.from_data_list(model.prepare(crystals()[2:]))
    stale = prepared.clone()
    stale.pos = stale.pos + 0.05  # no longer the positions its geometry was computed from
    flip = torch.diag(torch.tensor([1.0, 1.0, -1.0])).expand(2, 3, 3)  # an isometry of both lattices
    assert stored_geometry(transform_batch(stale, flip, torch.zeros(2, 3)), model.geometry_key) is None
    gradients = []
    for batch in (prepared, Batch.from_data_list(crystals()[2:])):
        moved = transform_batch(batch, flip, torch.zeros(2, 3))
        moved.pos.requires_grad_(True)
        model(moved).sum().backward()
        gradients.append(moved.pos.grad)
    assert gradients[0].abs().max() > 0
    torch.testing.assert_close(gradients[0], gradients[1], rtol=0, atol=1e-12)
