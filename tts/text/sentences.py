"""Cutting normalised text into pieces a model can take: sentences, then clauses, then words.

A piece's size is measured by a caller-given function (symbols of the front end, or characters);
sizes of pieces joined into one chunk are added, which over-counts a little (each piece measured
alone has its own leading and trailing pauses), so a chunk never exceeds the limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tts.text.normalize import SENTENCE_END

_SENTENCE = re.compile(rf"(?<=[{re.escape(SENTENCE_END)}])\s+")
_CLAUSE = re.compile(r"(?<=[,;:])\s+")


def split_sentences(text: str) -> list[str]:
    """Normalised text -> its sentences: ``"Hi. Who? Me!"`` -> ``["Hi.", "Who?", "Me!"]``."""
    return [s for s in _SENTENCE.split(text.strip()) if s]


def _split_long(piece: str, max_size: int, measure: Callable[[str], int]) -> list[tuple[str, int]]:
    """A sentence over ``max_size`` -> clauses, and a clause still over it -> runs of words."""
    out: list[tuple[str, int]] = []
    for clause in _CLAUSE.split(piece):
        size = measure(clause)
        if size <= max_size:
            out.append((clause, size))
            continue
        for word in clause.split():
            out.append((word, measure(word)))
    return out


def chunk_text(text: str, max_size: int, measure: Callable[[str], int] = len) -> list[str]:
    """Pack the sentences of normalised ``text`` into chunks of at most ``max_size`` (by ``measure``).

    Sentences stay whole when they fit; a longer one is cut at ``, ; :`` and, if a clause is still
    too long, between words. A single word longer than ``max_size`` becomes a chunk of its own.

    Raises:
        ValueError: ``max_size`` is below 1 (a programming error, not a user's).
    """
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, got {max_size}")
    units: list[tuple[str, int]] = []
    for sentence in split_sentences(text):
        size = measure(sentence)
        units += [(sentence, size)] if size <= max_size else _split_long(sentence, max_size, measure)
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for piece, size in units:
        if current and used + size > max_size:
            chunks.append(" ".join(current))
            current, used = [], 0
        current.append(piece)
        used += size
    if current:
        chunks.append(" ".join(current))
    return chunks
