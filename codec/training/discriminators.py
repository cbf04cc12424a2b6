"""GAN discriminators for codec training: multi-period, multi-resolution, multi-band STFT and a
CPU-cheap multi-resolution frame discriminator.

Every discriminator maps ``(B, 1, N)`` audio to ``(logits, features)``: one logit tensor per
sub-discriminator and, for each, the list of its intermediate feature maps (the activations after
every hidden convolution, not the logits). :class:`Discriminators` concatenates several of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from codec.nn.spectral import stft

DiscriminatorOutput = tuple[list[torch.Tensor], list[list[torch.Tensor]]]

LEAKY_SLOPE = 0.1


def _wn_conv2d(
    in_channels: int,
    out_channels: int,
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
) -> nn.Conv2d:
    """Weight-normalized ``Conv2d`` with "same" padding for odd kernels."""
    padding = (kernel[0] // 2, kernel[1] // 2)
    return weight_norm(nn.Conv2d(in_channels, out_channels, kernel, stride, padding))


class ConvStack2d(nn.Module):
    """Weight-normalized 2-D convolutions, each followed by a leaky ReLU.

    Args:
        channels: ``[c_in, c_1, ..., c_L]`` gives ``L`` convolutions.
        kernels: one kernel size per convolution.
        strides: one stride per convolution.
    """

    def __init__(
        self,
        channels: Sequence[int],
        kernels: Sequence[tuple[int, int]],
        strides: Sequence[tuple[int, int]],
    ) -> None:
        super().__init__()
        if not len(channels) - 1 == len(kernels) == len(strides):
            raise ValueError("need one kernel and one stride per convolution")
        self.convs = nn.ModuleList(
            _wn_conv2d(c_in, c_out, k, s)
            for c_in, c_out, k, s in zip(channels[:-1], channels[1:], kernels, strides, strict=True)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, C_in, H, W)`` -> last activation ``(B, C_L, H', W')`` and every activation."""
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LEAKY_SLOPE)
            features.append(x)
        return x, features


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN period sub-discriminator: audio folded into ``(N / p, p)`` and 2-D convolved.

    Convolutions run along the folded time axis only (kernels ``(k, 1)``), so samples ``p`` apart
    are compared. Widths grow by 4x per layer from ``channels`` up to ``max_channels``.

    Args:
        period: fold period ``p`` in samples.
        channels: width of the first convolution.
        max_channels: width cap.
        n_layers: strided convolutions (stride 3) before the final unstrided one.
    """

    def __init__(self, period: int, channels: int = 32, max_channels: int = 1024, n_layers: int = 4) -> None:
        super().__init__()
        self.period = period
        widths = [1] + [min(channels * 4**i, max_channels) for i in range(n_layers)]
        widths.append(widths[-1])
        kernels = [(5, 1)] * (n_layers + 1)
        strides = [(3, 1)] * n_layers + [(1, 1)]
        self.stack = ConvStack2d(widths, kernels, strides)
        self.post = _wn_conv2d(widths[-1], 1, (3, 1))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, 1, N)`` -> logits ``(B, 1, ceil(N / p) / 3^L, p)`` and feature maps."""
        remainder = audio.shape[-1] % self.period
        if remainder:
            pad = self.period - remainder
            mode = "reflect" if pad < audio.shape[-1] else "constant"
            audio = F.pad(audio, (0, pad), mode=mode)
        folded = audio.reshape(audio.shape[0], 1, -1, self.period)
        x, features = self.stack(folded)
        return self.post(x), features


class MultiPeriodDiscriminator(nn.Module):
    """HiFi-GAN multi-period discriminator (MPD): one :class:`PeriodDiscriminator` per period.

    Args:
        periods: fold periods, usually primes.
        channels: first-layer width of every sub-discriminator.
        max_channels: width cap.
    """

    def __init__(
        self,
        periods: Sequence[int] = (2, 3, 5, 7, 11),
        channels: int = 32,
        max_channels: int = 1024,
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, channels, max_channels) for p in periods)

    def forward(self, audio: torch.Tensor) -> DiscriminatorOutput:
        """``(B, 1, N)`` -> ``len(periods)`` logit tensors and feature-map lists."""
        outputs = [d(audio) for d in self.discriminators]
        return [logits for logits, _ in outputs], [features for _, features in outputs]


def _stft(audio: torch.Tensor, n_fft: int, hop_length: int, win_length: int) -> torch.Tensor:
    """``(B, 1, N)`` -> complex ``(B, n_fft // 2 + 1, N // hop + 1)`` (``codec.nn.spectral.stft``)."""
    return stft(audio, n_fft, hop_length, win_length)


class ResolutionDiscriminator(nn.Module):
    """UnivNet/Vocos resolution sub-discriminator on a linear magnitude spectrogram.

    The spectrogram is laid out as a one-channel image ``(B, 1, frames, bins)``; three stride-2
    convolutions shrink the frequency axis while time keeps its resolution.

    Args:
        n_fft: FFT size.
        hop_length: hop in samples.
        win_length: Hann window length.
        channels: convolution width.
    """

    def __init__(self, n_fft: int, hop_length: int, win_length: int, channels: int = 32) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        widths = [1] + [channels] * 5
        kernels = [(3, 9)] * 4 + [(3, 3)]
        strides = [(1, 1)] + [(1, 2)] * 3 + [(1, 1)]
        self.stack = ConvStack2d(widths, kernels, strides)
        self.post = _wn_conv2d(channels, 1, (3, 3))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, 1, N)`` -> logits ``(B, 1, N // hop + 1, ~bins / 8)`` and feature maps."""
        mag = _stft(audio, self.n_fft, self.hop_length, self.win_length).abs()
        x, features = self.stack(mag.transpose(1, 2).unsqueeze(1))
        return self.post(x), features


class MultiResolutionDiscriminator(nn.Module):
    """Vocos/UnivNet multi-resolution discriminator (MRD) on magnitude spectrograms.

    Args:
        resolutions: ``(n_fft, hop_length, win_length)`` per sub-discriminator.
        channels: convolution width.
    """

    def __init__(
        self,
        resolutions: Sequence[tuple[int, int, int]] = ((1024, 256, 1024), (2048, 512, 2048), (512, 128, 512)),
        channels: int = 32,
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            ResolutionDiscriminator(n_fft, hop, win, channels) for n_fft, hop, win in resolutions
        )

    def forward(self, audio: torch.Tensor) -> DiscriminatorOutput:
        """``(B, 1, N)`` -> ``len(resolutions)`` logit tensors and feature-map lists."""
        outputs = [d(audio) for d in self.discriminators]
        return [logits for logits, _ in outputs], [features for _, features in outputs]


class BandSTFTDiscriminator(nn.Module):
    """DAC-style complex STFT sub-discriminator with per-band convolution stacks.

    The STFT's real and imaginary parts form two channels ``(B, 2, frames, bins)``. The bins are cut
    into bands (fractions of the bin count); each band has its own convolution stack, and the
    band outputs are concatenated along frequency before a shared output convolution.

    Args:
        window_length: FFT size and Hann window length.
        hop_factor: hop as a fraction of ``window_length``.
        bands: ``(start, end)`` fractions of the ``window_length // 2 + 1`` bins, in order.
        channels: convolution width.
    """

    def __init__(
        self,
        window_length: int,
        hop_factor: float = 0.25,
        bands: Sequence[tuple[float, float]] = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)),
        channels: int = 32,
    ) -> None:
        super().__init__()
        self.window_length = window_length
        self.hop_length = int(window_length * hop_factor)
        n_bins = window_length // 2 + 1
        self.band_edges = [(int(lo * n_bins), int(hi * n_bins)) for lo, hi in bands]
        if any(hi <= lo for lo, hi in self.band_edges):
            raise ValueError(f"empty frequency band in {bands} for window {window_length}")
        widths = [2] + [channels] * 5
        kernels = [(3, 9)] * 4 + [(3, 3)]
        strides = [(1, 1)] + [(1, 2)] * 3 + [(1, 1)]
        self.band_stacks = nn.ModuleList(ConvStack2d(widths, kernels, strides) for _ in self.band_edges)
        self.post = _wn_conv2d(channels, 1, (3, 3))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, 1, N)`` -> logits ``(B, 1, N // hop + 1, sum of reduced band widths)`` and features.

        Features are every band's activations, band by band.
        """
        spec = _stft(audio, self.window_length, self.hop_length, self.window_length)
        x = torch.stack([spec.real, spec.imag], dim=1).transpose(2, 3)
        outputs = [stack(x[..., lo:hi]) for stack, (lo, hi) in zip(self.band_stacks, self.band_edges, strict=True)]
        merged = torch.cat([out for out, _ in outputs], dim=-1)
        return self.post(merged), [f for _, band_features in outputs for f in band_features]


class MultiBandSTFTDiscriminator(nn.Module):
    """DAC-style multi-scale, multi-band complex STFT discriminator.

    Args:
        windows: one :class:`BandSTFTDiscriminator` per window length.
        hop_factor: hop as a fraction of the window length.
        bands: ``(start, end)`` bin fractions shared by all windows.
        channels: convolution width.
    """

    def __init__(
        self,
        windows: Sequence[int] = (2048, 1024, 512),
        hop_factor: float = 0.25,
        bands: Sequence[tuple[float, float]] = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)),
        channels: int = 32,
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(BandSTFTDiscriminator(w, hop_factor, bands, channels) for w in windows)

    def forward(self, audio: torch.Tensor) -> DiscriminatorOutput:
        """``(B, 1, N)`` -> ``len(windows)`` logit tensors and feature-map lists."""
        outputs = [d(audio) for d in self.discriminators]
        return [logits for logits, _ in outputs], [features for _, features in outputs]


class FrameDiscriminator(nn.Module):
    """Log-magnitude spectrogram sub-discriminator whose frequency bins are the input channels.

    Dilated 1-D convolutions run along time over whole spectral frames, so every layer sees the
    full spectrum (harmonic structure, formants, noise floor) with growing temporal context. Dense
    1-D convolutions are matrix products, which makes this discriminator about 30x cheaper on a CPU
    than the 2-D spectrogram ones (``bench/discriminator_speed.py``: 0.29 s per forward + backward
    of 16 x 1 s on one thread, against 9.9 s for :class:`MultiResolutionDiscriminator`).

    Args:
        n_fft: FFT size and Hann window length.
        hop_length: hop in samples.
        channels: hidden width.
        dilations: one kernel-5 convolution per dilation after the kernel-3 input convolution.
    """

    def __init__(self, n_fft: int, hop_length: int, channels: int = 128, dilations: Sequence[int] = (1, 2, 4)) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        widths = [n_fft // 2 + 1] + [channels] * (len(dilations) + 1)
        kernels = [3] + [5] * len(dilations)
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv1d(c_in, c_out, k, dilation=d, padding=d * (k // 2)))
            for c_in, c_out, k, d in zip(widths[:-1], widths[1:], kernels, [1, *dilations], strict=True)
        )
        self.post = weight_norm(nn.Conv1d(channels, 1, 3, padding=1))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, 1, N)`` -> logits ``(B, 1, N // hop + 1)`` and feature maps ``(B, channels, frames)``."""
        x = torch.log(_stft(audio, self.n_fft, self.hop_length, self.n_fft).abs().clamp(min=1e-5))
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LEAKY_SLOPE)
            features.append(x)
        return self.post(x), features


class MultiResolutionFrameDiscriminator(nn.Module):
    """:class:`FrameDiscriminator` at several STFT resolutions.

    Args:
        resolutions: ``(n_fft, hop_length)`` per sub-discriminator.
        channels: hidden width.
        dilations: temporal dilations of the hidden convolutions.
    """

    def __init__(
        self,
        resolutions: Sequence[tuple[int, int]] = ((512, 128), (1024, 256), (2048, 512)),
        channels: int = 128,
        dilations: Sequence[int] = (1, 2, 4),
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            FrameDiscriminator(n_fft, hop, channels, dilations) for n_fft, hop in resolutions
        )

    def forward(self, audio: torch.Tensor) -> DiscriminatorOutput:
        """``(B, 1, N)`` -> ``len(resolutions)`` logit tensors and feature-map lists."""
        outputs = [d(audio) for d in self.discriminators]
        return [logits for logits, _ in outputs], [features for _, features in outputs]


DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "mpd": MultiPeriodDiscriminator,
    "mrd": MultiResolutionDiscriminator,
    "mbstft": MultiBandSTFTDiscriminator,
    "mrfd": MultiResolutionFrameDiscriminator,
}


class Discriminators(nn.Module):
    """Several discriminators behind one forward whose outputs are concatenated.

    Args:
        names: keys of :data:`DISCRIMINATORS` (``"mpd"``, ``"mrd"``, ``"mbstft"``, ``"mrfd"``), in order.
        kwargs: constructor arguments per name, e.g. ``{"mpd": {"channels": 4}}``.
    """

    def __init__(self, names: Sequence[str], kwargs: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__()
        kwargs = kwargs or {}
        unknown = (set(names) | set(kwargs)) - set(DISCRIMINATORS)
        if unknown:
            raise ValueError(f"unknown discriminators {sorted(unknown)}; choose from {sorted(DISCRIMINATORS)}")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate discriminator names in {list(names)}")
        self.discriminators = nn.ModuleDict({name: DISCRIMINATORS[name](**kwargs.get(name, {})) for name in names})

    def forward(self, audio: torch.Tensor) -> DiscriminatorOutput:
        """``(B, 1, N)`` -> all sub-discriminators' logits and feature-map lists, in ``names`` order."""
        logits: list[torch.Tensor] = []
        features: list[list[torch.Tensor]] = []
        for discriminator in self.discriminators.values():
            sub_logits, sub_features = discriminator(audio)
            logits.extend(sub_logits)
            features.extend(sub_features)
        return logits, features
