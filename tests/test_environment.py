"""LocalEnvironment: invariant under isometries and neighbour order, sensitive to bond angles."""

import numpy as np
import pytest
import torch

from spacegroup_nn.nn import SpaceGroupTransformer
from spacegroup_nn.nn.environment import LocalEnvironment


def star(vectors: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Atom 0 with neighbours 1..n at ``vectors``: ``(z, edge_index, vectors)`` sorted by target."""
    count = len(vectors)
    z = torch.tensor([6] + [6, 8] * (count // 2) + [6] * (count % 2))
    edge_index = torch.stack([torch.arange(1, count + 1), torch.zeros(count, dtype=torch.long)])
    return z, edge_index, torch.tensor(vectors)


@pytest.fixture
def environment():
    torch.manual_seed(0)
    return LocalEnvironment(8, channels=4, l_max=3, cutoff=3.0).double()


def test_invariant_under_isometries_and_neighbour_order(environment):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 3))
    z, edge_index, edges = star(vectors)
    reference = environment(z, edge_index, edges)[0]
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # a random rotation or reflection
    order = rng.permutation(6)
    z_moved = torch.cat([z[:1], z[1:][order]])
    moved = environment(z_moved, edge_index, torch.tensor(vectors[order] @ rotation.T))[0]
    assert (moved - reference).abs().max() <= 1e-12


def test_resolves_bond_angles_at_equal_distances(environment):
    # the same two bond lengths, at 180 and at 90 degrees: only the angular part differs
    linear = star(np.array([[1.5, 0, 0], [-1.5, 0, 0]]))
    bent = star(np.array([[1.5, 0, 0], [0, 1.5, 0]]))
    assert (environment(*linear)[0] - environment(*bent)[0]).abs().max() > 1e-3


def test_cutoff_and_empty_neighbourhoods(environment):
    z, edge_index, edges = star(np.array([[1.0, 0, 0], [3.5, 0, 0]]))  # the second is beyond 3
    near = environment(z, edge_index, edges)
    only_near = environment(z, edge_index[:, :1], edges[:1])
    assert torch.equal(near, only_near)
    assert torch.isfinite(near).all()  # atoms 1 and 2 have no neighbours at all
    edges = edges.clone().requires_grad_(True)
    environment(z, edge_index, edges).sum().backward()
    assert torch.isfinite(edges.grad).all()


def test_transformer_checks_the_environment_cutoff():
    with pytest.raises(ValueError, match="environment_cutoff"):
        SpaceGroupTransformer(cutoff=4.0, environment_cutoff=5.0)
    assert SpaceGroupTransformer(environment=False).environment is None
