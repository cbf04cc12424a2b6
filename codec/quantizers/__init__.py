"""Quantizer families behind one interface (``Quantizer``); ``QUANTIZERS`` names them for configs."""

from codec.quantizers.base import Quantizer, QuantizerOutput
from codec.quantizers.grvq import GroupResidualVQ
from codec.quantizers.mcrvq import MaskedChannelRVQ
from codec.quantizers.rvq import ResidualVQ
from codec.quantizers.vq import SingleVQ

QUANTIZERS: dict[str, type[Quantizer]] = {
    "vq": SingleVQ,
    "rvq": ResidualVQ,
    "grvq": GroupResidualVQ,
    "mcrvq": MaskedChannelRVQ,
}

__all__ = [
    "QUANTIZERS",
    "GroupResidualVQ",
    "MaskedChannelRVQ",
    "Quantizer",
    "QuantizerOutput",
    "ResidualVQ",
    "SingleVQ",
]
