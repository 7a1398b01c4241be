import numpy as np
import torch

from spacegroup_nn.nn import ElementEmbedding, element_descriptors
from spacegroup_nn.nn.elements import BLOCKS, ELEMENT_PROPERTIES


def test_descriptors_are_finite_standardized_and_tell_the_elements_apart():
    table = element_descriptors()
    assert table.shape == (119, len(ELEMENT_PROPERTIES) + len(BLOCKS))
    assert np.isfinite(table).all()
    assert not table[0].any()
    properties, blocks = table[1:, : len(ELEMENT_PROPERTIES)], table[1:, len(ELEMENT_PROPERTIES) :]
    np.testing.assert_allclose(properties.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_array_equal(blocks.sum(axis=1), 1.0)
    assert len(np.unique(table[1:], axis=0)) == 118


def test_the_learned_correction_starts_at_zero_so_an_unseen_element_keeps_its_descriptor_features():
    embedding = ElementEmbedding(8)
    z = torch.tensor([1, 6, 26, 92])
    descriptors = torch.tensor(element_descriptors(), dtype=torch.float32)[z]
    torch.testing.assert_close(embedding(z), embedding.linear(descriptors))
    embedding.correction.weight.data.normal_()
    assert not torch.allclose(embedding(z), embedding.linear(descriptors))
