"""Pitch rendered at the level an instruction asks, by the tokenizer's harmonic-plus-noise decoder.

The generator picks tokens for the level it reads, but its speech lands in the asked pitch range
only about half the time: the tokenizer's decoder renders a low male voice some semitones too high,
and the generator's levels blur into their neighbours (docs/instruct.md, "Pitch rendered at the
asked level"). A source-filter decoder can move the pitch of any tokens while keeping the voice's
envelope (``HarmonicVocosDecoder.shifted_pitch``), so speech whose measured median F0 (the
measurement that labels the corpus, ``measure_style``) lies outside the asked level's range is
decoded again, moved just inside it. Speech already in range, whispers and speech that asks no
pitch are left as generated.
"""

from __future__ import annotations

import math

import numpy as np

from tts.instruct.attributes import measure_style
from tts.instruct.bins import StyleBins
from tts.instruct.phrasings import LEVELS

MARGIN_SEMITONES = 0.7
"""How far inside the asked range a moved pitch lands: clear of the edge by about 4 %, more than
the measurement's spread between two decodes of the same tokens."""

MAX_SHIFT_SEMITONES = 6.0
"""The largest move: beyond half an octave a voice's pitch no longer fits its envelope (a man's
voice moved to a woman's range sounds like neither), so a further miss is left to the generator."""


def pitch_range(level: str, edges: list[float]) -> tuple[float, float]:
    """The ``(low, high)`` Hz of pitch ``level`` between the four ascending bin ``edges`` of a
    gender (``StyleBins.edges["pitch/male"]``, ...); the extremes are open (0 or infinity)."""
    index = LEVELS["pitch"].index(level)
    bounds = [0.0, *edges, math.inf]
    return bounds[index], bounds[index + 1]


def pitch_shift(f0_hz: float, level: str, edges: list[float]) -> float:
    """Semitones that move a voice of median ``f0_hz`` just inside ``level``'s range (0 when it is
    already inside, or has no F0), at most ``MAX_SHIFT_SEMITONES`` either way."""
    if f0_hz <= 0:
        return 0.0
    margin = 2 ** (MARGIN_SEMITONES / 12)
    low, high = pitch_range(level, edges)
    if low * margin <= f0_hz <= high / margin:
        return 0.0
    target = low * margin if f0_hz < low * margin else high / margin
    semitones = 12 * math.log2(target / f0_hz)
    return max(-MAX_SHIFT_SEMITONES, min(MAX_SHIFT_SEMITONES, semitones))


def level_shift(audio: np.ndarray, sample_rate: int, levels: dict[str, str], bins: StyleBins) -> float:
    """Semitones that bring ``(N,)`` speech to the pitch ``levels`` ask (the levels a model reads,
    e.g. ``{"gender": "male", "pitch": "low"}``), judged in ``bins`` as ``tts eval --instruct``
    judges it: in the edges of the gender asked (``pitch/male``, ``pitch/female``) or of all voices
    (``pitch/any``) where none is; 0 where no pitch is asked, a whisper is, the speech measures as
    whispered (the bins' voicing threshold) or the bins lack that gender."""
    if "pitch" not in levels or levels.get("whisper") == "yes":
        return 0.0
    key = f"pitch/{levels['gender']}" if levels.get("gender") in ("male", "female") else "pitch/any"
    if key not in bins.edges:
        return 0.0
    style = measure_style(audio, sample_rate, 1)
    if style.voicing < bins.whisper_voicing:
        return 0.0
    return pitch_shift(style.f0_hz, levels["pitch"], bins.edges[key])
