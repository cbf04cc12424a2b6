"""``tts eval``: how intelligible, how close to the voice and how robust a TTS model is, always beside
the ceiling that its tokenizer sets.

On held-out pairs (text with the source voice's recording) it scores three systems on the same
sentences: the original recordings, the tokenizer's resynthesis of them (the ceiling: a generator
of these tokens cannot be more intelligible) and the model's speech, prompted with another
recording of the same speaker (one of at least a second; none where the speaker has no other).
Whisper tiny.en word error rates are corpus-level (all errors over
all reference words) on the front end's normalised text; speaker similarity is the cosine of
speaker embeddings with the prompt (for the ceiling: the resynthesis with the same prompt clip).
On a file of robustness sentences it counts outputs shorter than half or longer than twice the
expected duration, and failures. The expected duration is that of the sentence's reference
recording where the pairs hold one (``egs/tts16k`` speaks every robustness sentence once at neutral
speed), else the phone count times the training rows' mean phone duration, which misjudges the
shortest texts: their fixed opening and closing pauses outweigh their few phones.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codec.errors import CodecError
from codec.evaluation.scorers import ANALYSIS_RATE, SpeakerEncoder, Transcriber, normalize_text, word_errors
from codec.io.audio import read_audio, resample, to_mono
from tts.api import PROMPT_MAX_SECONDS, PROMPT_MIN_SECONDS, TTS


@dataclass
class Tally:
    """Word errors and similarities summed over sentences."""

    errors: int = 0
    words: int = 0
    similarity: list[float] = field(default_factory=list)

    def row(self) -> dict[str, float | None]:
        return {
            "wer": self.errors / self.words if self.words else None,
            "speaker_similarity": float(np.mean(self.similarity)) if self.similarity else None,
        }


def held_out_rows(pairs: Path, split: str, limit: int | None) -> list[dict[str, Any]]:
    """Rows of ``split`` with text and an audio ``path`` (relative to the pairs file), spread evenly
    when ``limit`` is set."""
    try:
        rows = [json.loads(line) for line in pairs.read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as error:
        raise CodecError(f"cannot read pairs: {error}", pairs) from None
    rows = [r for r in rows if r.get("split") == split and r.get("text") and r.get("path")]
    if not rows:
        raise CodecError(f"no {split} rows with text and audio", pairs)
    if limit is not None and limit < len(rows):
        rows = [rows[round(i * (len(rows) - 1) / max(1, limit - 1))] for i in range(limit)]
    return rows


def at_rate(audio: np.ndarray | torch.Tensor, rate: int, to: int) -> np.ndarray:
    samples = audio.numpy() if isinstance(audio, torch.Tensor) else audio
    return resample(np.asarray(samples, np.float32), rate, to)


def evaluate_pairs(
    tts: TTS,
    pairs: Path,
    split: str = "test",
    limit: int | None = 64,
    seed: int = 0,
    speaker_sim: bool = True,
    generate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score originals, the tokenizer's resynthesis and the model on held-out pairs (see the module);
    ``generate``: the generator's options (e.g. ``guidance``)."""
    rows = held_out_rows(Path(pairs), split, limit)
    base = Path(pairs).parent
    by_speaker: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_speaker[str(row.get("speaker"))].append(row)
    transcribe = Transcriber()
    speakers = SpeakerEncoder() if speaker_sim else None
    tallies = {name: Tally() for name in ("original", "resynthesis", "model")}
    length_ratios, synth_seconds, audio_seconds = [], 0.0, 0.0
    rate = tts.sample_rate
    for row in rows:
        original, original_rate = read_audio(base / row["path"])
        original = resample(to_mono(original), original_rate, rate)
        others = [
            r
            for r in by_speaker[str(row.get("speaker"))]
            if r["key"] != row["key"] and (r.get("duration") or PROMPT_MIN_SECONDS) >= PROMPT_MIN_SECONDS
        ]
        prompt = prompt_text = None
        if others:
            # VALL-E reads the prompt's transcript, which fits the prompt best when the clip is short
            source = min(others, key=lambda r: r.get("duration") or 0.0) if tts.kind == "ar" else others[0]
            prompt_audio, prompt_rate = read_audio(base / source["path"])
            prompt = resample(to_mono(prompt_audio), prompt_rate, rate)[: int(PROMPT_MAX_SECONDS * rate)]
            prompt_text = source["text"] if tts.kind == "ar" else None
        resynthesis = tts.codec.decode(tts.codec.encode(original, rate))[0]
        start = time.perf_counter()
        output = tts.synthesize(
            row["text"], prompt=prompt, prompt_sample_rate=rate, prompt_text=prompt_text, seed=seed, **(generate or {})
        )
        synth_seconds += time.perf_counter() - start
        audio_seconds += output.shape[-1] / rate
        length_ratios.append(output.shape[-1] / max(1, original.shape[-1]))
        reference = spoken_words(tts, row["text"])
        embedding = None
        if speakers is not None and prompt is not None:
            embedding = speakers.embed(at_rate(prompt, rate, ANALYSIS_RATE))
        for name, audio in (("original", original), ("resynthesis", resynthesis), ("model", output)):
            analysed = at_rate(audio, rate, ANALYSIS_RATE)
            errors, words = word_errors(reference, spoken_words(tts, transcribe(analysed)))
            tallies[name].errors += errors
            tallies[name].words += words
            if embedding is not None and name != "original":
                other = speakers.embed(analysed)
                if other is not None:
                    tallies[name].similarity.append(float(np.dot(embedding, other)))
    ratios = np.array(length_ratios)
    return {
        "sentences": len(rows),
        "systems": {name: tally.row() for name, tally in tallies.items()},
        "length_ratio_median": float(np.median(ratios)),
        "too_short": int((ratios < 0.5).sum()),
        "too_long": int((ratios > 2.0).sum()),
        "real_time_factor": synth_seconds / max(audio_seconds, 1e-9),
    }


def spoken_words(tts: TTS, text: str) -> list[str]:
    """Words for WER: the front end's normalisation (numbers spelled out as spoken; Whisper writes
    digits), then ``codec eval``'s (case and punctuation); none when nothing in it can be spoken."""
    try:
        return normalize_text(tts.frontend.normalize(text))
    except CodecError:
        return []


def read_robustness(sentences: Path) -> list[tuple[str, str]]:
    """``(category, sentence)`` per non-empty line: ``category<TAB>sentence`` (``egs/tts16k``'s
    ``robustness.txt``) or a bare sentence (category ``-``)."""
    try:
        lines = [line.strip() for line in sentences.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise CodecError(f"cannot read: {getattr(error, 'strerror', None) or error}", sentences) from None
    return [tuple(line.split("\t", 1)) if "\t" in line else ("-", line) for line in lines]


def evaluate_robustness(
    tts: TTS,
    sentences: Path,
    seconds_per_phone: float,
    seed: int = 0,
    references: dict[str, float] | None = None,
    generate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Count outputs under half or over twice their expected duration, and failures, in all and per
    category; ``items`` lists each sentence's seconds and expectations.

    Args:
        seconds_per_phone: for the phone-count estimate.
        references: seconds of a reference recording per sentence text, preferred where present.
        generate: the generator's options.
    """
    references = references or {}
    counts = {"sentences": 0, "too_short": 0, "too_long": 0, "failed": 0, "from_reference": 0}
    categories: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(counts, 0))
    items = []
    for index, (category, text) in enumerate(read_robustness(sentences)):
        outcome = {"sentences": 1}
        item: dict[str, Any] = {"category": category, "text": text, "seconds": None}
        try:
            item["estimate"] = len(tts.frontend.phonemize(text)) * seconds_per_phone
            item["reference"] = references.get(text)
            expected = item["reference"] or item["estimate"]
            outcome["from_reference"] = int(item["reference"] is not None)
            item["seconds"] = tts.synthesize(text, seed=seed + index, **(generate or {})).shape[-1] / tts.sample_rate
            outcome["too_short"] = int(item["seconds"] < 0.5 * expected)
            outcome["too_long"] = int(item["seconds"] > 2.0 * expected)
        except CodecError:
            outcome["failed"] = 1
        items.append(item)
        for key, value in outcome.items():
            counts[key] += value
            categories[category][key] += value
    return {**counts, "categories": dict(categories), "items": items}
