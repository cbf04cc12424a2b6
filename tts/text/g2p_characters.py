"""The ``characters`` back end: the normalised text's characters as symbols, for any language and
with no program or package to install.

Words become their lower-case characters (apostrophes kept: ``it's`` is not ``its``), punctuation
marks stay as pause symbols, and ``|`` separates words. The base symbol set covers the Latin,
Greek and Cyrillic alphabets and the digits; letters of other scripts pass through and are unknown
to an inventory until it is fitted on text that has them (``TextFrontend.fit``).
"""

from __future__ import annotations

from tts.text.g2p import G2P, join_words, tokens
from tts.text.normalize import PUNCTUATION

_RANGES = ((0x61, 0x7A), (0xDF, 0xFF), (0x100, 0x17F), (0x3AC, 0x3CE), (0x430, 0x45F))


def _alphabet() -> list[str]:
    lower = (chr(p).lower() for lo, hi in _RANGES for p in range(lo, hi + 1) if chr(p).isalpha())
    letters = {ch for ch in lower if len(ch) == 1}
    return sorted(letters) + list("0123456789'")


class CharacterG2P(G2P):
    """Characters as symbols (no options)."""

    name = "characters"

    def phonemize(self, text: str, language: str = "en") -> list[str]:
        """``"It's me."`` -> ``["i", "t", "'", "s", "|", "m", "e", "."]``."""
        self.language(language)
        items: list[list[str] | str] = []
        for token in tokens(text):
            items.append(token if token in PUNCTUATION else list(token.lower()))
        return join_words(items)

    def symbols(self) -> list[str]:
        """Latin, Greek and Cyrillic lower-case letters, digits, ``'`` and the punctuation marks."""
        return [*_alphabet(), *PUNCTUATION]
