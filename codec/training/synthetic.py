"""Speech-like test signals, so recipes and tests run without any audio data."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from codec.training.segments import normalize_loudness


def synthesize_speechlike(rng: np.random.Generator, num_samples: int, sample_rate: int) -> np.ndarray:
    """A speech-like test signal, ``(N,)`` float32 in [-1, 1].

    The signal is a sequence of 60-350 ms events, each silence, voiced (harmonics of an f0 gliding
    within 80-400 Hz with vibrato, shaped by three moving formant resonances and a spectral tilt),
    fricative (band-limited noise burst) or a chirp, each with its own onset/decay envelope and level.
    """
    n, sr = num_samples, sample_rate
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    nyquist = sr / 2
    t = np.arange(n) / sr

    shortest, longest = max(1, int(0.06 * sr)), max(2, int(0.35 * sr))
    lengths = rng.integers(shortest, longest, size=n // shortest + 1)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    count = max(1, int(np.searchsorted(starts, n)))
    lengths, starts = lengths[:count], starts[:count]
    event = np.repeat(np.arange(count), lengths)[:n]
    position = (np.arange(n) - starts[event]) / lengths[event]

    silence, voiced, fricative, chirp = range(4)
    kinds = rng.choice(4, size=count, p=[0.15, 0.6, 0.2, 0.05])
    if not np.any(kinds == voiced):
        kinds[0] = voiced
    attack = rng.uniform(0.03, 0.3, count)[event]
    release = rng.uniform(0.1, 0.4, count)[event]
    envelope = np.clip(position / attack, 0, 1) * np.clip((1 - position) / release, 0, 1)
    envelope = envelope * envelope * (3 - 2 * envelope) * (10 ** (rng.uniform(-18, 0, count) / 20))[event]

    anchors = max(2, int(t[-1] / 0.25) + 2) if n else 2
    log_f0 = np.log(rng.uniform(100, 250)) + rng.normal(0, 0.2, anchors).cumsum() * 0.5
    f0 = np.exp(np.interp(t, np.linspace(0, t[-1] if n else 0, anchors), log_f0))
    f0 *= 1 + rng.uniform(0.005, 0.03) * np.sin(2 * np.pi * rng.uniform(4, 7) * t + rng.uniform(0, 2 * np.pi))
    f0 = np.clip(f0, 80, 400).astype(np.float32)
    phase = np.mod(2 * np.pi * np.cumsum(f0, dtype=np.float64) / sr, 2 * np.pi).astype(np.float32)

    # Harmonic amplitudes vary slowly: evaluate them once per millisecond frame.
    hop = max(1, sr // 1000)
    frames = -(-n // hop)
    harmonics = np.arange(1, 49, dtype=np.float32)[:, None]
    frequency = harmonics * f0[::hop]
    centers = starts + lengths / 2
    gain = np.zeros_like(frequency)
    for low, high, width, weight in ((300, 850, 90, 1.0), (850, 2400, 120, 0.6), (2300, 3400, 180, 0.3)):
        formant = np.interp(np.arange(frames) * hop, centers, rng.uniform(low, high, count)).astype(np.float32)
        gain += weight / (1 + np.square((frequency - formant) / width))
    gain = (gain + 0.02) / harmonics * (frequency < 0.95 * nyquist)
    waves = harmonics[:, :, None] * np.pad(phase, (0, frames * hop - n)).reshape(1, frames, hop)
    tone = np.einsum("kf,kfh->fh", gain, np.sin(waves, out=waves)).reshape(-1)[:n]
    tone /= np.sqrt(np.mean(np.square(tone))) + 1e-8

    spectrum = np.fft.rfft(rng.standard_normal(n))
    bins = np.fft.rfftfreq(n, 1 / sr)
    center = rng.uniform(min(2500, 0.5 * nyquist), min(7000, 0.85 * nyquist))
    noise = np.fft.irfft(spectrum * np.exp(-0.5 * np.square((bins - center) / (0.25 * center))), n)
    noise /= np.sqrt(np.mean(np.square(noise))) + 1e-8

    low, high = np.exp(rng.uniform(np.log(150), np.log(0.4 * nyquist), (2, count)))
    sweep = low[event] * (high[event] / low[event]) ** position
    sweep_wave = np.sin(2 * np.pi * np.cumsum(sweep) / sr)

    kind = kinds[event]
    signal = envelope * (
        np.where(kind == voiced, tone + 0.05 * noise, 0.0)
        + np.where(kind == fricative, 0.7 * noise, 0.0)
        + np.where(kind == chirp, 0.5 * sweep_wave, 0.0)
    )
    signal = np.where(kind == silence, 0.0, signal) + 1e-3 * rng.standard_normal(n)
    signal *= rng.uniform(0.3, 0.95) / (np.max(np.abs(signal)) + 1e-8)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


class SyntheticAudioDataset(Dataset):
    """Deterministic speech-like signals (see ``synthesize_speechlike``), so recipes run without data.

    Item ``i`` depends only on ``(seed, i)``.

    Args:
        num_items: dataset length.
        num_samples: ``N`` per item.
        sample_rate: rate in Hz.
        seed: base seed.
        loudness_db: RMS target in dBFS, or None to keep the generated level.
        gain_jitter_db: per-item gain in ``[-gain_jitter_db, gain_jitter_db]`` drawn from the item's seed.
    """

    def __init__(
        self,
        num_items: int,
        num_samples: int,
        sample_rate: int,
        seed: int = 0,
        loudness_db: float | None = None,
        gain_jitter_db: float = 0.0,
    ) -> None:
        self.num_items = num_items
        self.num_samples = num_samples
        self.sample_rate = sample_rate
        self.seed = seed
        self.loudness_db = loudness_db
        self.gain_jitter_db = gain_jitter_db

    def __len__(self) -> int:
        return self.num_items

    def __getitem__(self, index: int) -> torch.Tensor:
        """``(1, N)`` float32 in [-1, 1]."""
        if not 0 <= index < self.num_items:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        audio = synthesize_speechlike(rng, self.num_samples, self.sample_rate)
        gain = rng.uniform(-self.gain_jitter_db, self.gain_jitter_db) if self.gain_jitter_db > 0 else 0.0
        return torch.from_numpy(normalize_loudness(audio, self.loudness_db, gain))[None]
