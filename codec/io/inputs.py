"""Turn what users hand the Python API into a padded model batch ``(B, 1, N)`` plus lengths."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from codec.io.audio import check_finite, resample

AudioLike = np.ndarray | torch.Tensor


_INTEGER_SCALE = {"int8": 2.0**7, "int16": 2.0**15, "int32": 2.0**31, "int64": 2.0**63}


def _as_numpy(audio: AudioLike) -> np.ndarray:
    """Float32 samples of an array or tensor; integer PCM is scaled to [-1, 1) (unsigned 8-bit
    around 128), as soundfile reads it.

    Raises:
        ValueError: 0-D, boolean, complex or non-numeric input.
    """
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy() if audio.dtype != torch.bfloat16 else audio.detach().float().cpu().numpy()
    array = np.asarray(audio)
    if array.ndim == 0:
        raise ValueError("audio must be an array of samples, got a single number")
    kind = array.dtype.kind
    if kind == "f":
        return array.astype(np.float32, copy=False)
    if kind == "i" and array.dtype.name in _INTEGER_SCALE:
        return (array / _INTEGER_SCALE[array.dtype.name]).astype(np.float32)
    if array.dtype == np.uint8:
        return ((array.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    raise ValueError(f"audio must hold real float or integer PCM samples, got dtype {array.dtype}")


def check_sample_rate(sample_rate: object) -> int:
    """``sample_rate`` as a positive whole number of Hz (``16000.0`` is accepted).

    Raises:
        ValueError: not a number (a bool included), not finite, fractional or not positive.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float | np.integer | np.floating):
        raise ValueError(f"sample_rate must be a number of Hz, got {sample_rate!r}")
    value = float(sample_rate)
    if not math.isfinite(value) or value != round(value) or value <= 0:
        raise ValueError(f"sample_rate must be a positive whole number of Hz, got {sample_rate!r}")
    return int(value)


def _clips(audio: AudioLike | Sequence[AudioLike]) -> list[np.ndarray]:
    """Split the input into clips of shape ``(C, N)``."""
    if isinstance(audio, (list, tuple)):
        clips = [_as_numpy(a) for a in audio]
        if any(c.ndim > 2 for c in clips):
            raise ValueError("each clip in a list must be (N,) or (C, N)")
        return [c.reshape(1, -1) if c.ndim <= 1 else c for c in clips]
    array = _as_numpy(audio)
    if array.ndim <= 1:
        return [array.reshape(1, -1)]
    if array.ndim == 2:
        return [array]
    if array.ndim == 3:
        return list(array)
    raise ValueError(f"audio must be (N,), (C, N), (B, C, N) or a list of clips, got shape {array.shape}")


def prepare_batch(
    audio: AudioLike | Sequence[AudioLike], sample_rate: int, model_rate: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Downmix, resample and pad clips into one batch.

    Args:
        audio: ``(N,)`` or ``(C, N)`` for one clip, ``(B, C, N)`` for a batch, or a list of clips of
            different lengths; numpy or torch.
        sample_rate: rate of ``audio`` in Hz.
        model_rate: rate of the model in Hz.

    Returns:
        ``(B, 1, N_max)`` float32 audio, zero-padded, and ``(B,)`` int64 lengths in samples at
        ``model_rate``.

    Raises:
        ValueError: bad shapes, an empty clip, samples that are not real numbers, or a sample rate
            that is not a positive whole number of Hz.
        CodecError: NaN or infinite samples (naming the clip).
    """
    sample_rate = check_sample_rate(sample_rate)
    clips = []
    for i, clip in enumerate(_clips(audio)):
        if clip.shape[-1] == 0 or clip.shape[0] == 0:
            raise ValueError(f"clip {i} is empty")
        check_finite(clip, f"clip {i}")
        clips.append(resample(clip.mean(axis=0), sample_rate, model_rate))
    if not clips:
        raise ValueError("no audio given")
    lengths = torch.tensor([c.shape[-1] for c in clips], dtype=torch.long)
    batch = torch.zeros(len(clips), 1, int(lengths.max()))
    for i, clip in enumerate(clips):
        batch[i, 0, : clip.shape[-1]] = torch.from_numpy(clip)
    return batch, lengths
