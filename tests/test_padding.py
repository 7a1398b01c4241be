import torch

from spacegroup_nn.nn.padding import padded_groups


def random_batch(counts, seed=0):
    """A batch index for crystals of ``counts`` atoms and random edges inside each crystal."""
    generator = torch.Generator().manual_seed(seed)
    batch = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    first = torch.cumsum(torch.tensor(counts), 0) - torch.tensor(counts)
    edges = []
    for crystal, count in enumerate(counts):
        pairs = torch.randint(count, (2, 3 * count), generator=generator)
        edges.append(pairs + first[crystal])
    return batch, torch.cat(edges, dim=1)


def test_every_atom_and_edge_lies_in_exactly_one_group():
    counts = [1, 2, 3, 4, 5, 17, 16, 384, 33, 7, 8, 9, 100]
    batch, edge_index = random_batch(counts)
    groups = padded_groups(batch, edge_index)
    atoms = torch.cat([group.atoms for group in groups])
    edges = torch.cat([group.edges for group in groups])
    assert torch.equal(atoms.sort().values, torch.arange(batch.numel()))
    assert torch.equal(edges.sort().values, torch.arange(edge_index.shape[1]))
    for group in groups:  # crystals of one size class, padding under a factor of 4 in m^2
        sizes = group.mask.sum(dim=1)
        assert sizes.max() ** 2 < 4 * sizes.min() ** 2 or sizes.max() <= 2
    padded_work = sum(group.mask.shape[0] * group.mask.shape[1] ** 2 for group in groups)
    assert padded_work < 4 * sum(c**2 for c in counts)


def test_pad_unpad_and_pair_sums_match_a_dense_reference():
    counts = [3, 1, 12, 5, 6, 40]
    batch, edge_index = random_batch(counts, seed=1)
    x = torch.randn(batch.numel(), 4, dtype=torch.float64)
    values = torch.randn(edge_index.shape[1], 2, dtype=torch.float64)
    first = torch.cumsum(torch.tensor(counts), 0) - torch.tensor(counts)
    for group in padded_groups(batch, edge_index):
        padded = group.pad(x)
        assert torch.equal(group.unpad(padded), x[group.atoms])
        assert torch.equal(padded[~group.mask], torch.zeros_like(padded[~group.mask]))
        crystals = torch.unique(batch[group.atoms])
        pair_sums = group.pairs(values)
        for rank, crystal in enumerate(crystals.tolist()):
            source, target = edge_index[:, batch[edge_index[1]] == crystal] - first[crystal]
            reference = torch.zeros(counts[crystal], counts[crystal], 2, dtype=torch.float64)
            reference.index_put_((target, source), values[batch[edge_index[1]] == crystal], accumulate=True)
            size = counts[crystal]
            torch.testing.assert_close(pair_sums[rank, :size, :size], reference, rtol=0, atol=1e-15)
            assert not pair_sums[rank, size:].any() and not pair_sums[rank, :, size:].any()


def test_a_linear_map_applied_to_edges_or_to_pairs_gives_the_same_sums():
    counts = [1, 2, 40, 6]  # few pairs and many edges (1 and 2 atoms), and the reverse (40)
    batch, edge_index = random_batch(counts, seed=2)
    values = torch.randn(edge_index.shape[1], 5, dtype=torch.float64)
    linear = torch.nn.Linear(5, 3, bias=False).double()
    sides = set()
    for group in padded_groups(batch, edge_index):
        sides.add(group.mask.numel() * group.mask.shape[1] < len(group.edges))
        with torch.no_grad():
            torch.testing.assert_close(group.pairs(values, linear), linear(group.pairs(values)))
    assert sides == {True, False}
