"""Decoders: latent frames ``(B, D, T)`` -> audio ``(B, 1, T * hop_length)``.

Every decoder is a ``Decoder`` (``codec.decoders.base``): the codec, training and the inference
modules read what they need from its attributes (``pitch_hop``, ``stateful_phase``,
``window_margin_frames``), never from its class.
"""

from codec.decoders.base import Decoder
from codec.decoders.harmonic import HarmonicISTFTHead, HarmonicVocosDecoder
from codec.decoders.vocos import ISTFTHead, VocosDecoder

DECODERS: dict[str, type[Decoder]] = {"vocos": VocosDecoder, "vocos-hn": HarmonicVocosDecoder}

__all__ = ["DECODERS", "Decoder", "HarmonicISTFTHead", "HarmonicVocosDecoder", "ISTFTHead", "VocosDecoder"]
