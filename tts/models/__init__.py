"""The generators: ``nar`` (masked parallel), ``ar`` (VALL-E), ``ar-aligned`` (VALL-E R) and
``ar-semantic`` (VoxInstruct: semantic units, then tokens, in one stream)."""

from tts.models.ar import ArTTS
from tts.models.ar_aligned import ArAlignedTTS
from tts.models.ar_semantic import ArSemanticTTS
from tts.models.nar import NarTTS

GENERATORS = {"nar": NarTTS, "ar": ArTTS, "ar-aligned": ArAlignedTTS, "ar-semantic": ArSemanticTTS}

__all__ = ["GENERATORS", "ArAlignedTTS", "ArSemanticTTS", "ArTTS", "NarTTS"]
