"""Residual vector quantization (SoundStream / EnCodec / DAC) with quantizer dropout."""

from __future__ import annotations

import torch
from torch import nn

from codec.quantizers.base import Quantizer, QuantizerOutput
from codec.quantizers.codebook import Codebook


class ResidualStack(nn.Module):
    """Codebooks applied in turn, each to what the previous ones left over.

    Every stage's commitment loss reaches the encoder: the residual handed on is ``residual`` minus
    the stage's output *detached*, so its gradient is the identity. Subtracting the straight-through
    output instead (``residual + (q - residual).detach()``) cancels the gradient whenever the codebook
    works in the latent's own space (the EnCodec bug in which only the first stage trained the
    encoder); a factorised or cosine codebook only hid it.

    With quantizer dropout, a stage that an item drops neither quantizes nor learns from it: its
    codebook sees (EMA, dead-code restart) and its commitment loss averages only the items that keep
    it, weighted by their share of the batch (DAC's masked losses); the dropped items' codes are
    still chosen, by the eval lookup.
    """

    def __init__(self, dim: int, n_codebooks: int, codebook_size: int, **codebook: object) -> None:
        super().__init__()
        self.codebooks = nn.ModuleList(Codebook(dim, codebook_size, **codebook) for _ in range(n_codebooks))

    def forward(self, latent: torch.Tensor, n_codebooks: int, keep: torch.Tensor | None = None) -> QuantizerOutput:
        """Quantize ``(B, D, T)`` with the first ``n_codebooks`` stages.

        Args:
            keep: optional ``(B, n_codebooks)`` 0/1 weights (quantizer dropout): stage ``i`` adds
                to item ``b``'s output only where ``keep[b, i]`` is 1.
        """
        residual = latent
        quantized = torch.zeros_like(latent)
        codes, loss = [], latent.new_zeros(())
        for i, codebook in enumerate(self.codebooks[:n_codebooks]):
            if keep is None or bool(keep[:, i].all()):
                stage, stage_codes, stage_loss = codebook(residual)
                step = stage
            else:
                stage, step, stage_codes, stage_loss = _kept_stage(codebook, residual, keep[:, i].bool())
            residual = residual - step.detach()
            quantized = quantized + stage
            codes.append(stage_codes)
            loss = loss + stage_loss
        return QuantizerOutput(quantized, torch.stack(codes, 1), loss)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, Q, T)`` -> ``(B, D, T)``: the sum of the stages' codes, in stage order."""
        quantized = self.codebooks[0].decode(codes[:, 0])
        for i in range(1, codes.shape[1]):
            quantized = quantized + self.codebooks[i].decode(codes[:, i])
        return quantized


def _kept_stage(
    codebook: Codebook, residual: torch.Tensor, kept: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One stage trained on the items that keep it (``kept`` ``(B,)`` bool).

    Returns:
        The output it adds (zero for the other items), what it takes off the residual (their
        eval-lookup code vectors for the others, so that later stages choose as without dropout),
        the codes (the eval lookup's for the others) and the loss weighted by the kept share.
    """
    codes = codebook.lookup(residual)
    step = codebook.decode(codes).detach()
    stage = torch.zeros_like(residual)
    if not bool(kept.any()):
        return stage, step, codes, residual.new_zeros(())
    index = kept.nonzero()[:, 0]
    part, part_codes, part_loss = codebook(residual[index])
    stage = stage.index_put((index,), part)
    step = step.index_put((index,), part)
    codes = codes.index_put((index,), part_codes)
    return stage, step, codes, part_loss * kept.float().mean()


def dropout_mask(batch: int, n_codebooks: int, minimum: int, probability: float, device: torch.device) -> torch.Tensor:
    """``(B, n_codebooks)`` 0/1 weights: with ``probability`` an item keeps only its first ``n`` stages,
    ``n`` uniform in ``minimum..n_codebooks``; otherwise all stages."""
    n = torch.randint(minimum, n_codebooks + 1, (batch,), device=device)
    n = torch.where(torch.rand(batch, device=device) < probability, n, torch.full_like(n, n_codebooks))
    return (torch.arange(n_codebooks, device=device)[None, :] < n[:, None]).float()


class ResidualVQ(Quantizer):
    """RVQ of ``n_codebooks`` x ``codebook_size``; fewer codebooks can be chosen at inference.

    Args:
        dim: latent channels.
        n_codebooks: residual stages (EnCodec 24 kHz: up to 32; recipes use 8).
        codebook_size: codes per stage.
        dropout: probability, per training item, of keeping only a random number of stages
            (SoundStream quantizer dropout). Never applied in eval mode.
        **codebook: further ``Codebook`` options.
    """

    def __init__(
        self, dim: int, n_codebooks: int = 8, codebook_size: int = 1024, dropout: float = 0.5, **codebook: object
    ) -> None:
        super().__init__()
        self.dim = dim
        self.n_codebooks = n_codebooks
        self.codebook_size = codebook_size
        self.dropout = dropout
        self.stack = ResidualStack(dim, n_codebooks, codebook_size, **codebook)

    @property
    def min_codebooks(self) -> int:
        """1 with quantizer dropout (every prefix was trained to decode), else all."""
        return 1 if self.dropout > 0 else self.n_codebooks

    def forward(self, latent: torch.Tensor, n_codebooks: int | None = None) -> QuantizerOutput:
        """``(B, D, T)`` -> quantized ``(B, D, T)``, codes ``(B, n_codebooks, T)``."""
        n = self.check_n_codebooks(n_codebooks)
        keep = None
        if self.training and self.dropout > 0:
            keep = dropout_mask(latent.shape[0], n, 1, self.dropout, latent.device)
        return self.stack(latent, n, keep)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, Q, T)`` -> ``(B, D, T)``."""
        self.check_n_codebooks(codes.shape[1])
        return self.stack.decode(codes)
