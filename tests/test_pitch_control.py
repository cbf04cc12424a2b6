"""Pitch moved into the level an instruction asks (``tts.instruct.pitch_control``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tts.instruct.bins import StyleBins
from tts.instruct.pitch_control import MARGIN_SEMITONES, MAX_SHIFT_SEMITONES, level_shift, pitch_range, pitch_shift

EDGES = [88.0, 100.0, 110.0, 130.0]
RATE = 16000


def voice(f0: float, seconds: float = 1.0, amplitude: float = 0.3) -> np.ndarray:
    """A steady voiced-like signal: six harmonics of ``f0`` falling 6 dB each."""
    t = np.arange(int(seconds * RATE)) / RATE
    return amplitude * sum(0.5**k * np.sin(2 * np.pi * (k + 1) * f0 * t) for k in range(6)).astype(np.float32)


def test_level_ranges_follow_the_edges_with_open_extremes() -> None:
    assert pitch_range("very low", EDGES) == (0.0, 88.0)
    assert pitch_range("medium", EDGES) == (100.0, 110.0)
    assert pitch_range("very high", EDGES) == (130.0, math.inf)


def test_a_pitch_in_range_stays_and_one_outside_lands_just_inside() -> None:
    margin = 2 ** (MARGIN_SEMITONES / 12)
    assert pitch_shift(105.0, "medium", EDGES) == 0.0
    assert pitch_shift(0.0, "medium", EDGES) == 0.0  # no F0: nothing to move
    up = pitch_shift(95.0, "medium", EDGES)
    assert 95.0 * 2 ** (up / 12) == pytest.approx(100.0 * margin)
    down = pitch_shift(96.0, "very low", EDGES)
    assert 96.0 * 2 ** (down / 12) == pytest.approx(88.0 / margin)
    assert pitch_shift(60.0, "very high", EDGES) == MAX_SHIFT_SEMITONES  # a voice too far off is not forced
    assert pitch_shift(300.0, "very low", EDGES) == -MAX_SHIFT_SEMITONES


def test_level_shift_measures_the_speech_in_the_gender_asked() -> None:
    edges = {"pitch/male": EDGES, "pitch/female": [160.0, 180.0, 220.0, 260.0], "pitch/any": [95.0, 115.0, 175, 230]}
    bins = StyleBins(edges)
    audio = voice(120.0)
    # 120 Hz is a man's "high": no move; a man's "very low" goes below 88 Hz
    assert level_shift(audio, RATE, {"gender": "male", "pitch": "high"}, bins) == 0.0
    low = level_shift(audio, RATE, {"gender": "male", "pitch": "very low"}, bins)
    assert 120.0 * 2 ** (low / 12) == pytest.approx(88.0 / 2 ** (MARGIN_SEMITONES / 12), rel=0.01)
    # a woman's "very low" (below 160 Hz) holds it; with no gender named, "medium" among all voices does too
    assert level_shift(audio, RATE, {"gender": "female", "pitch": "very low"}, bins) == 0.0
    assert level_shift(audio, RATE, {"pitch": "medium"}, bins) == 0.0
    assert level_shift(audio, RATE, {"pitch": "very high"}, bins) > 0
    # nothing to move: no pitch asked, a whisper asked, silence, bins without the gender
    assert level_shift(audio, RATE, {"gender": "male", "rate": "fast"}, bins) == 0.0
    assert level_shift(audio, RATE, {"pitch": "very low", "whisper": "yes"}, bins) == 0.0
    assert level_shift(np.zeros(RATE, dtype=np.float32), RATE, {"pitch": "very low"}, bins) == 0.0
    assert level_shift(audio, RATE, {"gender": "male", "pitch": "very low"}, StyleBins({"rate": [1, 2, 3, 4]})) == 0.0
