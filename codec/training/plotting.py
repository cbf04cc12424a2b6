"""Spectrogram pictures for training logs, with numpy only."""

from __future__ import annotations

import numpy as np


def spectrogram_image(audio: np.ndarray, n_fft: int = 1024, hop_length: int = 256) -> np.ndarray:
    """``(N,)`` audio -> ``(H, W, 3)`` uint8 log-magnitude spectrogram, low frequencies at the bottom."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[0] < n_fft:
        audio = np.pad(audio, (0, n_fft - audio.shape[0]))
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop_length]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=-1)).T
    db = 20 * np.log10(np.maximum(spectrum, 1e-5))
    db = np.clip((db - db.max() + 80) / 80, 0, 1)
    gray = (db[::-1] * 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)
