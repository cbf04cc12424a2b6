"""Masked channel residual VQ (Language-Codec MCRVQ)."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from codec.quantizers.base import Quantizer, QuantizerOutput
from codec.quantizers.codebook import Codebook
from codec.quantizers.rvq import ResidualStack, dropout_mask


class MaskedChannelRVQ(Quantizer):
    """The first ``masked`` codebooks each see one slice of the channels (the rest zeroed) with a
    full-width codebook; the remaining codebooks quantize what those left over, residually.

    Language-Codec: 8 x 1024 with 3 masked codebooks; in training the number of codebooks is drawn
    from ``masked..n_codebooks`` (``dropout`` is the probability of drawing instead of using all).

    Args:
        dim: latent channels, divisible by ``masked``.
        n_codebooks: total codebooks, at least ``masked``.
        masked: codebooks that each see ``dim // masked`` channels.
        codebook_size: codes per codebook.
    """

    def __init__(
        self,
        dim: int,
        n_codebooks: int = 8,
        masked: int = 3,
        codebook_size: int = 1024,
        dropout: float = 1.0,
        **codebook: object,
    ) -> None:
        super().__init__()
        if n_codebooks < masked:
            raise ValueError(f"n_codebooks {n_codebooks} < masked {masked}")
        self.dim = dim
        self.n_codebooks = n_codebooks
        self.masked = masked
        self.codebook_size = codebook_size
        self.dropout = dropout
        edges = torch.linspace(0, dim, masked + 1).round().long()
        channel = torch.arange(dim)
        masks = torch.stack([(channel >= lo) & (channel < hi) for lo, hi in itertools.pairwise(edges)])
        self.register_buffer("channel_masks", masks.float()[:, :, None], persistent=False)
        self.masked_codebooks = nn.ModuleList(Codebook(dim, codebook_size, **codebook) for _ in range(masked))
        self.residual = (
            ResidualStack(dim, n_codebooks - masked, codebook_size, **codebook) if n_codebooks > masked else None
        )

    @property
    def min_codebooks(self) -> int:
        """The masked codebooks with dropout (training drew from ``masked..n_codebooks``), else all."""
        return min(self.masked, self.n_codebooks) if self.dropout > 0 else self.n_codebooks

    def forward(self, latent: torch.Tensor, n_codebooks: int | None = None) -> QuantizerOutput:
        """``(B, D, T)`` -> quantized ``(B, D, T)``, codes ``(B, n_codebooks, T)``."""
        n = self.check_n_codebooks(n_codebooks)
        keep = None
        if self.training and self.dropout > 0:
            keep = dropout_mask(latent.shape[0], n, min(self.masked, n), self.dropout, latent.device)
        quantized = torch.zeros_like(latent)
        codes, loss = [], latent.new_zeros(())
        for i, codebook in enumerate(self.masked_codebooks[: min(n, self.masked)]):
            stage, stage_codes, stage_loss = codebook(latent * self.channel_masks[i])
            quantized = quantized + stage
            codes.append(stage_codes)
            loss = loss + stage_loss
        codes_out = torch.stack(codes, 1)
        if n > self.masked:
            rest_keep = None if keep is None else keep[:, self.masked :]
            # The residual of the detached output, so that the later stages' commitment reaches the
            # encoder (see ResidualStack).
            rest = self.residual(latent - quantized.detach(), n - self.masked, rest_keep)
            quantized = quantized + rest.quantized
            codes_out = torch.cat([codes_out, rest.codes], dim=1)
            loss = loss + rest.loss
        return QuantizerOutput(quantized, codes_out, loss)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, Q, T)`` -> ``(B, D, T)``, summing in the order ``forward`` used."""
        n = self.check_n_codebooks(codes.shape[1])
        quantized = self.masked_codebooks[0].decode(codes[:, 0])
        for i in range(1, min(n, self.masked)):
            quantized = quantized + self.masked_codebooks[i].decode(codes[:, i])
        if n > self.masked:
            quantized = quantized + self.residual.decode(codes[:, self.masked :])
        return quantized
