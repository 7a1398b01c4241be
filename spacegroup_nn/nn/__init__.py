"""Torch modules: symmetrized Fourier features, shared-weight layers and models."""

from .cgcnn import CrystalGraphNetwork
from .context import GroupContext, group_descriptor
from .encoder import AtomEncoder
from .features import Invariance, SymmetrizedFourierFeatures
from .pairs import PeriodicPairFeatures
from .tensor_head import SymmetricTensorHead, tensor_projector_batch
from .transformer import PairBiasedAttention, SpaceGroupTransformer

__all__ = [
    "AtomEncoder",
    "CrystalGraphNetwork",
    "GroupContext",
    "Invariance",
    "PairBiasedAttention",
    "PeriodicPairFeatures",
    "SpaceGroupTransformer",
    "SymmetricTensorHead",
    "SymmetrizedFourierFeatures",
    "group_descriptor",
    "tensor_projector_batch",
]
