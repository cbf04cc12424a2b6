"""``tts train`` on pairs joined with token shards, ``tts export`` and loading the exported folder.

The fixture corpus: a few clips of generated audio tokenized by the shipped tokenizer, with made-up
phones whose durations (in seconds) cover each clip.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from codec import CodecError, load_codec
from codec.io.audio import write_audio
from tts.cli.main import main
from tts.data import PairDataset, collate_pairs, frames_per_phone
from tts.pretrained import load_generator

PHONES = ["pau", "hh", "ax", "l", "ow", "w", "er", "d"]


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
    with pytest.raises(CodecError, match="no test pair"):
        PairDataset(pairs, tokens, lambda phones: [1], split="test")


@pytest.mark.parametrize("generator", ["nar", "ar", "ar-aligned"])
def test_train_export_and_load_a_tiny_generator(generator: str, corpus: tuple[Path, Path], tmp_path: Path) -> None:
    pairs, tokens = corpus
    recipe = Path(__file__).parents[1] / "recipes" / "tts" / f"tiny-{generator}.yaml"
    args = ["train", "fit", "--config", str(recipe), "--data.pairs", str(pairs), "--data.tokens", str(tokens)]
    args += ["--trainer.max_steps", "4", "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    args += ["--trainer.enable_progress_bar", "false"]
    assert main(args) == 0
    checkpoint = tmp_path / "runs" / f"tiny-{generator}" / "run" / "checkpoints" / "last.ckpt"
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "model"), "--half"]) == 0
    model, config = load_generator(tmp_path / "model")
    codec = load_codec("default")
    assert config["codec"]["token_fingerprint"] == codec.fingerprints().tokens
    assert config["symbols"][0] == "<pad>" and set(PHONES) <= set(config["symbols"])
    assert config["trained_steps"] == 4
    phones = torch.tensor([[1, 2, 3]])
    empty = torch.zeros(1, 1, 0, dtype=torch.long)
    from tts.sampling import generators_for

    codes, lengths = model.generate(phones, torch.tensor([3]), empty, torch.tensor([0]), generators_for([0]))
    assert codes.shape[:2] == (1, 1) and int(lengths[0]) >= 1 and int(codes.max()) < codec.codebook_size


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
