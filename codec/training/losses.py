"""Reconstruction and GAN losses: multi-scale mel L1, multi-resolution phase, frame level, pitch,
adversarial (hinge / LSGAN), feature matching.

Adversarial and feature-matching losses take the lists that the discriminators in
:mod:`codec.training.discriminators` return: one logit tensor (or one feature-map list) per
sub-discriminator. Each loss is the mean over sub-discriminators of that sub-discriminator's
loss, so its scale does not depend on how many discriminators are combined.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from codec.nn.pitch import GROSS_PITCH_ERROR_OCTAVES, yin
from codec.nn.spectral import MelSpectrogram, stft

GanLossKind = Literal["hinge", "lsgan"]

DEFAULT_MEL_SCALES: tuple[tuple[int, int, int], ...] = ((512, 128, 64), (1024, 256, 100), (2048, 512, 128))


class MultiScaleMelLoss(nn.Module):
    """L1 distance between log-mel spectrograms at several resolutions, averaged over scales.

    Args:
        sample_rate: audio rate in Hz.
        scales: ``(n_fft, hop_length, n_mels)`` per scale.
        f_max: top mel frequency; ``None`` means Nyquist.
    """

    def __init__(
        self,
        sample_rate: int,
        scales: Sequence[tuple[int, int, int]] = DEFAULT_MEL_SCALES,
        f_max: float | None = None,
    ) -> None:
        super().__init__()
        self.mels = nn.ModuleList(
            MelSpectrogram(sample_rate, n_fft, hop, n_mels, f_max=f_max) for n_fft, hop, n_mels in scales
        )

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(B, 1, N)`` prediction and target -> scalar loss."""
        if pred.shape != target.shape:
            raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
        losses = [F.l1_loss(mel(pred), mel(target)) for mel in self.mels]
        return torch.stack(losses).mean()


def _anti_wrap(angle: torch.Tensor) -> torch.Tensor:
    """Distance of a phase difference from the nearest multiple of 2 pi, in [0, pi]."""
    return torch.abs(angle - 2 * torch.pi * torch.round(angle / (2 * torch.pi)))


class MultiResolutionPhaseLoss(nn.Module):
    """Anti-wrapped phase losses at several STFT resolutions (instantaneous phase, group delay and
    instantaneous frequency, as in APNet), each weighted by the target's compressed magnitude so
    that near-silent bins, whose phase is noise, count little. Mel losses do not see phase; this
    asks the decoder for phase that is coherent across frames and bins like the target's.

    Args:
        resolutions: ``(n_fft, hop_length)`` per resolution.
    """

    def __init__(self, resolutions: Sequence[tuple[int, int]] = ((512, 128), (1024, 256))) -> None:
        super().__init__()
        self.resolutions = [tuple(r) for r in resolutions]

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(B, 1, N)`` prediction and target -> scalar loss (radians, averaged)."""
        if pred.shape != target.shape:
            raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
        losses = []
        for n_fft, hop in self.resolutions:
            spec_pred, spec_target = stft(pred, n_fft, hop), stft(target, n_fft, hop)
            phase_pred = torch.atan2(spec_pred.imag, spec_pred.real + 1e-9)
            phase_target = torch.atan2(spec_target.imag, spec_target.real)
            weight = spec_target.abs().pow(0.3)
            weight = weight / weight.mean().clamp(min=1e-9)  # (B, F, T)
            difference = phase_pred - phase_target
            instantaneous = (weight * _anti_wrap(difference)).mean()
            group_delay = (weight[:, 1:] * _anti_wrap(difference.diff(dim=1))).mean()
            frequency = (weight[..., 1:] * _anti_wrap(difference.diff(dim=2))).mean()
            losses.append(instantaneous + group_delay + frequency)
        return torch.stack(losses).mean()


def level_loss(pred: torch.Tensor, target: torch.Tensor, frame: int, floor_db: float = -70.0) -> torch.Tensor:
    """L1 distance in dB between the RMS levels of ``(B, 1, N)`` prediction and target, per whole frame
    of ``frame`` samples (a shorter tail is left out), in float32 whatever the input's precision.
    ``floor_db`` dBFS of power is added to every frame, so near-silence neither dominates the loss nor
    loses its gradient.

    A log-mel L1 loss settles on the median of each band's log energy, which for noise-like content
    lies below its mean: a decoder trained on it alone plays back quieter than its input. The mean
    energy of a whole frame is far less spread, so its level is matched without that bias.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    frames = pred.shape[-1] // frame
    if frames == 0:
        raise ValueError(f"level_loss needs at least one frame of {frame} samples, got {pred.shape[-1]}")
    floor = 10.0 ** (floor_db / 10.0)

    def levels(audio: torch.Tensor) -> torch.Tensor:
        frames_ = audio[..., : frames * frame].float().reshape(*audio.shape[:-1], frames, frame)
        return 10.0 * torch.log10(frames_.square().mean(-1) + floor)

    return (levels(pred) - levels(target)).abs().mean()


def pitch_loss(
    log2_f0: torch.Tensor, audio: torch.Tensor, sample_rate: int, pitch_hop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """L1 distance in octaves between a predicted F0 track and YIN's on the voiced frames of the target.

    Args:
        log2_f0: ``(B, K)`` predicted log2 F0, one value per ``pitch_hop`` samples.
        audio: ``(B, 1, N)`` target audio, ``N >= K * pitch_hop``.
    Returns:
        The scalar loss and the gross pitch error rate: the fraction of voiced frames off by more
        than 20 % (both 0 when no frame is voiced).
    """
    with torch.no_grad():
        f0, voiced = yin(audio[:, 0, : log2_f0.shape[-1] * pitch_hop].detach(), sample_rate, pitch_hop)
    error = (log2_f0 - torch.log2(f0.clamp(min=1.0))).abs()[voiced]
    if error.numel() == 0:
        return log2_f0.sum() * 0, log2_f0.new_zeros(())
    return error.mean(), (error.detach() > GROSS_PITCH_ERROR_OCTAVES).float().mean()


@lru_cache(maxsize=8)
def _cached_mel_loss(sample_rate: int, scales: tuple[tuple[int, int, int], ...], f_max: float | None) -> nn.Module:
    return MultiScaleMelLoss(sample_rate, scales, f_max)


@torch.no_grad()
def mel_distance(
    pred: torch.Tensor,
    target: torch.Tensor,
    sample_rate: int,
    scales: Sequence[tuple[int, int, int]] = DEFAULT_MEL_SCALES,
    f_max: float | None = None,
) -> torch.Tensor:
    """Validation metric: :class:`MultiScaleMelLoss` of ``(B, 1, N)`` audio as a scalar, without gradients.

    The loss module (mel filter banks) is built once per ``(sample_rate, scales, f_max)``.
    """
    loss = _cached_mel_loss(sample_rate, tuple(tuple(s) for s in scales), f_max).to(pred.device)
    return loss(pred, target)


def _check_kind(kind: str) -> None:
    if kind not in ("hinge", "lsgan"):
        raise ValueError(f"unknown GAN loss kind {kind!r}; use 'hinge' or 'lsgan'")


def _check_nonempty(tensors: Sequence[object], name: str) -> None:
    if not tensors:
        raise ValueError(f"{name} is empty: need at least one sub-discriminator output")


def discriminator_loss(
    real_logits: Sequence[torch.Tensor],
    fake_logits: Sequence[torch.Tensor],
    kind: GanLossKind = "hinge",
) -> torch.Tensor:
    """Discriminator loss, mean over sub-discriminators.

    Per sub-discriminator with real logits ``r`` and fake logits ``f`` (any shape):
    hinge ``mean(relu(1 - r)) + mean(relu(1 + f))``; lsgan ``mean((r - 1)^2) + mean(f^2)``.
    Pass fake logits computed from detached generator output.

    Returns:
        scalar tensor.
    """
    _check_kind(kind)
    _check_nonempty(real_logits, "real_logits")
    if len(real_logits) != len(fake_logits):
        raise ValueError(f"{len(real_logits)} real vs {len(fake_logits)} fake logit tensors")
    losses = []
    for real, fake in zip(real_logits, fake_logits, strict=True):
        if kind == "hinge":
            losses.append(F.relu(1 - real).mean() + F.relu(1 + fake).mean())
        else:
            losses.append((real - 1).pow(2).mean() + fake.pow(2).mean())
    return torch.stack(losses).mean()


def generator_adversarial_loss(fake_logits: Sequence[torch.Tensor], kind: GanLossKind = "hinge") -> torch.Tensor:
    """Generator adversarial loss, mean over sub-discriminators.

    Per sub-discriminator with fake logits ``f``: hinge ``mean(relu(1 - f))`` (the Vocos form, which
    stops pushing once a logit passes the real margin); lsgan ``mean((f - 1)^2)``.

    Returns:
        scalar tensor.
    """
    _check_kind(kind)
    _check_nonempty(fake_logits, "fake_logits")
    if kind == "hinge":
        losses = [F.relu(1 - fake).mean() for fake in fake_logits]
    else:
        losses = [(fake - 1).pow(2).mean() for fake in fake_logits]
    return torch.stack(losses).mean()


def feature_matching_loss(
    real_features: Sequence[Sequence[torch.Tensor]],
    fake_features: Sequence[Sequence[torch.Tensor]],
    eps: float = 1e-8,
) -> torch.Tensor:
    """Relative L1 feature matching, mean over layers then over sub-discriminators.

    Each layer contributes ``mean(|r - f|) / (mean(|r|) + eps)`` (the EnCodec normalization), so
    layers whose activations differ in scale weigh alike and the loss is about 1 for unrelated
    features whatever the discriminator widths. Real features are detached: this loss trains the
    generator only.

    Args:
        real_features: per sub-discriminator, feature maps of real audio.
        fake_features: the same structure and shapes for generated audio.

    Returns:
        scalar tensor.
    """
    _check_nonempty(real_features, "real_features")
    if len(real_features) != len(fake_features):
        raise ValueError(f"{len(real_features)} real vs {len(fake_features)} fake feature lists")
    per_discriminator = []
    for real_maps, fake_maps in zip(real_features, fake_features, strict=True):
        _check_nonempty(real_maps, "a feature list")
        if len(real_maps) != len(fake_maps):
            raise ValueError(f"{len(real_maps)} real vs {len(fake_maps)} fake feature maps")
        layers = []
        for real, fake in zip(real_maps, fake_maps, strict=True):
            real = real.detach()
            layers.append((real - fake).abs().mean() / (real.abs().mean() + eps))
        per_discriminator.append(torch.stack(layers).mean())
    return torch.stack(per_discriminator).mean()
