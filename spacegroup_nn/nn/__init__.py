"""Torch modules: symmetrized Fourier features, shared-weight layers and models."""

from .cgcnn import CrystalGraphNetwork
from .context import GroupContext, group_descriptor
from .crystal_tensor import CrystalTensorModel
from .elements import ElementEmbedding, element_descriptors
from .encoder import AtomEncoder
from .environment import LocalEnvironment
from .features import Invariance, SymmetrizedFourierFeatures
from .harmonic_features import (
    SymmetrizedHarmonicFeatures,
    point_group_code,
    point_group_from_code,
    spherical_harmonics,
)
from .pairs import PeriodicPairFeatures
from .point_group_network import PointGroupNetwork
from .tensor_head import SymmetricTensorHead, tensor_projector_batch
from .transformer import PairBiasedAttention, SpaceGroupTransformer

__all__ = [
    "AtomEncoder",
    "CrystalGraphNetwork",
    "CrystalTensorModel",
    "ElementEmbedding",
    "GroupContext",
    "Invariance",
    "LocalEnvironment",
    "PairBiasedAttention",
    "PeriodicPairFeatures",
    "PointGroupNetwork",
    "SpaceGroupTransformer",
    "SymmetricTensorHead",
    "SymmetrizedFourierFeatures",
    "SymmetrizedHarmonicFeatures",
    "element_descriptors",
    "group_descriptor",
    "point_group_code",
    "point_group_from_code",
    "spherical_harmonics",
    "tensor_projector_batch",
]
