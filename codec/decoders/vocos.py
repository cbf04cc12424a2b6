"""Vocos decoder: a ConvNeXt backbone (optionally after self-attention blocks, as in WavTokenizer)
predicts log-magnitude and phase per frame; a real-valued inverse STFT turns them into samples."""

from __future__ import annotations

import torch
from torch import nn

from codec.decoders.base import Decoder
from codec.nn.layers import AttentionBlock, ConvNeXtBlock, PaddedConv1d
from codec.nn.spectral import InverseSTFT, full_precision


class ISTFTHead(nn.Module):
    """Linear projection to magnitude and phase, then the real-valued inverse STFT.

    Args:
        dim: input channels.
        n_fft: FFT size (``n_fft // 2 + 1`` bins).
        hop_length: samples per frame.
    """

    def __init__(self, dim: int, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_bins = n_fft // 2 + 1
        self.proj = nn.Linear(dim, 2 * self.n_bins)
        self.istft = InverseSTFT(n_fft, hop_length)

    def magnitude_phase(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, dim, T)`` -> float32 magnitude (exp of the predicted log, at most 100) and phase,
        each ``(B, n_fft // 2 + 1, T)``."""
        log_mag, phase = self.proj(x.transpose(1, 2)).transpose(1, 2).float().split(self.n_bins, dim=1)
        with full_precision(log_mag):
            return torch.exp(log_mag).clamp(max=1e2), phase

    def spectrum(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, dim, T)`` -> float32 real and imaginary parts ``(B, n_fft // 2 + 1, T)``."""
        mag, phase = self.magnitude_phase(x)
        with full_precision(mag):
            return mag * torch.cos(phase), mag * torch.sin(phase)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, dim, T)`` -> ``(B, 1, T * hop_length)``."""
        return self.istft(*self.spectrum(x)).unsqueeze(1)


class VocosDecoder(Decoder):
    """ConvNeXt backbone + iSTFT head (Vocos; WavTokenizer when ``attention_layers`` > 0).

    Args:
        input_dim: latent channels in.
        dim: backbone width; ``intermediate_dim`` its MLP width.
        num_layers: ConvNeXt blocks.
        n_fft: iSTFT size, usually 4 x ``hop_length``.
        hop_length: samples per latent frame.
        attention_layers: self-attention blocks before the ConvNeXt blocks.
        causal: left-only convolutions and causal attention.
    """

    def __init__(
        self,
        input_dim: int,
        dim: int = 384,
        intermediate_dim: int = 1152,
        num_layers: int = 8,
        n_fft: int = 1280,
        hop_length: int = 320,
        attention_layers: int = 0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.hop_length = hop_length
        self.causal = causal
        self.embed = PaddedConv1d(input_dim, dim, 7, causal=causal, norm=False)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.Sequential(
            *(AttentionBlock(dim, causal=causal) for _ in range(attention_layers)),
            *(
                ConvNeXtBlock(dim, intermediate_dim, causal=causal, layer_scale=1 / num_layers)
                for _ in range(num_layers)
            ),
        )
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = ISTFTHead(dim, n_fft, hop_length)

    def features(self, latent: torch.Tensor) -> torch.Tensor:
        """``(B, input_dim, T)`` -> backbone output ``(B, dim, T)`` (the head's input)."""
        x = self.norm(self.embed(latent).transpose(1, 2)).transpose(1, 2)
        return self.final_norm(self.blocks(x).transpose(1, 2)).transpose(1, 2)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """``(B, input_dim, T)`` -> ``(B, 1, T * hop_length)``."""
        return self.head(self.features(latent))
