"""The ``flite`` back end: US English phones from flite's ``t2p`` (CMU lexicon, letter-to-sound
rules and post-lexical rules, exactly what the flite voices speak).

``t2p`` prints the phones of a whole text with a stress digit on stressed vowels (``ow1``) and
``pau`` where flite pauses: at the start, at punctuation and at the end. Stripped of the digits, the
sequence equals what ``flite -voice slt|awb|rms|kal16 -psdur`` synthesises (checked on 300 fortune
sentences), so durations from ``-psdur`` line up with these symbols one to one.

``t2p`` does not mark words. To place ``WORD_BOUNDARY``, the words are also read one by one (one
``t2p`` call on ``"w1, w2, w3"``) and the whole-text phones are aligned to that sequence by edit
distance: each phone takes the word of the phone it aligns with, so context effects (``the`` ->
``dh iy`` before a vowel) never break the alignment.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence

from codec.errors import CodecError
from tts.text.g2p import G2P, WORD_BOUNDARY, require_binary, tokens
from tts.text.languages import Language, get_language
from tts.text.normalize import PUNCTUATION

PAUSE = "pau"
CONSONANTS = [
    "b",
    "ch",
    "d",
    "dh",
    "f",
    "g",
    "hh",
    "jh",
    "k",
    "l",
    "m",
    "n",
    "ng",
    "p",
    "r",
    "s",
    "sh",
    "t",
    "th",
    "v",
    "w",
    "y",
    "z",
    "zh",
]
VOWELS = ["aa", "ae", "ah", "ao", "aw", "ax", "axr", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh", "uw"]
STRESS = "1"
"""flite's lexicon marks primary stress only; unstressed vowels carry no digit."""


def strip_stress(phone: str) -> str:
    """``"ow1"`` -> ``"ow"``."""
    return phone.rstrip("0123456789")


def align_words(phones: Sequence[str], words: Sequence[Sequence[str]]) -> list[int]:
    """The word index of each of ``phones`` (word-free whole-text phones without pauses), from an
    edit-distance alignment to the concatenated phones of ``words`` read one by one.

    Indices never decrease; a phone aligned to nothing takes its predecessor's word (the first
    word at the start).
    """
    ref = [(strip_stress(p), w) for w, word in enumerate(words) for p in word]
    n, m = len(phones), len(ref)
    hyp = [strip_stress(p) for p in phones]
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        row, above = cost[i], cost[i - 1]
        for j in range(1, m + 1):
            sub = above[j - 1] + (hyp[i - 1] != ref[j - 1][0])
            row[j] = min(sub, above[j] + 1, row[j - 1] + 1)
    owner: list[int | None] = [None] * n
    i, j = n, m
    while i > 0 and j > 0:
        if cost[i][j] == cost[i - 1][j - 1] + (hyp[i - 1] != ref[j - 1][0]):
            owner[i - 1] = ref[j - 1][1]
            i, j = i - 1, j - 1
        elif cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
    out: list[int] = []
    for word in owner:
        out.append(word if word is not None and (not out or word >= out[-1]) else (out[-1] if out else 0))
    return out


class FliteG2P(G2P):
    """US English phones from flite's ``t2p``.

    Args:
        stress: keep the stress digit of stressed vowels (``ow1``); without it the symbols are
            exactly ``flite -ps`` phones.
        binary: the ``t2p`` program to run.

    Raises:
        CodecError: ``t2p`` is not on PATH (it comes with the Debian/Ubuntu ``flite`` package).
    """

    name = "flite"
    pauses = (PAUSE,)

    def __init__(self, stress: bool = True, binary: str = "t2p") -> None:
        self.stress = stress
        self.binary = require_binary(binary, "flite")

    def language(self, code: str) -> Language:
        """English only (flite's lexicon is US English; other English codes get US phones)."""
        lang = get_language(code)
        if not lang.english:
            raise CodecError(f"the flite back end reads English only (en, en-US, en-GB), not {lang.code!r}")
        return lang

    def _t2p(self, text: str) -> list[str]:
        try:
            proc = subprocess.run([self.binary, text], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise CodecError(f"t2p failed: {error}") from None
        if proc.returncode != 0:
            reason = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            raise CodecError(f"t2p failed on {text[:40]!r}: {reason[0]}")
        return proc.stdout.split()

    def _word_phones(self, words: Sequence[str]) -> list[list[str]]:
        """Phones of each word read alone (one call; pauses separate the words)."""
        parts: list[list[str]] = [[]]
        for phone in self._t2p(", ".join(words)):
            if phone == PAUSE:
                if parts[-1]:
                    parts.append([])
            else:
                parts[-1].append(phone)
        parts = [p for p in parts if p]
        if len(parts) != len(words):
            # A word read as nothing or as several phrases: read each alone, whatever it costs.
            parts = [[p for p in self._t2p(word) if p != PAUSE] for word in words]
        return parts

    def phonemize(self, text: str, language: str = "en") -> list[str]:
        """Phones of normalised English ``text`` with ``pau`` and ``WORD_BOUNDARY`` symbols.

        ``"Hello world."`` -> ``["pau", "hh", "ax", "l", "ow1", "|", "w", "er1", "l", "d", "pau"]``
        """
        self.language(language)
        phones = self._t2p(text)
        words = [t for t in tokens(text) if t not in PUNCTUATION]
        spoken = [p for p in phones if p != PAUSE]
        if not spoken:
            return []
        owner = iter(align_words(spoken, self._word_phones(words)) if len(words) > 1 else [0] * len(spoken))
        out: list[str] = []
        previous: int | None = None
        for phone in phones:
            if phone == PAUSE:
                out.append(PAUSE)
                previous = None
                continue
            word = next(owner)
            if previous is not None and word != previous:
                out.append(WORD_BOUNDARY)
            out.append(phone if self.stress else strip_stress(phone))
            previous = word
        return out

    def symbols(self) -> list[str]:
        """Consonants, vowels (with and without stress when ``stress``) and ``pau``."""
        vowels = [v + s for v in VOWELS for s in ("", STRESS)] if self.stress else VOWELS
        return [PAUSE, *CONSONANTS, *vowels]

    def options(self) -> dict:
        """``{"stress": ...}``."""
        return {"stress": self.stress}


_PSDUR = re.compile(r"^([a-z]+):(\d+(?:\.\d+)?)$")


def parse_psdur(output: str) -> list[tuple[str, float]]:
    """``flite -psdur`` output (``"pau:0.164 hh:0.255 ..."``) -> ``[(phone, end seconds), ...]``.

    Raises:
        CodecError: a field is not ``phone:time`` or the times decrease.
    """
    pairs: list[tuple[str, float]] = []
    for field in output.split():
        match = _PSDUR.match(field)
        if match is None:
            raise CodecError(f"unexpected flite -psdur field {field!r}")
        end = float(match[2])
        if pairs and end < pairs[-1][1]:
            raise CodecError(f"flite -psdur times decrease at {field!r}")
        pairs.append((match[1], end))
    return pairs
