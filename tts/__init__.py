"""Token-based speech generation on a codec's tokens: codec-language-model TTS (``nar``, ``ar``,
``ar-aligned``) and instruction-to-speech.

    from tts import load_tts
    audio = load_tts("default").synthesize("Text to say.")  # (T,) at the tokenizer's rate
"""

from tts.api import TTS, load_tts
from tts.pretrained import shipped_tts

__all__ = ["TTS", "load_tts", "shipped_tts"]
