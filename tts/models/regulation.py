"""Placing phones on token frames (length regulation) and grouping items for decoding."""

from __future__ import annotations

import torch


def regulate(encoded: torch.Tensor, durations: torch.Tensor, frames: int) -> torch.Tensor:
    """Repeat ``(B, P, D)`` phone states by ``(B, P)`` integer durations into ``(B, frames, D)``
    (zeros past an item's total)."""
    out = encoded.new_zeros(encoded.shape[0], frames, encoded.shape[2])
    for item in range(encoded.shape[0]):
        repeated = encoded[item].repeat_interleave(durations[item].clamp(min=0), dim=0)[:frames]
        out[item, : repeated.shape[0]] = repeated
    return out


DECODING_POSITIONS = 2000
"""Prompt and target frames decoded together at most: a batch is decoded in consecutive groups of
items of about this size (each item draws alike in any group), because larger groups no longer run
faster per item on a CPU; their logits outgrow its caches (``bench/tts_speed.py``)."""


def decoding_chunks(positions: torch.Tensor, limit: int) -> list[torch.Tensor]:
    """Indices of consecutive items of ``(B,)`` positions in groups of at most ``limit`` positions
    (an item longer than that alone)."""
    chunks, current, size = [], [], 0
    for item, count in enumerate(positions.tolist()):
        if current and size + count > limit:
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += count
    return [torch.tensor(chunk, device=positions.device) for chunk in [*chunks, current]]
