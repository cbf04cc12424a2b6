"""Style effects applied to synthesised speech: whispering and level.

``whisper(audio, rng)`` keeps each frame's spectral envelope (linear prediction, order 18 at
16 kHz) and replaces the excitation with white noise of the same energy, the classic way to turn
voiced speech into whispered speech without changing its timing, so flite's phone durations stay
exact. ``apply_gain(audio, db)`` changes the level, limited so that no sample clips.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

FRAME = 400
HOP = 200
ORDER = 18
PRE_EMPHASIS = 0.97
PEAK = 0.99


def whisper(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whispered version of ``(N,)`` float speech at 16 kHz with the same per-frame energy envelope."""
    emphasized = lfilter([1.0, -PRE_EMPHASIS], [1.0], audio.astype(np.float64))
    window = np.hanning(FRAME + 1)[:FRAME]  # periodic Hann: 50 % overlaps add up to one
    padded = np.pad(emphasized, (FRAME, FRAME))
    starts = np.arange(0, len(padded) - FRAME + 1, HOP)
    frames = padded[starts[:, None] + np.arange(FRAME)] * window
    power = np.abs(np.fft.rfft(frames, 2 * FRAME)) ** 2
    autocorrelation = np.fft.irfft(power)[:, : ORDER + 1]
    autocorrelation[:, 0] *= 1 + 1e-6  # white-noise floor keeps the normal equations well posed
    out = np.zeros_like(padded)
    for start, frame, r in zip(starts, frames, autocorrelation, strict=True):
        if r[0] <= 0:
            continue
        a = np.concatenate([[1.0], -solve_toeplitz(r[:-1], r[1:])])
        residual = lfilter(a, [1.0], frame)
        noise = rng.standard_normal(FRAME) * np.sqrt(np.mean(residual**2))
        out[start : start + FRAME] += lfilter([1.0], a, noise) * window
    restored = lfilter([1.0], [1.0, -PRE_EMPHASIS], out[FRAME:-FRAME])
    scale = np.sqrt(np.mean(audio.astype(np.float64) ** 2) / max(np.mean(restored**2), 1e-20))
    return (restored * scale).astype(np.float32)


def apply_gain(audio: np.ndarray, db: float) -> tuple[np.ndarray, float]:
    """``audio`` scaled by ``db`` decibels, or less where that would clip; returns the gain used."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 0:
        db = min(db, 20 * np.log10(PEAK / peak))
    return (audio * 10 ** (db / 20)).astype(np.float32), float(db)
