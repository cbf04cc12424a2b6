"""The inverse STFT against ``torch.stft`` / ``torch.istft``, its matrix form, mel and compressed STFT."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from codec.nn.spectral import InverseSTFT, MelSpectrogram, compressed_stft

SHAPES = [(64, 16), (40, 10), (48, 12)]


def signal(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def stft(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    return torch.stft(audio, n_fft, hop, window=torch.hann_window(n_fft), center=True, return_complex=True)


@pytest.mark.parametrize(("n_fft", "hop"), SHAPES)
def test_inverse_stft_inverts_torch_stft_up_to_half_a_hop(n_fft: int, hop: int) -> None:
    length = 12 * hop
    audio = signal(2, length)
    spec = stft(audio, n_fft, hop)
    frames = spec.shape[-1]
    assert frames == length // hop + 1
    out = InverseSTFT(n_fft, hop)(spec.real, spec.imag)
    assert out.shape == (2, frames * hop)
    # Sample i of the output is sample i + pad of the centre-padded signal, i.e. x[i - hop // 2].
    reference = torch.istft(spec, n_fft, hop, window=torch.hann_window(n_fft), center=True, length=length)
    assert torch.allclose(reference, audio, atol=1e-5)
    shift = hop // 2
    assert torch.allclose(out[:, shift : shift + length], reference, atol=1e-5)
    assert not torch.allclose(out[:, :length], reference, atol=1e-2)
    # All samples, edges included: the reflect-padded signal that torch.stft analysed.
    padded = F.pad(audio[:, None], (n_fft // 2, n_fft // 2), mode="reflect")[:, 0]
    pad = (n_fft - hop) // 2
    assert torch.allclose(out, padded[:, pad : pad + frames * hop], atol=1e-5)


@pytest.mark.parametrize(("n_fft", "hop"), SHAPES)
def test_matrix_inverse_matches_fft_inverse(n_fft: int, hop: int) -> None:
    bins = n_fft // 2 + 1
    istft = InverseSTFT(n_fft, hop)
    spectra = [stft(signal(3, 9 * hop, seed=1), n_fft, hop)]
    spectra.append(torch.complex(signal(3, bins, 7, seed=2), signal(3, bins, 7, seed=3)))  # not a consistent STFT
    for spec in spectra:
        assert istft.use_fft
        fast = istft(spec.real, spec.imag)
        istft.use_fft = False
        try:
            matrix = istft(spec.real, spec.imag)
        finally:
            istft.use_fft = True
        assert matrix.shape == fast.shape
        assert torch.allclose(matrix, fast, atol=1e-5)
        assert fast.abs().max() > 0.1


@pytest.mark.parametrize("frames", [1, 2, 5, 31])
@pytest.mark.parametrize(("n_fft", "hop"), [*SHAPES, (1280, 320)])
def test_output_length_is_frames_times_hop(frames: int, n_fft: int, hop: int) -> None:
    bins = n_fft // 2 + 1
    out = InverseSTFT(n_fft, hop)(signal(2, bins, frames), signal(2, bins, frames, seed=1))
    assert out.shape == (2, frames * hop)
    assert torch.isfinite(out).all()


def test_inverse_stft_rejects_odd_overlap() -> None:
    with pytest.raises(ValueError):
        InverseSTFT(64, 15)


def test_mel_spectrogram_shapes_and_values() -> None:
    mel = MelSpectrogram(16000, n_fft=512, hop_length=128, n_mels=40)
    audio = 0.1 * signal(2, 1, 16000 // 5)
    out = mel(audio)
    assert out.shape == (2, 40, 3200 // 128 + 1)
    assert torch.equal(mel(audio[:, 0]), out)
    linear = MelSpectrogram(16000, n_fft=512, hop_length=128, n_mels=40, log=False)(audio)
    assert torch.allclose(out, torch.log(linear.clamp(min=1e-5)))
    magnitude = stft(audio[:, 0], 512, 128).abs()
    basis = torch.from_numpy(librosa.filters.mel(sr=16000, n_fft=512, n_mels=40)).float()
    assert torch.allclose(linear, basis @ magnitude, rtol=1e-4, atol=1e-6)
    power = MelSpectrogram(16000, n_fft=512, hop_length=128, n_mels=40, power=2.0, log=False)(audio)
    assert torch.allclose(power, basis @ magnitude.pow(2), rtol=1e-4, atol=1e-6)


def test_mel_spectrogram_peaks_in_the_band_of_a_tone() -> None:
    centres = librosa.mel_frequencies(n_mels=42, fmin=0.0, fmax=8000.0)[1:-1]
    band = 25
    t = torch.arange(8000) / 16000
    tone = torch.sin(2 * np.pi * float(centres[band]) * t)
    out = MelSpectrogram(16000, n_fft=1024, hop_length=256, n_mels=40)(tone[None])
    assert int(out[0, :, 5:-5].mean(-1).argmax()) == band
    assert float(MelSpectrogram(16000, n_fft=1024, hop_length=256, n_mels=40)(torch.zeros(1, 4000)).max()) == (
        pytest.approx(np.log(1e-5))
    )


@pytest.mark.parametrize(("n_fft", "hop"), [(640, 160), (64, 16)])
def test_compressed_stft_shape_and_values(n_fft: int, hop: int) -> None:
    audio = signal(2, 1, 10 * hop, seed=4)
    out = compressed_stft(audio, n_fft, hop)
    bins = n_fft // 2 + 1
    assert out.shape == (2, 2 * bins, 10)
    spec = torch.stft(
        audio[:, 0], n_fft, hop, window=torch.hann_window(n_fft), center=True, pad_mode="constant", return_complex=True
    )[..., :10]
    real, imag = out[:, :bins], out[:, bins:]
    assert torch.allclose(torch.hypot(real, imag), spec.abs().pow(0.3), rtol=1e-4, atol=1e-5)
    assert torch.allclose(real * spec.imag, imag * spec.real, rtol=1e-3, atol=1e-4)  # same phase
    assert (real * spec.real + imag * spec.imag >= -1e-5).all()  # not the opposite phase
    half = compressed_stft(0.5 * audio, n_fft, hop)
    assert torch.allclose(half, out * 0.5**0.3, rtol=1e-4, atol=1e-5)
    assert torch.isfinite(compressed_stft(torch.zeros(1, 1, 4 * hop), n_fft, hop)).all()
