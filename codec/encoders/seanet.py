"""SEANet encoder (EnCodec / SoundStream / DAC family): strided convolutions at the sample rate."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from codec.nn.layers import AttentionBlock, PaddedConv1d


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
