"""Torch modules: symmetrized Fourier features, shared-weight layers and models."""

from .cgcnn import CrystalGraphNetwork
from .context import GroupContext, group_descriptor
from .encoder import AtomEncoder
from .features import Invariance, SymmetrizedFourierFeatures
from .pairs import PeriodicPairFeatures
from .transformer import PairBiasedAttention, SpaceGroupTransformer

__all__ = [
    "AtomEncoder",
    "CrystalGraphNetwork",
    "GroupContext",
    "Invariance",
    "PairBiasedAttention",
    "PeriodicPairFeatures",
    "SpaceGroupTransformer",
    "SymmetrizedFourierFeatures",
    "group_descriptor",
]
