"""STFT, mel and inverse-STFT helpers shared by encoders, decoder heads and losses.

Every spectral op runs in float32 with autocast off, whatever the model's dtype: FFTs have no
bfloat16 kernels, and half-precision magnitudes and phases lose the fine structure. So a model in
bfloat16 / float16, or trained under mixed precision, still transforms in float32 (its spectra and
audio come out as float32; ``compressed_stft`` returns the input's dtype for the layers that follow).

The inverse STFT uses the FFT for speed, and can switch to real-valued matrix products
(``use_fft=False``) that export to ONNX (the complex iSTFT of the reference vocoders does not);
the overlap-add is a ``fold`` in both.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import librosa
import torch
import torch.nn.functional as F
from torch import nn


def full_precision(like: torch.Tensor) -> AbstractContextManager[None]:
    """A region with autocast off on ``like``'s device, where spectral ops run in float32."""
    return torch.autocast(like.device.type, enabled=False)


def stft(
    audio: torch.Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    center: bool = True,
    pad_mode: str = "reflect",
) -> torch.Tensor:
    """The one STFT of the package: Hann window, float32 with autocast off, complex output.

    Args:
        audio: ``(..., N)`` samples (a ``(B, 1, N)`` batch gives ``(B, F, T)``).
        center: centre frames on ``t * hop_length``, padding with ``pad_mode``; ``"reflect"`` falls
            back to zeros for inputs too short to reflect.

    Returns:
        Complex ``(B', n_fft // 2 + 1, T)`` with ``B'`` the product of the leading dimensions.
    """
    length = audio.shape[-1]
    if pad_mode == "reflect" and length <= n_fft // 2:
        pad_mode = "constant"
    with full_precision(audio):
        window = torch.hann_window(win_length or n_fft, device=audio.device)
        return torch.stft(
            audio.reshape(-1, length).float(),
            n_fft,
            hop_length,
            win_length,
            window=window,
            center=center,
            pad_mode=pad_mode,
            return_complex=True,
        )


def dft_angles(n_fft: int) -> torch.Tensor:
    """``(n_fft // 2 + 1, n_fft)`` float64 phase angles ``2 pi k n / n_fft`` of the real DFT's bins."""
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    n = torch.arange(n_fft, dtype=torch.float64)[None, :]
    return 2 * torch.pi * k * n / n_fft


def windowed_dft_rows(n_fft: int) -> torch.Tensor:
    """``(2 * (n_fft // 2 + 1), 1, n_fft)`` float32: Hann-windowed cosines, then negated sines. As the
    weight of a strided ``conv1d`` they give an STFT's real and imaginary parts without complex
    tensors (ONNX export, and onnxruntime runs it as one GEMM rather than a DFT per frame)."""
    angle, window = dft_angles(n_fft), torch.hann_window(n_fft, dtype=torch.float64)
    return torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window])[:, None, :].float()


class MelSpectrogram(nn.Module):
    """Log-mel spectrogram from ``torch.stft`` and ``librosa.filters.mel``.

    Args:
        sample_rate: audio rate in Hz.
        n_fft: FFT size (also the Hann window length).
        hop_length: hop in samples.
        n_mels: mel bands.
        power: 1 for magnitude, 2 for power.
        log: return ``log(clamp(mel, 1e-5))`` when True.
    """

    def __init__(
        self,
        sample_rate: int,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 100,
        f_min: float = 0.0,
        f_max: float | None = None,
        power: float = 1.0,
        log: bool = True,
    ) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.power = power
        self.log = log
        mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)
        self.register_buffer("mel_basis", torch.from_numpy(mel).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, 1, N)`` or ``(B, N)`` audio -> ``(B, n_mels, N // hop + 1)``."""
        spec = stft(audio, self.n_fft, self.hop_length)
        with full_precision(spec):
            mag = spec.abs()
            if self.power != 1.0:
                mag = mag.pow(self.power)
            mel = self.mel_basis.float() @ mag
            return torch.log(mel.clamp(min=1e-5)) if self.log else mel


class InverseSTFT(nn.Module):
    """Inverse STFT with "same" padding.

    ``T`` frames become exactly ``T * hop_length`` samples: the overlap-added signal is trimmed by
    ``(n_fft - hop_length) // 2`` on both sides (the Vocos "same" convention), and normalized by the
    overlap-added squared window.

    Args:
        n_fft: FFT size; frames carry ``n_fft // 2 + 1`` bins.
        hop_length: hop in samples; ``n_fft - hop_length`` must be even.

    Attributes:
        use_fft: ``torch.fft.irfft`` (fast) when True; a real-valued inverse DFT as one matrix
            product (no complex tensors, exportable) when False. Both give the same samples to
            float rounding.
    """

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        if (n_fft - hop_length) % 2:
            raise ValueError(f"n_fft - hop_length must be even, got {n_fft} and {hop_length}")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.pad = (n_fft - hop_length) // 2
        self.use_fft = True
        n_freq = n_fft // 2 + 1
        angle = dft_angles(n_fft)
        # Weights of a Hermitian-symmetric inverse DFT: DC and Nyquist once, other bins twice.
        scale = torch.full((n_freq, 1), 2.0, dtype=torch.float64)
        scale[0] = 1.0
        if n_fft % 2 == 0:
            scale[-1] = 1.0
        window = torch.hann_window(n_fft, dtype=torch.float64)
        cos_basis = scale * torch.cos(angle) * window / n_fft
        sin_basis = -scale * torch.sin(angle) * window / n_fft
        self.register_buffer("basis", torch.cat([cos_basis, sin_basis]).float(), persistent=False)
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer("window_sq", (window**2).float(), persistent=False)

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, n_fft, T)`` -> ``(B, (T - 1) * hop + n_fft)``."""
        n_frames = frames.shape[-1]
        length = (n_frames - 1) * self.hop_length + self.n_fft
        out = F.fold(
            frames.unsqueeze(2).flatten(1, 2),
            output_size=(1, length),
            kernel_size=(1, self.n_fft),
            stride=(1, self.hop_length),
        )
        return out.reshape(frames.shape[0], length)

    def frames(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """``(B, n_fft // 2 + 1, T)`` real and imaginary parts -> ``(B, n_fft, T)`` windowed frames."""
        real, imag = real.float(), imag.float()
        with full_precision(real):
            if self.use_fft:
                return torch.fft.irfft(torch.complex(real, imag), n=self.n_fft, dim=1) * self.window.float()[:, None]
            return (torch.cat([real, imag], dim=1).transpose(1, 2) @ self.basis.float()).transpose(1, 2)

    def overlap_add(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, n_fft, T)`` frames -> overlap-added ``(B, (T - 1) * hop + n_fft)`` samples and the
        ``(1, ...)`` overlap-added squared window they are normalized by (untrimmed)."""
        frames = frames.float()
        with full_precision(frames):
            audio = self._overlap_add(frames)
            envelope = self._overlap_add(self.window_sq.float()[None, :, None].expand(1, -1, frames.shape[-1]))
        return audio, envelope

    def forward(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """``(B, n_fft // 2 + 1, T)`` real and imaginary parts -> ``(B, T * hop_length)`` float32 audio."""
        audio, envelope = self.overlap_add(self.frames(real, imag))
        end = audio.shape[-1] - self.pad
        return audio[:, self.pad : end] / envelope[:, self.pad : end].clamp(min=1e-11)


class CompressedSTFT(nn.Module):
    """``compressed_stft`` as a module: ``torch.stft`` (``use_fft``, fast in torch), or a strided
    convolution with ``windowed_dft_rows`` (exportable to ONNX); both give the same values to float32
    rounding (about 1e-6 relative).

    Args:
        n_fft: FFT size (Hann window).
        hop_length: hop in samples.
        exponent: magnitude compression.
    """

    def __init__(self, n_fft: int, hop_length: int, exponent: float = 0.3) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.exponent = exponent
        self.use_fft = True
        self.register_buffer("rows", windowed_dft_rows(n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, 1, N)`` -> ``(B, 2 * (n_fft // 2 + 1), N // hop_length)`` in ``audio``'s dtype."""
        if self.use_fft:
            return compressed_stft(audio, self.n_fft, self.hop_length, self.exponent)
        with full_precision(audio):
            x = F.pad(audio.reshape(audio.shape[0], 1, audio.shape[-1]).float(), (self.n_fft // 2, self.n_fft // 2))
            real, imag = F.conv1d(x, self.rows.float(), stride=self.hop_length)[..., :-1].chunk(2, dim=1)
            mag = torch.sqrt(real * real + imag * imag).clamp(min=1e-7)
            scale = mag.pow(self.exponent) / mag
            return torch.cat([real * scale, imag * scale], dim=1).to(audio.dtype)


def compressed_stft(audio: torch.Tensor, n_fft: int, hop_length: int, exponent: float = 0.3) -> torch.Tensor:
    """Power-law compressed complex STFT as real channels.

    Args:
        audio: ``(B, 1, N)`` with ``N`` a multiple of ``hop_length``.
    Returns:
        ``(B, 2 * (n_fft // 2 + 1), N // hop_length)`` in ``audio``'s dtype (computed in float32):
        compressed magnitude times cos and sin of the phase, frames centred at ``t * hop_length``.
    """
    spec = stft(audio, n_fft, hop_length, pad_mode="constant")[..., :-1]
    with full_precision(spec):
        return compress_spectrum(spec, exponent).to(audio.dtype)


def compress_spectrum(spec: torch.Tensor, exponent: float = 0.3) -> torch.Tensor:
    """Complex ``(B, F, T)`` -> real ``(B, 2F, T)``: magnitude ** exponent times cos and sin of the phase."""
    mag = spec.abs().clamp_(min=1e-7)
    scaled = torch.view_as_real(spec) * mag.pow(exponent).div_(mag).unsqueeze(-1)  # (B, F, T, 2)
    return scaled.movedim(-1, 1).flatten(1, 2)
