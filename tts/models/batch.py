"""The batch every generator trains on."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TTSBatch:
    """A training batch of the generators (padded).

    Attributes:
        phones: ``(B, P)`` symbol ids of the target text.
        phone_lengths: ``(B,)``.
        durations: ``(B, P)`` frames per target phone (0 at padding).
        prompt: ``(B, Q, Tp)`` prompt tokens (``Tp`` may be 0).
        prompt_lengths: ``(B,)``.
        codes: ``(B, Q, T)`` target tokens; ``T`` frames per item = the sum of its durations.
        code_lengths: ``(B,)``.
        instructions: ``(B, L)`` byte ids of style descriptions (``tts.instruct.encoder``), or None.
        instruction_lengths: ``(B,)`` (0: no instruction), or None.
        semantic: ``(B, T)`` semantic units of the target frames (``ar-semantic``), or None.
        style_targets: ``(B, A)`` per attribute the level each instruction names (1 + index) or 0
            (``tts.instruct.instructions.attribute_targets``), or None.
    """

    phones: torch.Tensor
    phone_lengths: torch.Tensor
    durations: torch.Tensor
    prompt: torch.Tensor
    prompt_lengths: torch.Tensor
    codes: torch.Tensor
    code_lengths: torch.Tensor
    instructions: torch.Tensor | None = None
    instruction_lengths: torch.Tensor | None = None
    semantic: torch.Tensor | None = None
    style_targets: torch.Tensor | None = None


def lengths_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """``(B, size)`` True below each item's length."""
    return torch.arange(size, device=lengths.device)[None] < lengths[:, None]


def join_items(
    first: torch.Tensor, first_lengths: torch.Tensor, second: torch.Tensor, second_lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per item, ``second``'s valid part right after ``first``'s, along dimension 1: ``(B, L, ...)``
    and the joined ``(B,)`` lengths (zeros after each item's end)."""
    lengths = first_lengths + second_lengths
    out = first.new_zeros(first.shape[0], int(lengths.max()), *first.shape[2:])
    for item in range(first.shape[0]):
        a, b = int(first_lengths[item]), int(second_lengths[item])
        out[item, :a] = first[item, :a]
        out[item, a : a + b] = second[item, :b]
    return out, lengths
