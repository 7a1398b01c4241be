import torch

from spacegroup_nn.nn.padding import padded_groups


def random_batch(counts, seed=0):
    """A batch index for crystals of ``counts`` atoms and random distinct pairs inside each crystal."""
    generator = torch.Generator().manual_seed(seed)
    batch = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    first = torch.cumsum(torch.tensor(counts), 0) - torch.tensor(counts)
    pairs = []
    for crystal, count in enumerate(counts):
        drawn = torch.randint(count, (2, 3 * count), generator=generator)
        pairs.append(torch.unique(drawn, dim=1) + first[crystal])
    return batch, torch.cat(pairs, dim=1)


def test_every_atom_and_pair_lies_in_exactly_one_group():
    counts = [1, 2, 3, 4, 5, 17, 16, 384, 33, 7, 8, 9, 100]
    batch, pair_index = random_batch(counts)
    groups = padded_groups(batch, pair_index)
    atoms = torch.cat([group.atoms for group in groups])
    pairs = torch.cat([group.pairs for group in groups])
    assert torch.equal(atoms.sort().values, torch.arange(batch.numel()))
    assert torch.equal(pairs.sort().values, torch.arange(pair_index.shape[1]))
    for group in groups:  # crystals of one size class, padding under a factor of 4 in m^2
        sizes = group.mask.sum(dim=1)
        assert sizes.max() ** 2 < 4 * sizes.min() ** 2 or sizes.max() <= 2
    padded_work = sum(group.mask.shape[0] * group.mask.shape[1] ** 2 for group in groups)
    assert padded_work < 4 * sum(c**2 for c in counts)


def test_pad_unpad_and_pad_pairs_match_a_dense_reference():
    counts = [3, 1, 12, 5, 6, 40]
    batch, pair_index = random_batch(counts, seed=1)
    x = torch.randn(batch.numel(), 4, dtype=torch.float64)
    values = torch.randn(pair_index.shape[1], 2, dtype=torch.float64)
    first = torch.cumsum(torch.tensor(counts), 0) - torch.tensor(counts)
    for group in padded_groups(batch, pair_index):
        padded = group.pad(x)
        assert torch.equal(group.unpad(padded), x[group.atoms])
        assert torch.equal(padded[~group.mask], torch.zeros_like(padded[~group.mask]))
        crystals = torch.unique(batch[group.atoms])
        dense = group.pad_pairs(values)
        for rank, crystal in enumerate(crystals.tolist()):
            inside = batch[pair_index[1]] == crystal
            source, target = pair_index[:, inside] - first[crystal]
            reference = torch.zeros(counts[crystal], counts[crystal], 2, dtype=torch.float64)
            reference[target, source] = values[inside]
            size = counts[crystal]
            assert torch.equal(dense[rank, :size, :size], reference)
            assert not dense[rank, size:].any() and not dense[rank, :, size:].any()
