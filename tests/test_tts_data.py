"""The tts16k recipe (``egs/tts16k/prepare.py``) end to end on a dozen sentences in a temporary
folder: pairs with flite phones and exact durations, held-out sentences kept out of training, a real
transcribed row marked for MAS, token shards keyed like the pairs, and a rerun that redoes nothing.

Needs flite (``flite`` and ``t2p``); skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codec.corpus.token_dataset import TokenDataset
from tts.text import TextFrontend

pytestmark = pytest.mark.skipif(
    shutil.which("flite") is None or shutil.which("t2p") is None, reason="flite is not installed"
)

REPO = Path(__file__).resolve().parents[1]
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A journey of a thousand miles begins with a single step.",
    "Time flies like an arrow, and fruit flies like a banana.",  # held out (dev) by its hash
    "She sells sea shells by the sea shore every single morning.",
    "It was the best of times, it was the worst of times.",
    "To be or not to be, that is the question we all face.",  # held out (test) by its hash
    "Never put off until tomorrow what you can do today.",
    "An apple a day keeps the doctor away, or so they say.",
]
ARGS = ["--train-utterances", "4", "--eval-utterances", "1", "--robust-limit", "3", "--jobs", "1", "-q"]


def load_recipe():
    spec = importlib.util.spec_from_file_location("tts16k_prepare", REPO / "egs" / "tts16k" / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Build the corpus once (with tokens and one real row); return (recipe module, folder, rows)."""
    root = tmp_path_factory.mktemp("tts16k")
    (root / "sentences.txt").write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    real = root / "speech16k"
    (real / "audio").mkdir(parents=True)
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)
    sf.write(real / "audio" / "prompt.flac", tone, 16000)
    manifest = [
        {"path": "audio/prompt.flac", "source": "asterisk-en", "language": "en", "text": "Press 1.", "split": "train"},
        {"path": "audio/prompt.flac", "source": "synthetic", "language": "en", "text": "Not real.", "split": "train"},
        {"path": "audio/prompt.flac", "source": "asterisk-fr", "language": "fr", "text": "Bonjour.", "split": "train"},
    ]
    (real / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in manifest), encoding="utf-8")
    recipe = load_recipe()
    out = root / "out"
    common = ["--out", str(out), "--sentences", str(root / "sentences.txt"), *ARGS]
    common += ["--real-manifest", str(real / "manifest.jsonl")]
    assert recipe.main(common) == 0
    rows = [json.loads(line) for line in (out / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    return recipe, out, rows, common


def test_rows_and_splits(corpus):
    _, out, rows, _ = corpus
    counts = {split: sum(r["split"] == split for r in rows) for split in ("train", "dev", "test", "robust")}
    assert counts == {"train": 5, "dev": 1, "test": 1, "robust": 3}
    for row in rows:
        assert row["key"] == row["path"] and (out / row["path"]).is_file()
        assert row["language"] == "en" and row["phones"]
    flite = [r for r in rows if r["source"] == "flite"]
    assert {r["speaker"] for r in flite} <= {"flite-slt", "flite-awb", "flite-kal16", "flite-rms"}
    assert [r["text"] for r in rows if r["split"] == "dev"] == [SENTENCES[2]]
    assert [r["text"] for r in rows if r["split"] == "test"] == [SENTENCES[5]]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["utterances"] == 10 and summary["synthesis"]["errors"] == 0


def test_durations_match_audio_and_frontend(corpus):
    _, out, rows, _ = corpus
    frontend = TextFrontend("flite")
    for row in (r for r in rows if r["source"] == "flite"):
        info = sf.info(out / row["path"])
        assert info.samplerate == 16000
        assert len(row["durations"]) == len(row["phones"])
        assert abs(sum(row["durations"]) - info.frames / 16000) < 1 / 50
        assert all(d == 0 for p, d in zip(row["phones"], row["durations"], strict=True) if p == "|")
        assert all(d > 0 for p, d in zip(row["phones"], row["durations"], strict=True) if p != "|")
        assert frontend.phonemize(row["text"]) == row["phones"]


def test_heldout_sentences_never_in_training(corpus):
    _, out, rows, _ = corpus
    train = {r["normalized"] for r in rows if r["split"] == "train"}
    heldout = {r["normalized"] for r in rows if r["split"] != "train"}
    assert heldout and not train & heldout
    robust = (out / "robustness.txt").read_text(encoding="utf-8").splitlines()
    assert len(robust) >= 60 and all("\t" in line for line in robust)


def test_real_rows_are_marked_for_alignment(corpus):
    _, out, rows, _ = corpus
    real = [r for r in rows if r["source"] != "flite"]
    assert len(real) == 1
    assert real[0]["normalized"] == "Press one." and real[0]["durations"] is None and real[0]["align"] == "mas"
    assert real[0]["key"] == "audio/real/prompt.flac" and (out / real[0]["key"]).is_file()


def test_token_keys_match_pairs(corpus):
    _, out, rows, _ = corpus
    dataset = TokenDataset(out / "tokens" / "default")
    assert sorted(dataset.keys) == sorted(r["key"] for r in rows)
    frame_rate = dataset.model["frame_rate"]
    for key, frames in zip(dataset.keys, dataset.frames, strict=True):
        row = next(r for r in rows if r["key"] == key)
        assert abs(frames - row["duration"] * frame_rate) <= 1


def test_rerun_skips_done_work(corpus, capsys):
    recipe, out, rows, common = corpus
    audio = {r["path"]: (out / r["path"]).stat().st_mtime_ns for r in rows if r["source"] == "flite"}
    capsys.readouterr()
    assert recipe.main([*common, "--no-tokens"]) == 0
    assert "synthesis: 9 utterances, 9 already done, 0 to speak" in capsys.readouterr().out
    assert {p: (out / p).stat().st_mtime_ns for p in audio} == audio


def test_train_sh_builds_trains_resumes_and_exports(tmp_path: Path) -> None:
    """``egs/tts16k/train.sh``, the one command that retrains the default TTS: the corpus with the
    default tokenizer's tokens in a folder named by their fingerprint, training that resumes to the
    asked step count, and an exported model of that step."""
    import os
    import subprocess

    from codec import load_codec

    (tmp_path / "sentences.txt").write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "DATA": str(tmp_path / "data"),
        "STATE": str(tmp_path / "state"),
        "OUT": str(tmp_path / "model"),
        "RECIPE": str(REPO / "recipes" / "tts" / "tiny-nar.yaml"),
        "TRAIN_UTTERANCES": "4",
        "EVAL_UTTERANCES": "1",
        "PREPARE_ARGS": f"--sentences {tmp_path / 'sentences.txt'} --robust-limit 1 --jobs 1",
        "SCORE": "0",
        "INIT": "none",  # the tiny recipe cannot start from the shipped model's weights
    }
    script = str(REPO / "egs" / "tts16k" / "train.sh")
    # batches of 2: step 3 ends inside an epoch, where Lightning itself writes no last checkpoint
    extra = ["--trainer.enable_progress_bar", "false", "--data.num_workers", "0", "--data.batch_size", "2"]
    for steps in (2, 3):
        subprocess.run(["bash", script, str(steps), *extra], env=env, check=True, capture_output=True)
        config = json.loads((tmp_path / "model" / "config.json").read_text())
        assert config["trained_steps"] == steps
    fingerprint = load_codec("default").fingerprints().tokens
    assert config["codec"]["token_fingerprint"] == fingerprint
    assert TokenDataset(tmp_path / "data" / "tokens" / fingerprint).keys
