"""Tests for audio reading, writing, resampling and file discovery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from codec.errors import CodecError
from codec.io import audio as audio_module
from codec.io.audio import (
    AUDIO_EXTENSIONS,
    atomic_write_bytes,
    check_finite,
    find_audio_files,
    read_audio,
    resample,
    resampled_length,
    to_mono,
    write_audio,
)


def sine(frequency: float, sample_rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def peak_frequency(signal: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size)))
    return float(np.fft.rfftfreq(signal.size, 1 / sample_rate)[spectrum.argmax()])


def assert_codec_error(path: Path, message: str) -> None:
    with pytest.raises(CodecError, match=message) as caught:
        read_audio(path)
    assert str(caught.value).startswith(f"{path}: ")


# ---------------------------------------------------------------------------------------------- reading


@pytest.mark.parametrize(("extension", "tolerance"), [("wav", 1e-4), ("flac", 1e-4), ("ogg", 0.1)])
def test_read_formats(tmp_path: Path, extension: str, tolerance: float) -> None:
    path = tmp_path / f"tone.{extension}"
    signal = sine(440, 16000)
    sf.write(path, signal, 16000)
    audio, sample_rate = read_audio(path)
    assert sample_rate == 16000
    assert audio.dtype == np.float32
    assert audio.shape == (1, signal.size)
    assert np.abs(audio[0] - signal).max() < tolerance


def test_read_stereo(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    left, right = sine(440, 8000), sine(880, 8000, amplitude=0.25)
    sf.write(path, np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    audio, sample_rate = read_audio(path)
    assert sample_rate == 8000
    assert audio.shape == (2, 8000)
    assert audio.flags.c_contiguous
    np.testing.assert_array_equal(audio[1], right)
    np.testing.assert_allclose(to_mono(audio), (left + right) / 2, atol=1e-7)


def test_read_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    assert_codec_error(path, "cannot read audio")


def test_read_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.flac"
    path.write_bytes(b"")
    assert_codec_error(path, "cannot read audio")


def test_read_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not audio")
    assert_codec_error(path, "cannot read audio")


def test_read_zero_samples(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    assert_codec_error(path, "no samples")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_read_non_finite(tmp_path: Path, bad: float) -> None:
    path = tmp_path / "bad.wav"
    samples = np.zeros(100, dtype=np.float32)
    samples[37] = bad
    sf.write(path, samples, 16000, subtype="FLOAT")
    assert_codec_error(path, "NaN|infinite")


def test_read_missing_and_folder(tmp_path: Path) -> None:
    assert_codec_error(tmp_path / "missing.wav", "no such file")
    assert_codec_error(tmp_path, "not a file")


def test_check_finite() -> None:
    check_finite(np.zeros((2, 5)), "ok")
    check_finite(torch.zeros(3), "ok")
    with pytest.raises(CodecError, match=r"^array 0: audio contains 1 NaN and 2 infinite"):
        check_finite(np.array([0.0, np.nan, np.inf, -np.inf]), "array 0")
    with pytest.raises(CodecError, match="1 NaN and 0 infinite"):
        check_finite(torch.tensor([[0.0, float("nan")]]), "tensor")


# ---------------------------------------------------------------------------------------------- mixing, resampling


def test_to_mono() -> None:
    assert to_mono(np.ones((3, 10), dtype=np.float64)).dtype == np.float32
    assert to_mono(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist() == [2.0, 3.0]
    assert to_mono(np.arange(4.0)).shape == (4,)


def test_resample_sine() -> None:
    signal = sine(1000, 44100)
    out = resample(signal, 44100, 16000)
    assert out.dtype == np.float32
    assert out.shape == (16000,)
    assert peak_frequency(out, 16000) == pytest.approx(1000, abs=2)
    assert np.abs(out).max() == pytest.approx(0.5, abs=0.02)


def test_resample_multichannel_and_batch() -> None:
    stereo = np.stack([sine(440, 16000), sine(3000, 16000)])
    out = resample(stereo, 16000, 24000)
    assert out.shape == (2, 24000)
    assert peak_frequency(out[0], 24000) == pytest.approx(440, abs=2)
    assert peak_frequency(out[1], 24000) == pytest.approx(3000, abs=2)
    batch = np.zeros((2, 3, 1000), dtype=np.float32)
    assert resample(batch, 16000, 8000).shape == (2, 3, 500)


@pytest.mark.parametrize(("sr_in", "sr_out"), [(44100, 16000), (16000, 48000), (8000, 8001)])
@pytest.mark.parametrize("length", [1, 2, 3, 17, 1001])
def test_resample_lengths(sr_in: int, sr_out: int, length: int) -> None:
    out = resample(np.full((2, length), 0.25, dtype=np.float32), sr_in, sr_out)
    assert out.shape == (2, resampled_length(length, sr_in, sr_out))
    assert out.shape[1] >= 1
    assert np.isfinite(out).all()


def test_resample_one_sample() -> None:
    assert resample(np.array([0.5], dtype=np.float32), 44100, 16000).tolist() == [0.5]
    assert resample(np.array([0.5]), 16000, 48000).shape == (3,)
    assert resample(np.zeros(0), 16000, 48000).shape == (0,)


def test_resample_same_rate_is_a_copy() -> None:
    signal = np.arange(5, dtype=np.float64)
    out = resample(signal, 16000, 16000)
    assert out.dtype == np.float32
    out[0] = 99
    assert signal[0] == 0


# ---------------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize("extension", ["wav", "flac", "ogg", "opus", "aiff", "aif"])
def test_write_and_read_back(tmp_path: Path, extension: str) -> None:
    path = tmp_path / "sub" / f"out.{extension}"
    signal = sine(440, 16000)
    write_audio(path, np.stack([signal, signal]), 16000)
    audio, sample_rate = read_audio(path)
    assert sample_rate == 16000 and audio.shape[0] == 2
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_write_clips_integer_subtypes(tmp_path: Path) -> None:
    loud = np.array([-3.0, -1.0, 0.5, 2.0], dtype=np.float32)
    write_audio(tmp_path / "pcm.wav", loud, 8000, subtype="PCM_24")
    write_audio(tmp_path / "float.wav", loud, 8000, subtype="FLOAT")
    pcm, _ = read_audio(tmp_path / "pcm.wav")
    floats, _ = read_audio(tmp_path / "float.wav")
    np.testing.assert_allclose(pcm[0], [-1.0, -1.0, 0.5, 1.0], atol=1e-6)
    np.testing.assert_array_equal(floats[0], loud)


def test_write_replaces_existing(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    write_audio(path, np.zeros(10), 8000)
    write_audio(path, np.full(20, 0.5), 8000)
    assert read_audio(path)[0].shape == (1, 20)
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]


def test_failed_write_leaves_destination_untouched(tmp_path: Path) -> None:
    path = tmp_path / "keep.opus"
    write_audio(path, sine(440, 16000), 16000)
    before = path.read_bytes()
    with pytest.raises(CodecError, match="cannot write audio") as caught:
        write_audio(path, sine(440, 44100), 44100)  # Opus refuses 44.1 kHz
    assert str(caught.value).startswith(f"{path}: ")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.opus"]


def test_write_interrupted_midway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keep.wav"
    write_audio(path, np.zeros(100), 8000)
    before = path.read_bytes()

    def broken_write(file: Path, *args: object, **kwargs: object) -> None:
        Path(file).write_bytes(b"RIFF partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(audio_module.sf, "write", broken_write)
    with pytest.raises(CodecError, match="disk full"):
        write_audio(path, np.ones(100) * 0.1, 8000)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]


def test_write_errors(tmp_path: Path) -> None:
    with pytest.raises(CodecError, match="unknown audio extension"):
        write_audio(tmp_path / "x.xyz", np.zeros(10), 8000)
    with pytest.raises(CodecError, match="subtype VORBIS cannot be written"):
        write_audio(tmp_path / "x.wav", np.zeros(10), 8000, subtype="vorbis")
    with pytest.raises(CodecError, match="NaN"):
        write_audio(tmp_path / "x.wav", np.array([0.0, np.nan]), 8000)
    (tmp_path / "file").write_text("")
    with pytest.raises(CodecError, match="cannot write audio"):
        write_audio(tmp_path / "file" / "x.wav", np.zeros(10), 8000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_atomic_write_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.bin"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["b.bin"]
    with pytest.raises(CodecError, match="cannot write file"):
        atomic_write_bytes(tmp_path / "a", b"x")  # a folder is in the way
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


# ---------------------------------------------------------------------------------------------- discovery


def test_find_audio_files(tmp_path: Path) -> None:
    for name in ["b.wav", "a.FLAC", "notes.txt", "sub/z.ogg", "sub/deeper/c.mp3", "sub/x.json", ".hidden.wav"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    names = [p.relative_to(tmp_path).as_posix() for p in find_audio_files([tmp_path])]
    assert names == ["a.FLAC", "b.wav", "sub/deeper/c.mp3", "sub/z.ogg"]
    flat = [p.name for p in find_audio_files([tmp_path], recursive=False)]
    assert flat == ["a.FLAC", "b.wav"]
    explicit = tmp_path / "notes.txt"
    mixed = find_audio_files([explicit, tmp_path / "sub", tmp_path / "sub" / "z.ogg"])
    assert mixed == [explicit, tmp_path / "sub" / "deeper" / "c.mp3", tmp_path / "sub" / "z.ogg"]
    assert find_audio_files([]) == []
    with pytest.raises(CodecError, match="no such file") as caught:
        find_audio_files([tmp_path / "b.wav", tmp_path / "nope"])
    assert str(tmp_path / "nope") in str(caught.value)


def test_extensions() -> None:
    assert {".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".au"} <= AUDIO_EXTENSIONS
    assert all(ext == ext.lower() and ext.startswith(".") for ext in AUDIO_EXTENSIONS)
