"""Text normalisation: what a user types -> words and a small set of punctuation marks.

``normalize(text, language)`` applies, in order: Unicode NFKC, typographic quotes/dashes/ellipses to
ASCII, the language's expansions (English: numbers, currency, dates, abbreviations, symbols; other
languages keep their digits for espeak-ng, which reads them), brackets and dashes to commas, runs
of punctuation to one mark, other symbols dropped, whitespace collapsed, and a final ``.`` when the
text ends without ``.``, ``!`` or ``?``. Case is kept (flite reads capitalised acronyms as letters).

The result contains only letters, digits (not for English), apostrophes inside words, spaces and
the marks of ``PUNCTUATION``; every mark is followed by a space or the end.
"""

from __future__ import annotations

import re
import unicodedata

from codec.errors import CodecError
from tts.text.english import expand_english
from tts.text.languages import get_language

PUNCTUATION = ",;:.!?"
"""Marks that survive normalisation (pauses and sentence ends)."""
SENTENCE_END = ".!?"
# When a run of marks collapses to one, the strongest wins (a question stays a question).
_STRENGTH = {mark: rank for rank, mark in enumerate(",:;.!?")}

_TYPOGRAPHY = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "ʼ": "'",
        "`": "'",
        "´": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "–": " - ",
        "—": " - ",
        "―": " - ",
        "…": "...",
        "(": ", ",
        ")": ", ",
        "[": ", ",
        "]": ", ",
        "{": ", ",
        "}": ", ",
    }
)
_ELLIPSIS = re.compile(r"\.{2,}")
_DASH = re.compile(r"\s-+\s|--+|\s-+$|^-+\s")
_WORD_HYPHEN = re.compile(r"(?<=\w)-(?=\w)")
_DROP = re.compile(rf"[^\w\s'{re.escape(PUNCTUATION)}]|_")
_LOOSE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")
_MARK_RUN = re.compile(rf"[{re.escape(PUNCTUATION)}](?:\s*[{re.escape(PUNCTUATION)}])*")


def _collapse_marks(match: re.Match[str]) -> str:
    marks = [ch for ch in match[0] if ch in PUNCTUATION]
    return max(marks, key=_STRENGTH.__getitem__)


def clean_punctuation(text: str) -> str:
    """Language-independent clean-up of already expanded text (see the module docstring)."""
    end = len(text.rstrip())
    text = _ELLIPSIS.sub(lambda m: ", " if m.end() < end else ".", text)
    text = _DASH.sub(", ", f" {text} ")
    text = _WORD_HYPHEN.sub(" ", text)
    text = _DROP.sub(" ", text)
    text = _LOOSE_APOSTROPHE.sub(" ", text)
    text = _MARK_RUN.sub(_collapse_marks, text)
    text = re.sub(rf"\s+([{re.escape(PUNCTUATION)}])", r"\1", text)
    text = re.sub(rf"([{re.escape(PUNCTUATION)}])(?=\w)", r"\1 ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = text.lstrip(PUNCTUATION + " ")
    if text and text[-1] not in SENTENCE_END:
        text = text.rstrip(PUNCTUATION) + "."
    return text


def is_pronounceable(text: str) -> bool:
    """Whether ``text`` has at least one letter or digit."""
    return any(ch.isalnum() for ch in text)


def normalize(text: str, language: str = "en") -> str:
    """Normalise ``text`` of ``language`` for grapheme-to-phoneme conversion.

    ``"Dr. Smith paid $12.50 -- on May 5th!!!"`` -> ``"doctor Smith paid twelve dollars and fifty
    cents, on May fifth!"``

    Raises:
        CodecError: the text is empty or blank, has nothing pronounceable, or the language code
            is unknown.
    """
    lang = get_language(language)
    if not isinstance(text, str) or not text.strip():
        raise CodecError("empty text")
    out = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY)
    if lang.english:
        out = expand_english(out)
    out = clean_punctuation(out)
    if not is_pronounceable(out):
        shown = text.strip() if len(text.strip()) <= 40 else text.strip()[:40] + "..."
        raise CodecError(f"nothing pronounceable in the text {shown!r}")
    return out
