"""Semantic supervision for codec training: cached teacher units and the head that predicts them.

A units file (``.npz``) holds one int16 ``(T,)`` array of unit ids per clip, keyed by the clip's
manifest key, at the codec's frame rate, plus ``__classes__`` (the number of units). The units come
from a speech model that knows phonetics (``egs/speech16k/semantic_units.py``: k-means of Whisper
tiny.en encoder states). During training a small head reads the quantized latent and is trained to
predict them (cross-entropy), which pushes the codes to carry what the teacher hears. The head is
part of the training module only: encoding and decoding never need the teacher or the head.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from codec.errors import CodecError
from codec.io.audio import atomic_write_bytes

IGNORE = -1
"""Target id of frames without a unit (padding, clips the teacher did not see)."""
CLASSES_KEY = "__classes__"
FRAME_RATE_KEY = "__frame_rate__"


@dataclass(frozen=True)
class Units:
    """Unit ids per clip key, ``classes`` units, ``frame_rate`` ids per second."""

    ids: dict[str, np.ndarray]
    classes: int
    frame_rate: float

    def hop(self, sample_rate: int) -> int:
        """Samples per unit at ``sample_rate``.

        Raises:
            ValueError: the rate is not a whole number of units' frames.
        """
        hop = sample_rate / self.frame_rate
        if abs(hop - round(hop)) > 1e-6:
            raise ValueError(f"units at {self.frame_rate} Hz do not divide the data's {sample_rate} Hz")
        return round(hop)


def save_units(path: str | Path, units: Mapping[str, np.ndarray], classes: int, frame_rate: float) -> None:
    """Write ``{key: (T,) ids}``, the unit count and the ids' frame rate atomically as an ``.npz``."""
    arrays = {key: np.asarray(value, dtype=np.int16) for key, value in units.items()}
    if {CLASSES_KEY, FRAME_RATE_KEY} & set(arrays):
        raise ValueError(f"{CLASSES_KEY} and {FRAME_RATE_KEY} are reserved keys")
    meta = {CLASSES_KEY: np.asarray(classes, dtype=np.int64), FRAME_RATE_KEY: np.asarray(frame_rate, dtype=np.float64)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **meta)
    atomic_write_bytes(path, buffer.getvalue())


def load_units(path: str | Path) -> Units:
    """The units of a ``save_units`` file.

    Raises:
        CodecError: naming the file: missing, not an ``.npz`` of units, or ids outside ``[0, classes)``.
    """
    path = Path(path)
    if not path.is_file():
        raise CodecError("units file not found", path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if CLASSES_KEY not in archive or FRAME_RATE_KEY not in archive:
                raise CodecError(f"not a units file (no {CLASSES_KEY} or {FRAME_RATE_KEY})", path)
            classes = int(archive[CLASSES_KEY])
            frame_rate = float(archive[FRAME_RATE_KEY])
            units = {key: archive[key] for key in archive.files if key not in (CLASSES_KEY, FRAME_RATE_KEY)}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise CodecError(f"not a readable units file ({error})", path) from None
    for key, ids in units.items():
        if ids.ndim != 1 or (ids.size and (ids.min() < 0 or ids.max() >= classes)):
            raise CodecError(f"units of {key!r} are not ids in [0, {classes})", path)
    if classes < 1 or not frame_rate > 0:
        raise CodecError(f"{classes} classes at {frame_rate} Hz", path)
    return Units(units, classes, frame_rate)


def crop_units(ids: np.ndarray | None, first_frame: int, frames: int) -> np.ndarray:
    """``frames`` ids from ``first_frame`` on as int64, padded with ``IGNORE`` (all ``IGNORE`` for None)."""
    out = np.full(frames, IGNORE, dtype=np.int64)
    if ids is not None:
        part = ids[first_frame : first_frame + frames]
        out[: part.shape[0]] = part
    return out


class SemanticHead(nn.Module):
    """Predicts teacher units from the quantized latent with a small MLP.

    A linear head would only see the few dimensions the codebook vectors span (8 for the shipped
    models' factorised codebook), where hundreds of units are not linearly separable; the hidden
    layer lets it read any code-to-unit mapping the codes carry.

    Args:
        dim: latent channels ``D``.
        classes: number of units ``K``.
        hidden: hidden channels.
        kernel_size: frames each prediction sees; 3 tolerates a frame of teacher-codec misalignment.
    """

    def __init__(self, dim: int, classes: int, hidden: int = 512, kernel_size: int = 3) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv1d(dim, hidden, kernel_size, padding=kernel_size // 2), nn.GELU(), nn.Conv1d(hidden, classes, 1)
        )

    def forward(self, quantized: torch.Tensor) -> torch.Tensor:
        """``(B, D, T)`` -> ``(B, K, T)`` logits."""
        return self.proj(quantized)

    def loss(self, quantized: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy and accuracy against ``(B, T')`` ids (``IGNORE`` frames left out).

        ``T'`` may differ from ``T`` by padding: the shorter length is used.
        """
        logits = self(quantized)
        frames = min(logits.shape[-1], targets.shape[-1])
        logits, targets = logits[..., :frames].float(), targets[:, :frames]
        valid = targets != IGNORE
        if not bool(valid.any()):
            zero = logits.sum() * 0.0
            return zero, zero.detach()
        loss = nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE)
        accuracy = (logits.argmax(1) == targets)[valid].float().mean()
        return loss, accuracy.detach()
