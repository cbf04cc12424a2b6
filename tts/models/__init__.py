"""The generators: ``nar`` (masked parallel), ``ar`` (VALL-E) and ``ar-aligned`` (VALL-E R)."""

from tts.models.ar import ArTTS
from tts.models.ar_aligned import ArAlignedTTS
from tts.models.nar import NarTTS

GENERATORS = {"nar": NarTTS, "ar": ArTTS, "ar-aligned": ArAlignedTTS}

__all__ = ["GENERATORS", "ArAlignedTTS", "ArTTS", "NarTTS"]
