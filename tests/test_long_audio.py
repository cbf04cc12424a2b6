"""Long inputs: chunked ``Codec.encode`` / ``decode`` give the whole-file tokens and audio, leave no
seams at chunk borders, and keep memory bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from codec.api import Codec
from codec.inference.chunking import decode_chunked, encode_chunked, receptive_field
from codec.nn.spectral import MelSpectrogram

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000


def recipe(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "recipes" / "codec" / f"{name}.yaml").read_text())["model"]["codec"]


def build(config: dict[str, Any]) -> Codec:
    torch.manual_seed(0)
    return Codec(**config).eval()


def with_attention_decoder() -> dict[str, Any]:
    config = recipe("tiny-vq")
    config["decoder"] = {**config["decoder"], "attention_layers": 1}
    return config


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    """About 6 s: a gliding tone in bursts plus noise, not a whole number of frames."""
    t = np.arange(6 * RATE + 77) / RATE
    rng = np.random.default_rng(0)
    tone = np.sin(2 * np.pi * (150 * t + 20 * t**2)) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    return (0.1 * tone + 0.02 * rng.standard_normal(t.shape)).astype(np.float32)


@pytest.mark.parametrize("name", ["tiny-vq", "tiny-causal", "tiny-rvq"])
def test_chunked_tokens_equal_whole_file_tokens(name: str, signal: np.ndarray) -> None:
    """Convolutional encoders match exactly; the LSTM encoder (tiny-rvq) with its fallback context
    matches in at least 99 % of frames (measured: all)."""
    model = build(recipe(name))
    whole = model.encode(signal, RATE, chunk_seconds=None)
    chunked = model.encode(signal, RATE, chunk_seconds=1.0)
    assert chunked.codes.shape == whole.codes.shape == (1, model.n_codebooks, 301)
    assert torch.equal(chunked.code_lengths, whole.code_lengths)
    frames_equal = (chunked.codes == whole.codes).all(dim=1).float().mean().item()
    assert frames_equal >= 0.99
    if receptive_field(model).encoder_history is not None:
        assert frames_equal == 1.0


def test_batches_of_different_lengths_are_chunked_like_whole(signal: np.ndarray) -> None:
    model = build(recipe("tiny-causal"))
    clips = [signal, signal[: 2 * RATE + 5], signal[RATE:]]
    whole = model.encode(clips, RATE, chunk_seconds=None)
    chunked = model.encode(clips, RATE, chunk_seconds=0.7)
    assert chunked == whole
    for a, b in zip(model.decode(chunked, chunk_seconds=0.7), model.decode(whole, chunk_seconds=None), strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def border_errors(a: torch.Tensor, b: torch.Tensor, chunk_samples: int) -> tuple[float, float]:
    """Mean per-frame log-mel L1 distance of frames within 512 samples of a chunk border, and of
    all other frames."""
    mel = MelSpectrogram(RATE, n_fft=1024, hop_length=256, n_mels=64)
    error = (mel(a) - mel(b)).abs().mean(dim=1)[0]
    centers = torch.arange(error.shape[0]) * 256
    borders = torch.arange(chunk_samples, a.shape[-1], chunk_samples)
    near = (centers[:, None] - borders[None]).abs().min(dim=1).values < 512
    return error[near].mean().item(), error[~near].mean().item()


@pytest.mark.parametrize("name", ["tiny-vq", "tiny-causal", "attention"])
def test_chunked_decode_has_no_seams(name: str, signal: np.ndarray) -> None:
    """Convolutional decoders crop exactly (equal to float rounding); a decoder with attention is
    approximate everywhere, but no worse at the crossfaded borders than elsewhere."""
    model = build(with_attention_decoder() if name == "attention" else recipe(name))
    with torch.inference_mode():
        codes = model.encode_codes(torch.from_numpy(signal)[None, None])
        whole = model.decode_codes(codes)
        chunked = decode_chunked(model, codes, chunk_seconds=1.0)
    assert chunked.shape == whole.shape
    near, away = border_errors(chunked, whole, RATE)
    if name == "attention":
        assert near <= 1.5 * away
        assert (chunked - whole).abs().max() < 0.05 * whole.abs().max()
    else:
        torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)
        assert near <= away + 1e-4 and near < 1e-4


def test_short_inputs_and_none_take_the_whole_file_path(signal: np.ndarray) -> None:
    model = build(recipe("tiny-vq"))
    audio = torch.from_numpy(signal)[None, None]
    with torch.inference_mode():
        assert torch.equal(encode_chunked(model, audio, None), model.encode_codes(audio))
        assert torch.equal(encode_chunked(model, audio, 60.0), model.encode_codes(audio))
    with pytest.raises(ValueError, match="chunk_seconds"):
        encode_chunked(model, audio, 0.0)


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, threading
    import numpy as np, torch, yaml
    from codec.inference.chunking import receptive_field
    from codec.api import Codec

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Codec(**yaml.safe_load(open(sys.argv[1]))["model"]["codec"]).eval()
    chunk = float(sys.argv[2]) or None
    if chunk:
        receptive_field(model)
        model.decode(model.encode(np.zeros(16000 * 30, np.float32), 16000, chunk_seconds=chunk), chunk_seconds=chunk)
    audio = (0.1 * np.random.default_rng(0).standard_normal(16000 * 300)).astype(np.float32)
    page = os.sysconf("SC_PAGE_SIZE")

    def rss_mb():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * page / 2**20

    base, peak, done = rss_mb(), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            done.wait(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    clip = model.decode(model.encode(audio, 16000, chunk_seconds=chunk), chunk_seconds=chunk)[0]
    done.set()
    sampler.join()
    assert clip.shape == audio.shape
    print(json.dumps(max(peak[0], rss_mb()) - base))
    """
)


def test_memory_is_bounded_for_five_minutes_of_audio() -> None:
    """Peak resident-memory growth (sampled every 2 ms) of encode + decode of 5 min at 16 kHz
    (tiny-vq), each way in a fresh process; the chunked one is warmed up on 30 s first, so only the
    long input's cost counts.
    Measured about 31 MB chunked against 428 MB whole; the input alone is 19 MB."""
    growth = {}
    for label, chunk in (("chunked", "10"), ("whole", "0")):
        run = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(ROOT / "recipes" / "codec" / "tiny-vq.yaml"), chunk],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        growth[label] = json.loads(run.stdout.strip().splitlines()[-1])
    assert growth["chunked"] < 150
    assert growth["whole"] > 4 * max(growth["chunked"], 1.0), growth
