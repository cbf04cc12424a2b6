"""Semantic supervision: the units file, units aligned with training and validation segments, and
the head that trains the codec towards them without becoming part of it."""

from __future__ import annotations

import json
from pathlib import Path

import lightning
import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from codec.cli.main import main
from codec.errors import CodecError
from codec.loading import load_codec
from codec.training.data import AudioDataModule
from codec.training.module import CodecModule
from codec.training.semantic import IGNORE, SemanticHead, crop_units, load_units, save_units

RATE = 16000
HOP = 320
RECIPES = Path(__file__).resolve().parent.parent / "recipes" / "codec"


def test_units_file_round_trips_and_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    units = {"audio/a.flac": np.array([0, 3, 7]), "b.wav": np.zeros(0)}
    save_units(tmp_path / "u.npz", units, classes=8, frame_rate=50.0)
    loaded = load_units(tmp_path / "u.npz")
    assert loaded.classes == 8 and loaded.frame_rate == 50.0 and loaded.hop(RATE) == HOP
    assert set(loaded.ids) == set(units)
    np.testing.assert_array_equal(loaded.ids["audio/a.flac"], [0, 3, 7])
    with pytest.raises(ValueError, match="divide"):
        loaded.hop(16001)
    save_units(tmp_path / "big.npz", {"a": np.array([8])}, classes=8, frame_rate=50.0)
    with pytest.raises(CodecError, match=r"big\.npz.*ids in \[0, 8\)"):
        load_units(tmp_path / "big.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CodecError, match=r"junk\.npz"):
        load_units(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(CodecError, match="not a units file"):
        load_units(tmp_path / "plain.npz")
    with pytest.raises(CodecError, match="not found"):
        load_units(tmp_path / "missing.npz")


def test_crop_pads_with_ignore() -> None:
    np.testing.assert_array_equal(crop_units(np.array([1, 2, 3]), 1, 4), [2, 3, IGNORE, IGNORE])
    np.testing.assert_array_equal(crop_units(None, 0, 2), [IGNORE, IGNORE])


def frame_coded_corpus(root: Path, frames: list[int]) -> Path:
    """Clips whose frame ``t`` holds the constant ``(t + 1) / 1000`` and whose unit ``t`` is ``t``,
    so a segment's units can be checked against its audio."""
    rows, units = [], {}
    for index, count in enumerate(frames):
        audio = np.repeat((np.arange(count) + 1) / 1000.0, HOP).astype(np.float32)
        sf.write(root / f"c{index}.wav", audio, RATE, subtype="FLOAT")
        rows.append({"path": f"c{index}.wav", "split": "train" if index else "dev", "duration": count * HOP / RATE})
        units[f"c{index}.wav"] = np.arange(count)
    (root / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    save_units(root / "units.npz", units, classes=max(frames), frame_rate=RATE / HOP)
    return root / "manifest.jsonl"


def test_training_and_validation_units_are_aligned_with_their_audio(tmp_path: Path) -> None:
    manifest = frame_coded_corpus(tmp_path, [200, 130, 170])
    data = AudioDataModule(
        str(manifest),
        segment_seconds=0.4,
        batch_size=4,
        val_segment_seconds=3.0,
        loudness_db=None,
        semantic_units=str(tmp_path / "units.npz"),
    )
    data.setup("fit")
    assert data.semantic_classes == 200
    for _ in range(3):
        audio, ids = next(iter(data.train_dataloader()))
        assert audio.shape == (4, 1, 6400) and ids.shape == (4, 20) and ids.dtype == torch.int64
        frame_values = audio[:, 0, HOP // 2 :: HOP]  # one sample inside each frame
        torch.testing.assert_close(frame_values, (ids + 1).float() / 1000.0, atol=1e-4, rtol=0)  # int16 bank
    audio, ids = data.val_dataset[0]
    assert ids.shape == (150,)
    np.testing.assert_array_equal(ids[:150].numpy(), np.arange(150))
    assert float(audio[0, 149 * HOP]) == pytest.approx(0.150)


def test_units_need_real_audio_and_a_whole_hop(tmp_path: Path) -> None:
    save_units(tmp_path / "u.npz", {"a": np.zeros(2)}, classes=2, frame_rate=75.0)
    with pytest.raises(CodecError, match="synthetic"):
        AudioDataModule("synthetic", semantic_units=str(tmp_path / "u.npz")).setup("fit")
    manifest = frame_coded_corpus(tmp_path, [60, 60])
    with pytest.raises(CodecError, match="divide"):
        AudioDataModule(str(manifest), semantic_units=str(tmp_path / "u.npz")).setup("fit")


def test_head_loss_ignores_unlabelled_frames_and_learns() -> None:
    torch.manual_seed(0)
    head = SemanticHead(dim=6, classes=4)
    latent = torch.randn(2, 6, 10)
    targets = (latent[:, 0] > 0).long() + 2 * (latent[:, 1] > 0).long()
    targets[1, 5:] = IGNORE
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    first, _ = head.loss(latent, targets)
    for _ in range(200):
        loss, accuracy = head.loss(latent, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss < first / 4 and accuracy == 1.0
    unlabelled, accuracy = head.loss(latent, torch.full((2, 10), IGNORE))
    assert float(unlabelled) == 0.0 and float(accuracy) == 0.0


def test_semantic_weight_needs_units_and_a_trainable_encoder() -> None:
    codec = yaml.safe_load((RECIPES / "tiny-vq.yaml").read_text())["model"]["codec"]
    with pytest.raises(ValueError, match="semantic_units"):
        CodecModule(codec, semantic_weight=1.0)
    with pytest.raises(ValueError, match="frozen encoder"):
        CodecModule(codec, semantic_weight=1.0, semantic_classes=8, freeze_modules=["encoder", "quantizer"])
    assert CodecModule(codec, semantic_classes=8).semantic_head is None


def test_codec_train_with_units_trains_the_head_and_exports_the_codec_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head's size follows the units file, its loss moves the encoder, its accuracy is logged,
    the export holds only the codec, and resuming without the units is refused."""
    monkeypatch.chdir(tmp_path)
    manifest = frame_coded_corpus(tmp_path, [150, 140, 160, 155])
    common = [
        "--config", str(RECIPES / "tiny-vq.yaml"), "--data.train", str(manifest), "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false", "--trainer.val_check_interval", "3",
        "--trainer.default_root_dir", str(tmp_path), "--trainer.callbacks+=ModelCheckpoint",
        "--trainer.callbacks.dirpath", str(tmp_path / "ckpt"), "--trainer.callbacks.save_last", "true",
    ]  # fmt: skip
    semantic = ["--data.semantic_units", str(tmp_path / "units.npz"), "--model.semantic_weight", "2.0"]
    assert main(["train", "fit", *common, *semantic, "--trainer.max_steps", "3"]) == 0
    checkpoint = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["hyper_parameters"]["semantic_classes"] == 160
    assert checkpoint["state_dict"]["semantic_head.proj.2.weight"].shape == (160, 512, 1)
    assert main(["export", str(tmp_path / "ckpt" / "last.ckpt"), "-o", str(tmp_path / "model")]) == 0
    exported = load_codec(tmp_path / "model")
    assert not any("semantic" in name for name in exported.state_dict())
    resume = ["--trainer.max_steps", "4", "--ckpt_path", str(tmp_path / "ckpt" / "last.ckpt")]
    assert main(["train", "fit", *common, *resume]) != 0


def test_semantic_loss_reaches_the_encoder() -> None:
    """One step on the semantic loss alone changes the encoder and the head, and nothing else."""
    codec = yaml.safe_load((RECIPES / "tiny-vq.yaml").read_text())["model"]["codec"]
    lightning.seed_everything(0, verbose=False)
    model = CodecModule(codec, semantic_weight=1.0, semantic_classes=8, discriminators=[])
    audio = torch.randn(2, 1, 6400) * 0.1
    out = model.codec(audio)
    loss, _ = model.semantic_head.loss(out.quantized, torch.randint(0, 8, (2, 20)))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.semantic_head.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.codec.encoder.parameters())
    assert all(p.grad is None for p in model.codec.decoder.parameters())
