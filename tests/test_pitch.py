"""YIN pitch tracking and the pitch errors ``codec eval`` reports."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from codec.metrics import pitch_errors, quality
from codec import pitch
from codec.pitch import yin

RATE = 16000
HOP = 160


def tone(f0: np.ndarray, harmonics: int = 6) -> torch.Tensor:
    """A voiced-like signal: ``harmonics`` partials of a per-sample F0 track, falling 6 dB each."""
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    audio = sum(0.5**k * np.sin((k + 1) * phase) for k in range(harmonics))
    return torch.tensor(0.3 * audio / np.abs(audio).max(), dtype=torch.float32)[None]


@pytest.mark.parametrize("f0", [80.0, 155.0, 310.0])
def test_yin_finds_a_steady_pitch(f0: float) -> None:
    estimate, voiced = yin(tone(np.full(RATE, f0)), RATE, HOP)
    assert estimate.shape == voiced.shape == (1, RATE // HOP)
    assert voiced.float().mean() > 0.95
    inner = estimate[:, 3:-3][voiced[:, 3:-3]]  # the edge frames read reflected padding
    assert inner.numel() > 90 and inner.sub(f0).abs().max() < 0.01 * f0


def test_yin_follows_a_glide() -> None:
    track = np.linspace(120.0, 240.0, RATE)
    estimate, voiced = yin(tone(track), RATE, HOP)
    centres = np.arange(RATE // HOP) * HOP + HOP // 2
    truth = torch.tensor(track[centres], dtype=torch.float32)[None]
    assert voiced.float().mean() > 0.9
    assert (estimate[voiced] / truth[voiced] - 1).abs().max() < 0.02


def test_yin_calls_noise_and_silence_unvoiced() -> None:
    noise = 0.1 * torch.randn(1, RATE, generator=torch.Generator().manual_seed(0))
    assert yin(noise, RATE, HOP)[1].float().mean() < 0.1
    f0, voiced = yin(torch.zeros(2, RATE), RATE, HOP)
    assert not voiced.any() and (f0 == 0).all()


def test_yin_rates_a_voiced_half_and_a_silent_half() -> None:
    audio = tone(np.full(RATE, 200.0))
    audio[:, RATE // 2 :] = 0
    _, voiced = yin(audio, RATE, HOP)
    half = RATE // HOP // 2
    assert voiced[0, 3 : half - 3].all() and not voiced[0, half + 3 :].any()


def test_yin_in_blocks_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    audio = tone(np.linspace(100.0, 300.0, RATE))
    whole = yin(audio, RATE, HOP)
    monkeypatch.setattr(pitch, "FRAMES_PER_BLOCK", 7)
    blocked = yin(audio, RATE, HOP)
    assert torch.equal(whole[1], blocked[1]) and torch.allclose(whole[0], blocked[0])


def test_yin_on_inputs_shorter_than_its_window() -> None:
    f0, voiced = yin(torch.zeros(3, HOP - 1), RATE, HOP)
    assert f0.shape == voiced.shape == (3, 0)
    f0, voiced = yin(tone(np.full(400, 200.0)), RATE, HOP)  # 2 frames, padded past both ends
    assert f0.shape == (1, 2) and torch.isfinite(f0).all()
    assert pitch_errors(np.zeros(5, np.float32), np.zeros(5, np.float32), RATE) == (None, 0.0)


def test_pitch_errors_of_a_copy_an_octave_and_noise() -> None:
    reference = tone(np.full(RATE, 150.0))[0].numpy()
    assert pitch_errors(reference, reference, RATE) == (0.0, 0.0)
    gpe, vuv = pitch_errors(reference, tone(np.full(RATE, 300.0))[0].numpy(), RATE)
    assert gpe == 1.0 and vuv < 0.05
    slightly_sharp = tone(np.full(RATE, 160.0))[0].numpy()  # 6.7 % off: not a gross error
    assert pitch_errors(reference, slightly_sharp, RATE)[0] == 0.0
    noise = 0.1 * np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    gpe, vuv = pitch_errors(reference, noise, RATE)
    assert gpe is None or gpe > 0.5
    assert vuv > 0.9
    scores = quality(reference, reference, RATE)
    assert scores["f0_gpe"] == 0.0 and scores["vuv_error"] == 0.0
