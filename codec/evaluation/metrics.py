"""Intrusive quality metrics of a reconstruction against its reference (numpy, CPU).

PESQ and STOI come from the optional ``pesq`` and ``pystoi`` packages (``pip install .[eval]``);
when one is missing its metric is ``None`` and ``missing_packages()`` says which.
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import torch

from codec.io.audio import resample
from codec.nn.pitch import GROSS_PITCH_ERROR_OCTAVES, yin
from codec.training.losses import mel_distance


def missing_packages() -> list[str]:
    """Optional metric packages that are not installed."""
    return [name for name in ("pesq", "pystoi") if importlib.util.find_spec(name) is None]


def _best_lag(reference: np.ndarray, estimate: np.ndarray, lags: np.ndarray) -> int:
    """The lag among ``lags`` that maximizes the cross-correlation (``reference[n + lag]`` ~ ``estimate[n]``)."""
    n = min(len(reference), len(estimate))
    size = 1 << int(np.ceil(np.log2(max(2 * n, 2))))
    correlation = np.fft.irfft(np.fft.rfft(reference[:n], size) * np.conj(np.fft.rfft(estimate[:n], size)), size)
    return int(lags[np.argmax(correlation[lags % size])])


def _envelope(audio: np.ndarray, width: int) -> np.ndarray:
    """Rectified signal smoothed over ``width`` samples, mean removed."""
    smooth = np.convolve(np.abs(audio), np.ones(width, np.float32) / width, mode="same")
    return smooth - smooth.mean()


def align(reference: np.ndarray, estimate: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Shift ``estimate`` by its delay against ``reference`` (within ``±max_lag`` samples); return
    both trimmed to their common length.

    Codecs delay their output (Codec2 and AMR by 80-650 samples, MP3 by 576); intrusive metrics
    need the two signals on the same time axis. The delay is found in two steps: the lag that best
    correlates the smoothed amplitude envelopes (which also holds for codecs that do not keep the
    waveform's phase, where the waveform's cross-correlation peaks at chance lags), then the
    waveform cross-correlation's peak within 2 ms of it (sample-exact for waveform codecs).
    """
    n = min(len(reference), len(estimate))
    width = max(1, n and round(max_lag / 25))  # 2 ms for the default 50 ms search
    lags = np.arange(-max_lag, max_lag + 1)
    coarse = _best_lag(_envelope(reference[:n], width), _envelope(estimate[:n], width), lags)
    fine = np.arange(max(-max_lag, coarse - width), min(max_lag, coarse + width) + 1)
    lag = _best_lag(reference[:n], estimate[:n], fine)
    if lag >= 0:
        reference, estimate = reference[lag:], estimate
    else:
        reference, estimate = reference, estimate[-lag:]
    n = min(len(reference), len(estimate))
    return reference[:n], estimate[:n]


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB."""
    reference = reference - reference.mean()
    estimate = estimate - estimate.mean()
    scale = np.dot(estimate, reference) / max(np.dot(reference, reference), 1e-12)
    target = scale * reference
    noise = estimate - target
    return float(10 * np.log10(max(np.dot(target, target), 1e-12) / max(np.dot(noise, noise), 1e-12)))


def _pesq(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, mode: str) -> float | None:
    if importlib.util.find_spec("pesq") is None:
        return None
    from pesq import PesqError, pesq

    rate = 16000 if mode == "wb" else 8000
    try:
        return float(pesq(rate, resample(reference, sample_rate, rate), resample(estimate, sample_rate, rate), mode))
    except PesqError:
        return None


def _stoi(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float | None:
    if importlib.util.find_spec("pystoi") is None:
        return None
    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = float(stoi(reference, estimate, sample_rate, extended=False))
    # Too short once silent frames are dropped: pystoi warns and returns a placeholder 1e-5.
    return None if any("Not enough STFT frames" in str(w.message) for w in caught) else score


def pitch_errors(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> tuple[float | None, float]:
    """Gross pitch error and voicing decision error of ``estimate`` against ``reference`` (YIN, 10 ms frames).

    Returns:
        The fraction of frames voiced in both whose F0 differs by more than 20 % (None when no frame
        is voiced in both), and the fraction of frames voiced in one but not the other.
    """
    n = min(len(reference), len(estimate))
    pair = torch.from_numpy(np.stack([reference[:n], estimate[:n]]).astype(np.float32))
    f0, voiced = yin(pair, sample_rate, max(1, sample_rate // 100))
    both = voiced[0] & voiced[1]
    vuv = float((voiced[0] != voiced[1]).float().mean()) if voiced.shape[-1] else 0.0
    if not both.any():
        return None, vuv
    octaves = (f0[1, both] / f0[0, both]).log2().abs()
    return float((octaves > GROSS_PITCH_ERROR_OCTAVES).float().mean()), vuv


def quality(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> dict[str, float | None]:
    """PESQ-WB, PESQ-NB, STOI, SI-SDR, log-mel distance and pitch errors of ``estimate`` against ``reference``.

    Both are mono ``(N,)`` at ``sample_rate``; the estimate is aligned first (lag up to 50 ms).
    A metric whose package is missing, or that cannot score the input (PESQ on silence, STOI on
    less than about 0.4 s of speech), is None.
    """
    reference, estimate = align(
        np.asarray(reference, np.float32), np.asarray(estimate, np.float32), max_lag=sample_rate // 20
    )
    mel = mel_distance(torch.from_numpy(estimate)[None, None], torch.from_numpy(reference)[None, None], sample_rate)
    gpe, vuv = pitch_errors(reference, estimate, sample_rate)
    return {
        "pesq_wb": _pesq(reference, estimate, sample_rate, "wb"),
        "pesq_nb": _pesq(reference, estimate, sample_rate, "nb"),
        "stoi": _stoi(reference, estimate, sample_rate),
        "si_sdr": si_sdr(reference, estimate),
        "mel_distance": float(mel),
        "f0_gpe": gpe,
        "vuv_error": vuv,
    }
