"""The fused C++ feature kernel against the torch path of SymmetrizedFourierFeatures."""

import numpy as np
import pytest
import torch

from spacegroup_nn import SpaceGroup
from spacegroup_nn.groups import random_crystal
from spacegroup_nn.nn import SymmetrizedFourierFeatures, _fourier_kernel


@pytest.fixture(scope="module")
def mixed_batch():
    """Every group once, random cells, two orbits per crystal (up to 384 atoms), atoms shuffled
    across crystals so that groups and crystals are not contiguous."""
    rng = np.random.default_rng(0)
    pos, cells, batch = [], [], []
    for index, number in enumerate(range(1, 231)):
        lattice, frac, _ = random_crystal(SpaceGroup(number), rng, num_orbits=2)
        pos.append(frac @ lattice + rng.normal(size=3))  # outside the cell: wrapping is tested too
        cells.append(lattice)
        batch += [index] * len(frac)
    order = torch.from_numpy(rng.permutation(len(batch)))
    return (
        torch.tensor(np.concatenate(pos))[order],
        torch.tensor(np.stack(cells)),
        torch.arange(1, 231),
        torch.tensor(batch)[order],
    )


def torch_path(features, pos, cell, space_group, batch):
    return features(pos.clone().requires_grad_(True), cell, space_group, batch).detach()


def test_kernel_is_built():
    assert _fourier_kernel.AVAILABLE, "the C++ kernel was not compiled at installation (see setup.py)"


@pytest.mark.parametrize("invariance", ["normalizer", "group", "none"])
def test_kernel_equals_torch_path(mixed_batch, invariance):
    features = SymmetrizedFourierFeatures(invariance=invariance)
    reference = torch_path(features, *mixed_batch)
    fused = features(*mixed_batch)
    assert fused.dtype == torch.float64 and not fused.requires_grad
    assert (fused - reference).abs().max() <= 1e-12
    pos, cell, space_group, batch = mixed_batch
    single = features(pos.float(), cell.float(), space_group, batch)
    assert single.dtype == torch.float32 and (single.double() - reference).abs().max() <= 1e-5


@pytest.mark.parametrize("path", [SymmetrizedFourierFeatures.__call__, torch_path])
def test_module_casts_leave_the_features_exact(mixed_batch, path):
    # every table is integer, so no cast (not even through float16) rounds them
    pos, cell, space_group, batch = mixed_batch
    reference = path(SymmetrizedFourierFeatures(), *mixed_batch)
    for cast in (SymmetrizedFourierFeatures().half().double(), SymmetrizedFourierFeatures().float()):
        assert not any(buffer.is_floating_point() for buffer in cast.buffers())
        assert torch.equal(path(cast, *mixed_batch), reference)
    single = path(SymmetrizedFourierFeatures().float(), pos.float(), cell.float(), space_group, batch)
    assert torch.isfinite(single).all() and (single.double() - reference).abs().max() <= 1e-5


def test_torch_path_where_no_kernel(mixed_batch, monkeypatch):
    features = SymmetrizedFourierFeatures()
    fused = features(*mixed_batch)
    monkeypatch.setattr(_fourier_kernel, "_FUNCTIONS", None)
    assert not _fourier_kernel.supports(mixed_batch[0])
    assert (features(*mixed_batch) - fused).abs().max() <= 1e-12


def test_a_stale_kernel_is_refused(monkeypatch):
    # a library compiled for other structs or tables would read garbage: warn, use torch
    monkeypatch.setattr(_fourier_kernel, "ABI_VERSION", _fourier_kernel.ABI_VERSION + 1)
    with pytest.warns(RuntimeWarning, match="compiled from another version"):
        assert _fourier_kernel._load() is None


def test_kernel_only_reads_cpu_tensors(mixed_batch):
    pos, cell, _, batch = mixed_batch
    assert _fourier_kernel.supports(pos, cell, batch)
    assert not _fourier_kernel.supports(pos, cell.to("meta"), batch)  # e.g. tables on a GPU
    assert not _fourier_kernel.supports(pos.to("meta"))


def test_gradients_take_the_torch_path(mixed_batch):
    features = SymmetrizedFourierFeatures()
    pos, cell, space_group, batch = mixed_batch
    pos = pos.clone().requires_grad_(True)
    features(pos, cell, space_group, batch).square().sum().backward()
    assert pos.grad is not None and torch.isfinite(pos.grad).all() and pos.grad.abs().max() > 0
    with torch.no_grad():
        assert not features(pos, cell, space_group, batch).requires_grad


def test_kernel_edge_cases(mixed_batch):
    features = SymmetrizedFourierFeatures()
    pos, cell, space_group, batch = mixed_batch
    empty = features(pos[:0], cell[:0], space_group[:0], batch[:0])
    assert empty.shape == (0, features.out_channels)
    with pytest.raises(IndexError, match="batch indices"):
        features(pos, cell[:5], space_group[:5], batch)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one_thread = features(pos, cell, space_group, batch)
        torch.set_num_threads(2)
        assert torch.equal(features(pos, cell, space_group, batch), one_thread)
    finally:
        torch.set_num_threads(threads)
