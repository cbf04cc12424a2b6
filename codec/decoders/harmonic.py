"""Harmonic-plus-noise decoder: the Vocos decoder with a pitch head and a pulse train at that pitch
mixed into the spectrum per bin."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from codec.decoders.vocos import ISTFTHead, VocosDecoder
from codec.nn.pitch import frames_to_samples, harmonic_excitation, running_cycles
from codec.nn.spectral import full_precision, windowed_dft_rows


class HarmonicISTFTHead(ISTFTHead):
    """``ISTFTHead`` plus a harmonic source: a pitch track and a per-bin voicing for a pulse train.

    Each bin's magnitude ``M`` is split between noise and harmonics by a predicted voicing ``v`` in
    (0, 1): the spectrum is ``M * ((1 - v) * exp(i * phase) + v * E)``, ``phase`` the plain head's
    and ``E`` the STFT (same frames as the inverse STFT) of ``harmonic_excitation`` driven by the
    predicted F0. The pulse train's phase runs continuously from frame to frame, so harmonics add
    up coherently in the overlap-add, which a mel loss alone does not teach a phase head. The F0
    that drives the pulse train is detached: the pitch head learns from its own loss (targets from
    ``codec.nn.pitch.yin`` on the training audio), magnitudes, voicing and noise phase from the
    reconstruction.

    Args:
        dim, n_fft, hop_length: as ``ISTFTHead``.
        sample_rate: audio rate in Hz.
        pitch_hop: samples per pitch frame (``hop_length`` a multiple of it).
        fmin, fmax: range of the predicted F0 in Hz.
    """

    def __init__(
        self,
        dim: int,
        n_fft: int,
        hop_length: int,
        sample_rate: int,
        pitch_hop: int = 160,
        fmin: float = 50.0,
        fmax: float = 600.0,
    ) -> None:
        super().__init__(dim, n_fft, hop_length)
        if hop_length % pitch_hop:
            raise ValueError(f"hop_length {hop_length} is not a multiple of pitch_hop {pitch_hop}")
        self.sample_rate = sample_rate
        self.pitch_hop = pitch_hop
        self.log2_range = (math.log2(fmin), math.log2(fmax))
        self.log2_shift = 0.0
        self.pitch = nn.Linear(dim, hop_length // pitch_hop)
        self.voicing = nn.Linear(dim, self.n_bins)
        self.use_fft = True
        self.register_buffer("dft_rows", windowed_dft_rows(n_fft), persistent=False)
        nn.init.zeros_(self.pitch.weight)
        nn.init.constant_(self.pitch.bias, math.log2(150.0))
        nn.init.zeros_(self.voicing.weight)
        nn.init.zeros_(self.voicing.bias)

    def log2_f0(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, dim, T)`` -> predicted float32 ``log2`` F0 ``(B, T * hop_length // pitch_hop)``.

        Computed in float32 whatever the model's dtype: a bfloat16 log2 F0 would move in 2 % steps.
        Moved by ``log2_shift`` octaves (``HarmonicVocosDecoder.shifted_pitch``).
        """
        with full_precision(x):
            weight, bias = self.pitch.weight.float(), self.pitch.bias.float()
            log2_f0 = F.linear(x.transpose(1, 2).float(), weight, bias).flatten(1) + self.log2_shift
            return log2_f0.clamp(*self.log2_range)

    def excitation_spectrum(
        self, log2_f0: torch.Tensor, anchor: tuple[int, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, K)`` log2 F0 -> real and imaginary parts ``(B, n_bins, T)`` of the pulse train's STFT
        (scaled so that one harmonic of amplitude 1 peaks at 1) and its phase ``(B, L)`` in cycles.

        The pulse train covers the ``L = T * hop_length + 2 * pad`` samples the inverse STFT's
        frames span (``pad`` before the first output sample and after the last); ``anchor`` as in
        ``codec.nn.pitch.running_cycles``, indexed over those samples.
        """
        istft = self.istft
        frames_n = log2_f0.shape[-1] * self.pitch_hop // istft.hop_length
        length = frames_n * istft.hop_length + 2 * istft.pad
        f0 = frames_to_samples(torch.exp2(log2_f0.double()), self.pitch_hop, -istft.pad, length)
        cycles = running_cycles(f0, self.sample_rate, anchor)
        pulses = harmonic_excitation(f0, cycles, self.sample_rate).float()
        window = istft.window.float()
        scale = 2 / window.sum()
        with full_precision(pulses):
            if not self.use_fft:
                rows = self.dft_rows.float()
                real, imag = F.conv1d(pulses[:, None], rows, stride=istft.hop_length).chunk(2, dim=1)
                return real * scale, imag * scale, cycles
            frames = pulses.unfold(-1, istft.n_fft, istft.hop_length) * window  # (B, T, n_fft)
            spectrum = torch.fft.rfft(frames, dim=-1).transpose(1, 2) * scale
            return spectrum.real, spectrum.imag, cycles

    def spectrum_and_pitch(
        self,
        x: torch.Tensor,
        anchor: tuple[int, torch.Tensor] | None = None,
        driving_log2_f0: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, dim, T)`` -> real and imaginary parts ``(B, n_bins, T)``, log2 F0 ``(B, K)`` and the
        pulse train's phase ``(B, L)`` in cycles (``excitation_spectrum``, with ``anchor``).

        The pulse train follows the predicted F0, or ``driving_log2_f0`` ``(B, K)`` when given (teacher
        forcing in training: the target's F0).
        """
        mag, phase = self.magnitude_phase(x)
        voicing_logits = self.voicing(x.transpose(1, 2)).transpose(1, 2).float()
        log2_f0 = self.log2_f0(x)
        driving = log2_f0.detach() if driving_log2_f0 is None else driving_log2_f0.float()
        pulse_real, pulse_imag, cycles = self.excitation_spectrum(driving, anchor)
        with full_precision(mag):
            voicing = torch.sigmoid(voicing_logits)
            noise = mag * (1 - voicing)
            harmonic = mag * voicing
            real = noise * torch.cos(phase) + harmonic * pulse_real
            imag = noise * torch.sin(phase) + harmonic * pulse_imag
        return real, imag, log2_f0, cycles

    def spectrum(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, dim, T)`` -> real and imaginary parts ``(B, n_fft // 2 + 1, T)``."""
        real, imag, _, _ = self.spectrum_and_pitch(x)
        return real, imag


class HarmonicVocosDecoder(VocosDecoder):
    """``VocosDecoder`` with a ``HarmonicISTFTHead``: a source-filter (harmonic plus noise) decoder.

    Args:
        sample_rate: audio rate in Hz.
        pitch_hop, fmin, fmax: as ``HarmonicISTFTHead``.
        **options: as ``VocosDecoder``.
    """

    def __init__(
        self,
        input_dim: int,
        sample_rate: int,
        pitch_hop: int = 160,
        fmin: float = 50.0,
        fmax: float = 600.0,
        **options: Any,
    ) -> None:
        super().__init__(input_dim, **options)
        dim, n_fft, hop = self.final_norm.normalized_shape[0], self.head.istft.n_fft, self.head.istft.hop_length
        self.head = HarmonicISTFTHead(dim, n_fft, hop, sample_rate, pitch_hop, fmin, fmax)
        self.pitch_hop = pitch_hop
        self.stateful_phase = True
        # The pulse train reads the F0 of frames beside the ones it writes, a path the receptive-field
        # probe does not follow (the F0 is detached): windows get this many frames more per side.
        self.window_margin_frames = 4

    @contextmanager
    def shifted_pitch(self, semitones: float) -> Iterator[None]:
        """Within the block, every F0 the pitch head predicts (and the pulse train follows) is moved by
        ``semitones``; the spectral envelope stays, as in a source-filter vocoder, so the voice keeps
        its formants and only its pitch moves (within ``fmin`` .. ``fmax``)."""
        before = self.head.log2_shift
        self.head.log2_shift = before + semitones / 12
        try:
            yield
        finally:
            self.head.log2_shift = before

    def forward_with_pitch(
        self, latent: torch.Tensor, driving_log2_f0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, input_dim, T)`` -> audio ``(B, 1, T * hop_length)`` and log2 F0 ``(B, K)``; the pulse
        train follows ``driving_log2_f0`` when given (``HarmonicISTFTHead.spectrum_and_pitch``)."""
        real, imag, log2_f0, _ = self.head.spectrum_and_pitch(self.features(latent), driving_log2_f0=driving_log2_f0)
        return self.head.istft(real, imag).unsqueeze(1), log2_f0

    def forward_window(
        self, latent: torch.Tensor, anchor: tuple[int, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode a window of a longer stream: ``(B, input_dim, T)`` -> audio ``(B, 1, T * hop_length)``
        and the pulse train's phase ``(B, T * hop_length + 2 * pad)`` in cycles, sample ``j`` of it
        at output sample ``j - pad``. ``anchor = (j, cycles (B,))`` continues the phase of the
        stream (``codec.inference.chunking``); None starts it as a whole decode does."""
        real, imag, _, cycles = self.head.spectrum_and_pitch(self.features(latent), anchor)
        return self.head.istft(real, imag).unsqueeze(1), cycles
