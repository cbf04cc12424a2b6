"""Turn what users hand the Python API into a padded model batch ``(B, 1, N)`` plus lengths."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from codec.io.audio import check_finite, resample

AudioLike = np.ndarray | torch.Tensor


def _as_numpy(audio: AudioLike) -> np.ndarray:
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().to("cpu", torch.float32).numpy()
    return np.asarray(audio, dtype=np.float32)


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
        ValueError: bad shapes or an empty clip.
        CodecError: NaN or infinite samples (naming the clip).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
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
