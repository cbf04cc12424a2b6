"""Speaker gender judged by the spectral envelope, fitted on a corpus's labelled clips.

The median F0 alone (``Style.gender``, a threshold at 165 Hz) misjudges every voice whose pitch
is asked away from its gender's middle: a woman asked for a very low voice speaks below the
threshold (the corpus's "very low" female bin ends at about 160 Hz) and is measured a man, so
a request for both could never be met, and the corpus's own recordings agree with their gender
labels in only about 85 % of clips. The envelope (where the vocal tract puts the formants)
tells a voice's gender whatever its pitch: ``GenderJudge`` is a logistic regression on the mean
log-mel spectrum of a clip's active frames, less its mean (so the level does not count), fitted
on the voiced training clips of the corpus (``egs/instruct16k``) and saved with its style bins.
It knows the corpus's voices; a voice unlike them is judged by the nearest of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import librosa
import numpy as np

from codec.errors import CodecError
from codec.io.audio import resample

ENVELOPE_RATE = 16000
ENVELOPE_BANDS = 40
ACTIVE_RANGE_DB = 26.0
"""Frames within this range of the loudest frame's mean log-mel energy are active."""


def envelope(samples: np.ndarray, rate: int) -> np.ndarray:
    """``(T,)`` mono audio -> ``(ENVELOPE_BANDS,)`` mean log-mel spectrum of its active frames, less
    its own mean (zeros for silence)."""
    audio = resample(np.asarray(samples, dtype=np.float32), rate, ENVELOPE_RATE)
    if audio.size < 512 or not np.any(audio):
        return np.zeros(ENVELOPE_BANDS, dtype=np.float32)
    mel = librosa.feature.melspectrogram(y=audio, sr=ENVELOPE_RATE, n_fft=512, hop_length=160, n_mels=ENVELOPE_BANDS)
    log_mel = 10 * np.log10(mel + 1e-10)
    energy = log_mel.mean(0)
    mean = log_mel[:, energy > energy.max() - ACTIVE_RANGE_DB].mean(1)
    return (mean - mean.mean()).astype(np.float32)


@dataclass(frozen=True)
class GenderJudge:
    """``female`` or ``male`` by a clip's envelope (``envelope``): a logistic regression on the
    standardized features, ``weights`` over ``ENVELOPE_BANDS`` bands."""

    center: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    @classmethod
    def fit(cls, features: np.ndarray, female: np.ndarray, l2: float = 1e-2, steps: int = 50) -> GenderJudge:
        """Fit on ``(N, ENVELOPE_BANDS)`` envelopes and ``(N,)`` booleans (True: a woman's voice)
        by Newton's method with an L2 penalty.

        Raises:
            CodecError: fewer than 10 clips of either gender.
        """
        x, y = np.asarray(features, dtype=np.float64), np.asarray(female, dtype=np.float64)
        if min(int(y.sum()), int((1 - y).sum())) < 10:
            raise CodecError(
                f"too few clips of each gender to fit a gender judge ({int(y.sum())} / {int((1 - y).sum())})"
            )
        center, scale = x.mean(0), x.std(0) + 1e-6
        z = np.hstack([(x - center) / scale, np.ones((len(x), 1))])
        w = np.zeros(z.shape[1])
        penalty = np.diag([l2] * (z.shape[1] - 1) + [0.0]) * len(x)
        for _ in range(steps):
            p = 1 / (1 + np.exp(-z @ w))
            gradient = z.T @ (p - y) + penalty @ w
            hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
            w -= np.linalg.solve(hessian, gradient)
        return cls(tuple(map(float, center)), tuple(map(float, scale)), tuple(map(float, w[:-1])), float(w[-1]))

    def female_probability(self, features: np.ndarray) -> np.ndarray:
        """``(N, ENVELOPE_BANDS)`` envelopes -> ``(N,)`` probabilities of a woman's voice."""
        z = (np.atleast_2d(features) - np.asarray(self.center)) / np.asarray(self.scale)
        return 1 / (1 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def __call__(self, samples: np.ndarray, rate: int) -> str:
        """The gender of one clip's voice."""
        return "female" if self.female_probability(envelope(samples, rate))[0] > 0.5 else "male"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (saved with the style bins)."""
        return {"center": self.center, "scale": self.scale, "weights": self.weights, "bias": self.bias}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenderJudge:
        """The judge of ``to_dict``."""
        parts = [tuple(float(v) for v in data[key]) for key in ("center", "scale", "weights")]
        if {len(part) for part in parts} != {ENVELOPE_BANDS}:
            raise CodecError(f"a gender judge needs {ENVELOPE_BANDS} numbers per part")
        return cls(*parts, float(data["bias"]))
