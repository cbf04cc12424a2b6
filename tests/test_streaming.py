"""Streaming encode / decode: exact against the offline ``encode_codes`` / ``decode_codes`` for any
chunking, flush semantics, refusal of unbounded models, receptive fields and algorithmic latency."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from codec.api import Codec
from codec.errors import CodecError
from codec.inference.chunking import receptive_field
from codec.inference.streaming import algorithmic_latency_samples, algorithmic_latency_seconds
from codec.inference.streaming_decoder import StreamingDecoder, stateful_decoding
from codec.inference.streaming_encoder import StreamingEncoder, stateful_encoding

RECIPES = Path(__file__).resolve().parent.parent / "recipes" / "codec"
HOP = 320


def recipe(name: str) -> dict[str, Any]:
    return yaml.safe_load((RECIPES / f"{name}.yaml").read_text())["model"]["codec"]


def build(name: str) -> Codec:
    torch.manual_seed(0)
    return Codec(**recipe(name)).eval()


@pytest.fixture(scope="module")
def causal() -> Codec:
    return build("tiny-causal")


@pytest.fixture(scope="module")
def signal() -> torch.Tensor:
    """1.2 s of noise plus 77 samples: the last frame is partial."""
    return 0.1 * torch.randn(19277, generator=torch.Generator().manual_seed(1))


def offline(codec: Codec, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Q, T)`` codes and ``(T * hop,)`` audio of the whole signal."""
    with torch.inference_mode():
        codes = codec.encode_codes(audio[None, None])
        return codes[0], codec.decode_codes(codes)[0, 0]


def pieces(total: int, sizes: str, seed: int = 0) -> Iterator[slice]:
    """Slices covering ``range(total)``: fixed sizes, or random sizes from 0 to 3 frames."""
    rng = np.random.default_rng(seed)
    start = 0
    while start < total:
        size = int(rng.integers(0, 3 * HOP)) if sizes == "random" else int(sizes)
        yield slice(start, start + size)
        start += size


def stream(codec: Codec, audio: torch.Tensor, sizes: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder pieces of ``sizes`` samples, each piece's codes pushed straight into the decoder."""
    encoder, decoder = StreamingEncoder(codec), StreamingDecoder(codec)
    codes, out = [], []
    for piece in pieces(audio.shape[0], sizes):
        codes.append(encoder.push(audio[piece]))
        out.append(decoder.push(codes[-1]))
    codes.append(encoder.flush())
    out += [decoder.push(codes[-1]), decoder.flush()]
    return torch.cat(codes, dim=1), torch.cat(out)


@pytest.mark.parametrize("sizes", ["319", "320", "321", "random", "100000"])
def test_streamed_codes_and_audio_equal_offline(causal: Codec, signal: torch.Tensor, sizes: str) -> None:
    codes, audio = offline(causal, signal)
    streamed_codes, streamed_audio = stream(causal, signal, sizes)
    assert torch.equal(streamed_codes, codes)
    assert streamed_audio.shape == audio.shape == (codes.shape[1] * HOP,)
    torch.testing.assert_close(streamed_audio, audio, rtol=0, atol=1e-5)


def test_one_sample_at_a_time(causal: Codec) -> None:
    audio = 0.1 * torch.randn(3 * HOP + 5, generator=torch.Generator().manual_seed(2))
    codes, decoded = offline(causal, audio)
    streamed_codes, streamed_audio = stream(causal, audio, "1")
    assert torch.equal(streamed_codes, codes)
    torch.testing.assert_close(streamed_audio, decoded, rtol=0, atol=1e-5)


@pytest.mark.parametrize("frames", ["1", "3", "random"])
def test_decoder_alone_with_any_code_chunking(causal: Codec, signal: torch.Tensor, frames: str) -> None:
    codes, audio = offline(causal, signal)
    decoder = StreamingDecoder(causal)
    rng = np.random.default_rng(5)
    out, start = [], 0
    while start < codes.shape[1]:
        size = int(rng.integers(0, 6)) if frames == "random" else int(frames)
        out.append(decoder.push(codes[:, start : start + size]))
        start += size
    out.append(decoder.flush())
    torch.testing.assert_close(torch.cat(out), audio, rtol=0, atol=1e-5)


def test_encoder_emits_each_frame_as_soon_as_it_is_final(causal: Codec) -> None:
    """A causal SEANet frame needs its own hop of samples and nothing after it."""
    encoder = StreamingEncoder(causal)
    assert encoder.push(np.zeros(HOP - 1, dtype=np.float32)).shape == (2, 0)
    assert encoder.push(np.zeros(1, dtype=np.float32)).shape == (2, 1)
    assert encoder.push(np.zeros(2 * HOP + 1, dtype=np.float32)).shape == (2, 2)
    assert encoder.flush().shape == (2, 1)


def test_decoder_holds_back_only_the_overlap_add_tail(causal: Codec) -> None:
    field = receptive_field(causal)
    decoder = StreamingDecoder(causal)
    codes = torch.zeros(2, 4, dtype=torch.long)
    assert decoder.push(codes).shape == (4 * HOP - field.decoder_back,)
    assert decoder.flush().shape == (field.decoder_back,)


def test_flush_resets_and_a_second_stream_is_identical(causal: Codec, signal: torch.Tensor) -> None:
    encoder, decoder = StreamingEncoder(causal), StreamingDecoder(causal)
    first = [torch.cat([encoder.push(signal), encoder.flush()], dim=1)]
    second = [torch.cat([encoder.push(signal), encoder.flush()], dim=1)]
    assert torch.equal(first[0], second[0])
    audio = [torch.cat([decoder.push(c), decoder.flush()]) for c in (first[0], second[0])]
    assert torch.equal(audio[0], audio[1])
    assert encoder.flush().shape == (2, 0)
    assert decoder.flush().shape == (0,)


def test_fewer_codebooks_stream_like_offline(causal: Codec, signal: torch.Tensor) -> None:
    with torch.inference_mode():
        codes = causal.encode_codes(signal[None, None], n_codebooks=1)[0]
        audio = causal.decode_codes(codes[None])[0, 0]
    encoder, decoder = StreamingEncoder(causal, n_codebooks=1), StreamingDecoder(causal)
    streamed = torch.cat([encoder.push(signal[:1000]), encoder.push(signal[1000:]), encoder.flush()], dim=1)
    assert torch.equal(streamed, codes)
    torch.testing.assert_close(torch.cat([decoder.push(streamed), decoder.flush()]), audio, rtol=0, atol=1e-5)


def test_bad_pushes_are_refused(causal: Codec) -> None:
    with pytest.raises(ValueError, match=r"\(N,\)"):
        StreamingEncoder(causal).push(np.zeros((1, 10), dtype=np.float32))
    decoder = StreamingDecoder(causal)
    with pytest.raises(ValueError, match=r"\(Q, T\)"):
        decoder.push(torch.zeros(1, 2, 3, dtype=torch.long))
    decoder.push(torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="codebooks"):
        decoder.push(torch.zeros(1, 1, dtype=torch.long))


def test_causal_decoders_stream_with_carried_state_one_frame_of_work_per_frame(
    causal: Codec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stateful path runs the backbone on exactly the frames pushed (never a recomputed window)
    and leaves the model's layers as they were between pushes."""
    assert stateful_decoding(causal) and stateful_decoding(build("speech16k-causal"))
    assert not stateful_decoding(build("tiny-vq"))
    seen: list[int] = []
    features = type(causal.decoder).features
    monkeypatch.setattr(
        type(causal.decoder), "features", lambda self, latent: seen.append(latent.shape[-1]) or features(self, latent)
    )
    decoder = StreamingDecoder(causal)
    codes = torch.randint(0, causal.codebook_size, (2, 9), generator=torch.Generator().manual_seed(3))
    for start in range(9):
        decoder.push(codes[:, start : start + 1])
    decoder.flush()
    assert seen == [1] * 9
    assert all(m.stream is None for m in causal.modules() if hasattr(m, "stream"))


def test_non_causal_convolutional_model_streams_exactly_with_more_delay(signal: torch.Tensor) -> None:
    model = build("tiny-vq")
    codes, audio = offline(model, signal)
    streamed_codes, streamed_audio = stream(model, signal, "random")
    assert torch.equal(streamed_codes, codes)
    torch.testing.assert_close(streamed_audio, audio, rtol=0, atol=1e-5)
    assert algorithmic_latency_seconds(model) > 0.3


def test_lstm_model_is_refused() -> None:
    model = build("tiny-rvq")
    assert receptive_field(model).encoder_history is None
    assert algorithmic_latency_seconds(model) is None
    with pytest.raises(CodecError, match="LSTM or attention"):
        StreamingEncoder(model)
    with pytest.raises(CodecError, match="LSTM or attention"):
        StreamingDecoder(model)


def test_causal_recipes_and_their_latency(causal: Codec) -> None:
    """Latency = hop + encoder lookahead + decoder holdback, with the holdback the iSTFT's
    ``(n_fft - hop) / 2`` overlap minus the zero first sample of the Hann window."""
    field = receptive_field(causal)
    n_fft = recipe("tiny-causal")["decoder"]["n_fft"]
    assert causal.causal and field.bounded
    assert field.encoder_lookahead == 0
    assert field.decoder_back == (n_fft - HOP) // 2 - 1
    assert algorithmic_latency_samples(causal) == HOP + (n_fft - HOP) // 2 - 1
    assert algorithmic_latency_seconds(causal) == pytest.approx(0.0499375)

    speech = build("speech16k-causal")
    encoder = recipe("speech16k-causal")["encoder"]
    assert speech.causal and speech.bitrate() == 600.0
    assert receptive_field(speech).encoder_lookahead == encoder["n_fft"] // 2 - encoder["stft_hop"]
    assert algorithmic_latency_seconds(speech) == pytest.approx(0.0599375)


def test_receptive_field_leaves_global_random_state_alone() -> None:
    model = build("tiny-grvq")
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    receptive_field(model)
    assert torch.equal(torch.rand(3), expected)


@pytest.fixture(scope="module")
def causal_spectral() -> Codec:
    """tiny-vq (spectral encoder) made causal end to end."""
    config = recipe("tiny-vq")
    config = {
        **config,
        "encoder": {**config["encoder"], "causal": True},
        "decoder": {**config["decoder"], "causal": True},
    }
    torch.manual_seed(0)
    return Codec(**config).eval()


@pytest.mark.parametrize("sizes", ["1", "319", "320", "random", "100000"])
def test_causal_spectral_encoder_streams_with_carried_state(
    causal_spectral: Codec, signal: torch.Tensor, sizes: str
) -> None:
    assert stateful_encoding(causal_spectral) and stateful_encoding(build("speech16k-causal"))
    assert not stateful_encoding(build("tiny-vq"))
    codes, audio = offline(causal_spectral, signal)
    streamed_codes, streamed_audio = stream(causal_spectral, signal, sizes)
    assert torch.equal(streamed_codes, codes)
    torch.testing.assert_close(streamed_audio, audio, rtol=0, atol=1e-5)


def test_stateful_encoder_does_one_frame_of_work_per_frame_as_soon_as_final(
    causal_spectral: Codec, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookahead = receptive_field(causal_spectral).encoder_lookahead
    seen: list[int] = []
    encode_spectrum = type(causal_spectral.encoder).encode_spectrum
    monkeypatch.setattr(
        type(causal_spectral.encoder),
        "encode_spectrum",
        lambda self, spectrum: seen.append(spectrum.shape[-1]) or encode_spectrum(self, spectrum),
    )
    encoder = StreamingEncoder(causal_spectral)
    assert encoder.push(np.zeros(HOP + lookahead - 1, dtype=np.float32)).shape[-1] == 0
    assert encoder.push(np.zeros(1, dtype=np.float32)).shape[-1] == 1
    assert encoder.push(np.zeros(3 * HOP, dtype=np.float32)).shape[-1] == 3
    assert encoder.flush().shape[-1] == 1
    per_frame = causal_spectral.hop_length // causal_spectral.encoder.stft_hop
    assert seen == [per_frame, 3 * per_frame, per_frame]


def test_causal_seanet_encoder_streams_whole_hops_with_carried_state(
    causal: Codec, signal: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tiny-causal's SEANet encoder runs on each whole new hop once (never a recomputed window); the
    codes it streams equal offline ones (also checked for every chunking above)."""
    assert stateful_encoding(causal) and receptive_field(causal).encoder_lookahead == 0
    non_causal = recipe("tiny-causal")
    assert not stateful_encoding(Codec(**{**non_causal, "encoder": {**non_causal["encoder"], "causal": False}}))
    seen: list[int] = []
    forward = type(causal.encoder).forward
    monkeypatch.setattr(
        type(causal.encoder), "forward", lambda self, audio: seen.append(audio.shape[-1]) or forward(self, audio)
    )
    encoder = StreamingEncoder(causal)
    codes = [encoder.push(signal[: HOP - 1]), encoder.push(signal[HOP - 1 : HOP])]
    codes += [encoder.push(signal[HOP : 4 * HOP + 5]), encoder.flush()]
    assert [c.shape[-1] for c in codes] == [0, 1, 3, 1]
    assert seen == [HOP, 3 * HOP, HOP]
    padded = torch.nn.functional.pad(signal[: 4 * HOP + 5], (0, HOP - 5))
    assert torch.equal(torch.cat(codes, dim=1), offline(causal, padded)[0])
