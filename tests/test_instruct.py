"""Instruction-to-speech pieces: instruction wording and parsing, style measurement and bins, the
whisper and level effects of the corpus recipe, and a tiny instruction-conditioned ``nar`` model
that must follow a style word it can only learn from the instruction.
"""

from __future__ import annotations

import importlib.util
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from codec.errors import CodecError
from codec.io.audio import resample
from tts.data import draw_instruction
from tts.instruct.attributes import WHISPER_VOICING, Style, measure_style
from tts.instruct.bins import StyleBins
from tts.instruct.composing import compose
from tts.instruct.evaluation import draw_requests, judge, measured_levels, wer_by_level, word_error_rate
from tts.instruct.gender import ENVELOPE_BANDS, GenderJudge, envelope
from tts.instruct.instructions import QUOTES, attribute_targets, known_words, parse_instruction
from tts.instruct.phrasings import (
    ADJECTIVES,
    DESCRIPTIONS,
    LEVELS,
    NEUTRAL_ADJECTIVES,
    NEUTRAL_PHRASES,
    SPEAKERS,
    TEMPLATES,
)
from tts.models.batch import TTSBatch
from tts.models.instruction_encoder import encode_instructions
from tts.models.nar import NarTTS
from tts.sampling import SamplingOptions, generators_for

REPO = Path(__file__).resolve().parents[1]
RATE = 16000


def harmonic(f0: float, seconds: float = 1.0, level: float = 0.1) -> np.ndarray:
    """A voiced-like signal: five harmonics of ``f0``."""
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))).astype(np.float32)


# --------------------------------------------------------------------------- wording


def test_the_quoted_text_is_spoken_and_the_rest_is_style() -> None:
    parsed = parse_instruction("A deep male voice, slow and calm, says: \u201cThe meeting starts at nine.\u201d")
    assert parsed.text == "The meeting starts at nine."
    assert parsed.style == 'A deep male voice, slow and calm, says: "..."'
    separate = parse_instruction("A woman speaks quickly.", text="See you tomorrow.")
    assert (separate.style, separate.text) == ('A woman speaks quickly: "..."', "See you tomorrow.")
    quoted = parse_instruction('She says "..." slowly.', text="Hi.")
    assert quoted.style == 'She says "..." slowly.'


@pytest.mark.parametrize(
    ("instruction", "problem"),
    [("", "empty instruction"), ("A man speaks slowly.", "quotes no text"), ('Say ""', "quotes no text")],
)
def test_an_instruction_without_text_is_refused(instruction: str, problem: str) -> None:
    with pytest.raises(CodecError, match=problem):
        parse_instruction(instruction)


def test_an_overlong_style_is_refused() -> None:
    with pytest.raises(CodecError, match="longer than"):
        parse_instruction("very " * 200 + 'slowly: "Hi."')


def test_composed_instructions_name_what_was_asked_and_training_never_uses_held_out_wording() -> None:
    rng = random.Random(0)
    held_phrases = [p for table in DESCRIPTIONS.values() for _, held in table.values() for p in held]
    held_phrases += [p for _, held in SPEAKERS.values() for p in held]
    held_frames = [t.split("{")[0] for t in TEMPLATES[1] if not t.startswith("{")]
    for _ in range(300):
        words = {a: rng.choice(levels) for a, levels in LEVELS.items() if rng.random() < 0.7}
        instruction = compose(words, "Hello there.", rng)
        assert not any(re.search(rf"\b{re.escape(p)}\b", instruction) for p in held_phrases), instruction
        assert not any(frame in instruction for frame in held_frames), instruction
        assert not any(junk in instruction for junk in (",:", ",,", ",.", " ,")), instruction
        assert instruction[0] in '"' or instruction[0].isupper(), instruction
        asked, unknown = known_words(parse_instruction(instruction).style)
        expected = {a: v for a, v in words.items() if not (a == "whisper" and v == "no")}
        assert asked == expected, instruction
        assert unknown == []
    unseen = compose({"rate": "very fast"}, "Hello there.", random.Random(1), held_out=True)
    assert known_words(parse_instruction(unseen).style)[0] == {"rate": "very fast"}
    train_phrases = [p for table in DESCRIPTIONS.values() for train, _ in table.values() for p in train]
    for seed in range(20):  # held-out frames in training phrasings: a held-out frame, no held-out phrase
        words = {"gender": "male", "pitch": "low", "rate": "fast"}
        known = compose(words, "Hello there.", random.Random(seed), held_out=True, held_out_phrases=False)
        assert known.startswith("Read this") or '" aloud ' in known, known  # the two held-out frames
        assert not any(p in known for p in held_phrases) and any(p in known for p in train_phrases), known
        assert known_words(parse_instruction(known).style)[0] == words


@pytest.mark.parametrize("held_out", [False, True])
def test_composing_leaves_the_quoted_text_as_given(held_out: bool) -> None:
    text = "Save a unicorn , a used car  and a apple."  # "a" before vowels, odd spaces: spoken as given
    rng = random.Random(0)
    for _ in range(200):
        words = {a: rng.choice(levels) for a, levels in LEVELS.items() if rng.random() < 0.7}
        instruction = compose(words, text, rng, held_out=held_out)
        assert parse_instruction(instruction).text == text, instruction
        assert not re.search(r"\ba [aeiou]", QUOTES.sub("", instruction)), instruction


@pytest.mark.parametrize(
    ("style", "asked"),
    [
        ('A deep male voice, slow and calm, says: "..."', {"gender": "male", "pitch": "low", "rate": "slow"}),
        ('Male voice, fast, loud: "..."', {"gender": "male", "rate": "fast", "loudness": "loud"}),
        ('An old man whispers: "..."', {"gender": "male", "whisper": "yes"}),
        (
            'A soft-spoken, extremely high-pitched woman says "..."',
            {"gender": "female", "loudness": "quiet", "pitch": "very high"},
        ),
        ('Someone speaks slowly and cheerfully: "..."', {"rate": "slow"}),
    ],
)
def test_levels_are_known_as_adjectives_terse_lists_and_the_whisper_verb(style: str, asked: dict[str, str]) -> None:
    assert known_words(style) == (asked, [])


def test_training_takes_every_shape_and_evaluation_none() -> None:
    nouns = "|".join(re.sub(r"^an? ", "", p) for gender, (train, _) in SPEAKERS.items() if gender for p in train)
    level_words = {
        w
        for table in (*DESCRIPTIONS.values(), *ADJECTIVES.values())
        for v in table.values()
        for g in v
        for p in (g if isinstance(g, list) else [g])
        for w in re.findall(r"[a-z-]+", p)
    }
    level_words |= set(re.findall(r"[a-z-]+", nouns))

    def shapes(instructions: list[str]) -> dict[str, int]:
        # "aloud" is also a word of a held-out frame ("reads ... aloud")
        neutral = [rf"\b{word}\b" for word in (*NEUTRAL_ADJECTIVES, *NEUTRAL_PHRASES) if word != "aloud"]
        styles = [parse_instruction(i).style.lower().replace('"..."', "") for i in instructions]
        return {
            "adjective": sum(
                bool(re.search(rf"\b(deep|low-pitched|deep-voiced|soft-spoken|quiet|soft) ({nouns})\b", i))
                for i in styles
            ),
            "terse": sum(set(re.findall(r"[a-z-]+", i)) <= level_words for i in styles),
            "verb": sum(" whispers" in i for i in styles),
            "neutral": sum(any(re.search(pattern, i) for pattern in neutral) for i in styles),
            "family, title or trade": sum(
                bool(re.search(r"\b(father|mother|king|queen|(business|sales)(wo)?man)\b", i)) for i in styles
            ),
        }

    rng = random.Random(0)
    words = [
        {"gender": rng.choice(LEVELS["gender"]), "pitch": "low", "loudness": "quiet", "whisper": "yes"}
        for _ in range(400)
    ]
    training = shapes([compose(w, "Hello there.", rng) for w in words])
    assert all(count >= 15 for count in training.values()), training
    held_out = shapes(
        [compose(w, "Hello there.", rng, held_out=True, held_out_phrases=p) for w in words for p in (False, True)]
    )
    assert held_out == dict.fromkeys(training, 0)


def test_unknown_words_are_reported_and_the_last_of_two_levels_wins() -> None:
    asked, unknown = known_words("A woman speaks slowly, no, very quickly, like a zebra")
    assert asked == {"gender": "female", "rate": "very fast"}
    assert unknown == ["like", "no", "zebra"]


# --------------------------------------------------------------------------- measurement


def test_word_error_rate_pools_the_words_of_the_clips_kept() -> None:
    errors = [(1, 4), (3, 4), (0, 2)]
    assert word_error_rate(errors) == pytest.approx(0.4)
    assert word_error_rate(errors, [True, False, True]) == pytest.approx(1 / 6)
    assert word_error_rate(errors, [False] * 3) is None


def test_wer_by_level_sets_each_asked_level_beside_its_sentences_without_instruction() -> None:
    requests = [{"rate": "very fast", "gender": "male"}, {"rate": "slow"}, {"rate": "very fast", "whisper": "yes"}]
    errors, plain = [(2, 4), (0, 5), (4, 6)], [(1, 4), (1, 5), (0, 6)]
    table = wer_by_level(requests, errors, plain)
    assert table["rate"]["very fast"] == {"clips": 2, "wer": pytest.approx(0.6), "no_instruction": pytest.approx(0.1)}
    assert table["rate"]["slow"] == {"clips": 1, "wer": 0.0, "no_instruction": pytest.approx(0.2)}
    assert list(table["rate"]) == ["slow", "very fast"]  # lowest level first, levels never asked left out
    assert table["gender"] == {"male": {"clips": 1, "wer": 0.5, "no_instruction": 0.25}}
    assert set(table) == {"rate", "gender", "whisper"}


def test_measured_pitch_level_voicing_and_rate() -> None:
    low, high = measure_style(harmonic(110), RATE, 10), measure_style(harmonic(220), RATE, 10)
    assert abs(low.f0_hz - 110) < 3 and abs(high.f0_hz - 220) < 5
    assert low.voicing > 0.9 and low.gender == "male" and high.gender == "female"
    louder = measure_style(harmonic(110, level=0.2), RATE, 10)
    assert louder.loudness_db - low.loudness_db == pytest.approx(20 * np.log10(2), abs=0.05)
    padded = np.concatenate([np.zeros(RATE // 2, np.float32), harmonic(110), np.zeros(RATE // 2, np.float32)])
    assert measure_style(padded, RATE, 10).rate == pytest.approx(10.0, rel=0.03)  # silence is not speech
    noise = np.random.default_rng(0).standard_normal(RATE).astype(np.float32) * 0.05
    assert measure_style(noise, RATE, 10).voicing < WHISPER_VOICING
    assert measure_style(np.zeros(RATE, np.float32), RATE, 10) == Style(0.0, 0.0, 0.0, -120.0, 0.0, 0.0)


def test_bins_place_pitch_relative_to_gender_and_survive_a_round_trip() -> None:
    rng = np.random.default_rng(0)
    rows = [
        (Style(float(f), 1.0, float(r), float(db), 0.8, 2.0), "male")
        for f, r, db in zip(rng.uniform(90, 140, 200), rng.uniform(6, 18, 200), rng.uniform(-35, -10, 200), strict=True)
    ]
    rows += [(Style(float(f), 1.0, 12.0, -20.0, 0.8, 2.0), "female") for f in rng.uniform(160, 280, 200)]
    bins = StyleBins.fit(rows)
    assert bins.words(Style(150, 1, 12, -20, 0.8, 2), "male")["pitch"] == "very high"
    assert bins.words(Style(150, 1, 12, -20, 0.8, 2), "female")["pitch"] == "very low"
    whispered = bins.words(Style(0, 0, 19, -40, 0.05, 2), "female")
    assert whispered["whisper"] == "yes" and "pitch" not in whispered
    assert whispered["rate"] == "very fast" and whispered["loudness"] == "very quiet"
    assert StyleBins.from_dict(bins.to_dict()) == bins
    with pytest.raises(CodecError, match="too few"):
        StyleBins.fit(rows[:10])


def voice(f0: float, formants: tuple[float, ...], seed: int) -> np.ndarray:
    """One second of harmonics of ``f0`` shaped by resonances at ``formants`` (a vocal tract),
    with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE) / RATE
    harmonics = np.arange(1, int(7000 / f0))
    gains = sum(1 / (1 + ((harmonics * f0 - f) / 150) ** 2) for f in formants) + 0.01
    phases = rng.uniform(0, 2 * np.pi, len(harmonics))
    wave = (gains[:, None] * np.sin(2 * np.pi * f0 * harmonics[:, None] * t + phases[:, None])).sum(0)
    wave = wave / np.abs(wave).max() * rng.uniform(0.05, 0.5)
    return (wave + 1e-3 * rng.standard_normal(RATE)).astype(np.float32)


def test_the_gender_judge_tells_voices_by_their_envelope_whatever_their_pitch() -> None:
    low_tract, high_tract = (500.0, 1500.0, 2500.0), (850.0, 2200.0, 3300.0)
    rng = np.random.default_rng(0)
    f0s = rng.uniform(100, 240, 60)
    clips = [voice(f, high_tract if i % 2 else low_tract, i) for i, f in enumerate(f0s)]
    female = np.arange(60) % 2 == 1
    gender_judge = GenderJudge.fit(np.stack([envelope(c, RATE) for c in clips]), female)
    # the opposite pitches: a low "woman", a high "man", at another rate and level
    woman, man = voice(110, high_tract, 100), voice(230, low_tract, 101)
    assert measure_style(woman, RATE, 10).gender == "male" and measure_style(man, RATE, 10).gender == "female"
    assert gender_judge(woman, RATE) == "female" and gender_judge(man, RATE) == "male"
    assert gender_judge(resample(woman, RATE, 24000), 24000) == "female"
    assert GenderJudge.from_dict(gender_judge.to_dict()) == gender_judge
    bins = StyleBins.fit(
        [(Style(f, 1.0, 12.0, -20.0, 0.8, 2.0), "male") for f in np.linspace(90, 140, 30)]
        + [(Style(f, 1.0, 12.0, -20.0, 0.8, 2.0), "female") for f in np.linspace(170, 260, 30)]
    )
    bins.gender_judge = gender_judge
    assert StyleBins.from_dict(bins.to_dict()) == bins
    assert bins.gender(measure_style(woman, RATE, 10), woman, RATE) == "female"
    assert bins.gender(Style(0, 0, 10, -30, 0.0, 1), woman, RATE) == "unknown"  # a whisper
    assert measured_levels(
        {"gender": "female", "pitch": "very low"}, measure_style(woman, RATE, 10), bins, "female"
    ) == {
        "gender": "female",
        "pitch": "very low",
    }
    with pytest.raises(CodecError, match="too few clips"):
        GenderJudge.fit(np.zeros((12, ENVELOPE_BANDS)), np.arange(12) < 3)
    with pytest.raises(CodecError, match="40 numbers"):
        GenderJudge.from_dict({**gender_judge.to_dict(), "weights": [0.0]})


def test_overall_pitch_ranks_a_voice_among_all_voices() -> None:
    rng = np.random.default_rng(2)
    rows = [(Style(float(f), 1.0, 12.0, -20.0, 0.8, 2.0), "male") for f in rng.uniform(90, 140, 200)]
    rows += [(Style(float(f), 1.0, 12.0, -20.0, 0.8, 2.0), "female") for f in rng.uniform(160, 280, 200)]
    bins = StyleBins.fit(rows)
    # a man's very high voice is a medium one among all voices; a man's medium one low or lower
    assert bins.words(Style(139, 1, 12, -20, 0.8, 2), "male")["pitch"] == "very high"
    assert bins.overall_pitch(Style(139, 1, 12, -20, 0.8, 2)) == "medium"
    assert bins.overall_pitch(Style(92, 1, 12, -20, 0.8, 2)) == "very low"
    assert bins.overall_pitch(Style(275, 1, 12, -20, 0.8, 2)) == "very high"
    assert bins.overall_pitch(Style(0, 0, 12, -30, 0.0, 2)) is None  # a whisper has no pitch
    older = StyleBins({k: v for k, v in bins.edges.items() if k != "pitch/any"}, bins.whisper_voicing)
    assert older.overall_pitch(Style(92, 1, 12, -20, 0.8, 2)) is None


def test_judging_bins_pitch_by_the_gender_asked_and_names_the_level_missed() -> None:
    rng = np.random.default_rng(1)
    rows = [(Style(float(f), 1.0, 12.0, -20.0, 0.8, 2.0), "male") for f in rng.uniform(90, 140, 200)]
    rows += [(Style(float(f), 1.0, 12.0, -20.0, 0.8, 2.0), "female") for f in rng.uniform(160, 280, 200)]
    bins = StyleBins.fit(rows)
    # a man asked for a high voice who comes out at 150 Hz is very high for a man (one level off)
    asked = {"gender": "male", "pitch": "high"}
    voice = Style(150.0, 1.0, 12.0, -20.0, 0.8, 2.0)
    assert measured_levels(asked, voice, bins) == {"gender": "male", "pitch": "very high"}
    assert judge(asked, voice, bins) == {"gender": (True, True), "pitch": (False, True)}
    # the same clip asked of a woman: a woman's very low voice, and the wrong gender
    asked = {"gender": "female", "pitch": "very high"}
    assert measured_levels(asked, voice, bins) == {"gender": "male", "pitch": "very low"}
    assert judge(asked, voice, bins) == {"gender": (False, False), "pitch": (False, False)}
    # a whisper has no pitch to measure and its gender is not judged
    whisper = Style(0.0, 0.0, 12.0, -30.0, 0.0, 2.0)
    asked = {"gender": "female", "pitch": "low", "whisper": "yes"}
    assert measured_levels(asked, whisper, bins) == {"pitch": None, "whisper": "yes"}
    assert judge(asked, whisper, bins) == {"pitch": (False, False), "whisper": (True, True)}
    # no gender asked: a 150 Hz voice is judged among all voices (medium), or, by bins fitted
    # before pitch/any existed, as the man it measures as (very high)
    asked = {"pitch": "low"}
    assert measured_levels(asked, voice, bins) == {"pitch": "medium"}
    older = StyleBins({k: v for k, v in bins.edges.items() if k != "pitch/any"}, bins.whisper_voicing)
    assert measured_levels(asked, voice, older) == {"pitch": "very high"}


def test_evaluation_requests_ask_every_level_about_equally_often() -> None:
    requests = draw_requests(50, random.Random(0))
    assert len(requests) == 50
    for attribute in ("gender", "pitch", "rate", "loudness"):
        counts = {level: 0 for level in LEVELS[attribute]}
        for words in requests:
            if attribute in words:
                counts[words[attribute]] += 1
        assert sum(counts.values()) > 10 and max(counts.values()) - min(counts.values()) <= 1
    assert all("pitch" not in words for words in requests if words.get("whisper") == "yes")
    assert 0.1 < sum(words.get("whisper") == "yes" for words in requests) / 50 < 0.35
    assert draw_requests(50, random.Random(0)) == requests


def test_a_training_instruction_without_a_gender_asks_the_pitch_among_all_voices() -> None:
    row = {
        "text": "Hello there.",
        "style_words": {"gender": "male", "pitch": "very high", "rate": "medium", "whisper": "no"},
        "pitch_overall": "medium",
    }
    rng = random.Random(0)
    seen = {True: set(), False: set()}
    for _ in range(300):
        asked = known_words(draw_instruction(row, rng))[0]
        if "pitch" in asked:
            seen["gender" in asked].add(asked["pitch"])
    assert seen == {True: {"very high"}, False: {"medium"}}
    older = {key: value for key, value in row.items() if key != "pitch_overall"}
    unnamed = {known_words(draw_instruction(older, rng))[0].get("pitch") for _ in range(300)}
    assert unnamed == {None, "very high"}


def load_egs(name: str):
    spec = importlib.util.spec_from_file_location(f"instruct16k_{name}_test", REPO / f"egs/instruct16k/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_free_wordings_table_asks_known_levels_and_a_bad_line_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reader = load_egs("read_wordings")
    rows = reader.read_table(REPO / "egs/instruct16k/free_wordings.tsv")
    assert len(rows) >= 20 and {"gender", "pitch", "rate", "loudness", "whisper"} <= {a for _, r in rows for a in r}
    assert all(parse_instruction(instruction).text for instruction, _ in rows)
    bad = tmp_path / "bad.tsv"
    bad.write_text('# comment\nA man says: "Hi."\tgender=male, pitch=squeaky\n', encoding="utf-8")
    with pytest.raises(CodecError, match="line 2: unknown level pitch=squeaky"):
        reader.read_table(bad)
    assert reader.main([str(bad)]) == 1
    assert "pitch=squeaky" in capsys.readouterr().err


def test_whispering_removes_voicing_but_keeps_energy_and_timing() -> None:
    effects = load_egs("effects")
    voiced = np.concatenate([np.zeros(4000, np.float32), harmonic(150), np.zeros(4000, np.float32)])
    whispered = effects.whisper(voiced, np.random.default_rng(0))
    before, after = measure_style(voiced, RATE, 10), measure_style(whispered, RATE, 10)
    assert before.voicing > 0.9 and after.voicing < WHISPER_VOICING
    assert len(whispered) == len(voiced)
    assert after.loudness_db == pytest.approx(before.loudness_db, abs=1.5)
    assert after.seconds == pytest.approx(before.seconds, abs=0.05)
    louder, gain = effects.apply_gain(voiced, 40.0)
    assert np.abs(louder).max() <= 0.99 + 1e-6 and 0 < gain < 40


# --------------------------------------------------------------------------- model

SYMBOLS, CODES = 8, 16
STYLES = ("speaks low", "speaks high")


def style_batch(size: int, generator: torch.Generator) -> tuple[TTSBatch, torch.Tensor]:
    """Phones 1..7 of two frames each; style 0 gives token ``s`` per phone ``s``, style 1 ``s + 8``;
    the instruction is the only way to tell them apart."""
    phones = torch.randint(1, SYMBOLS, (size, 4), generator=generator)
    choice = torch.randint(0, 2, (size,), generator=generator)
    durations = torch.full_like(phones, 2)
    codes = (phones + 8 * choice[:, None]).repeat_interleave(2, dim=1)[:, None]
    ids, lengths = encode_instructions([STYLES[int(c)] for c in choice])
    batch = TTSBatch(
        phones,
        torch.full((size,), 4),
        durations,
        codes[:, :, :0],
        torch.zeros(size, dtype=torch.long),
        codes,
        torch.full((size,), 8),
        ids,
        lengths,
    )
    return batch, choice


def trained_style_model(**encoder: str) -> NarTTS:
    """A tiny instruction model trained 250 steps on ``style_batch`` (its trainable weights only)."""
    torch.manual_seed(0)
    model = NarTTS(
        SYMBOLS,
        1,
        CODES,
        dim=48,
        heads=4,
        encoder_layers=1,
        decoder_layers=2,
        dropout=0.0,
        instruction_layers=1,
        instruction_drop=0.1,
        **encoder,
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], 3e-3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(250):
        batch, _ = style_batch(16, generator)
        loss = model.loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_a_tiny_instruction_model_follows_the_instruction_and_batches_like_single() -> None:
    model = trained_style_model()
    batch, choice = style_batch(12, torch.Generator().manual_seed(7))
    args = (batch.phones, batch.phone_lengths, batch.prompt, batch.prompt_lengths)
    options = SamplingOptions(temperature=0.5)
    kwargs = {
        "durations": batch.durations,
        "instructions": batch.instructions,
        "instruction_lengths": batch.instruction_lengths,
    }
    codes, _ = model.generate(*args, generators_for(range(12)), options, **kwargs)
    followed = ((codes[:, 0] >= 8).long() == choice[:, None]).float().mean()
    assert followed >= 0.95, followed
    guided, _ = model.generate(*args, generators_for(range(12)), options, instruction_guidance=3.0, **kwargs)
    assert ((guided[:, 0] >= 8).long() == choice[:, None]).float().mean() >= 0.95
    one, _ = model.generate(
        *(a[4:5] for a in args),
        generators_for([4]),
        options,
        durations=batch.durations[4:5],
        instructions=batch.instructions[4:5],
        instruction_lengths=batch.instruction_lengths[4:5],
    )
    assert torch.equal(one[0], codes[4])
    plain, _ = model.generate(*args, generators_for(range(12)), options, durations=batch.durations)
    assert int(plain.max()) < CODES  # no instruction: the null style, still a valid generation


def test_a_model_without_an_instruction_encoder_has_no_style() -> None:
    model = NarTTS(SYMBOLS, 1, CODES, dim=16, heads=2, encoder_layers=1, decoder_layers=1)
    ids, lengths = encode_instructions(["speaks low", None])
    assert lengths.tolist() == [10, 0] and ids[1].tolist() == [0] * ids.shape[1]
    assert model.encode_style(ids, lengths, 2) is None
    assert not any(name.startswith("instruction_encoder") for name in model.state_dict())


def test_the_style_classifier_names_the_levels_an_instruction_asks_for() -> None:
    assert attribute_targets("A woman speaks very quickly, in a whisper") == [2, 0, 5, 0, 2]
    assert attribute_targets("A man says at a low volume") == [1, 0, 0, 2, 0]
    assert attribute_targets("Someone says") == attribute_targets(None) == [0, 0, 0, 0, 0]
    torch.manual_seed(0)
    model = NarTTS(SYMBOLS, 1, CODES, dim=32, heads=2, encoder_layers=1, decoder_layers=1, instruction_layers=1)
    plain, _ = style_batch(4, torch.Generator().manual_seed(0))
    plain.style_targets = torch.ones(4, len(LEVELS), dtype=torch.long)
    assert "style_loss" not in model.loss(plain) and "style_classifier.weight" not in model.state_dict()
    model = NarTTS(
        SYMBOLS, 1, CODES, dim=32, heads=2, encoder_layers=1, decoder_layers=1, instruction_layers=1, style_loss=1.0
    )
    # words that share their bytes: "a man" inside "a woman", "low" in a pitch and in a volume
    styles = ["A man speaks", "A woman speaks", "A man says with a low voice", "A woman says at a low volume"]
    batch, _ = style_batch(4, torch.Generator().manual_seed(0))
    batch.instructions, batch.instruction_lengths = encode_instructions(styles)
    batch.style_targets = torch.tensor([attribute_targets(style) for style in styles])
    optimizer = torch.optim.AdamW(model.parameters(), 3e-3)
    for _ in range(80):
        out = model._style_loss(model.encode_style(batch.instructions, batch.instruction_lengths, 4), batch)
        optimizer.zero_grad()
        out["style_loss"].backward()
        optimizer.step()
    assert float(out["style_accuracy"]) == 1.0 and float(out["style_loss"].detach()) < 0.1
    # the training loss carries it at its weight; a batch without instructions has none
    model.style_loss = 2.0
    torch.manual_seed(1)
    parts = model.loss(batch)
    assert torch.allclose(parts["loss"], parts["token_loss"] + parts["duration_loss"] + 2.0 * parts["style_loss"])
    batch.instruction_lengths = torch.zeros(4, dtype=torch.long)
    assert "style_loss" not in model.loss(batch)


def tiny_text_encoder(folder: Path) -> Path:
    """A random one-layer BERT and a word-piece tokenizer saved the way a user's local model is."""
    transformers = pytest.importorskip("transformers")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "speaks", "low", "high", "a", "man", "woman"]
    (folder / "vocab.txt").parent.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizerFast(str(folder / "vocab.txt")).save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def test_a_local_pretrained_text_encoder_reads_instructions_and_stays_out_of_the_weights(tmp_path: Path) -> None:
    folder = tiny_text_encoder(tmp_path / "bert")
    model = trained_style_model(instruction_encoder=str(folder))
    assert not any("text_model" in name or "bert" in name.lower() for name in model.state_dict())
    batch, choice = style_batch(12, torch.Generator().manual_seed(7))
    codes, _ = model.generate(
        batch.phones,
        batch.phone_lengths,
        batch.prompt,
        batch.prompt_lengths,
        generators_for(range(12)),
        SamplingOptions(temperature=0.5),
        durations=batch.durations,
        instructions=batch.instructions,
        instruction_lengths=batch.instruction_lengths,
    )
    assert ((codes[:, 0] >= 8).long() == choice[:, None]).float().mean() >= 0.95
    with pytest.raises(CodecError, match="no text encoder"):
        NarTTS(SYMBOLS, 1, CODES, dim=16, heads=2, instruction_layers=1, instruction_encoder=str(tmp_path / "none"))
