"""Structure, shapes and gradient flow of the GAN discriminators (tiny widths, CPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from codec.training.discriminators import (
    Discriminators,
    MultiBandSTFTDiscriminator,
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    MultiResolutionFrameDiscriminator,
)
from codec.training.losses import discriminator_loss, feature_matching_loss, generator_adversarial_loss

BATCH, LENGTH = 2, 8000


@pytest.fixture
def audio() -> torch.Tensor:
    return 0.1 * torch.randn(BATCH, 1, LENGTH, generator=torch.Generator().manual_seed(0))


def tiny(name: str) -> nn.Module:
    return {
        "mpd": lambda: MultiPeriodDiscriminator(channels=2, max_channels=8),
        "mrd": lambda: MultiResolutionDiscriminator(channels=4),
        "mbstft": lambda: MultiBandSTFTDiscriminator(channels=4),
        "mrfd": lambda: MultiResolutionFrameDiscriminator(channels=4),
    }[name]()


TINY_ALL = {"mpd": {"channels": 2}, "mrd": {"channels": 2}, "mbstft": {"channels": 2}, "mrfd": {"channels": 2}}


def check_structure(logits: list[torch.Tensor], features: list[list[torch.Tensor]], n_sub: int, dims: int = 4) -> None:
    assert len(logits) == len(features) == n_sub
    for sub_logits, sub_features in zip(logits, features, strict=True):
        assert sub_logits.dim() == dims
        assert sub_logits.shape[:2] == (BATCH, 1)
        assert sub_logits.numel() > 0
        assert torch.isfinite(sub_logits).all()
        assert len(sub_features) > 0
        for fmap in sub_features:
            assert fmap.dim() == dims
            assert fmap.shape[0] == BATCH
            assert torch.isfinite(fmap).all()


def test_multi_period_shapes(audio: torch.Tensor) -> None:
    periods = (2, 3, 5, 7, 11)
    logits, features = MultiPeriodDiscriminator(periods, channels=2, max_channels=8)(audio)
    check_structure(logits, features, len(periods))
    for period, sub_logits, sub_features in zip(periods, logits, features, strict=True):
        assert sub_logits.shape[-1] == period
        assert [f.shape[1] for f in sub_features] == [2, 8, 8, 8, 8]
        rows = -(-LENGTH // period)
        assert sub_features[0].shape[2] == -(-rows // 3)


def test_multi_resolution_shapes(audio: torch.Tensor) -> None:
    resolutions = ((1024, 256, 1024), (2048, 512, 2048), (512, 128, 512))
    logits, features = MultiResolutionDiscriminator(resolutions, channels=4)(audio)
    check_structure(logits, features, len(resolutions))
    for (n_fft, hop, _), sub_logits, sub_features in zip(resolutions, logits, features, strict=True):
        frames, bins = LENGTH // hop + 1, n_fft // 2 + 1
        assert sub_features[0].shape == (BATCH, 4, frames, bins)
        assert len(sub_features) == 5
        assert sub_logits.shape[2] == frames
        assert sub_logits.shape[3] < bins // 4


def test_multi_band_stft_shapes(audio: torch.Tensor) -> None:
    windows = (2048, 1024, 512)
    bands = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))
    logits, features = MultiBandSTFTDiscriminator(windows, 0.25, bands, channels=4)(audio)
    check_structure(logits, features, len(windows))
    for window, sub_logits, sub_features in zip(windows, logits, features, strict=True):
        assert sub_logits.shape[2] == LENGTH // (window // 4) + 1
        assert len(sub_features) == 5 * len(bands)
        first_layer_bins = sum(sub_features[5 * i].shape[-1] for i in range(len(bands)))
        assert first_layer_bins == window // 2 + 1


def test_multi_resolution_frame_shapes(audio: torch.Tensor) -> None:
    resolutions = ((512, 128), (1024, 256))
    disc = MultiResolutionFrameDiscriminator(resolutions, channels=4, dilations=(1, 2))
    logits, features = disc(audio)
    check_structure(logits, features, len(resolutions), dims=3)
    for (n_fft, hop), sub, sub_logits, sub_features in zip(
        resolutions, disc.discriminators, logits, features, strict=True
    ):
        assert sub.convs[0].in_channels == n_fft // 2 + 1
        assert sub_logits.shape == (BATCH, 1, LENGTH // hop + 1)
        assert [tuple(f.shape) for f in sub_features] == [(BATCH, 4, LENGTH // hop + 1)] * 3


def test_frame_discriminator_is_local_in_time(audio: torch.Tensor) -> None:
    disc = MultiResolutionFrameDiscriminator(((256, 64),), channels=4, dilations=(1, 2))
    changed = audio.clone()
    changed[..., 4000:4064] += 0.5
    before, after = disc(audio)[0][0], disc(changed)[0][0]
    moved = (before - after).abs()[0, 0] > 1e-6
    # Frames touching samples 4000..4063, widened by the convolutions' reach: 1 + 1 + 2*1 + 2*2 + 1 frames.
    reach = 2 + 9
    touched = range((4000 - 128) // 64 - reach, (4064 + 128) // 64 + reach + 1)
    assert moved[touched.start : touched.stop].any()
    assert not moved[: touched.start].any()
    assert not moved[touched.stop :].any()


def test_band_discriminator_takes_real_and_imaginary_parts() -> None:
    disc = MultiBandSTFTDiscriminator(windows=(256,), channels=2)
    first_conv = disc.discriminators[0].band_stacks[0].convs[0]
    assert first_conv.in_channels == 2


def test_combined_concatenates_in_order(audio: torch.Tensor) -> None:
    kwargs = {
        "mpd": {"periods": (2, 3), "channels": 2, "max_channels": 4},
        "mrd": {"resolutions": ((256, 64, 256),), "channels": 2},
        "mbstft": {"windows": (256, 128), "channels": 2},
    }
    combined = Discriminators(["mpd", "mrd", "mbstft"], kwargs)
    logits, features = combined(audio)
    check_structure(logits, features, 2 + 1 + 2)
    mpd_logits, _ = combined.discriminators["mpd"](audio)
    torch.testing.assert_close(logits[0], mpd_logits[0])
    assert logits[1].shape[-1] == 3


def test_combined_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown"):
        Discriminators(["mpd", "msd"])
    with pytest.raises(ValueError, match="unknown"):
        Discriminators(["mpd"], {"mrdd": {}})
    with pytest.raises(ValueError, match="duplicate"):
        Discriminators(["mpd", "mpd"])


def test_short_audio_is_handled() -> None:
    short = torch.randn(1, 1, 700)
    tiny_all = Discriminators(list(TINY_ALL), TINY_ALL)
    logits, _ = tiny_all(short)
    assert all(torch.isfinite(x).all() for x in logits)


@pytest.mark.parametrize("name", ["mpd", "mrd", "mbstft", "mrfd"])
@pytest.mark.parametrize("kind", ["hinge", "lsgan"])
def test_discriminator_loss_reaches_every_parameter(audio: torch.Tensor, name: str, kind: str) -> None:
    disc = tiny(name)
    fake = audio + 0.05 * torch.randn_like(audio)
    real_logits, _ = disc(audio)
    fake_logits, _ = disc(fake.detach())
    discriminator_loss(real_logits, fake_logits, kind).backward()
    params = [(n, p) for n, p in disc.named_parameters() if p.requires_grad]
    assert params
    for param_name, param in params:
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
        # With every logit inside the hinge margin, bias gradients cancel exactly (-1 for real, +1 for
        # fake); weight gradients see different real and fake activations and must not vanish.
        if kind == "lsgan" or not param_name.endswith("bias"):
            assert param.grad.abs().sum() > 0, param_name


def test_generator_losses_reach_the_audio(audio: torch.Tensor) -> None:
    disc = Discriminators(list(TINY_ALL), TINY_ALL)
    fake = (audio + 0.05 * torch.randn_like(audio)).requires_grad_(True)
    _, real_features = disc(audio)
    fake_logits, fake_features = disc(fake)
    loss = generator_adversarial_loss(fake_logits, "hinge") + feature_matching_loss(real_features, fake_features)
    loss.backward()
    assert fake.grad is not None
    assert torch.isfinite(fake.grad).all()
    assert fake.grad.abs().sum() > 0
