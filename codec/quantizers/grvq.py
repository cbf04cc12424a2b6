"""Group-residual vector quantization (HiFi-Codec / AcademiCodec)."""

from __future__ import annotations

import torch
from torch import nn

from codec.quantizers.base import Quantizer, QuantizerOutput
from codec.quantizers.rvq import ResidualStack


class GroupResidualVQ(Quantizer):
    """The latent channels split into ``groups``, each quantized by its own residual stack.

    Codes are ordered group by group: ``[g0 s0, g0 s1, ..., g1 s0, ...]``. At inference a number of
    codebooks that is a multiple of ``groups`` keeps that many stages in every group.

    Args:
        dim: latent channels, divisible by ``groups``.
        groups: channel groups (HiFi-Codec: 2).
        stages: residual stages per group (HiFi-Codec: 2).
        codebook_size: codes per stage.
    """

    def __init__(
        self, dim: int, groups: int = 2, stages: int = 2, codebook_size: int = 1024, **codebook: object
    ) -> None:
        super().__init__()
        if dim % groups:
            raise ValueError(f"dim {dim} is not divisible by groups {groups}")
        self.dim = dim
        self.groups = groups
        self.stages = stages
        self.n_codebooks = groups * stages
        self.codebook_size = codebook_size
        self.stacks = nn.ModuleList(
            ResidualStack(dim // groups, stages, codebook_size, **codebook) for _ in range(groups)
        )

    def _stages(self, n_codebooks: int | None) -> int:
        n = self.check_n_codebooks(n_codebooks)
        if n % self.groups:
            raise ValueError(f"n_codebooks must be a multiple of groups={self.groups}, got {n}")
        return n // self.groups

    def forward(self, latent: torch.Tensor, n_codebooks: int | None = None) -> QuantizerOutput:
        """``(B, D, T)`` -> quantized ``(B, D, T)``, codes ``(B, groups * stages, T)``."""
        stages = self._stages(n_codebooks)
        outputs = [
            stack(part, stages) for stack, part in zip(self.stacks, latent.chunk(self.groups, dim=1), strict=False)
        ]
        return QuantizerOutput(
            torch.cat([o.quantized for o in outputs], dim=1),
            torch.cat([o.codes for o in outputs], dim=1),
            sum(o.loss for o in outputs),
        )

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, groups * s, T)`` -> ``(B, D, T)``."""
        stages = self._stages(codes.shape[1])
        return torch.cat(
            [stack.decode(part) for stack, part in zip(self.stacks, codes.split(stages, dim=1), strict=False)], dim=1
        )
