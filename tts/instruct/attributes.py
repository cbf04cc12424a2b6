"""Measured speaking style of a clip: the numbers that label the instruction corpus and that judge
whether generated speech followed its instruction (the same function does both).

``measure_style(audio, sample_rate, n_phones)`` returns a ``Style``: median F0 and its spread (the
package's YIN), speaking rate (spoken phones per second of speech between the first and last
active frame), loudness (RMS in dBFS over active frames) and voicing ratio (share of active frames
that YIN calls voiced; whispered speech has almost none).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from codec.nn.pitch import yin

HOP_SECONDS = 0.01
ACTIVE_DB = -35.0
"""Frames within this many dB of the clip's loudest frame are active speech."""
FEMALE_F0_HZ = 165.0
"""A median F0 above this is measured as a female voice (adult speakers)."""
WHISPER_VOICING = 0.1
"""Active speech with less than this share of voiced frames is whispered: whispered clips of the
instruction corpus measure 0, its voiced ones at least 0.14 (a low, rough male voice)."""


@dataclass(frozen=True)
class Style:
    """Measured style attributes of one clip.

    Attributes:
        f0_hz: median F0 of the voiced frames (0 when none is voiced).
        f0_spread: standard deviation of the voiced frames' F0 in semitones (expressiveness).
        rate: spoken phones per second of active speech.
        loudness_db: RMS level of the active frames in dBFS.
        voicing: share of active frames that are voiced.
        seconds: active speech between the first and last active frame.
    """

    f0_hz: float
    f0_spread: float
    rate: float
    loudness_db: float
    voicing: float
    seconds: float

    @property
    def gender(self) -> str:
        """``female`` or ``male`` by median F0 (``unknown`` for whispered or unvoiced speech)."""
        if self.f0_hz <= 0 or self.voicing < WHISPER_VOICING:
            return "unknown"
        return "female" if self.f0_hz > FEMALE_F0_HZ else "male"

    def to_dict(self) -> dict[str, float]:
        """Rounded numbers for a manifest row."""
        return {key: round(float(value), 4) for key, value in asdict(self).items()}


def measure_style(audio: np.ndarray | torch.Tensor, sample_rate: int, n_phones: int) -> Style:
    """Measure ``(N,)`` mono audio that speaks ``n_phones`` phones (pauses not counted).

    Silent audio measures as all zeros (rate 0, loudness -120 dB).
    """
    samples = torch.as_tensor(np.asarray(audio, dtype=np.float32)).reshape(-1)
    hop = max(1, round(HOP_SECONDS * sample_rate))
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)
    if frames.shape[0] == 0:
        return Style(0.0, 0.0, 0.0, -120.0, 0.0, 0.0)
    level = 10 * torch.log10(frames.square().mean(1).clamp(min=1e-12))
    active = level > max(float(level.max()) + ACTIVE_DB, -70.0)
    if not bool(active.any()):
        return Style(0.0, 0.0, 0.0, -120.0, 0.0, 0.0)
    where = active.nonzero()[:, 0]
    seconds = (int(where[-1]) - int(where[0]) + 1) * hop / sample_rate
    loudness = 10 * float(torch.log10(frames[active].square().mean().clamp(min=1e-12)))
    f0, voiced = yin(samples[None], sample_rate, hop)
    n = min(f0.shape[1], active.shape[0])
    f0, voiced, active = f0[0, :n], voiced[0, :n], active[:n]
    speech = voiced & active
    voicing = float(speech.sum()) / max(1, int(active.sum()))
    if int(speech.sum()) >= 3:
        semitones = 12 * torch.log2(f0[speech])
        f0_hz, spread = float(f0[speech].median()), float(semitones.std())
    else:
        f0_hz, spread = 0.0, 0.0
    return Style(f0_hz, spread, n_phones / seconds, loudness, voicing, seconds)
