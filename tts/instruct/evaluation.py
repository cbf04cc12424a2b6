"""``tts eval --instruct``: does generated speech follow its instruction, attribute by attribute?

On held-out sentences, instructions in held-out wording ask for random style words; the output is
measured with the function that labelled the training data (``tts.instruct.attributes``) and
judged with the bins stored with the model. Reported per attribute: exact-level accuracy, and
accuracy within one level for the five-level attributes. Contrast pairs speak one sentence twice
with opposite extremes of one attribute (all else unsaid); a pair goes the asked way when the
measured difference has the asked sign, and the effect size is the mean difference. Accuracy is
also scored for the same requests asked in held-out sentence frames but training phrasings, which
tells a style the model cannot render from a word it does not know. Content: Whisper tiny.en WER
of the instructed output beside the same model without instruction and the tokenizer's
resynthesis of the recordings (the ceiling), and again over the requests that ask no whisper
(whispered speech is the hardest for the ASR model) beside their sentences without instruction.
The ceilings of accuracy: the recordings and their resynthesis judged against their own labels
(what the measurement and the tokenizer let through). Gender is judged by the bins' gender judge
(``tts.instruct.gender``: the spectral envelope) where they carry one, else by the median F0.
Each guidance setting is scored on the same instructions and seeds.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from codec.errors import CodecError
from codec.evaluation.scorers import ANALYSIS_RATE, Transcriber, word_errors
from codec.io.audio import read_audio, resample, to_mono
from tts.api import TTS
from tts.evaluation import at_rate, held_out_rows, spoken_words
from tts.instruct.attributes import Style, measure_style
from tts.instruct.bins import StyleBins
from tts.instruct.composing import compose
from tts.instruct.phrasings import LEVELS

ASK_SHARE = 0.6
"""Chance that an evaluation instruction asks for each attribute."""
DRAW_STRIDE = 100_000
"""Seed offset between draws (``evaluate_instructions(draws=...)``): item ``i`` of draw ``d`` samples
from seed ``seed + i + d * DRAW_STRIDE``, so draws share no seed for any split of fewer rows."""
CONTRASTS = {
    "pitch": ("very low", "very high"),
    "rate": ("very slow", "very fast"),
    "loudness": ("very quiet", "very loud"),
    "gender": ("male", "female"),
    "whisper": ("yes", "no"),
}
"""Opposite requests per attribute, the one expected to measure lower first."""
MEASURE = {
    "pitch": lambda s: 12 * np.log2(max(s.f0_hz, 1.0)),  # semitones
    "rate": lambda s: s.rate,
    "loudness": lambda s: s.loudness_db,
    "gender": lambda s: 12 * np.log2(max(s.f0_hz, 1.0)),
    "whisper": lambda s: s.voicing,
}


def spoken_phones(tts: TTS, text: str) -> int:
    """Phones a text speaks (pauses and word boundaries not counted), as the corpus counts them."""
    return sum(1 for p in tts.frontend.phonemize(text) if p not in ("pau", "|", "sil", "_"))


def draw_requests(count: int, rng: random.Random) -> list[dict[str, str]]:
    """``count`` requests of random style words: each attribute asked with probability
    ``ASK_SHARE``, whisper in a fifth of them (then no pitch). The requests that ask an attribute
    are dealt its levels from shuffled rounds of all of them, so every level is asked as often as
    the others, give or take one (an independent draw per request can ask 13 men for 2 women)."""
    asks = []
    for _ in range(count):
        asked = [a for a in LEVELS if a != "whisper" and rng.random() < ASK_SHARE]
        if rng.random() < 0.2:
            asked = [a for a in asked if a != "pitch"] + ["whisper"]
        asks.append(asked)
    requests: list[dict[str, str]] = [{} for _ in range(count)]
    for attribute, levels in LEVELS.items():
        takers = [i for i, asked in enumerate(asks) if attribute in asked]
        if attribute == "whisper":
            dealt = ["yes"] * len(takers)
        else:
            dealt = []
            while len(dealt) < len(takers):
                dealt += rng.sample(levels, len(levels))
        for i, level in zip(takers, dealt, strict=False):
            requests[i][attribute] = level
    return requests


def measured_levels(
    asked: dict[str, str], style: Style, bins: StyleBins, measured_gender: str | None = None
) -> dict[str, str | None]:
    """Per asked attribute, the level ``style`` measures at (None: not measurable, e.g. the pitch
    of a whisper); gender is not judged in a whisper. Pitch is binned for the gender asked; where
    none is asked, among all voices (as training asks it; bins without ``pitch/any``: for the
    gender measured). ``measured_gender``: the voice's gender (``StyleBins.gender``; default:
    by the median F0)."""
    measured_gender = measured_gender or style.gender
    gender = asked.get("gender") or (measured_gender if measured_gender != "unknown" else "female")
    got = bins.words(style, gender)
    got.pop("gender")
    if "gender" not in asked and "pitch" in got and "pitch/any" in bins.edges:
        got["pitch"] = bins.overall_pitch(style)
    if measured_gender != "unknown":
        got["gender"] = measured_gender
    return {
        attribute: got.get(attribute)
        for attribute in asked
        if not (attribute == "gender" and asked.get("whisper") == "yes")  # a whisper has no F0 to tell it by
    }


def judge(asked: dict[str, str], style: Style, bins: StyleBins) -> dict[str, tuple[bool, bool]]:
    """Per asked attribute: (exact level met, within one level); see ``measured_levels``."""
    return {a: _verdict(a, asked[a], value) for a, value in measured_levels(asked, style, bins).items()}


def _verdict(attribute: str, level: str, value: str | None) -> tuple[bool, bool]:
    """(exact, within one level) of measured ``value`` against asked ``level``; None meets neither."""
    if value is None:
        return False, False
    order = LEVELS[attribute]
    near = abs(order.index(value) - order.index(level)) <= 1 if len(order) == 5 else value == level
    return value == level, near


def evaluate_instructions(
    tts: TTS,
    pairs: Path,
    split: str = "test",
    limit: int = 64,
    contrast_limit: int = 16,
    seed: int = 0,
    guidance: list[dict[str, float]] | None = None,
    bins: StyleBins | None = None,
    prompt: Path | None = None,
    draws: int = 1,
) -> dict[str, Any]:
    """Score instruction following (see the module) for each setting of guidance scales in
    ``guidance`` (the generator's arguments, e.g. ``{"guidance": 1.5, "instruction_guidance": 3}``
    for ``nar``, ``semantic_guidance`` for ``ar-semantic``; default: one setting, the model's own).
    With a voice ``prompt`` every clip speaks in its voice (the style still from the instruction).
    ``draws`` speaks every request that many times with other sampling seeds and pools the scores
    (accuracies and contrasts over all clips, WER over all words): with 15-20 requests per
    attribute one draw's accuracy spreads by about 0.1 either way."""
    if not tts.follows_instructions:
        raise CodecError("this model reads no instructions")
    if draws < 1:
        raise CodecError(f"draws must be at least 1 (got {draws})")
    if bins is None:
        if not tts.config.get("style_bins"):
            raise CodecError("the model carries no style bins; pass --bins style_bins.json")
        bins = StyleBins.from_dict(tts.config["style_bins"])
    rows = held_out_rows(Path(pairs), split, limit)
    rng = random.Random(f"instruct-eval-{seed}")
    requests = draw_requests(len(rows), rng)
    instructions = [compose(words, row["text"], rng, held_out=True) for words, row in zip(requests, rows, strict=True)]
    known = random.Random(f"instruct-eval-known-{seed}")
    in_known_words = [
        compose(words, row["text"], known, held_out=True, held_out_phrases=False)
        for words, row in zip(requests, rows, strict=True)
    ]
    texts = [row["text"] for row in rows]
    phones = [spoken_phones(tts, text) for text in texts]
    transcribe = Transcriber()
    references = [spoken_words(tts, text) for text in texts]
    recordings, resynthesis = _recordings(tts, Path(pairs).parent, rows)
    # judged as the requests are: whispering only where it is asked for (draw_requests never asks "no")
    labels = [{a: v for a, v in (row.get("style_words") or {}).items() if (a, v) != ("whisper", "no")} for row in rows]
    # draw d speaks item i with seed (seed + i + d * DRAW_STRIDE): no two clips share a seed
    seeds = [seed + d * DRAW_STRIDE for d in range(draws)]
    pooled_references = references * draws
    plain = [clip for s in seeds for clip in tts.synthesize(texts, seed=s, prompt=prompt)]
    plain_errors = _clip_errors(tts, plain, pooled_references, transcribe)
    # whispered speech is the hardest for the ASR model; the rest of the requests on their own
    # compare with the same sentences spoken without instruction
    unwhispered = [words.get("whisper") != "yes" for words in requests * draws]
    report: dict[str, Any] = {
        "sentences": len(rows),
        "draws": draws,
        "prompt": None if prompt is None else str(prompt),
        "instructions_example": instructions[:3],
        "gender_judged_by": "spectral envelope" if bins.gender_judge else "median F0",
        "wer": {
            "resynthesis": word_error_rate(_clip_errors(tts, resynthesis, references, transcribe)),
            "no_instruction": word_error_rate(plain_errors),
            "no_instruction_unwhispered": word_error_rate(plain_errors, unwhispered),
        },
        "ceiling": {
            "recordings": _accuracy(labels, recordings, phones, bins, tts.sample_rate),
            "resynthesis": _accuracy(labels, resynthesis, phones, bins, tts.sample_rate),
        },
        "settings": [],
    }
    read = _reading(tts, requests, instructions), _reading(tts, requests, in_known_words)
    if read[0] is not None:
        report["reading"] = {"held_out": read[0], "known_words": read[1]}
    for scales in guidance or [{}]:
        scales = {**scales, "prompt": prompt} if prompt is not None else scales
        audio = [clip for s in seeds for clip in tts.instruct(instructions, seed=s, **scales)]
        known_audio = [clip for s in seeds for clip in tts.instruct(in_known_words, seed=s, **scales)]
        setting = {
            **{key: value for key, value in scales.items() if key != "prompt"},
            "accuracy": _accuracy(requests * draws, audio, phones * draws, bins, tts.sample_rate),
            "accuracy_known_words": _accuracy(requests * draws, known_audio, phones * draws, bins, tts.sample_rate),
        }
        errors = _clip_errors(tts, audio, pooled_references, transcribe)
        setting |= {"wer": word_error_rate(errors), "wer_unwhispered": word_error_rate(errors, unwhispered)}
        setting["wer_by_level"] = wer_by_level(requests * draws, errors, plain_errors)
        setting["contrasts"] = _contrasts(tts, rows[:contrast_limit], phones, scales, seeds)
        report["settings"].append(setting)
    return report


def _accuracy(
    requests: list[dict[str, str]], audio: list, phones: list[int], bins: StyleBins, sample_rate: int
) -> dict[str, dict[str, Any]]:
    """Per attribute: how often the clips measured as asked (exact level, and within one level),
    and ``confusion``: per asked level, how many clips measured at each level (``none``: not
    measurable)."""
    tally: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    confusion: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    for words, clip, n in zip(requests, audio, phones, strict=True):
        samples = np.asarray(clip, dtype=np.float32)
        style = measure_style(samples, sample_rate, n)
        for attribute, got in measured_levels(words, style, bins, bins.gender(style, samples, sample_rate)).items():
            tally[attribute].append(_verdict(attribute, words[attribute], got))
            row = confusion[attribute].setdefault(words[attribute], {})
            row[got or "none"] = row.get(got or "none", 0) + 1
    return {
        attribute: {
            "asked": len(v),
            "exact": float(np.mean([e for e, _ in v])),
            "within_one": float(np.mean([w for _, w in v])),
            "confusion": {lv: confusion[attribute][lv] for lv in LEVELS[attribute] if lv in confusion[attribute]},
        }
        for attribute, v in sorted(tally.items())
    }


def _reading(tts: TTS, requests: list[dict[str, str]], instructions: list[str]) -> dict[str, float] | None:
    """Per attribute, the share of the requests asking it whose level the model reads in the
    instruction (``TTS.read_styles``); None for a model that reads no levels."""
    read = tts.read_styles(instructions)
    if read is None:
        return None
    tally: dict[str, list[bool]] = defaultdict(list)
    for words, levels in zip(requests, read, strict=True):
        for attribute, level in words.items():
            tally[attribute].append(levels.get(attribute) == level)
    return {attribute: float(np.mean(right)) for attribute, right in sorted(tally.items())}


def _contrasts(
    tts: TTS, rows: list[dict], phones: list[int], scales: dict[str, float], seeds: list[int]
) -> dict[str, dict[str, float]]:
    """Per attribute: share of pairs whose measured difference goes the asked way, and its mean
    (each sentence's pair spoken once per sampling seed of ``seeds``, the first the evaluation's own)."""
    out = {}
    rng = random.Random(f"instruct-contrast-{seeds[0]}")
    for attribute, (low, high) in CONTRASTS.items():
        instructions = []
        for row in rows:
            for level in (low, high):
                instructions.append(compose({attribute: level}, row["text"], rng, held_out=True))
        differences = []
        for draw in seeds:
            audio = tts.instruct(instructions, seed=draw, **scales)
            for i, n in enumerate(phones[: len(rows)]):
                a = measure_style(audio[2 * i].numpy(), tts.sample_rate, n)
                b = measure_style(audio[2 * i + 1].numpy(), tts.sample_rate, n)
                differences.append(MEASURE[attribute](b) - MEASURE[attribute](a))
        differences = np.array(differences)
        out[attribute] = {
            "pairs": len(differences),
            "right_way": float((differences > 0).mean()),
            "mean_difference": float(differences.mean()),
        }
    return out


def _clip_errors(tts: TTS, audio: list, references: list[list[str]], transcribe: Transcriber) -> list[tuple[int, int]]:
    """Per clip, (word errors, reference words) of the ASR model's transcript."""
    return [
        word_errors(reference, spoken_words(tts, transcribe(at_rate(clip, tts.sample_rate, ANALYSIS_RATE))))
        for clip, reference in zip(audio, references, strict=True)
    ]


def word_error_rate(errors: list[tuple[int, int]], keep: list[bool] | None = None) -> float | None:
    """The WER over the clips of ``errors`` (``_clip_errors``) that ``keep`` marks (all by default);
    None where none is kept."""
    kept = [pair for i, pair in enumerate(errors) if keep is None or keep[i]]
    return sum(e for e, _ in kept) / max(1, sum(w for _, w in kept)) if kept else None


def wer_by_level(
    requests: list[dict[str, str]], errors: list[tuple[int, int]], plain_errors: list[tuple[int, int]]
) -> dict[str, dict[str, dict[str, float]]]:
    """Per attribute and asked level: ``clips``, the ``wer`` of the clips asking it and
    ``no_instruction``, the WER of the same sentences spoken without instruction (where the
    instructions cost intelligibility)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for attribute, levels in LEVELS.items():
        for level in levels:
            keep = [words.get(attribute) == level for words in requests]
            if any(keep):
                out.setdefault(attribute, {})[level] = {
                    "clips": sum(keep),
                    "wer": word_error_rate(errors, keep),
                    "no_instruction": word_error_rate(plain_errors, keep),
                }
    return out


def _recordings(tts: TTS, base: Path, rows: list[dict]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The rows' recordings at the model's rate, and the tokenizer's resynthesis of them."""
    recordings, resynthesis = [], []
    for row in rows:
        samples, rate = read_audio(base / row["path"])
        samples = resample(to_mono(samples), rate, tts.sample_rate)
        recordings.append(samples)
        resynthesis.append(tts.codec.decode(tts.codec.encode(samples, tts.sample_rate))[0].numpy())
    return recordings, resynthesis


def report_lines(report: dict[str, Any], scale_name: str) -> list[str]:
    """The printed form of ``evaluate_instructions``'s report (``scale_name``: the second guidance
    scale's argument, ``guidance`` or ``semantic_guidance``)."""
    wer, ceiling = report["wer"], report["ceiling"]
    lines = [
        f"{report['sentences']} sentences"
        + (f" x {report['draws']} sampling draws" if report.get("draws", 1) > 1 else "")
        + ", instructions in held-out wording"
        + (f", in the voice of {report['prompt']}" if report.get("prompt") else ", no voice prompt"),
        f"  WER: tokenizer resynthesis {wer['resynthesis']:.3f}, model without instruction {wer['no_instruction']:.3f}",
        f"  gender judged by the voice's {report.get('gender_judged_by', 'median F0')}",
        "  exact-level accuracy of the recordings / their resynthesis against their own labels (the ceilings):",
        "    "
        + ", ".join(
            f"{a} {ceiling['recordings'][a]['exact']:.2f} / {row['exact']:.2f}"
            for a, row in ceiling["resynthesis"].items()
        ),
    ]
    if report.get("reading"):
        held_out, known = report["reading"]["held_out"], report["reading"]["known_words"]
        lines.append(
            "  levels the model reads as asked (in training phrasings): "
            + ", ".join(f"{a} {share:.2f} ({known[a]:.2f})" for a, share in held_out.items())
        )
    for setting in report["settings"]:
        scales = ", ".join(f"{key} {setting[key]:g}" for key in (scale_name, "instruction_guidance") if key in setting)
        scales += ", the generator's own pitch" if setting.get("pitch_control") is False else ""
        line = f"{scales or 'the model defaults'}: WER {setting['wer']:.3f}"
        if setting.get("wer_unwhispered") is not None and wer.get("no_instruction_unwhispered") is not None:
            line += (
                f"; requests without a whisper {setting['wer_unwhispered']:.3f}"
                f" (their sentences without instruction {wer['no_instruction_unwhispered']:.3f})"
            )
        lines.append(line)
        lines.append("  attribute  asked  exact  within one level  (in training phrasings: exact, within one)")
        for attribute, row in setting["accuracy"].items():
            known = setting["accuracy_known_words"][attribute]
            lines.append(
                f"  {attribute:<9} {row['asked']:>6}  {row['exact']:5.2f}  {row['within_one']:16.2f}"
                f"  ({known['exact']:.2f}, {known['within_one']:.2f})"
            )
        for attribute, row in setting["accuracy"].items():
            if len(LEVELS[attribute]) == 5:
                lines.append(f"  {attribute} met per asked level: " + _per_level(row["confusion"]))
        if setting.get("wer_by_level"):
            lines.append("  WER per asked level (the same sentences without instruction):")
            for attribute, levels in setting["wer_by_level"].items():
                lines.append(
                    f"    {attribute}: "
                    + "; ".join(f"{lv} {row['wer']:.2f} ({row['no_instruction']:.2f})" for lv, row in levels.items())
                )
        for attribute, row in setting["contrasts"].items():
            lines.append(
                f"  contrast {attribute:<9} {row['right_way']:.2f} of {row['pairs']} the asked way, mean "
                f"difference {row['mean_difference']:+.2f}"
            )
    return lines


def _per_level(confusion: dict[str, dict[str, int]]) -> str:
    """``very low 3/9 (low 4, ...)``: per asked level, the clips measured at it out of those asked,
    then the levels the others measured at, most frequent first."""
    parts = []
    for level, got in confusion.items():
        others = sorted(((n, g) for g, n in got.items() if g != level), reverse=True)
        missed = ", ".join(f"{g} {n}" for n, g in others)
        parts.append(f"{level} {got.get(level, 0)}/{sum(got.values())}" + (f" ({missed})" if missed else ""))
    return "; ".join(parts)
