"""Values of the mel, adversarial and feature-matching losses on hand-computable inputs."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from codec.training.losses import (
    MultiResolutionPhaseLoss,
    MultiScaleMelLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    level_loss,
    mel_distance,
)

SAMPLE_RATE = 16000


def full(value: float, shape: tuple[int, ...] = (2, 1, 5, 3)) -> torch.Tensor:
    return torch.full(shape, value)


def tone(freq: float, length: int = 8000) -> torch.Tensor:
    t = torch.arange(length) / SAMPLE_RATE
    return (0.5 * torch.sin(2 * math.pi * freq * t)).expand(2, 1, length).clone()


@pytest.fixture(scope="module")
def mel_loss() -> MultiScaleMelLoss:
    return MultiScaleMelLoss(SAMPLE_RATE)


def test_hinge_discriminator_loss_is_zero_at_the_margin() -> None:
    real, fake = [full(1.0), full(2.0)], [full(-1.0), full(-3.0)]
    assert discriminator_loss(real, fake, "hinge").item() == 0.0


def test_hinge_discriminator_loss_value() -> None:
    # Sub-discriminator 1: relu(1 - 0) + relu(1 + 0) = 2; sub-discriminator 2: relu(1 - 0.5) + relu(1 + 1) = 2.5.
    real, fake = [full(0.0), full(0.5)], [full(0.0), full(1.0)]
    assert discriminator_loss(real, fake, "hinge").item() == pytest.approx(2.25)


def test_lsgan_discriminator_loss_values() -> None:
    assert discriminator_loss([full(1.0)], [full(0.0)], "lsgan").item() == 0.0
    # (0 - 1)^2 + 1^2 = 2 and (3 - 1)^2 + 0^2 = 4 -> mean 3.
    assert discriminator_loss([full(0.0), full(3.0)], [full(1.0), full(0.0)], "lsgan").item() == pytest.approx(3.0)


def test_losses_average_elements_with_different_shapes() -> None:
    real = [torch.tensor([[1.0, -1.0]]), full(1.0, (1, 1, 4, 7))]
    fake = [full(-1.0, (1, 1, 3)), torch.tensor([0.0, -1.0, -1.0, -1.0])]
    # Sub 1: relu(1 - r) = (0 + 2) / 2 = 1. Sub 2: relu(1 + f) = (1 + 0 + 0 + 0) / 4 = 0.25.
    assert discriminator_loss(real, fake, "hinge").item() == pytest.approx(0.625)


def test_generator_adversarial_loss_values() -> None:
    assert generator_adversarial_loss([full(1.0), full(4.0)], "hinge").item() == 0.0
    assert generator_adversarial_loss([full(-1.0)], "hinge").item() == pytest.approx(2.0)
    assert generator_adversarial_loss([full(1.0)], "lsgan").item() == 0.0
    assert generator_adversarial_loss([full(0.0), full(3.0)], "lsgan").item() == pytest.approx(2.5)


def test_gan_losses_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="kind"):
        discriminator_loss([full(1.0)], [full(0.0)], "wgan")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        generator_adversarial_loss([full(1.0)], "wgan")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="real vs"):
        discriminator_loss([full(1.0)], [full(0.0), full(0.0)])
    with pytest.raises(ValueError, match="empty"):
        generator_adversarial_loss([])


def test_feature_matching_identical_is_zero() -> None:
    features = [[torch.randn(2, 3, 4, 5), torch.randn(2, 6, 2, 5)], [torch.randn(2, 1, 7, 7)]]
    assert feature_matching_loss(features, [[f.clone() for f in fs] for fs in features]).item() == 0.0


def test_feature_matching_relative_value() -> None:
    real = [[full(2.0), full(-4.0)], [full(1.0)]]
    fake = [[full(1.0), full(-4.0)], [full(0.0)]]
    # Sub 1: layers |2 - 1| / 2 = 0.5 and 0 -> 0.25. Sub 2: |1 - 0| / 1 = 1. Mean 0.625.
    assert feature_matching_loss(real, fake).item() == pytest.approx(0.625)


def test_feature_matching_is_positive_and_trains_fake_only() -> None:
    real = torch.randn(2, 3, 4, 5, requires_grad=True)
    fake = torch.randn(2, 3, 4, 5, requires_grad=True)
    loss = feature_matching_loss([[real]], [[fake]])
    assert loss.item() > 0
    loss.backward()
    assert real.grad is None
    assert fake.grad is not None
    assert fake.grad.abs().sum() > 0


def test_mel_loss_identical_audio_is_zero(mel_loss: MultiScaleMelLoss) -> None:
    target = tone(440.0)
    assert mel_loss(target, target.clone()).item() == 0.0


def test_mel_loss_positive_for_different_audio(mel_loss: MultiScaleMelLoss) -> None:
    assert mel_loss(tone(440.0), tone(1000.0)).item() > 0.1


def test_mel_loss_decreases_toward_target(mel_loss: MultiScaleMelLoss) -> None:
    target = tone(440.0)
    noise = 0.3 * torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    losses = [mel_loss(target + scale * noise, target).item() for scale in (1.0, 0.3, 0.1, 0.01)]
    assert all(a > b for a, b in itertools.pairwise(losses))
    assert losses[-1] > 0


def test_mel_loss_gradient_step_reduces_loss(mel_loss: MultiScaleMelLoss) -> None:
    target = tone(440.0)
    pred = (target + 0.1 * torch.randn(target.shape, generator=torch.Generator().manual_seed(1))).requires_grad_()
    before = mel_loss(pred, target)
    before.backward()
    assert pred.grad is not None
    assert torch.isfinite(pred.grad).all()
    with torch.no_grad():
        stepped = pred - 1e-3 * pred.grad / pred.grad.abs().max()
    assert mel_loss(stepped, target).item() < before.item()


def test_mel_loss_averages_scales() -> None:
    target, pred = tone(440.0), tone(660.0)
    scales = ((512, 128, 64), (1024, 256, 80))
    single = [MultiScaleMelLoss(SAMPLE_RATE, [scale])(pred, target).item() for scale in scales]
    assert MultiScaleMelLoss(SAMPLE_RATE, scales)(pred, target).item() == pytest.approx(sum(single) / 2, rel=1e-6)


def test_mel_loss_rejects_shape_mismatch(mel_loss: MultiScaleMelLoss) -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        mel_loss(tone(440.0, 8000), tone(440.0, 7999))


def test_mel_distance_matches_loss(mel_loss: MultiScaleMelLoss) -> None:
    pred, target = tone(440.0), tone(880.0)
    distance = mel_distance(pred, target, SAMPLE_RATE)
    assert not distance.requires_grad
    assert distance.item() == pytest.approx(mel_loss(pred, target).item())


def test_phase_loss_sees_phase_that_the_mel_loss_ignores() -> None:
    """Same magnitudes, shifted phase: the mel loss barely moves, the phase loss does; identical
    audio scores 0, and a gradient step on the phase loss lowers it."""
    torch.manual_seed(0)
    target = 0.1 * torch.randn(2, 1, 8000)
    spec = torch.stft(target.reshape(2, -1), 512, 128, window=torch.hann_window(512), return_complex=True)
    rotated = torch.istft(
        spec * torch.exp(1j * torch.rand(spec.shape) * 2), 512, 128, window=torch.hann_window(512), length=8000
    )[:, None]
    phase_loss = MultiResolutionPhaseLoss()
    assert phase_loss(target, target).item() == pytest.approx(0, abs=1e-6)
    assert phase_loss(rotated, target).item() > 1.0
    mel = MultiScaleMelLoss(16000)
    assert mel(rotated, target).item() < 0.3 * phase_loss(rotated, target).item()
    estimate = rotated.clone().requires_grad_()
    before = phase_loss(estimate, target)
    before.backward()
    with torch.no_grad():
        stepped = estimate - 1e-4 * estimate.grad / estimate.grad.abs().max()
    assert phase_loss(stepped, target).item() < before.item()


def test_level_loss_is_the_mean_frame_level_difference_in_db() -> None:
    """Half the amplitude is 6.02 dB on every frame; a silent frame counts at the floor and still
    gets a gradient; the loss is symmetric, float32 for bfloat16 input, and its gradient raises a
    quiet prediction."""
    target = torch.randn(2, 1, 3200)
    assert level_loss(target, target, 320) == 0
    half = level_loss(0.5 * target, target, 320)
    torch.testing.assert_close(half, torch.tensor(20 * math.log10(2)), rtol=0, atol=1e-4)
    torch.testing.assert_close(level_loss(target, 0.5 * target, 320), half)
    silent = target.clone()
    silent[..., :320] = 0  # one frame of ten at the -70 dBFS floor instead of about 0 dBFS
    expected = (10 * torch.log10(target[..., :320].square().mean(-1) + 1e-7) + 70).mean() / 10
    torch.testing.assert_close(level_loss(silent, target, 320), expected, rtol=1e-4, atol=1e-4)
    quiet = (0.5 * target).requires_grad_()
    level_loss(quiet, target, 320).backward()
    assert float((quiet.grad * target).sum()) < 0  # a step against the gradient makes it louder
    mute = torch.zeros_like(target, requires_grad=True)
    level_loss(mute + 1e-4, target, 320).backward()
    assert float(mute.grad.abs().sum()) > 0
    low = level_loss((0.5 * target).bfloat16(), target.bfloat16(), 320)
    assert low.dtype == torch.float32 and abs(float(low) - float(half)) < 0.1
    with pytest.raises(ValueError, match="shapes differ"):
        level_loss(target, target[..., :-1], 320)
    with pytest.raises(ValueError, match="at least one frame"):
        level_loss(target[..., :100], target[..., :100], 320)
