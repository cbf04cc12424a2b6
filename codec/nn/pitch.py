"""Pitch: batched F0 tracking with YIN (de Cheveigné and Kawahara, 2002) and the pulse train a
harmonic decoder renders from an F0 track, in torch.

``codec eval`` scores how well a reconstruction keeps the original's pitch with ``yin``
(``codec.evaluation.metrics.pitch_errors``). A ``(B, N)`` batch costs a few FFTs per frame (about 0.1 s for
16 x 1 s on one CPU thread), so it also makes the F0 targets of a harmonic decoder's pitch head
from the training batch on the fly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from codec.nn.spectral import full_precision

GROSS_PITCH_ERROR_OCTAVES = math.log2(1.2)
"""An F0 estimate off by more than 20 % (in either direction) is a gross pitch error."""

FRAMES_PER_BLOCK = 2048
"""Frames analysed at once: bounds memory on long inputs (about 70 MB per item and block)."""


def yin(
    audio: torch.Tensor,
    sample_rate: int,
    hop_length: int,
    fmin: float = 60.0,
    fmax: float = 500.0,
    window: int = 512,
    threshold: float = 0.15,
    silence_db: float = -50.0,
    floor_db: float = -80.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """F0 and voicing of ``(B, N)`` audio, one frame per ``hop_length`` samples.

    Frame ``k`` is centred on sample ``k * hop_length + hop_length // 2`` (the middle of the
    ``k``-th hop), so ``N // hop_length`` frames line up with a decoder's frames of that hop.

    Args:
        audio: ``(B, N)`` waveform.
        sample_rate: samples per second.
        hop_length: samples between frames.
        fmin, fmax: pitch search range in Hz.
        window: integration window of the difference function, in samples.
        threshold: the cumulative-mean-normalized difference below which a dip counts as a period.
        silence_db: frames whose RMS is this far below the batch item's loudest frame are unvoiced.
        floor_db: frames whose RMS is below this level (full scale 0 dB) are unvoiced.

    Returns:
        ``f0`` ``(B, N // hop_length)`` in Hz (0 where unvoiced) and ``voiced`` ``(B, N // hop_length)``
        booleans.
    """
    with full_precision(audio):
        return _yin(audio.float(), sample_rate, hop_length, fmin, fmax, window, threshold, silence_db, floor_db)


def _yin(
    audio: torch.Tensor,
    sample_rate: int,
    hop_length: int,
    fmin: float,
    fmax: float,
    window: int,
    threshold: float,
    silence_db: float,
    floor_db: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    n = audio.shape[-1]
    frames_n = n // hop_length
    if frames_n == 0:
        return audio.new_zeros(audio.shape[0], 0), torch.zeros(audio.shape[0], 0, dtype=torch.bool, device=audio.device)
    tau_min = max(2, int(sample_rate / fmax))
    tau_max = int(sample_rate / fmin) + 1
    span = window + tau_max + 1
    centre = torch.arange(frames_n, device=audio.device) * hop_length + hop_length // 2
    start = centre - window // 2
    left = max(0, -int(start.min()))
    right = max(0, int(start.max()) + span - n)
    padded = F.pad(audio.float()[:, None], (left, right), mode="reflect" if max(left, right) < n else "constant")[:, 0]
    offsets = torch.arange(span, device=audio.device)[None]
    blocks = [
        _periods(
            padded[:, (start[first : first + FRAMES_PER_BLOCK] + left)[:, None] + offsets], window, tau_min, threshold
        )
        for first in range(0, frames_n, FRAMES_PER_BLOCK)
    ]
    period, has_dip, rms_db = (torch.cat(parts, dim=-1) for parts in zip(*blocks, strict=True))
    loud = (rms_db > rms_db.amax(-1, keepdim=True) + silence_db) & (rms_db > floor_db)
    voiced = has_dip & loud
    f0 = torch.where(voiced, sample_rate / period, torch.zeros_like(period))
    return f0, voiced


def _periods(
    frames: torch.Tensor, window: int, tau_min: int, threshold: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """YIN on ``(B, K, window + tau_max + 1)`` frames: period in samples, whether the normalized
    difference dips below ``threshold``, and the RMS level (dB) of each frame's window, all ``(B, K)``."""
    tau_max = frames.shape[-1] - window - 1
    frames = frames - frames.mean(-1, keepdim=True)
    size = 1 << (frames.shape[-1] + window - 1).bit_length()
    head = frames[..., :window]
    cross = _lagged_products(frames, head, size, tau_max)
    squares = F.pad(frames.square().cumsum(-1), (1, 0))
    energy_head = squares[..., window : window + 1]
    lags = torch.arange(tau_max + 1, device=frames.device)
    energy_lag = squares[..., lags + window] - squares[..., lags]
    difference = (energy_head + energy_lag - 2 * cross).clamp(min=0)  # (B, K, tau_max + 1)
    cumulative = difference[..., 1:].cumsum(-1) / lags[1:]
    normalized = torch.cat(
        [torch.ones_like(difference[..., :1]), difference[..., 1:] / cumulative.clamp(min=1e-12)], dim=-1
    )

    inner = normalized[..., 1:-1]
    is_dip = (inner <= normalized[..., :-2]) & (inner <= normalized[..., 2:]) & (inner < threshold)
    is_dip[..., : tau_min - 1] = False
    has_dip = is_dip.any(-1)
    tau = torch.where(has_dip, is_dip.float().argmax(-1) + 1, inner[..., tau_min - 1 :].argmin(-1) + tau_min)

    below, at, above = (normalized.gather(-1, (tau + o)[..., None])[..., 0] for o in (-1, 0, 1))
    curvature = below - 2 * at + above
    shift = torch.where(curvature > 1e-9, 0.5 * (below - above) / curvature.clamp(min=1e-9), torch.zeros_like(at))
    rms_db = 10 * torch.log10(head.square().mean(-1) + 1e-10)
    return tau.float() + shift.clamp(-1, 1), has_dip, rms_db


def _lagged_products(frames: torch.Tensor, head: torch.Tensor, size: int, tau_max: int) -> torch.Tensor:
    """``sum_j head[j] * frames[j + tau]`` for ``tau`` in ``0..tau_max``: ``(B, K, tau_max + 1)``."""
    spectrum = torch.fft.rfft(frames, size) * torch.fft.rfft(head, size).conj()
    return torch.fft.irfft(spectrum, size)[..., : tau_max + 1]


def filled_log2_f0(audio: torch.Tensor, sample_rate: int, hop_length: int) -> torch.Tensor:
    """``yin``'s log2 F0 of ``(B, N)`` audio, linearly interpolated through unvoiced frames (held
    beyond the first and last voiced one; log2 of 150 Hz for an item with none): ``(B, N // hop_length)``."""
    f0, voiced = yin(audio.detach(), sample_rate, hop_length)
    index = torch.arange(f0.shape[-1], device=f0.device, dtype=torch.float64)
    rows = []
    for values, mask in zip(f0.double(), voiced, strict=True):
        known = index[mask]
        if known.numel() == 0:
            rows.append(torch.full_like(index, math.log2(150.0)))
            continue
        rows.append(_interp(index, known, torch.log2(values[mask])))
    return torch.stack(rows).to(audio.dtype)


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """``numpy.interp`` in torch: piecewise-linear through ``(xp, fp)`` (``xp`` increasing), held outside."""
    if xp.numel() == 1:
        return fp.expand_as(x).clone()
    right = torch.searchsorted(xp, x).clamp(1, xp.numel() - 1)
    left = right - 1
    weight = ((x - xp[left]) / (xp[right] - xp[left])).clamp(0, 1)
    return fp[left] + weight * (fp[right] - fp[left])


def frames_to_samples(values: torch.Tensor, frame_hop: int, start: int, length: int) -> torch.Tensor:
    """Linear interpolation of ``(B, K)`` frame values to samples ``start .. start + length - 1``.

    Frame ``k`` sits at sample ``k * frame_hop + (frame_hop - 1) / 2`` (the middle of its hop, as in
    ``yin``); samples before the first or after the last frame take its value.
    """
    position = (torch.arange(length, device=values.device, dtype=torch.float64) + start + 0.5) / frame_hop - 0.5
    position = position.clamp(0, values.shape[-1] - 1)
    left = position.floor().long()
    right = (left + 1).clamp(max=values.shape[-1] - 1)
    weight = (position - left).to(values.dtype)
    return values[:, left] * (1 - weight) + values[:, right] * weight


def running_cycles(f0: torch.Tensor, sample_rate: int, anchor: tuple[int, torch.Tensor] | None = None) -> torch.Tensor:
    """Phase of a pulse train in cycles (float64) at every sample of an ``(B, N)`` F0 track in Hz.

    It is the running sum of ``f0 / sample_rate`` from the first sample (``cycles[:, 0] = f0[:, 0] /
    sample_rate``). With ``anchor = (index, value)`` (``value`` ``(B,)``) the sum is shifted so that
    ``cycles[:, index] == value``: a window of a longer track then continues a phase computed
    before it, which is how chunked decoding reproduces a whole-file decode.
    """
    cycles = torch.cumsum(f0.double() / sample_rate, dim=-1)
    if anchor is not None:
        index, value = anchor
        cycles = cycles - cycles[:, index : index + 1] + value.double().to(cycles.device)[:, None]
    return cycles


def harmonic_excitation(
    f0: torch.Tensor, cycles: torch.Tensor, sample_rate: int, nyquist_ratio: float = 0.95
) -> torch.Tensor:
    """A band-limited pulse train: every harmonic of ``f0`` below ``nyquist_ratio`` of the Nyquist
    frequency at amplitude 1, at the phase ``cycles`` (``running_cycles``).

    Args:
        f0: ``(B, N)`` fundamental frequency in Hz per sample (positive).
        cycles: ``(B, N)`` phase of the fundamental in cycles.
    Returns:
        ``(B, N)`` excitation (the closed-form sum of cosines, a Dirichlet kernel of the phase).
    """
    # float64 throughout: near each pulse the kernel divides by a small sine, which would magnify
    # float32 rounding of its large arguments (up to ~150 harmonics x 2 pi) into visible noise.
    theta = 2 * torch.pi * (cycles - cycles.floor())
    harmonics = torch.floor(nyquist_ratio * sample_rate / 2 / f0.double())
    half = torch.sin(theta / 2)
    near_zero = half.abs() < 1e-6
    ratio = torch.sin((harmonics + 0.5) * theta) / (2 * torch.where(near_zero, torch.ones_like(half), half))
    return (torch.where(near_zero, harmonics + 0.5, ratio) - 0.5).to(f0.dtype)
