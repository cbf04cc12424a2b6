"""Grapheme-to-phoneme back ends behind one interface, and their registry.

A back end turns *normalised* text (``tts.text.normalize``) into a flat list of symbols: phones (or
characters), ``WORD_BOUNDARY`` between two words that no pause separates, and the back end's pause
symbols (flite's ``pau``; the punctuation marks themselves for the others). ``get_g2p(name)``
builds one by name:

- ``flite``: US English phones with stress from flite's ``t2p`` (the default for English: the
  training voices are flite's and ``flite -psdur`` gives their exact durations);
- ``espeak-ng``: IPA from espeak-ng, one symbol per code point, about 100 languages;
- ``characters``: the normalised characters, dependency-free, any language;
- ``gruut``: IPA from gruut (optional: ``pip install gruut``), a dozen languages.
"""

from __future__ import annotations

import importlib
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import ClassVar

from codec.errors import CodecError
from tts.text.languages import Language, get_language
from tts.text.normalize import PUNCTUATION

WORD_BOUNDARY = "|"
"""The symbol between two words that no pause symbol separates."""

BACKENDS: dict[str, str] = {
    "flite": "tts.text.g2p_flite:FliteG2P",
    "espeak-ng": "tts.text.g2p_espeak:EspeakG2P",
    "characters": "tts.text.g2p_characters:CharacterG2P",
    "gruut": "tts.text.g2p_gruut:GruutG2P",
}
"""Back-end name -> ``module:class``, imported when first asked for."""


class G2P(ABC):
    """A grapheme-to-phoneme back end.

    Attributes:
        name: the registry name (stored with a model's inventory).
        pauses: the symbols that stand for pauses.
    """

    name: ClassVar[str]
    pauses: ClassVar[tuple[str, ...]] = tuple(PUNCTUATION)

    def language(self, code: str) -> Language:
        """The ``Language`` of ``code`` when this back end reads it.

        Raises:
            CodecError: the code is unknown or this back end cannot read the language.
        """
        return get_language(code)

    @abstractmethod
    def phonemize(self, text: str, language: str) -> list[str]:
        """Symbols of one normalised text (may be empty when nothing in it is pronounceable)."""

    def phonemize_batch(self, texts: Sequence[str], language: str) -> list[list[str]]:
        """Symbols of several normalised texts of one language (back ends may batch the work)."""
        return [self.phonemize(text, language) for text in texts]

    @abstractmethod
    def symbols(self) -> list[str]:
        """Every symbol this back end can emit, apart from ``WORD_BOUNDARY`` (an inventory's base)."""

    def options(self) -> dict:
        """Constructor arguments that change the output (stored with the inventory)."""
        return {}


def require_binary(binary: str, package: str) -> str:
    """The full path of ``binary`` on PATH.

    Raises:
        CodecError: it is missing; the message names it and the package that provides it.
    """
    path = shutil.which(binary)
    if path is None:
        raise CodecError(f"{binary} not found on PATH (install the {package} package)")
    return path


def tokens(text: str) -> list[str]:
    """Normalised text -> words and punctuation marks: ``"Hi, you."`` -> ``["Hi", ",", "you", "."]``."""
    out: list[str] = []
    for part in text.split():
        word = part.rstrip(PUNCTUATION)
        if word:
            out.append(word)
        out += [ch for ch in part[len(word) :] if ch in PUNCTUATION]
    return out


def join_words(items: Iterable[list[str] | str]) -> list[str]:
    """Flatten words (lists of symbols) and pause symbols (strings), with ``WORD_BOUNDARY`` between
    two adjacent non-empty words."""
    out: list[str] = []
    previous_word = False
    for item in items:
        if isinstance(item, str):
            out.append(item)
            previous_word = False
        elif item:
            if previous_word:
                out.append(WORD_BOUNDARY)
            out += item
            previous_word = True
    return out


def get_g2p(name: str, **options: object) -> G2P:
    """Build the back end called ``name`` (see ``BACKENDS``) with its ``options``.

    Raises:
        CodecError: the name is unknown, or the back end's program or package is missing.
    """
    if name not in BACKENDS:
        raise CodecError(f"unknown grapheme-to-phoneme back end {name!r} (known: {', '.join(BACKENDS)})")
    module, _, cls = BACKENDS[name].partition(":")
    backend: type[G2P] = getattr(importlib.import_module(module), cls)
    return backend(**options)
