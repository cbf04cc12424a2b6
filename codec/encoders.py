"""Encoders: audio ``(B, 1, N)`` -> latent frames ``(B, D, N // hop_length)``.

Every encoder exposes ``hop_length`` (samples per frame), ``dim`` (latent channels) and ``causal``.
The input length must be a multiple of ``hop_length`` (the ``Codec`` pads it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from codec.layers import AttentionBlock, ConvNeXtBlock, PaddedConv1d
from codec.spectral import compressed_stft


class ResidualUnit(nn.Module):
    """SEANet residual unit: ELU, dilated conv k, ELU, 1x1 conv, plus the input."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation: int = 1, causal: bool = False) -> None:
        super().__init__()
        hidden = channels // 2
        self.block = nn.Sequential(
            nn.ELU(),
            PaddedConv1d(channels, hidden, kernel_size, dilation=dilation, causal=causal),
            nn.ELU(),
            PaddedConv1d(hidden, channels, 1, causal=causal),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T)`` -> ``(B, C, T)``."""
        return x + self.block(x)


class SEANetEncoder(nn.Module):
    """SEANet convolutional encoder (EnCodec / SoundStream / WavTokenizer).

    Args:
        dim: latent channels out.
        channels: channels of the first convolution; doubled at every downsampling.
        ratios: downsampling strides in order of application; their product is the hop length
            (``[2, 4, 5, 8]`` = 320, ``[4, 5, 5, 6]`` = 600).
        n_residual_layers: residual units before each downsampling (dilations 1, 3, 9, ...).
        lstm_layers: LSTM layers (with a skip connection) after the convolutions; 0 for none.
        attention_layers: self-attention blocks after the convolutions; 0 for none.
        causal: left-only padding everywhere (and causal attention) for streaming.
    """

    def __init__(
        self,
        dim: int = 128,
        channels: int = 32,
        ratios: Sequence[int] = (2, 4, 5, 8),
        n_residual_layers: int = 1,
        lstm_layers: int = 0,
        attention_layers: int = 0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.causal = causal
        self.hop_length = 1
        layers: list[nn.Module] = [PaddedConv1d(1, channels, 7, causal=causal)]
        width = channels
        for ratio in ratios:
            layers += [ResidualUnit(width, dilation=3**i, causal=causal) for i in range(n_residual_layers)]
            layers += [nn.ELU(), PaddedConv1d(width, width * 2, 2 * ratio, stride=ratio, causal=causal)]
            width *= 2
            self.hop_length *= ratio
        self.convs = nn.Sequential(*layers)
        self.lstm = nn.LSTM(width, width, lstm_layers, batch_first=True) if lstm_layers else None
        self.attention = nn.Sequential(*(AttentionBlock(width, causal=causal) for _ in range(attention_layers)))
        self.out = nn.Sequential(nn.ELU(), PaddedConv1d(width, dim, 7, causal=causal))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, 1, N)`` -> ``(B, dim, N // hop_length)``."""
        x = self.convs(audio)
        if self.lstm is not None:
            x = x + self.lstm(x.transpose(1, 2))[0].transpose(1, 2)
        return self.out(self.attention(x))


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
        return self.encode_spectrum(compressed_stft(audio, self.n_fft, self.stft_hop))

    def encode_spectrum(self, spectrum: torch.Tensor) -> torch.Tensor:
        """Compressed STFT frames ``(B, 2 * (n_fft // 2 + 1), T)`` -> ``(B, dim, T * stft_hop // hop_length)``."""
        x = self.post(self.down(self.pre(self.input(spectrum))))
        return self.out(self.norm(x.transpose(1, 2)).transpose(1, 2))


ENCODERS: dict[str, type[nn.Module]] = {"seanet": SEANetEncoder, "spectral": SpectralEncoder}
