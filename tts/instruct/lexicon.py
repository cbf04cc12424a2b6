"""Word knowledge an instruction's bytes cannot carry: the gender of person nouns, the synonyms of
the level words' modifiers.

The corpus's instructions name a few dozen speakers ("a woman", "a father") and a few modifiers
("very", "normal"); users also write "a lady", "a gentleman", "really", "average". ``lexicon.tsv``
(built from WordNet 3.0 by ``egs/instruct16k/build_lexicon.py``) gives about 650 person nouns their
gender and the modifiers' synonyms a class (``middle``, ``intense``). The byte encoder reads each
word's class beside its bytes (``InstructionEncoder(lexicon=True)``), and training draws subjects
and modifiers from the lexicon (``tts.instruct.composing.compose``), so that the class, not the
spelling, carries the meaning: a word no training instruction used reads by its class.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

LEXICON = Path(__file__).with_name("lexicon.tsv")

CLASSES = ("male", "female", "middle", "intense")
"""Word classes of the lexicon; a word's class id is ``1 + index`` (0: none)."""
GENDERS = CLASSES[:2]
"""The classes of person nouns (the others are modifiers, which take no plural)."""

WORD = re.compile(rb"[A-Za-z\x80-\xff]+")
"""A word of UTF-8 bytes: letters, and any non-ASCII byte, so that "señora" stays one (unknown) word."""
PLURALS = ((r"men$", "man"), (r"ies$", "y"), (r"ves$", "fe"), (r"ves$", "f"), (r"(?<=[sxh])es$", ""), (r"s$", ""))
"""Plural endings: "policemen", "ladies", "wives", "bosses", "queens"."""


@cache
def lexicon() -> dict[str, str]:
    """word -> class (one of ``CLASSES``) of the lexicon file."""
    entries = {}
    for line in LEXICON.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            word, _, kind = line.partition("\t")
            entries[word] = kind
    return entries


@cache
def word_class(word: str) -> str | None:
    """The class of ``word`` (any case; a person noun also in a regular plural), or None."""
    word, entries = word.lower(), lexicon()
    if word in entries:
        return entries[word]
    for ending, singular in PLURALS:
        stem = re.sub(ending, singular, word)
        if stem != word and entries.get(stem) in GENDERS:
            return entries[stem]
    return None


def byte_classes(text: bytes) -> list[int]:
    """Per byte of UTF-8 ``text``, the class id (``1 + index`` in ``CLASSES``) of the word it is in; 0 elsewhere."""
    ids = [0] * len(text)
    for match in WORD.finditer(text):
        word = match.group()
        kind = word_class(word.decode("ascii")) if word.isascii() else None
        if kind is not None:
            ids[match.start() : match.end()] = [1 + CLASSES.index(kind)] * (match.end() - match.start())
    return ids


@cache
def members(kind: str, leave_out: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The lexicon's words of class ``kind`` but those in ``leave_out``, sorted."""
    return tuple(word for word, entry in sorted(lexicon().items()) if entry == kind and word not in leave_out)
