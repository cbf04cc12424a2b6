#!/usr/bin/env python3
"""Build the instruction-to-speech corpus at 16 kHz: flite, espeak-ng and festival speech in
controlled styles, labelled by measurement, with tokens.

The sentences and their held-out split are those of ``egs/tts16k`` (so the codec and the plain
TTS never trained on the evaluation sentences). Each utterance draws a voice (slt: female; awb,
rms: male), a speaking rate (0.6-1.6x, log-uniform), a mean F0 by gender (female 150-290 Hz, male
80-145 Hz; rms keeps its own), a level (-15 to +5 dB) and, for ``--whisper-share`` of them, a
whispered excitation (``effects.whisper``); flite's ``-psdur`` gives exact phone durations, which
the effects keep. ``--espeak-utterances`` and ``--festival-utterances`` more training utterances
come from espeak-ng (voice variants by gender, pitch, rate, amplitude, whisper variants) and
festival (``voices.py``; no phone durations, so ``"align": "mas"``). Every clip is then measured
(``tts.instruct.attributes``: median F0 and spread, phones per second, loudness, voicing), bins
(``tts.instruct.bins``: pitch relative to gender) are fitted on the training rows and each row gets
its style words; the instructions themselves are composed at training time from those words, in varied wording.

Restartable: synthesised clips (``cache/pairs.jsonl``) and tokens already written are skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import soundfile as sf

from codec.errors import CodecError
from tts.instruct.attributes import measure_style
from tts.instruct.bins import StyleBins
from tts.text.g2p import require_binary

HERE = Path(__file__).resolve().parent


def _tts16k() -> ModuleType:
    """egs/tts16k/prepare.py (recipes are no package), whose sentence pools, synthesis, reporting
    and tokenizing this recipe reuses."""
    name = "instruct16k_tts16k"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE.parent / "tts16k" / "prepare.py")
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


tts16k = _tts16k()
effects = tts16k.load_module("instruct16k_effects", HERE / "effects.py")
voices = tts16k.load_module("instruct16k_voices", HERE / "voices.py")

SPLITS = ("train", "dev", "test")
GENDERS = {"slt": "female", "awb": "male", "rms": "male"}
VOICE_WEIGHTS = {"slt": 2.0, "awb": 1.4, "rms": 0.6}
"""slt is the only female voice, so it speaks half of the utterances."""
F0_RANGES = {"female": (150.0, 290.0), "male": (80.0, 145.0)}
SPEED_RANGE = (0.6, 1.6)
GAIN_RANGE = (-15.0, 5.0)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("~/.cache/codec/instruct16k").expanduser(), help="corpus folder")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--fortunes", type=Path, help="an unpacked Debian 'fortunes' package (default: apt-get download)")
    src.add_argument("--sentences", type=Path, help="a text file of English sentences, one a line, instead")
    ap.add_argument("--train-utterances", type=int, default=6000, help="training utterances (default %(default)s)")
    ap.add_argument("--eval-utterances", type=int, default=100, help="utterances each of dev and test (default 100)")
    ap.add_argument("--whisper-share", type=float, default=0.15, help="share of whispered clips (default 0.15)")
    ap.add_argument(
        "--espeak-utterances", type=int, default=1500, help="more training utterances by espeak-ng (default 1500)"
    )
    ap.add_argument(
        "--festival-utterances", type=int, default=500, help="more training utterances by festival (default 500)"
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the sentence and style draws (default 0)")
    ap.add_argument("--jobs", type=int, default=2, help="synthesis processes (default %(default)s)")
    ap.add_argument("--nice", type=int, default=10, help="niceness added to the workers (default %(default)s)")
    ap.add_argument("--model", default="default", help="tokenizer for 'codec tokenize --model' (default %(default)s)")
    ap.add_argument("--tokens", type=Path, help="token shard folder (default OUT/tokens/<model>)")
    ap.add_argument("--token-workers", type=int, default=1, help="'codec tokenize --workers' (default 1)")
    ap.add_argument("--no-tokens", action="store_true", help="stop after pairs.jsonl")
    ap.add_argument("--no-apt", action="store_true", help="never call apt-get (use OUT/debs and --fortunes)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return ap.parse_args(argv)


def draw_style(rng: random.Random, whisper_share: float) -> tuple[str, float, float | None, dict[str, Any]]:
    """A voice, duration stretch, F0 target and their description (with level and whisper)."""
    voice = rng.choices(list(VOICE_WEIGHTS), list(VOICE_WEIGHTS.values()))[0]
    gender = GENDERS[voice]
    speed = round(math.exp(rng.uniform(*map(math.log, SPEED_RANGE))), 3)
    f0 = None if voice == "rms" else float(round(math.exp(rng.uniform(*map(math.log, F0_RANGES[gender])))))
    style = {
        "voice": voice,
        "gender": gender,
        "rate": speed,
        "pitch": f0,
        "gain_db": round(rng.uniform(*GAIN_RANGE), 1),
        "whisper": rng.random() < whisper_share,
    }
    return voice, 1.0 / speed, f0, style


def plan(args: argparse.Namespace, sentences: Sequence[str]) -> list[Any]:
    """Every utterance to speak (keys name split, voice, settings and text)."""
    jobs = []
    pools = tts16k.held_out_pools(sentences)
    for split, i, raw, norm, rng in tts16k.utterance_draws(args, pools, "instruct16k"):
        style = draw_style(rng, args.whisper_share)
        job = tts16k.make_job(split, i, raw, norm, style)
        suffix = f"-g{style[3]['gain_db']:+.1f}{'-w' if style[3]['whisper'] else ''}.flac"
        jobs.append(dataclasses.replace(job, key=job.key.removesuffix(".flac") + suffix))
    return jobs + other_jobs(args, pools)


def other_jobs(args: argparse.Namespace, pools: dict[str, list[tuple[str, str]]]) -> list[Any]:
    """The espeak-ng and festival training utterances, after (and independent of) the flite ones."""
    jobs = []
    festival = voices.festival_voices() if args.festival_utterances else []
    for engine, count in (("espeak-ng", args.espeak_utterances), ("festival", args.festival_utterances)):
        for _, i, raw, norm, rng in tts16k.utterance_draws(args, pools, f"instruct16k-{engine}", [("train", count)]):
            if engine == "espeak-ng":
                style = voices.draw_espeak(rng, args.whisper_share)
            else:
                style = voices.draw_festival(rng, args.whisper_share, festival)
            digest = hashlib.md5(json.dumps([style, norm], sort_keys=True).encode("utf-8")).hexdigest()[:8]
            folder = f"{engine}-{style['voice'].replace('+', '-')}"
            key = f"audio/train/{folder}/train-{i:06d}-{digest}.flac"
            job = tts16k.synth.PairJob(key, raw, norm, style["voice"], 1 / style["rate"], style["pitch"], "train")
            jobs.append(dataclasses.replace(job, style=style))
    return jobs


def check_engines(args: argparse.Namespace) -> None:
    """Raise ``CodecError`` naming what is missing for the asked synthesizers."""
    require_binary("flite", "flite")
    if args.espeak_utterances:
        require_binary("espeak-ng", "espeak-ng")
    if args.festival_utterances:
        require_binary("text2wave", "festival")
        if not voices.festival_voices():
            raise CodecError(
                "no festival voice installed (packages festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts); "
                "or pass --festival-utterances 0"
            )


def other_pair(job: Any, tmp: str) -> tuple[dict[str, Any], np.ndarray]:
    """Speak an espeak-ng or festival ``job``: its row (phones of the flite front end, no
    durations) and its audio."""
    synth = tts16k.synth
    audio = voices.speak(job.style, job.normalized, tmp, synth.SAMPLE_RATE)
    phones = synth.flite_g2p().phonemize(job.normalized, "en")
    speaker = f"{job.style['engine']}-{job.style['voice']}"
    return synth.pair_row(job, phones, None, len(audio) / synth.SAMPLE_RATE, speaker, job.style["engine"]), audio


def styled_pair(job: Any, out_root: str) -> dict[str, Any]:
    """Speak ``job`` (flite, espeak-ng or festival), apply its whisper and level, write the FLAC and
    measure it."""
    engine = job.style.get("engine", "flite")
    with tempfile.TemporaryDirectory(prefix="instruct16k-") as tmp:
        if engine == "flite":
            row = tts16k.synth.synthesize_pair(job, tmp)
            if "error" in row:
                return row
            audio, rate = sf.read(str(Path(tmp) / job.key), dtype="float32")
        else:
            try:
                row, audio = other_pair(job, tmp)
            except CodecError as error:
                return {"key": job.key, "error": str(error)[:300]}
            rate = tts16k.synth.SAMPLE_RATE
    seed = int.from_bytes(job.key.encode("utf-8")[-8:].rjust(8, b"\0"), "little")
    if job.style["whisper"] and engine != "espeak-ng":  # espeak-ng whispers by its own variants
        audio = effects.whisper(audio, np.random.default_rng(seed))
    audio, gain = effects.apply_gain(audio, job.style["gain_db"])
    tts16k.synth.write_flac(Path(out_root) / job.key, audio)
    n_phones = sum(1 for p in row["phones"] if p not in ("pau", "|"))
    row["measured"] = measure_style(audio, rate, n_phones).to_dict()
    row["style"] = {**job.style, "gain_db": round(gain, 2)}
    return row


JUDGE_CLIPS = 3000
"""Voiced training clips (at most) the gender judge is fitted on."""


def label(rows: list[dict], root: Path) -> StyleBins:
    """Fit the bins and the gender judge on the training rows (audio under ``root``) and give every
    row its ``style_words`` and, where it has a pitch, ``pitch_overall`` (its level among all voices,
    asked by instructions naming no gender)."""
    from tts.instruct.attributes import Style
    from tts.instruct.gender import GenderJudge, envelope

    measured = [(Style(**row["measured"]), row["style"]["gender"]) for row in rows if row["split"] == "train"]
    bins = StyleBins.fit(measured)
    voiced = [row for row in rows if row["split"] == "train" and not row["style"].get("whisper")]
    voiced = random.Random("gender-judge").sample(voiced, min(JUDGE_CLIPS, len(voiced)))
    features = [envelope(*sf.read(root / row["path"], dtype="float32")) for row in voiced]
    bins.gender_judge = GenderJudge.fit(
        np.stack(features), np.array([row["style"]["gender"] == "female" for row in voiced])
    )
    for row in rows:
        style = Style(**row["measured"])
        row["style_words"] = bins.words(style, row["style"]["gender"])
        row["pitch_overall"] = bins.overall_pitch(style) if "pitch" in row["style_words"] else None
    return bins


def main(argv: Sequence[str] | None = None) -> int:
    """Run the recipe; return the exit status."""
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    try:
        check_engines(args)
        sentences = tts16k.read_sentences(args, out)
        jobs = plan(args, sentences)
        rows, timing = tts16k.synthesize_all(jobs, out, args.jobs, args.nice, args.quiet, speak=styled_pair)
        bins = label(rows, out)
    except CodecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    tts16k.reporting.write_text_atomic(out / "style_bins.json", json.dumps(bins.to_dict(), indent=2) + "\n")
    tts16k.reporting.write_manifests(out, rows, SPLITS, extra_fields=("measured", "style_words", "pitch_overall"))
    tts16k.TextFrontend("flite").inventory.save(out / "inventory.json")
    tokens = None if args.no_tokens else tts16k.tokenize(out, args, [r["key"] for r in rows])
    summary = tts16k.reporting.summarize(rows, len(sentences), timing, tokens, time.monotonic() - start)
    summary["style_words"] = word_counts(rows)
    tts16k.reporting.write_summary(out, summary)
    return 0 if tokens is None or (tokens["status"] == 0 and tokens["missing"] == 0) else 1


def word_counts(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Training clips per attribute level."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        if row["split"] == "train":
            for attribute, level in row["style_words"].items():
                counts.setdefault(attribute, {}).setdefault(level, 0)
                counts[attribute][level] += 1
    return counts


if __name__ == "__main__":
    sys.exit(main())
