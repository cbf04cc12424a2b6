"""The ``gruut`` back end (optional, MIT): IPA from gruut's lexicons and models.

``pip install gruut`` brings English; other languages need their data package
(``pip install gruut-lang-de`` and so on). Each IPA code point is one symbol (``tts.text.ipa``), as
for espeak-ng, and the text's punctuation marks are pause symbols.
"""

from __future__ import annotations

import importlib

from codec.errors import CodecError
from tts.text.g2p import G2P, join_words
from tts.text.ipa import IPA_SYMBOLS, ipa_units
from tts.text.languages import Language, get_language
from tts.text.normalize import PUNCTUATION


class GruutG2P(G2P):
    """IPA from gruut (no options).

    Raises:
        CodecError: the ``gruut`` package is not installed.
    """

    name = "gruut"

    def __init__(self) -> None:
        try:
            self._gruut = importlib.import_module("gruut")
        except ImportError:
            raise CodecError("the gruut back end needs the gruut package (pip install gruut)") from None

    def language(self, code: str) -> Language:
        """Languages of ``LANGUAGES`` that gruut has (``Language.gruut``)."""
        lang = get_language(code)
        if lang.gruut is None or not self._gruut.is_language_supported(lang.gruut):
            raise CodecError(f"the gruut back end cannot read {lang.name} ({lang.code!r})")
        return lang

    def phonemize(self, text: str, language: str = "en") -> list[str]:
        """``"Yes, no."`` -> ``["j", "ˈ", "ɛ", "s", ",", "n", "ˈ", "o", "ʊ", "."]``."""
        lang = self.language(language)
        items: list[list[str] | str] = []
        for sentence in self._gruut.sentences(text, lang=lang.gruut):
            for word in sentence:
                if word.is_break or word.is_punctuation:
                    if word.text in PUNCTUATION:
                        items.append(word.text)
                elif word.is_spoken:
                    if word.phonemes is None:
                        short = lang.gruut.split("-")[0]
                        raise CodecError(f"gruut has no data for {lang.name}: pip install gruut-lang-{short}")
                    items.append([u for phone in word.phonemes for u in ipa_units(phone)])
        return join_words(items)

    def symbols(self) -> list[str]:
        """``IPA_SYMBOLS`` and the punctuation marks."""
        return [*IPA_SYMBOLS, *PUNCTUATION]
