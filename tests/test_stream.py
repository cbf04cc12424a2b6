"""Long files are read in blocks: windows of an ``AudioStream`` equal the whole file resampled, and
``encode_file`` / ``codec encode`` encode a long file window by window with the tokens of a whole read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

import codec.api as api
import codec.corpus.jobs as jobs_module
from codec.api import Codec
from codec.corpus.jobs import plan_jobs
from codec.corpus.run import encode_corpus
from codec.corpus.writers import make_writer
from codec.errors import CodecError
from codec.formats.tokens import Tokens
from codec.io.audio import read_audio, resample, to_mono
from codec.io.stream import AudioStream

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000


def write_speechlike(path: Path, seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = np.sin(2 * np.pi * (150 + 50 * np.sin(2 * np.pi * 0.5 * t)) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    audio = 0.3 * tone[:, None] + 0.02 * rng.standard_normal((t.size, channels))
    sf.write(path, audio.astype(np.float32), rate, subtype="FLOAT")
    return audio.astype(np.float32)


@pytest.mark.parametrize(("rate", "channels", "tolerance"), [(16000, 1, 0.0), (44100, 2, 2e-3), (22050, 1, 2e-3)])
def test_windows_equal_the_whole_file_resampled(tmp_path: Path, rate: int, channels: int, tolerance: float) -> None:
    audio = write_speechlike(tmp_path / "a.wav", 25.0, rate, channels)
    whole = resample(to_mono(audio.T), rate, RATE)
    with AudioStream(tmp_path / "a.wav", RATE) as stream:
        assert stream.length == whole.shape[0]
        for start in range(0, stream.length + 8000, 70_001):  # windows across block edges and the end
            stop = start + 90_000
            window = stream.read(start, stop)
            expected = np.zeros(stop - start, dtype=np.float32)
            part = whole[start:stop]
            expected[: part.shape[0]] = part
            assert np.abs(window - expected).max() <= tolerance + 1e-7, (start, np.abs(window - expected).max())
        with pytest.raises(ValueError, match="starts before"):
            stream.read(0, 100)


@pytest.fixture(scope="module")
def model() -> Codec:
    torch.manual_seed(0)
    config = yaml.safe_load((ROOT / "recipes" / "codec" / "tiny-vq.yaml").read_text())["model"]["codec"]
    return Codec(**config).eval()


@pytest.mark.parametrize("rate", [16000, 44100])
def test_a_long_file_is_encoded_window_by_window_like_a_whole_read(
    model: Codec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rate: int
) -> None:
    path = tmp_path / "long.wav"
    write_speechlike(path, 20.0, rate)
    audio, file_rate = read_audio(path)
    expected = model.encode(audio, file_rate, chunk_seconds=3.0)
    monkeypatch.setattr(api, "STREAM_SECONDS", 5.0)
    monkeypatch.setattr(api, "read_audio", lambda path: pytest.fail("a long file was read whole"))
    tokens = model.encode_file(path, chunk_seconds=3.0)
    assert tokens.code_lengths.tolist() == expected.code_lengths.tolist()
    assert tokens.audio_lengths.tolist() == expected.audio_lengths.tolist()
    agree = (tokens.codes == expected.codes).float().mean()
    assert agree == 1.0 if rate == RATE else agree >= 0.99


def test_codec_encode_streams_long_jobs(model: Codec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_speechlike(folder / "long.wav", 12.0, RATE)
    write_speechlike(folder / "short.wav", 2.0, RATE, seed=1)
    monkeypatch.setattr(jobs_module, "STREAM_SECONDS", 5.0)
    monkeypatch.setattr(api, "STREAM_SECONDS", 5.0)
    real = jobs_module.read_clip
    monkeypatch.setattr(
        jobs_module, "read_clip", lambda path, rate: real(path, rate) if "short" in path.name else pytest.fail()
    )
    jobs = plan_jobs([folder])
    report = encode_corpus(model, jobs, make_writer("files", tmp_path / "out", jobs), progress=False, chunk_seconds=3.0)
    assert report.done == 2 and not report.failures
    for name in ("long", "short"):
        audio, rate = read_audio(folder / f"{name}.wav")
        stored = Tokens.load(tmp_path / "out" / f"{name}.tok")
        assert torch.equal(stored.codes, model.encode(audio, rate, chunk_seconds=3.0).codes)


def test_a_truncated_long_file_is_refused(model: Codec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.mp3"
    sf.write(path, write_speechlike(tmp_path / "a.wav", 20.0, RATE), RATE, format="MP3", subtype="MPEG_LAYER_III")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    monkeypatch.setattr(api, "STREAM_SECONDS", 5.0)
    with pytest.raises(CodecError, match="damaged or truncated"):
        model.encode_file(path, chunk_seconds=3.0)
