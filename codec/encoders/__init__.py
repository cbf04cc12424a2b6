"""Encoders: audio ``(B, 1, N)`` -> latent frames ``(B, D, N // hop_length)``.

Every encoder exposes ``hop_length`` (samples per frame), ``dim`` (latent channels) and ``causal``.
The input length must be a multiple of ``hop_length`` (the ``Codec`` pads it).
"""

from torch import nn

from codec.encoders.seanet import ResidualUnit, SEANetEncoder
from codec.encoders.spectral import SpectralEncoder

ENCODERS: dict[str, type[nn.Module]] = {"seanet": SEANetEncoder, "spectral": SpectralEncoder}

__all__ = ["ENCODERS", "ResidualUnit", "SEANetEncoder", "SpectralEncoder"]
