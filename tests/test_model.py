"""``Codec`` built from the recipes: rates and bitrates, shapes, padding, exact token round trips,
gradients, and the high-level ``encode`` / ``decode`` API."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from codec.api import Codec
from codec.errors import CodecError

RECIPES = Path(__file__).resolve().parent.parent / "recipes" / "codec"
TINY = sorted(p.stem for p in RECIPES.glob("tiny-*.yaml"))
HOP = 320
RATE = 16000

# name: sample_rate, hop_length, frame_rate, n_codebooks, codebook_size, bitrate, text in the recipe's first line
FULL = {
    "wavtokenizer-75hz": (24000, 320, 75.0, 1, 4096, 900.0, "0.9 kbps"),
    "wavtokenizer-40hz": (24000, 600, 40.0, 1, 4096, 480.0, "0.48 kbps"),
    "languagecodec": (24000, 320, 75.0, 8, 1024, 6000.0, "6 kbps"),
    "hificodec": (16000, 320, 50.0, 4, 1024, 2000.0, "2 kbps"),
    "encodec": (24000, 320, 75.0, 8, 1024, 6000.0, "6 kbps"),
    "speech16k-vq": (16000, 320, 50.0, 1, 4096, 600.0, "600 bit/s"),
    "speech16k-rvq": (16000, 320, 50.0, 4, 1024, 2000.0, "2 kbps"),
    "speech16k-causal": (16000, 320, 50.0, 1, 4096, 600.0, "600 bit/s"),
    "speech16k-hn": (16000, 320, 50.0, 1, 4096, 600.0, "600 bit/s"),
}


def recipe(name: str) -> dict[str, Any]:
    return yaml.safe_load((RECIPES / f"{name}.yaml").read_text())["model"]["codec"]


def build(name: str, seed: int = 0) -> Codec:
    torch.manual_seed(seed)
    return Codec(**recipe(name))


def noise(*shape: int, seed: int = 0, scale: float = 0.1) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_state(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    after = module.state_dict()
    return after.keys() == before.keys() and all(torch.equal(before[k], after[k]) for k in before)


@pytest.fixture(scope="module")
def vq() -> Codec:
    return build("tiny-vq").eval()


@pytest.fixture(scope="module")
def rvq() -> Codec:
    return build("tiny-rvq").eval()


# ----------------------------------------------------------------------------- recipes


def test_tiny_recipes_cover_every_quantizer_family() -> None:
    assert TINY == ["tiny-causal", "tiny-grvq", "tiny-mcrvq", "tiny-rvq", "tiny-vq"]
    assert {recipe(name)["quantizer"]["name"] for name in TINY} == {"vq", "rvq", "grvq", "mcrvq"}


def test_every_full_recipe_has_expected_numbers() -> None:
    """Every recipe but the tiny ones defines a codec with known numbers, or is an overlay given after
    such a recipe (it has no codec of its own)."""
    full = {p.stem for p in RECIPES.glob("*.yaml") if not p.stem.startswith("tiny-")}
    overlays = {name for name in full if "codec" not in yaml.safe_load((RECIPES / f"{name}.yaml").read_text())["model"]}
    assert overlays == {"decoder-refit"}
    assert full - overlays == set(FULL)


@pytest.mark.parametrize("name", sorted(FULL))
def test_full_recipe_numbers(name: str) -> None:
    sample_rate, hop, frame_rate, n_codebooks, codebook_size, bitrate, text = FULL[name]
    assert text in (RECIPES / f"{name}.yaml").read_text().splitlines()[0]
    with torch.device("meta"):  # the real architecture without allocating its weights
        model = Codec(**recipe(name))
    assert model.name == name
    assert model.sample_rate == sample_rate
    assert model.hop_length == hop
    assert model.frame_rate == frame_rate
    assert model.n_codebooks == n_codebooks
    assert model.codebook_size == codebook_size
    assert model.bitrate() == pytest.approx(bitrate)
    assert model.bitrate(1) == pytest.approx(bitrate / n_codebooks)
    assert model.decoder.head.istft.hop_length == hop


def test_encodec_bitrate_ladder() -> None:
    with torch.device("meta"):
        model = Codec(**recipe("encodec"))
    assert [model.bitrate(n) for n in (2, 4, 8)] == pytest.approx([1500.0, 3000.0, 6000.0])
    with pytest.raises(ValueError):
        model.bitrate(9)


def test_from_config_rebuilds_the_same_architecture(vq: Codec) -> None:
    clone = Codec.from_config(vq.config)
    assert clone.config == vq.config
    assert {k: v.shape for k, v in clone.state_dict().items()} == {k: v.shape for k, v in vq.state_dict().items()}


# ----------------------------------------------------------------------------- tiny models


@pytest.mark.parametrize("name", TINY)
def test_tiny_forward_shapes(name: str) -> None:
    model = build(name).eval()
    assert (model.sample_rate, model.hop_length, model.codebook_size) == (RATE, HOP, 64)
    audio = noise(2, 1, 5 * HOP)
    with torch.no_grad():
        out = model(audio)
    assert out.audio.shape == (2, 1, 5 * HOP)
    assert out.codes.shape == (2, model.n_codebooks, 5)
    assert out.codes.dtype == torch.int64
    assert int(out.codes.min()) >= 0
    assert int(out.codes.max()) < model.codebook_size
    assert out.latent.shape == (2, model.encoder.dim, 5)
    assert torch.isfinite(out.audio).all()
    assert float(out.commit_loss) == 0.0


@pytest.mark.parametrize("name", TINY)
def test_encode_codes_pads_to_whole_frames(name: str) -> None:
    model = build(name).eval()
    with torch.no_grad():
        for n in (1, HOP - 1, HOP, HOP + 1, 2 * HOP + 7):
            codes = model.encode_codes(noise(1, 1, n, seed=n))
            assert codes.shape == (1, model.n_codebooks, max(1, math.ceil(n / HOP))), n


@pytest.mark.parametrize("name", TINY)
def test_decode_codes_reproduces_forward_exactly(name: str) -> None:
    model = build(name).eval()
    audio = noise(2, 1, 4 * HOP, seed=1)
    with torch.no_grad():
        out = model(audio)
        codes = model.encode_codes(audio)
        decoded = model.decode_codes(codes)
    assert torch.equal(codes, out.codes)
    assert decoded.shape == (2, 1, 4 * HOP)
    assert torch.equal(decoded, out.audio)


@pytest.mark.parametrize("name", TINY)
def test_every_parameter_gets_a_gradient_in_training(name: str) -> None:
    model = build(name).train()
    if hasattr(model.quantizer, "dropout"):
        model.quantizer.dropout = 0.0  # every stage reaches the output, so every weight must learn
    out = model(noise(2, 1, 4 * HOP, seed=2))
    assert float(out.commit_loss.detach()) > 0
    (out.audio.pow(2).mean() + out.commit_loss).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    zero = [n for n, p in model.named_parameters() if p.grad is not None and not p.grad.abs().sum() > 0]
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert (missing, zero, bad) == ([], [], [])


# ----------------------------------------------------------------------------- encode / decode API


def test_encode_mono_numpy_and_torch_agree(vq: Codec) -> None:
    audio = noise(1000, seed=3)
    from_torch = vq.encode(audio, RATE)
    from_numpy = vq.encode(audio.numpy(), RATE)
    assert from_torch == from_numpy
    assert from_torch.codes.shape == (1, 1, 4)
    assert from_torch.code_lengths.tolist() == [4]
    assert from_torch.audio_lengths.tolist() == [1000]
    assert (from_torch.sample_rate, from_torch.hop_length, from_torch.codebook_size) == (RATE, HOP, 64)
    assert from_torch.model_name == "tiny-vq"
    assert from_torch.fingerprint == vq.fingerprints().model
    with torch.no_grad():
        assert torch.equal(from_torch.codes, vq.encode_codes(audio.reshape(1, 1, -1)))


def test_decode_returns_audio_trimmed_to_the_input(vq: Codec) -> None:
    audio = noise(1000, seed=4)
    tokens = vq.encode(audio, RATE)
    (decoded,) = vq.decode(tokens)
    assert decoded.shape == (1000,)
    assert decoded.dtype == torch.float32
    with torch.no_grad():
        assert torch.equal(decoded, vq.decode_codes(tokens.codes)[0, 0, :1000])


@pytest.mark.parametrize("channels", [2, 8])
def test_multichannel_input_is_downmixed(vq: Codec, channels: int) -> None:
    audio = noise(channels, 1500, seed=channels).numpy()
    tokens = vq.encode(audio, RATE)
    assert tokens.batch_size == 1
    assert tokens == vq.encode(audio.mean(axis=0), RATE)
    assert tokens == vq.encode(torch.from_numpy(audio), RATE)


def test_batch_of_multichannel_clips(vq: Codec) -> None:
    audio = noise(3, 2, 1280, seed=5)
    tokens = vq.encode(audio, RATE)
    assert tokens.codes.shape == (3, 1, 4)
    assert tokens.code_lengths.tolist() == [4, 4, 4]
    assert tokens.audio_lengths.tolist() == [1280] * 3
    for b in range(3):
        assert torch.equal(tokens.codes[b], vq.encode(audio[b].numpy(), RATE).codes[0])
    assert [a.shape for a in vq.decode(tokens)] == [(1280,)] * 3


def test_list_of_clips_of_different_lengths(vq: Codec) -> None:
    clips = [noise(1000, seed=6).numpy(), noise(3300, seed=7), noise(2, 500, seed=8).numpy(), noise(1, seed=9)]
    tokens = vq.encode(clips, RATE)
    assert tokens.codes.shape == (4, 1, 11)
    assert tokens.code_lengths.tolist() == [4, 11, 2, 1]
    assert tokens.audio_lengths.tolist() == [1000, 3300, 500, 1]
    assert not tokens.codes[0, :, 4:].any() and not tokens.codes[2, :, 2:].any()  # padding frames are zero
    decoded = vq.decode(tokens)
    assert [a.shape for a in decoded] == [(1000,), (3300,), (500,), (1,)]
    assert all(torch.isfinite(a).all() for a in decoded)


def test_other_sample_rates_are_resampled(vq: Codec) -> None:
    tokens = vq.encode(noise(4500, seed=10), 44100)
    assert tokens.audio_lengths.tolist() == [1633]  # round(4500 * 16000 / 44100)
    assert tokens.code_lengths.tolist() == [6]
    assert tokens.sample_rate == RATE
    (decoded,) = vq.decode(tokens)
    assert decoded.shape == (1633,)
    mixed = vq.encode([noise(4410, seed=11), noise(8000, seed=12)], 44100)
    assert mixed.audio_lengths.tolist() == [1600, 2902]
    assert mixed.code_lengths.tolist() == [5, 10]


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(2000, dtype=np.float32),
        np.where(np.arange(2000) % 40 < 20, 1.0, -1.0).astype(np.float32),
        np.full((2, 2000), 3.0, dtype=np.float32),
        3.0 * np.sin(np.arange(2000, dtype=np.float32) / 5),
        np.array([0.5], dtype=np.float32),
    ],
    ids=["silence", "full-scale-square", "dc-3.0", "sine-beyond-full-scale", "one-sample"],
)
def test_unusual_audio_round_trips(vq: Codec, audio: np.ndarray) -> None:
    length = audio.shape[-1]
    tokens = vq.encode(audio, RATE)
    assert tokens.code_lengths.tolist() == [max(1, math.ceil(length / HOP))]
    assert tokens.audio_lengths.tolist() == [length]
    assert int(tokens.codes.min()) >= 0
    assert int(tokens.codes.max()) < 64
    (decoded,) = vq.decode(tokens)
    assert decoded.shape == (length,)
    assert torch.isfinite(decoded).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input_raises_codec_error(vq: Codec, bad: float) -> None:
    audio = noise(1000, seed=13)
    audio[123] = bad
    with pytest.raises(CodecError):
        vq.encode(audio, RATE)
    with pytest.raises(CodecError):
        vq.encode([noise(500).numpy(), audio.numpy()], RATE)


def test_encode_in_train_mode_uses_eval_and_restores_train() -> None:
    model = build("tiny-rvq")  # quantizer dropout 0.5 would show in train-mode codes' decoding
    audio = noise(2, 1, 3 * HOP, seed=14)
    expected = model.eval().encode(audio, RATE).codes
    model.train()
    before = snapshot(model)
    tokens = model.encode(audio, RATE)
    assert model.training and all(m.training for m in model.modules())
    assert same_state(before, model)  # no EMA update, no dead-code restart
    assert torch.equal(tokens.codes, expected)
    (decoded, _) = model.decode(tokens)
    assert model.training
    with torch.no_grad():
        reference = model.eval().decode_codes(expected[:1])
    assert torch.equal(decoded, reference[0, 0])


def test_tokens_of_another_model_are_refused(vq: Codec) -> None:
    tokens = vq.encode(noise(1000, seed=15), RATE)
    other = build("tiny-vq", seed=1).eval()
    with pytest.raises(CodecError, match="fingerprint"):
        other.decode(tokens)
    twin = copy.deepcopy(vq)
    assert torch.equal(twin.decode(tokens)[0], vq.decode(tokens)[0])


def test_tokens_with_too_many_codebooks_are_refused(vq: Codec, rvq: Codec) -> None:
    tokens = rvq.encode(noise(1000, seed=16), RATE)
    forged = copy.copy(tokens)
    forged.fingerprint = vq.fingerprints().model
    forged.token_fingerprint = vq.fingerprints().tokens
    forged.model_name = vq.name
    with pytest.raises(CodecError, match="codebooks"):
        vq.decode(forged)


def test_n_codebooks_selects_leading_codebooks(rvq: Codec) -> None:
    audio = noise(2000, seed=17)
    full = rvq.encode(audio, RATE)
    assert full.codes.shape == (1, 4, 7)
    for n in (1, 2, 3):
        tokens = rvq.encode(audio, RATE, n_codebooks=n)
        assert tokens.codes.shape == (1, n, 7)
        assert torch.equal(tokens.codes, full.codes[:, :n])
        (decoded,) = rvq.decode(tokens)
        assert decoded.shape == (2000,)
    with pytest.raises(CodecError, match=r"n_codebooks must be in 1\.\.4"):
        rvq.encode(audio, RATE, n_codebooks=5)
    with pytest.raises(CodecError, match=r"n_codebooks must be in 1\.\.4"):
        rvq.encode(audio, RATE, n_codebooks=0)


def test_fingerprint_follows_weights_loaded_in_eval_mode() -> None:
    model = build("tiny-vq", seed=0).eval()
    source = build("tiny-vq", seed=1).eval()
    model.encode(noise(500), RATE)
    model.load_state_dict(source.state_dict())
    assert model.fingerprints().model == source.fingerprints().model


@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("name", TINY)
def test_batched_items_equal_items_alone(name: str, padded: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """An item's codes and audio do not depend on its batch-mates: the padded batch (as on an
    accelerator) and the items one by one (as on a CPU) give what encoding and decoding each clip
    alone gives (also when chunked)."""
    import codec.inference.batching

    monkeypatch.setattr(codec.inference.batching, "pads_batches", lambda _: padded)
    model = build(name).eval()
    lengths = [300, 4100, 16000 * 3 + 17, 16000 * 3 + 17, 16000 * 5 - 333]
    clips = [noise(n, seed=20 + i).numpy() for i, n in enumerate(lengths)]
    for chunk_seconds in (None, 2.0):
        tokens = model.encode(clips, RATE, chunk_seconds=chunk_seconds)
        audio = model.decode(tokens, chunk_seconds=chunk_seconds)
        for i, clip in enumerate(clips):
            alone = model.encode(clip, RATE, chunk_seconds=chunk_seconds)
            frames = int(alone.code_lengths[0])
            assert torch.equal(tokens.codes[i, :, :frames], alone.codes[0]), (name, i)
            torch.testing.assert_close(audio[i], model.decode(alone, chunk_seconds=chunk_seconds)[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("padded", [True, False])
def test_batch_with_an_empty_item_decodes(padded: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Tokens`` may hold an item of no frames beside longer ones; it decodes to no audio."""
    import codec.inference.batching

    monkeypatch.setattr(codec.inference.batching, "pads_batches", lambda _: padded)
    model = build("tiny-vq").eval()
    tokens = model.encode([noise(3200, seed=3).numpy(), noise(320, seed=4).numpy()], RATE)
    tokens.code_lengths[1] = 0
    tokens.audio_lengths[1] = 0
    audio = model.decode(tokens)
    assert [a.shape for a in audio] == [(3200,), (0,)]
    torch.testing.assert_close(audio[0], model.decode(model.encode(noise(3200, seed=3).numpy(), RATE))[0])


def test_equal_length_batches_skip_the_receptive_field_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    """Measuring the receptive field costs seconds for a full-size model the first time; a single
    clip (or a batch of equal lengths) needs no tail redone and must not pay for it."""
    import codec.inference.batching

    model = build("tiny-vq").eval()

    def refuse(_: Codec) -> None:
        raise AssertionError("receptive field measured")

    monkeypatch.setattr(codec.inference.batching, "receptive_field", refuse)
    monkeypatch.setattr(codec.inference.batching, "pads_batches", lambda _: True)
    tokens = model.encode([noise(4000, seed=1).numpy(), noise(4000, seed=2).numpy()], RATE)
    assert [a.shape for a in model.decode(tokens)] == [(4000,), (4000,)]
    with pytest.raises(AssertionError, match="receptive field measured"):
        model.encode([noise(4000, seed=1).numpy(), noise(2000, seed=2).numpy()], RATE)


@pytest.mark.parametrize(
    ("kernel", "dilation", "causal"), [(1, 1, False), (3, 3, False), (7, 1, False), (4, 1, False), (7, 1, True)]
)
def test_padded_conv_is_a_same_length_conv_on_zero_padded_input(kernel: int, dilation: int, causal: bool) -> None:
    """Whether the convolution pads itself (odd, centred) or gets a padded copy, the output is the
    plain convolution of the input with zeros around it: centred, or all on the left if causal."""
    import torch.nn.functional as F

    from codec.nn.layers import PaddedConv1d

    torch.manual_seed(0)
    layer = PaddedConv1d(5, 6, kernel, dilation=dilation, causal=causal, norm=False)
    x = torch.randn(2, 5, 11)
    total = (kernel - 1) * dilation
    left = total if causal else total // 2
    expected = F.conv1d(F.pad(x, (left, total - left)), layer.conv.weight, layer.conv.bias, dilation=dilation)
    assert layer.pads_itself == (not causal and kernel % 2 == 1)
    assert torch.equal(layer(x), expected) and layer(x).shape == (2, 6, 11)


def test_encode_codes_in_train_mode_with_autograd_neither_drops_nor_learns() -> None:
    """The tensor-level ``encode_codes`` (training's own path, callable by anyone) looks codes up as
    in eval mode even in a train-mode model with autograd on: no codebook update, no dropout."""
    model = build("tiny-rvq")
    audio = noise(2, 1, 3 * HOP, seed=15)
    with torch.no_grad():
        expected = model.eval().encode_codes(audio)
    model.train()
    before = snapshot(model)
    codes = model.encode_codes(audio)
    assert same_state(before, model) and model.quantizer.training
    assert torch.equal(codes, expected)


def test_encode_and_decode_run_with_exact_arithmetic_and_restore_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's TF32 / cuDNN-benchmark settings do not reach encoding and decoding (their rounding
    would make tokens depend on batch-mates on a GPU), and are back afterwards."""
    import codec.api as api

    model = build("tiny-vq")
    seen = []

    def spy(real):
        def run(*args, **kwargs):
            seen.append(
                (
                    torch.get_float32_matmul_precision(),
                    torch.backends.cuda.matmul.allow_tf32,
                    torch.backends.cudnn.benchmark,
                )
            )
            return real(*args, **kwargs)

        return run

    monkeypatch.setattr(api, "encode_batch", spy(api.encode_batch))
    monkeypatch.setattr(api, "decode_batch", spy(api.decode_batch))
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("high")
    try:
        model.decode(model.encode(noise(2, 1, 3 * HOP, seed=16), RATE))
        assert seen == [("highest", False, False)] * 2
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.benchmark
        assert torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.set_float32_matmul_precision("highest")
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.benchmark = False


def test_a_harmonic_decoder_takes_the_codec_sample_rate_and_refuses_another() -> None:
    config = recipe("tiny-vq")
    harmonic = {**config["decoder"], "name": "vocos-hn"}
    model = Codec(**{**config, "sample_rate": 24000, "decoder": harmonic})
    assert model.decoder.head.sample_rate == 24000
    with pytest.raises(ValueError, match="decoder sample_rate 16000 differs from the codec's 24000"):
        Codec(**{**config, "sample_rate": 24000, "decoder": {**harmonic, "sample_rate": 16000}})
    with pytest.raises(ValueError, match="takes no sample_rate"):
        Codec(**{**config, "decoder": {**config["decoder"], "sample_rate": 16000}})


def test_generated_codes_become_tokens_of_the_model(vq: Codec) -> None:
    """``Codec.tokens``: codes from a generator, with frames per item, decode to whole frames."""
    codes = torch.randint(0, vq.codebook_size, (2, vq.n_codebooks, 7))
    tokens = vq.tokens(codes, torch.tensor([7, 0]))
    assert tokens.code_lengths.tolist() == [7, 1] and tokens.audio_lengths.tolist() == [
        7 * vq.hop_length,
        vq.hop_length,
    ]
    assert tokens.token_fingerprint == vq.fingerprints().tokens
    assert [clip.shape[0] for clip in vq.decode(tokens)] == [7 * vq.hop_length, vq.hop_length]
