"""The quantizer interface shared by every family, and its output type."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class QuantizerOutput:
    """What a quantizer returns for latents ``(B, D, T)``.

    Attributes:
        quantized: ``(B, D, T)`` quantized latents (straight-through gradients in training).
        codes: ``(B, Q, T)`` int64 code indices, ``Q`` = codebooks used.
        loss: scalar commitment loss summed over codebooks (zero in eval mode).
    """

    quantized: torch.Tensor
    codes: torch.Tensor
    loss: torch.Tensor


class Quantizer(nn.Module):
    """Base class: ``forward`` quantizes, ``decode`` maps codes back to latents.

    Subclasses set ``dim`` (latent channels), ``n_codebooks`` (maximum ``Q``) and ``codebook_size``
    (``K``), and guarantee that in eval mode ``decode(forward(z).codes)`` equals
    ``forward(z).quantized`` exactly. ``min_codebooks`` is the fewest leading codebooks that form a
    valid lower-rate code: what training made decodable on its own (quantizer dropout), not just
    what runs.
    """

    dim: int
    n_codebooks: int
    codebook_size: int

    @property
    def min_codebooks(self) -> int:
        """Fewest leading codebooks that are a valid code (``n_codebooks``: no prefix is)."""
        return self.n_codebooks

    def check_n_codebooks(self, n_codebooks: int | None) -> int:
        """Resolve the number of codebooks to run with (default: all) and check that the quantizer can
        (``Codec.check_n_codebooks`` also asks for a valid code: ``min_codebooks``)."""
        n = self.n_codebooks if n_codebooks is None else int(n_codebooks)
        if not 1 <= n <= self.n_codebooks:
            raise ValueError(f"n_codebooks must be in 1..{self.n_codebooks}, got {n}")
        return n

    def forward(self, latent: torch.Tensor, n_codebooks: int | None = None) -> QuantizerOutput:
        """Quantize ``(B, D, T)`` latents with the first ``n_codebooks`` codebooks."""
        raise NotImplementedError

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, Q, T)`` codes (``Q`` <= ``n_codebooks``) -> ``(B, D, T)`` latents."""
        raise NotImplementedError
