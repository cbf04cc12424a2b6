"""Odd or bad input found by a reliability sweep: each gets a one-line error or just works, never a
traceback, a hang or a silently wrong result."""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from codec.api import Codec
from codec.cli.main import main
from codec.errors import CodecError
from codec.formats.tokens import Tokens
from codec.io.audio import read_audio, write_audio
from codec.loading import load_codec, save_pretrained

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = yaml.safe_load((ROOT / "recipes" / "codec" / "tiny-vq.yaml").read_text())["model"]["codec"]
    return save_pretrained(Codec(**config).eval(), tmp_path_factory.mktemp("model") / "tiny-vq")


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Codec:
    return load_codec(model_dir)


def speech(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(np.float32)


def one_error_line(err: str, *parts: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert any(all(part in line for part in parts) for line in lines), err


def test_a_symlink_loop_in_an_input_folder_is_two_failures(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "good.wav", speech(), RATE)
    (folder / "a.wav").symlink_to("b.wav")
    (folder / "b.wav").symlink_to("a.wav")
    assert main(["encode", str(folder), "-o", str(tmp_path / "out"), "--model", str(model_dir), "-q"]) == 1
    err = capsys.readouterr().err
    one_error_line(err, "a.wav", "symlink loop")
    one_error_line(err, "b.wav", "symlink loop")
    assert (tmp_path / "out" / "good.tok").is_file()


def test_a_deeply_nested_token_header_is_damage_and_the_batch_goes_on(
    model: Codec, model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "tok"
    model.encode(speech(), RATE).save(folder / "good.tok")
    header = ("[" * 100_000 + "]" * 100_000).encode()
    prefix = struct.pack("<4sHI", b"CTOK", 1, len(header))
    body = prefix + header
    (folder / "nested.tok").write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    with pytest.raises(CodecError, match="nested too deeply"):
        Tokens.load(folder / "nested.tok")
    assert main(["decode", str(folder), "-o", str(tmp_path / "wav"), "--model", str(model_dir), "-q"]) == 1
    one_error_line(capsys.readouterr().err, "nested.tok", "nested too deeply")
    assert (tmp_path / "wav" / "good.wav").is_file()


@pytest.mark.parametrize("rate", [math.nan, math.inf, True, 16000.5, 0, -16000, "16000"])
def test_a_bad_sample_rate_is_refused_at_once(model: Codec, rate: object) -> None:
    with pytest.raises(ValueError, match="sample_rate must be"):
        model.encode(speech(), rate)


def test_a_whole_float_rate_and_numpy_integers_are_rates(model: Codec) -> None:
    expected = model.encode(speech(), RATE).codes
    assert torch.equal(model.encode(speech(), 16000.0).codes, expected)
    assert torch.equal(model.encode(speech(), np.int64(RATE)).codes, expected)


@pytest.mark.parametrize(
    "audio",
    [np.float32(0.5), np.array([True, False] * 100), np.ones(100, dtype=np.complex64), np.array(["a", "b"])],
    ids=["0-D", "bool", "complex", "strings"],
)
def test_arrays_that_are_not_samples_are_refused(model: Codec, audio: np.ndarray) -> None:
    with pytest.raises(ValueError, match="audio must"):
        model.encode(audio, RATE)


def test_integer_pcm_is_scaled_as_soundfile_reads_it(model: Codec) -> None:
    pcm = np.round(speech() * 32767).astype(np.int16)
    as_float = pcm.astype(np.float32) / 32768
    assert torch.equal(model.encode(pcm, RATE).codes, model.encode(as_float, RATE).codes)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_device_the_machine_lacks_is_a_codec_error(model_dir: Path) -> None:
    with pytest.raises(CodecError, match="no CUDA GPU is available here"):
        load_codec(model_dir, device="cuda")
    with pytest.raises(CodecError, match="not a torch device"):
        load_codec(model_dir, device="bogus")


def test_a_truncated_mp3_is_refused_not_half_read(tmp_path: Path) -> None:
    path = tmp_path / "a.mp3"
    sf.write(path, np.tile(speech(1.0), 3), RATE, format="MP3", subtype="MPEG_LAYER_III")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 5])
    with pytest.raises(CodecError, match=r"damaged or truncated: it decodes to [01]\.\d+ s of the 3\.00 s"):
        read_audio(path)


def test_an_unreadable_file_says_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, speech(), RATE)
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with pytest.raises(CodecError, match="permission denied"):
        read_audio(path)


def test_a_failed_write_names_the_output_not_the_temporary_file(tmp_path: Path) -> None:
    blocked = tmp_path / "out"
    blocked.write_text("a file where a folder would go")
    with pytest.raises(CodecError) as caught:
        write_audio(blocked / "a.wav", speech(), RATE)
    assert str(caught.value).startswith(str(blocked / "a.wav")) and ".tmp-" not in str(caught.value)


def test_info_describes_a_folder_of_token_files(
    model: Codec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a", "b"):
        model.encode(speech(seed=ord(name)), RATE).save(tmp_path / f"{name}.tok")
    assert main(["info", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["items"] == 2 and info["model"]["token_fingerprint"] == model.fingerprints().tokens
    assert info["hours"] * 3600 == pytest.approx(2 * 50 / model.frame_rate)
