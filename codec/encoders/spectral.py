"""Spectral encoder: compressed STFT frames refined by ConvNeXt blocks, nothing at the sample rate."""

from __future__ import annotations

import torch
from torch import nn

from codec.nn.layers import AttentionBlock, ConvNeXtBlock, PaddedConv1d
from codec.nn.spectral import CompressedSTFT


class SpectralEncoder(nn.Module):
    """STFT front end + ConvNeXt encoder: cheap on CPU because nothing runs at the sample rate.

    The compressed complex STFT (``n_fft``, ``stft_hop``) is projected to ``channels``, refined by
    ``pre_layers`` ConvNeXt blocks at the STFT frame rate, downsampled by a strided convolution to
    one frame per ``hop_length`` samples, refined by ``post_layers`` blocks, and projected to ``dim``.

    Args:
        dim: latent channels out.
        hop_length: samples per output frame; a multiple of ``stft_hop``.
        n_fft: STFT size.
        stft_hop: STFT hop.
        channels: ConvNeXt width; ``intermediate`` is its MLP width (default 3 x channels).
        causal: causal convolutions (the STFT window still looks ``n_fft // 2`` samples ahead).
    """

    def __init__(
        self,
        dim: int = 256,
        hop_length: int = 320,
        n_fft: int = 640,
        stft_hop: int = 160,
        channels: int = 256,
        intermediate: int | None = None,
        pre_layers: int = 2,
        post_layers: int = 4,
        attention_layers: int = 0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        if hop_length % stft_hop:
            raise ValueError(f"hop_length {hop_length} is not a multiple of stft_hop {stft_hop}")
        self.dim = dim
        self.causal = causal
        self.hop_length = hop_length
        self.n_fft = n_fft
        self.stft_hop = stft_hop
        self.stft = CompressedSTFT(n_fft, stft_hop)
        factor = hop_length // stft_hop
        hidden = intermediate or 3 * channels
        self.input = PaddedConv1d(2 * (n_fft // 2 + 1), channels, 7, causal=causal, norm=False)
        self.pre = nn.Sequential(*(ConvNeXtBlock(channels, hidden, causal=causal) for _ in range(pre_layers)))
        self.down = (
            PaddedConv1d(channels, channels, 2 * factor, stride=factor, causal=causal, norm=False)
            if factor > 1
            else nn.Identity()
        )
        self.post = nn.Sequential(
            *(AttentionBlock(channels, causal=causal) for _ in range(attention_layers)),
            *(ConvNeXtBlock(channels, hidden, causal=causal) for _ in range(post_layers)),
        )
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.out = nn.Conv1d(channels, dim, 1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, 1, N)`` -> ``(B, dim, N // hop_length)``."""
        return self.encode_spectrum(self.stft(audio))

    def encode_spectrum(self, spectrum: torch.Tensor) -> torch.Tensor:
        """Compressed STFT frames ``(B, 2 * (n_fft // 2 + 1), T)`` -> ``(B, dim, T * stft_hop // hop_length)``."""
        x = self.post(self.down(self.pre(self.input(spectrum))))
        return self.out(self.norm(x.transpose(1, 2)).transpose(1, 2))
