"""The ``codec`` command end to end on tiny random models: encode / decode / info / export / help, and
bad input (one line per failure naming the file, no traceback, no partial output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from codec.api import Codec
from codec.cli.common import EXIT_ERROR, EXIT_FAILED_FILES
from codec.cli.main import main
from codec.formats.tokens import Tokens
from codec.inference.streaming import algorithmic_latency_seconds
from codec.io.audio import resampled_length
from codec.loading import load_codec, save_pretrained

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes" / "codec"
RATE = 16000
HOP = 320

# relative path -> (samples, sample rate, channels, subtype)
LAYOUT: dict[str, tuple[int, int, int, str | None]] = {
    "a.wav": (8000, 16000, 1, None),
    "sub/b.flac": (4410, 44100, 2, None),
    "sub/deeper/c.ogg": (4000, 8000, 1, None),
    "sub/deeper/d.wav": (2000, 8000, 2, "FLOAT"),
    "sub/three.wav": (3, 16000, 1, None),
}


def recipe(name: str) -> dict[str, Any]:
    return yaml.safe_load((RECIPES / f"{name}.yaml").read_text())


def signal(samples: int, rate: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    mono = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(samples)
    return np.stack([mono * (0.5 + 0.5 * c) for c in range(channels)], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random-weight tiny models saved as pretrained folders (random weights are fine for I/O)."""
    root = tmp_path_factory.mktemp("models")
    folders = {}
    for key, name, seed in (("vq", "tiny-vq", 0), ("vq2", "tiny-vq", 1), ("rvq", "tiny-rvq", 0)):
        torch.manual_seed(seed)
        folders[key] = save_pretrained(Codec.from_config(recipe(name)["model"]["codec"]).eval(), root / key)
    return folders


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audio") / "in"
    for i, (relative, (samples, rate, channels, subtype)) in enumerate(LAYOUT.items()):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, signal(samples, rate, channels, seed=i), rate, subtype=subtype)
    (root / "notes.txt").write_text("not audio: ignored in folders")
    (root / ".hidden.wav").write_bytes(b"ignored: hidden")
    return root


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder`` (hidden ones included), relative, sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def assert_failures(err: str, verb: str, done: int, failed: list[Path]) -> None:
    """stderr is the summary line then exactly one line per failed file, naming it; no traceback."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert lines[0].split(" (")[0] == f"{done} {verb}, {len(failed)} failed"
    assert len(lines) == 1 + len(failed), lines
    for line, path in zip(lines[1:], sorted(failed, key=str), strict=True):
        assert line.startswith(f"  failed: {path}: "), (line, path)
        assert len(line) > len(f"  failed: {path}: ") + 5, line  # a reason follows


def assert_one_error_line(err: str, *names: object) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    for name in names:
        assert str(name) in lines[0]


def expected_samples(relative: str) -> int:
    samples, rate, _, _ = LAYOUT[relative]
    return resampled_length(samples, rate, RATE)


# --------------------------------------------------------------------------- happy paths


def test_encode_folder_mirrors_layout_and_decode_restores_duration(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens_dir, audio_out = tmp_path / "tok", tmp_path / "wav"
    code, out, err = run(["encode", str(audio_dir), "-o", str(tokens_dir), "--model", str(models["vq"]), "-q"], capsys)
    assert code == 0, err
    assert out == ""
    assert err.strip().startswith(f"{len(LAYOUT)} encoded, 0 failed (")
    assert files_under(tokens_dir) == sorted(str(Path(r).with_suffix(".tok")) for r in LAYOUT)

    for relative in LAYOUT:
        tokens = Tokens.load(tokens_dir / Path(relative).with_suffix(".tok"))
        assert tokens.model_name == "tiny-vq"
        assert (tokens.sample_rate, tokens.hop_length, tokens.n_codebooks) == (RATE, HOP, 1)
        assert int(tokens.audio_lengths[0]) == expected_samples(relative), relative
        assert int(tokens.code_lengths[0]) == max(1, -(-expected_samples(relative) // HOP)), relative

    code, _, err = run(["decode", str(tokens_dir), "-o", str(audio_out), "--model", str(models["vq"]), "-q"], capsys)
    assert code == 0, err
    assert err.strip() == f"{len(LAYOUT)} decoded, 0 failed"
    assert files_under(audio_out) == sorted(str(Path(r).with_suffix(".wav")) for r in LAYOUT)
    for relative in LAYOUT:
        info = sf.info(audio_out / Path(relative).with_suffix(".wav"))
        assert info.samplerate == RATE, relative
        assert info.channels == 1, relative
        assert info.frames == expected_samples(relative), relative
    # 8 kHz stereo float wav of 2000 samples -> exactly 4000 samples at 16 kHz; 3 samples stay 3.
    assert sf.info(audio_out / "sub/deeper/d.wav").frames == 4000
    assert sf.info(audio_out / "sub/three.wav").frames == 3


def test_no_recursive_only_takes_the_top_folder(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["encode", str(audio_dir), "-o", str(tmp_path), "--model", str(models["vq"]), "--no-recursive", "-q"], capsys
    )
    assert code == 0, err
    assert files_under(tmp_path) == ["a.tok"]


def test_decode_to_flac(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(["encode", str(audio_dir), "-o", str(tmp_path / "t"), "--model", str(models["vq"]), "-q"], capsys)[0] == 0
    )
    code, _, err = run(
        [
            "decode",
            str(tmp_path / "t"),
            "-o",
            str(tmp_path / "f"),
            "--model",
            str(models["vq"]),
            "--format",
            "flac",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    assert files_under(tmp_path / "f") == sorted(str(Path(r).with_suffix(".flac")) for r in LAYOUT)
    assert sf.info(tmp_path / "f" / "sub/b.flac").frames == expected_samples("sub/b.flac")


def test_n_codebooks_with_rvq(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = audio_dir / "sub/b.flac"
    for n in (1, 2, 4):
        tok = tmp_path / f"b{n}.tok"
        code, _, err = run(
            ["encode", str(source), "-o", str(tok), "--model", str(models["rvq"]), "--n-codebooks", str(n)], capsys
        )
        assert code == 0, err
        tokens = Tokens.load(tok)
        assert tokens.n_codebooks == n
        assert tokens.bitrate == pytest.approx(50.0 * n * 6)
        wav = tmp_path / f"b{n}.wav"
        code, _, err = run(["decode", str(tok), "-o", str(wav), "--model", str(models["rvq"])], capsys)
        assert code == 0, err
        assert sf.info(wav).frames == expected_samples("sub/b.flac")
    full = Tokens.load(tmp_path / "b4.tok")
    two = Tokens.load(tmp_path / "b2.tok")
    assert torch.equal(two.codes, full.codes[:, :2])  # fewer codebooks = the leading ones


def test_single_file_with_explicit_output_names(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tok = tmp_path / "x.tok"
    code, _, err = run(
        ["encode", str(audio_dir / "sub/deeper/c.ogg"), "-o", str(tok), "--model", str(models["vq"])], capsys
    )
    assert code == 0, err
    assert files_under(tmp_path) == ["x.tok"]
    out = tmp_path / "y.flac"
    code, _, err = run(["decode", str(tok), "-o", str(out), "--model", str(models["vq"])], capsys)
    assert code == 0, err
    assert files_under(tmp_path) == ["x.tok", "y.flac"]
    info = sf.info(out)
    assert (info.samplerate, info.frames, info.format) == (RATE, expected_samples("sub/deeper/c.ogg"), "FLAC")
    # A single file into an existing folder keeps its name.
    (tmp_path / "folder").mkdir()
    code, _, err = run(
        ["encode", str(audio_dir / "a.wav"), "-o", str(tmp_path / "folder"), "--model", str(models["vq"])], capsys
    )
    assert code == 0, err
    assert files_under(tmp_path / "folder") == ["a.tok"]


def test_existing_outputs_are_skipped_unless_overwrite(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["encode", str(audio_dir), "-o", str(tmp_path), "--model", str(models["vq"]), "-q"]
    assert run(args, capsys)[0] == 0
    old = 1_000_000_000
    for path in tmp_path.rglob("*.tok"):
        os.utime(path, (old, old))
    (tmp_path / "a.tok").unlink()  # only this one is redone

    code, _, err = run(args, capsys)
    assert code == 0
    assert err.strip() == "1 encoded, 0 failed"
    mtimes = {p.relative_to(tmp_path).as_posix(): p.stat().st_mtime for p in tmp_path.rglob("*.tok")}
    assert mtimes.pop("a.tok") > old
    assert len(mtimes) == len(LAYOUT) - 1
    assert set(mtimes.values()) == {old}

    code, _, err = run([*args, "--overwrite"], capsys)
    assert code == 0
    assert err.strip().startswith(f"{len(LAYOUT)} encoded, 0 failed (")
    assert all(p.stat().st_mtime > old for p in tmp_path.rglob("*.tok"))

    wav_dir = tmp_path / "decoded"
    decode = ["decode", str(tmp_path / "sub"), "-o", str(wav_dir), "--model", str(models["vq"]), "-q"]
    assert run(decode, capsys)[0] == 0
    os.utime(wav_dir / "b.wav", (old, old))
    code, _, err = run(decode, capsys)
    assert (code, err.strip()) == (0, "0 decoded, 0 failed (4 skipped: their outputs exist; --overwrite redoes them)")
    assert (wav_dir / "b.wav").stat().st_mtime == old
    assert run([*decode, "--overwrite"], capsys)[0] == 0
    assert (wav_dir / "b.wav").stat().st_mtime > old


def test_info_on_a_model(models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["info", str(models["rvq"]), "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    assert info["name"] == "tiny-rvq"
    assert (info["sample_rate"], info["hop_length"], info["frame_rate"]) == (RATE, HOP, 50.0)
    assert (info["n_codebooks"], info["codebook_size"]) == (4, 64)
    assert info["bitrate"] == {"1": 300.0, "2": 600.0, "3": 900.0, "4": 1200.0}
    parameters = info["parameters"]
    assert parameters["total"] == parameters["encoder"] + parameters["quantizer"] + parameters["decoder"] > 0
    config = json.loads((models["rvq"] / "config.json").read_text())
    assert info["model_fingerprint"] == config["model_fingerprint"]
    assert info["token_fingerprint"] == config["token_fingerprint"] and info["min_codebooks"] == 1
    assert info["causal"] is False and info["streaming_latency_ms"] == "not streamable (LSTM or attention)"

    code, out, _ = run(["info", str(models["vq"])], capsys)
    assert code == 0
    lines = out.splitlines()
    assert "name: tiny-vq" in lines
    assert "frame_rate: 50" in lines
    assert "  1: 300" in lines
    assert any(line.startswith("  total: ") for line in lines)
    latency = algorithmic_latency_seconds(load_codec(models["vq"]))
    assert latency is not None and latency > HOP / RATE  # a frame plus the non-causal lookahead
    assert f"streaming_latency_ms: {round(1000 * latency, 1)}" in lines


def test_info_on_a_token_file(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tok = tmp_path / "b.tok"
    source = audio_dir / "sub/b.flac"
    assert (
        run(["encode", str(source), "-o", str(tok), "--model", str(models["rvq"]), "--n-codebooks", "3"], capsys)[0]
        == 0
    )
    code, out, _ = run(["info", str(tok), "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    samples = expected_samples("sub/b.flac")
    assert info["file"] == str(tok)
    assert info["model_name"] == "tiny-rvq"
    config = json.loads((models["rvq"] / "config.json").read_text())
    assert (info["fingerprint"], info["token_fingerprint"]) == (
        config["model_fingerprint"],
        config["token_fingerprint"],
    )
    assert info["min_codebooks"] == 1
    assert (info["sample_rate"], info["frame_rate"], info["n_codebooks"], info["codebook_size"]) == (RATE, 50.0, 3, 64)
    assert info["frames"] == -(-samples // HOP)
    assert info["seconds"] == pytest.approx(samples / RATE)
    assert info["bitrate"] == pytest.approx(900.0)
    assert info["file_bytes"] == tok.stat().st_size


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for command in ("encode", "decode", "info", "export", "train"):
        assert command in out
    expected = {
        "encode": [
            "--output",
            "--n-codebooks",
            "--no-recursive",
            "--model",
            "--device",
            "--dtype",
            "--batch-size",
            "--overwrite",
            "--quiet",
        ],
        "decode": [
            "--output",
            "--format",
            "--pitch-shift",
            "--model",
            "--device",
            "--dtype",
            "--batch-size",
            "--overwrite",
        ],
        "info": ["--json", "--model"],
        "export": ["--output", "--name", "--half"],
    }
    for command, options in expected.items():
        with pytest.raises(SystemExit) as caught:
            main([command, "--help"])
        assert caught.value.code == 0, command
        out = capsys.readouterr().out
        assert out.startswith(f"usage: codec {command}"), command
        for option in options:
            assert option in out, (command, option)


def test_train_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["train", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "codec train" in out
    for option in ("fit", "validate"):
        assert option in out
    with pytest.raises(SystemExit) as caught:
        main(["train", "fit", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--config",
        "--trainer.max_steps",
        "--model.codec",
        "--model.gan_start_step",
        "--data.train",
        "--ckpt_path",
    ):
        assert option in out, option


def test_real_process_exit_status_and_stderr(models: dict[str, Path], audio_dir: Path, tmp_path: Path) -> None:
    """One real ``python -m codec.cli`` process: a good and a damaged token file in one batch."""
    folder = tmp_path / "tok"
    assert (
        main(["encode", str(audio_dir / "a.wav"), "-o", str(folder / "good.tok"), "--model", str(models["vq"]), "-q"])
        == 0
    )
    (folder / "bad.tok").write_bytes((folder / "good.tok").read_bytes()[:-3])
    out = tmp_path / "wav"
    result = subprocess.run(
        [sys.executable, "-m", "codec.cli", "decode", str(folder), "-o", str(out), "--model", str(models["vq"]), "-q"],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_FAILED_FILES
    assert result.stdout == ""
    assert_failures(result.stderr, "decoded", 1, [folder / "bad.tok"])
    assert files_under(out) == ["good.wav"]
    assert sf.info(out / "good.wav").frames == expected_samples("a.wav")


# --------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def bad_audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad_audio")
    corrupt = root / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + np.random.default_rng(7).bytes(3000))
    empty = root / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), RATE)
    nan = root / "nan.wav"
    samples = signal(1600, RATE, 1)[:, 0]
    samples[100] = np.nan
    sf.write(nan, samples, RATE, subtype="FLOAT")
    inf = root / "inf.wav"
    samples[100] = np.inf
    sf.write(inf, samples, RATE, subtype="FLOAT")
    zero_bytes = root / "zero_bytes.flac"
    zero_bytes.write_bytes(b"")
    return {"corrupt": corrupt, "empty": empty, "nan": nan, "inf": inf, "zero_bytes": zero_bytes}


@pytest.mark.parametrize("case", ["corrupt", "empty", "nan", "inf", "zero_bytes"])
def test_encode_bad_audio(
    case: str, bad_audio: dict[str, Path], models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bad_audio[case]
    out = tmp_path / "out"
    code, stdout, err = run(["encode", str(path), "-o", str(out / "x.tok"), "--model", str(models["vq"]), "-q"], capsys)
    assert code == EXIT_FAILED_FILES
    assert_failures(err, "encoded", 0, [path])
    assert stdout == ""
    assert not out.exists() or files_under(out) == []


def test_batch_with_good_and_bad_files(
    bad_audio: dict[str, Path],
    models: dict[str, Path],
    audio_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    for path in bad_audio.values():
        (batch / path.name).write_bytes(path.read_bytes())
    good = ["a.wav", "sub/b.flac", "sub/deeper/c.ogg"]
    for relative in good:
        target = batch / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((audio_dir / relative).read_bytes())
    out = tmp_path / "out"
    # Batch size 2 mixes good and bad files in the same model call.
    code, _, err = run(
        ["encode", str(batch), "-o", str(out), "--model", str(models["vq"]), "--batch-size", "2", "-q"], capsys
    )
    assert code == EXIT_FAILED_FILES
    assert_failures(err, "encoded", len(good), [batch / p.name for p in bad_audio.values()])
    assert files_under(out) == sorted(str(Path(r).with_suffix(".tok")) for r in good)
    for relative in good:
        assert int(Tokens.load(out / Path(relative).with_suffix(".tok")).audio_lengths[0]) == expected_samples(relative)


@pytest.fixture(scope="module")
def token_files(models: dict[str, Path], audio_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tokens")
    good = root / "good.tok"
    assert main(["encode", str(audio_dir / "a.wav"), "-o", str(good), "--model", str(models["vq"]), "-q"]) == 0
    data = good.read_bytes()
    truncated = root / "truncated.tok"
    truncated.write_bytes(data[:-7])
    flipped = root / "flipped.tok"
    damaged = bytearray(data)
    damaged[-6] ^= 0x10  # inside the code payload, before the checksum
    flipped.write_bytes(bytes(damaged))
    garbage = root / "garbage.tok"
    garbage.write_bytes(np.random.default_rng(3).bytes(200))
    other = root / "other_model.tok"
    assert main(["encode", str(audio_dir / "a.wav"), "-o", str(other), "--model", str(models["vq2"]), "-q"]) == 0
    rvq = root / "rvq.tok"
    assert main(["encode", str(audio_dir / "a.wav"), "-o", str(rvq), "--model", str(models["rvq"]), "-q"]) == 0
    return {"good": good, "truncated": truncated, "flipped": flipped, "garbage": garbage, "other": other, "rvq": rvq}


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("truncated", "truncated"),
        ("flipped", "checksum mismatch"),
        ("garbage", "not a token file"),
        ("other", "made by model tiny-vq (fingerprint"),
        ("rvq", "made by model tiny-rvq"),
    ],
)
def test_decode_bad_token_file(
    case: str,
    reason: str,
    token_files: dict[str, Path],
    models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = token_files[case]
    out = tmp_path / "out"
    code, _, err = run(["decode", str(path), "-o", str(out / "x.wav"), "--model", str(models["vq"]), "-q"], capsys)
    assert code == EXIT_FAILED_FILES
    assert_failures(err, "decoded", 0, [path])
    assert reason in err
    assert not out.exists() or files_under(out) == []


def test_decode_batch_with_good_and_bad_token_files(
    token_files: dict[str, Path], models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "tokens"
    folder.mkdir()
    for path in token_files.values():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "again.tok").write_bytes(token_files["good"].read_bytes())
    out = tmp_path / "out"
    code, _, err = run(
        ["decode", str(folder), "-o", str(out), "--model", str(models["vq"]), "--batch-size", "3", "-q"], capsys
    )
    assert code == EXIT_FAILED_FILES
    bad = [folder / f"{name}.tok" for name in ("truncated", "flipped", "garbage", "other_model", "rvq")]
    assert_failures(err, "decoded", 2, bad)
    assert files_under(out) == ["again.wav", "good.wav"]
    assert sf.info(out / "good.wav").frames == expected_samples("a.wav")


def test_decode_without_model_names_the_token_file(
    token_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["decode", str(token_files["good"]), "-o", str(tmp_path / "x.wav")], capsys)
    assert code == EXIT_ERROR
    assert_one_error_line(err, token_files["good"], "tiny-vq", "--model")
    assert files_under(tmp_path) == []


def test_missing_input(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.wav"
    for command in ("encode", "decode"):
        code, _, err = run([command, str(missing), "-o", str(tmp_path / "out"), "--model", str(models["vq"])], capsys)
        assert code == EXIT_ERROR, command
        assert_one_error_line(err, missing, "no such file")
    assert files_under(tmp_path) == []
    assert not (tmp_path / "out").exists()


def test_folder_without_audio(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run(
        ["encode", str(tmp_path / "empty"), "-o", str(tmp_path / "out"), "--model", str(models["vq"])], capsys
    )
    assert code == EXIT_ERROR
    assert_one_error_line(err, "no audio files")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["encode", "decode", "info"])
def test_unknown_model(
    command: str, audio_dir: Path, token_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = {"encode": audio_dir / "a.wav", "decode": token_files["good"]}.get(command)
    args = (
        [command, str(source), "-o", str(tmp_path / "out"), "--model", "no-such-model"]
        if source
        else [command, "no-such-model"]
    )
    code, stdout, err = run(args, capsys)
    assert code == EXIT_ERROR
    assert_one_error_line(err, "no-such-model", "no such model")
    assert stdout == ""
    assert files_under(tmp_path) == []


def test_export_of_a_non_checkpoint(audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(np.random.default_rng(5).bytes(1000))
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    for source in (garbage, audio_dir / "a.wav", foreign, tmp_path / "missing.ckpt"):
        out = tmp_path / "exported"
        code, stdout, err = run(["export", str(source), "-o", str(out)], capsys)
        assert code == EXIT_ERROR, source
        assert_one_error_line(err, source)
        assert stdout == ""
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.ckpt", "garbage.ckpt"]  # no staging folders


def test_info_on_a_damaged_token_file(token_files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run(["info", str(token_files["truncated"]), "--json"], capsys)
    assert code == EXIT_ERROR
    assert_one_error_line(err, token_files["truncated"], "truncated")
    assert stdout == ""


# --------------------------------------------------------------------------- edge cases


def encode_args(source: Path, output: Path, model: Path, *extra: str) -> list[str]:
    return ["encode", str(source), "-o", str(output), "--model", str(model), "-q", *extra]


def test_inputs_that_would_share_an_output_keep_their_extension(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "a.wav", signal(1600, RATE, 1), RATE)
    sf.write(folder / "a.flac", signal(3200, RATE, 1), RATE)
    sf.write(folder / "b.wav", signal(800, RATE, 1), RATE)
    out = tmp_path / "out"
    code, _, err = run(encode_args(folder, out, models["vq"]), capsys)
    assert code == 0, err
    assert err.strip().startswith("3 encoded, 0 failed (")
    assert files_under(out) == ["a.flac.tok", "a.wav.tok", "b.tok"]
    lengths = {name: int(Tokens.load(out / name).audio_lengths[0]) for name in files_under(out)}
    assert lengths == {"a.flac.tok": 3200, "a.wav.tok": 1600, "b.tok": 800}
    # Decoding that folder gives each its own audio file again.
    code, _, err = run(["decode", str(out), "-o", str(tmp_path / "wav"), "--model", str(models["vq"]), "-q"], capsys)
    assert code == 0, err
    assert files_under(tmp_path / "wav") == ["a.flac.wav", "a.wav.wav", "b.wav"]
    assert sf.info(tmp_path / "wav" / "a.flac.wav").frames == 3200


@pytest.mark.parametrize("n", ["0", "5", "-1"])
def test_n_codebooks_out_of_range_is_a_one_line_error(
    n: str, models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = run(
        encode_args(audio_dir / "a.wav", tmp_path / "a.tok", models["rvq"], "--n-codebooks", n), capsys
    )
    assert code == EXIT_ERROR
    assert_one_error_line(err, "--n-codebooks", "1..4", n)
    assert stdout == ""
    assert files_under(tmp_path) == []


def test_pitch_shift_without_a_pitch_track_is_a_one_line_error(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tok = tmp_path / "a.tok"
    assert main(encode_args(audio_dir / "a.wav", tok, models["vq"])) == 0
    capsys.readouterr()
    out = tmp_path / "a.wav"
    code, stdout, err = run(
        ["decode", str(tok), "-o", str(out), "--model", str(models["vq"]), "--pitch-shift", "3"], capsys
    )
    assert code == EXIT_ERROR
    assert_one_error_line(err, "no pitch track")
    assert stdout == "" and files_under(tmp_path) == ["a.tok"]


def test_decode_folder_with_different_codebook_counts(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "tok"
    for n in (2, 4, 1):
        assert main(encode_args(audio_dir / "a.wav", folder / f"a{n}.tok", models["rvq"], "--n-codebooks", str(n))) == 0
    capsys.readouterr()
    wav = tmp_path / "wav"
    code, _, err = run(["decode", str(folder), "-o", str(wav), "--model", str(models["rvq"]), "-q"], capsys)
    assert code == 0, err
    assert err.strip() == "3 decoded, 0 failed"
    assert files_under(wav) == ["a1.wav", "a2.wav", "a4.wav"]
    assert {sf.info(wav / name).frames for name in files_under(wav)} == {expected_samples("a.wav")}
    # Each file decodes as it does alone (grouping by codebook count does not mix them up).
    for n in (1, 2, 4):
        alone = tmp_path / f"alone{n}.wav"
        assert main(["decode", str(folder / f"a{n}.tok"), "-o", str(alone), "--model", str(models["rvq"]), "-q"]) == 0
        assert np.array_equal(sf.read(alone)[0], sf.read(wav / f"a{n}.wav")[0]), n


# ------------------------------------------------------- odd arguments and data that must be kept


@pytest.mark.parametrize(
    ("option", "value"),
    [("--batch-size", "0"), ("--chunk-seconds", "-1"), ("--batch-seconds", "0"), ("--shard-items", "0")],
)
def test_bad_option_values_are_usage_errors(
    option: str, value: str, audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["encode", str(audio_dir / "a.wav"), "-o", str(tmp_path / "o"), option, value])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"argument {option}" in err and "must be at least" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--device", "bogus"], "not a torch device"), (["--device", "cuda:7"], "cuda:7")],
)
def test_bad_device_is_one_line(
    extra: list[str], message: str, models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys
) -> None:
    args = ["encode", str(audio_dir / "a.wav"), "-o", str(tmp_path / "o.tok"), "--model", str(models["vq"])]
    code, _, err = run([*args, *extra], capsys)
    assert code == EXIT_ERROR
    assert_one_error_line(err, message)
    assert files_under(tmp_path) == []


def test_inputs_and_outputs_are_never_clobbered(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = tmp_path / "keep.wav"
    wav.write_bytes((audio_dir / "a.wav").read_bytes())
    model = ["--model", str(models["vq"])]
    code, _, err = run(["encode", str(wav), "-o", str(wav), "--overwrite", *model], capsys)
    assert code == EXIT_ERROR and wav.read_bytes() == (audio_dir / "a.wav").read_bytes()
    assert_one_error_line(err, wav, "is this input")
    for args in (["encode", "", "-o", str(tmp_path / "o")], ["encode", str(wav), "-o", ""]):
        code, _, err = run([*args, *model], capsys)
        assert code == EXIT_ERROR
        assert_one_error_line(err, "empty")
    # A shard folder whose index is gone: its shards are not deleted.
    shards = tmp_path / "shards"
    args = ["encode", str(audio_dir), "-o", str(shards), "--layout", "shards", "--shard-items", "2", "-q", *model]
    assert main(args) == 0
    capsys.readouterr()
    (shards / "index-r0.jsonl").unlink()
    kept = files_under(shards)
    code, _, err = run(args, capsys)
    assert code == EXIT_ERROR and files_under(shards) == kept
    assert_one_error_line(err, "not in index-r0.jsonl")


def test_damaged_shard_index_is_one_line(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shards = tmp_path / "shards"
    assert (
        main(["encode", str(audio_dir), "-o", str(shards), "--layout", "shards", "-q", "--model", str(models["vq"])])
        == 0
    )
    capsys.readouterr()
    index = shards / "index-r0.jsonl"
    lines = index.read_text().splitlines(keepends=True)
    for bad, message in [
        (lines[0] + lines[0], "indexed twice"),
        (lines[0].replace('"shard": "', '"shard": "../'), "not an index entry"),
        ('{"key": "x", "seconds": NaN}\n' + "".join(lines), "not an index entry"),
        ("[" * 100000 + "\n" + "".join(lines), "not valid JSON"),
    ]:
        index.write_text(bad)
        code, _, err = run(["info", str(shards)], capsys)
        assert code == EXIT_ERROR, message
        assert_one_error_line(err, index, message)
    index.write_bytes(b"\xff\n")
    code, _, err = run(["info", str(shards)], capsys)
    assert_one_error_line(err, "not UTF-8")
    index.write_text("".join(lines))
    shard = next(shards.glob("*.toks"))
    shard.write_bytes(b"RIFF" + shard.read_bytes()[4:])
    code, _, err = run(["info", str(shards)], capsys)
    assert code == EXIT_ERROR
    assert_one_error_line(err, shard, "not a token shard")


def test_info_and_decode_on_damaged_token_files(
    token_files: dict[str, Path], models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.tok"
    code, _, err = run(["info", str(missing)], capsys)
    assert code == EXIT_ERROR
    assert_one_error_line(err, missing, "no such file")
    # Without --model, a damaged first file does not stop the folder: the model comes from a readable one.
    folder = tmp_path / "tokens"
    folder.mkdir()
    (folder / "a-bad.tok").write_bytes(token_files["garbage"].read_bytes())
    (folder / "b-good.tok").write_bytes(token_files["good"].read_bytes())
    code, _, err = run(["decode", str(folder), "-o", str(tmp_path / "out"), "-q"], capsys)
    assert code == EXIT_ERROR  # tiny-vq is not shipped: named by the readable file
    assert_one_error_line(err, folder / "b-good.tok", "not shipped")


def test_an_unwritable_output_is_named_in_the_failure(
    models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "out" / "a.tok"
    blocked.mkdir(parents=True)  # a folder where the token file should go
    args = ["encode", str(audio_dir / "a.wav"), str(audio_dir / "sub" / "three.wav"), "-o", str(tmp_path / "out")]
    code, _, err = run([*args, "--model", str(models["vq"]), "--overwrite", "-q"], capsys)
    assert code == EXIT_FAILED_FILES
    assert_failures(err, "encoded", 1, [audio_dir / "a.wav"])
    assert f"{blocked}: cannot write file" in err
    assert (tmp_path / "out" / "three.tok").is_file() and blocked.is_dir()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["--model.freeze_modules", "[quantizer]"], "needs a frozen encoder"),
        (["--model.codec.decoder", "{num_layers: 2}"], "unknown decoder"),
    ],
)
def test_train_refuses_bad_recipe_values_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: list[str], message: str
) -> None:
    recipe = Path(__file__).resolve().parent.parent / "recipes" / "codec" / "tiny-vq.yaml"
    code = main(["train", "fit", "--config", str(recipe), "--trainer.default_root_dir", str(tmp_path), *override])
    err = capsys.readouterr().err
    assert code == 1 and "raise ValueError" not in err
    assert err.strip().splitlines()[-1].startswith("error: ") and message in err.strip().splitlines()[-1]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_round_trip_on_the_cpu(
    dtype: str, models: dict[str, Path], audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Half-precision weights work on a CPU too (spectral ops stay float32): encode, then decode."""
    model = ["--model", str(models["vq"]), "--dtype", dtype]
    code, _, err = run(["encode", str(audio_dir / "a.wav"), "-o", str(tmp_path / "a.tok"), *model], capsys)
    assert code == 0, err
    code, _, err = run(["decode", str(tmp_path / "a.tok"), "-o", str(tmp_path / "a.wav"), *model], capsys)
    assert code == 0, err
    audio, rate = sf.read(tmp_path / "a.wav")
    assert rate == RATE and np.isfinite(audio).all() and np.abs(audio).max() > 0
