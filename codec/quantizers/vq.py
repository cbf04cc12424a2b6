"""A single large codebook (WavTokenizer): one token per frame."""

from __future__ import annotations

import torch

from codec.quantizers.base import Quantizer, QuantizerOutput
from codec.quantizers.codebook import Codebook


class SingleVQ(Quantizer):
    """One codebook of ``codebook_size`` codes; ``Q`` = 1.

    Args:
        dim: latent channels.
        codebook_size: number of codes (WavTokenizer: 4096).
        **codebook: further ``Codebook`` options (codebook_dim, cosine, decay, kmeans_init, ...).
    """

    def __init__(self, dim: int, codebook_size: int = 4096, **codebook: object) -> None:
        super().__init__()
        self.dim = dim
        self.n_codebooks = 1
        self.codebook_size = codebook_size
        self.codebook = Codebook(dim, codebook_size, **codebook)

    def forward(self, latent: torch.Tensor, n_codebooks: int | None = None) -> QuantizerOutput:
        """``(B, D, T)`` -> quantized ``(B, D, T)``, codes ``(B, 1, T)``."""
        self.check_n_codebooks(n_codebooks)
        quantized, codes, loss = self.codebook(latent)
        return QuantizerOutput(quantized, codes.unsqueeze(1), loss)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, 1, T)`` -> ``(B, D, T)``."""
        self.check_n_codebooks(codes.shape[1])
        return self.codebook.decode(codes[:, 0])
