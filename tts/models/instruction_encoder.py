"""The instruction encoder: a style description's UTF-8 bytes -> one style vector.

Bytes need no vocabulary file and read any wording, spelling or language; a small transformer
trained with the generator learns which words matter (the quoted text is taken out beforehand,
``tts.instruct.instructions.parse_instruction``, so only the style is read).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tts.models.batch import lengths_mask
from tts.models.transformer import Transformer

BYTE_SYMBOLS = 257
"""Byte values 0..255 shifted by one; 0 is padding."""


def encode_instructions(styles: Sequence[str | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """Style descriptions -> ``(B, L)`` byte ids (+1; 0 pads) and ``(B,)`` lengths (0: no instruction)."""
    rows = [list((style or "").encode("utf-8")) for style in styles]
    ids = torch.zeros(len(rows), max([1, *map(len, rows)]), dtype=torch.long)
    for item, row in enumerate(rows):
        ids[item, : len(row)] = torch.tensor(row, dtype=torch.long) + 1
    return ids, torch.tensor([len(row) for row in rows], dtype=torch.long)


class InstructionEncoder(nn.Module):
    """``(B, L)`` byte ids -> ``(B, D)`` style vectors (masked mean of a transformer's states).

    Items of length 0 (no instruction) get the learned ``null`` vector, which is also what
    classifier-free guidance compares against.
    """

    def __init__(self, dim: int, layers: int, heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.embedding = nn.Embedding(BYTE_SYMBOLS, dim, padding_idx=0)
        self.transformer = Transformer(dim, layers, heads, dropout=dropout)
        self.out = nn.Linear(dim, dim)
        self.null = nn.Parameter(torch.zeros(dim))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        valid = lengths_mask(lengths, ids.shape[1])
        states = self.transformer(self.embedding(ids), valid)
        pooled = (states * valid[..., None]).sum(1) / valid.sum(1, keepdim=True).clamp(min=1)
        return torch.where((lengths > 0)[:, None], self.out(pooled), self.null)
