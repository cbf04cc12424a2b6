"""Codebook usage statistics: utilization and perplexity, per batch and accumulated."""

from __future__ import annotations

import torch
from torch import nn


def usage_stats(counts: torch.Tensor) -> dict[str, torch.Tensor]:
    """Statistics of code counts ``(Q, K)``.

    Returns:
        ``utilization`` ``(Q,)``: fraction of codes used at least once; ``perplexity`` ``(Q,)``:
        ``exp`` of the entropy of the code distribution; ``entropy_bits`` ``(Q,)``: that entropy in
        bits per code (the rate an ideal entropy coder reaches).
    """
    counts = counts.float()
    probs = counts / counts.sum(dim=-1, keepdim=True).clamp(min=1)
    entropy = -(probs * probs.clamp(min=1e-12).log()).sum(dim=-1)
    return {
        "utilization": (counts > 0).float().mean(dim=-1),
        "perplexity": entropy.exp(),
        "entropy_bits": entropy / torch.log(torch.tensor(2.0)),
    }


def count_codes(codes: torch.Tensor, codebook_size: int, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, Q, T)`` codes (valid up to ``lengths`` frames per item) -> ``(Q, K)`` counts."""
    q = codes.shape[1]
    valid = torch.ones(codes.shape[0], codes.shape[2], dtype=torch.bool, device=codes.device)
    if lengths is not None:
        valid = torch.arange(codes.shape[2], device=codes.device)[None, :] < lengths[:, None]
    flat = codes.transpose(0, 1)[:, valid]
    offsets = torch.arange(q, device=codes.device)[:, None] * codebook_size
    return torch.bincount((flat + offsets).flatten(), minlength=q * codebook_size).reshape(q, codebook_size)


class CodeHistogram(nn.Module):
    """Accumulates code counts over many batches (e.g. a validation epoch)."""

    def __init__(self, n_codebooks: int, codebook_size: int) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.register_buffer("counts", torch.zeros(n_codebooks, codebook_size, dtype=torch.long), persistent=False)

    def reset(self) -> None:
        """Forget all counts."""
        self.counts.zero_()

    def update(self, codes: torch.Tensor, lengths: torch.Tensor | None = None) -> None:
        """Add ``(B, Q, T)`` codes (``Q`` may be fewer than the maximum)."""
        counts = count_codes(codes, self.codebook_size, lengths)
        self.counts[: counts.shape[0]] += counts

    def compute(self) -> dict[str, torch.Tensor]:
        """``usage_stats`` of the codebooks seen so far."""
        seen = self.counts.sum(dim=-1) > 0
        return usage_stats(self.counts[seen] if seen.any() else self.counts)

    @staticmethod
    def batch_stats(codes: torch.Tensor, codebook_size: int) -> dict[str, torch.Tensor]:
        """Mean over codebooks of ``usage_stats`` for one ``(B, Q, T)`` batch."""
        return {k: v.mean() for k, v in usage_stats(count_codes(codes, codebook_size)).items()}
