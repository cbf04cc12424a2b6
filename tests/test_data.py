"""AudioDataModule on small files written to tmp_path: sources, splits, resampling, loudness, errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from codec.errors import CodecError
from codec.io.manifest import AudioItem
from codec.training.data import AudioDataModule
from codec.training.segments import load_validation, normalize_loudness
from codec.training.synthetic import SyntheticAudioDataset

RATE = 16000


def write_tone(
    path: Path, freq: float, sample_rate: int, seconds: float = 1.5, channels: int = 1, amplitude: float = 0.5
) -> Path:
    """A sine file; stereo files get the same tone in both channels."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    tone = amplitude * np.sin(2 * np.pi * freq * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack([tone] * channels, axis=1) if channels > 1 else tone, sample_rate)
    return path


def peak_hz(audio: torch.Tensor, sample_rate: int = RATE) -> float:
    """Frequency of the largest FFT bin of ``(..., N)`` audio (each leading item separately)."""
    spectrum = torch.fft.rfft(audio * torch.hann_window(audio.shape[-1]), dim=-1).abs()
    return spectrum.argmax(dim=-1).float() * sample_rate / audio.shape[-1]


def rms_db(audio: torch.Tensor) -> torch.Tensor:
    """``(B, 1, N)`` -> ``(B,)`` RMS in dBFS."""
    return 20 * torch.log10(audio.pow(2).mean(dim=(-2, -1)).sqrt())


def mixed_rate_folder(root: Path, freq: float = 1000.0) -> Path:
    write_tone(root / "a_8k.wav", freq, 8000)
    write_tone(root / "sub" / "b_22k.flac", freq, 22050, amplitude=0.05)
    write_tone(root / "sub" / "deeper" / "c_44k_stereo.wav", freq, 44100, channels=2, amplitude=0.9)
    return root


@pytest.mark.parametrize("preload", [True, False])
def test_folder_batches_are_mono_resampled_segments(tmp_path: Path, preload: bool) -> None:
    root = mixed_rate_folder(tmp_path / "audio")
    dm = AudioDataModule(str(root), sample_rate=RATE, segment_seconds=0.5, batch_size=8, preload=preload)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (8, 1, RATE // 2)
    assert batch.dtype == torch.float32
    assert torch.allclose(peak_hz(batch), torch.tensor(1000.0), atol=4)
    val = next(iter(dm.val_dataloader()))
    assert val.shape[1:] == (1, 3 * RATE)
    assert torch.allclose(peak_hz(val), torch.tensor(1000.0), atol=1)


def test_stereo_44k_file_keeps_its_pitch_at_model_rate(tmp_path: Path) -> None:
    write_tone(tmp_path / "only" / "tone.wav", 1000.0, 44100, seconds=2.0, channels=2)
    dm = AudioDataModule(str(tmp_path / "only"), val="synthetic", segment_seconds=1.0, batch_size=4)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (4, 1, RATE)
    assert torch.allclose(peak_hz(batch), torch.tensor(1000.0), atol=2)


def test_loudness_is_normalized_with_bounded_jitter(tmp_path: Path) -> None:
    root = mixed_rate_folder(tmp_path / "audio")
    dm = AudioDataModule(
        str(root), segment_seconds=0.5, val_segment_seconds=1.0, batch_size=16, loudness_db=-23.0, gain_jitter_db=3.0
    )
    dm.setup("fit")
    train_levels = rms_db(next(iter(dm.train_dataloader())))
    assert torch.all((train_levels + 23).abs() < 3.5), train_levels
    assert train_levels.max() - train_levels.min() > 0.1  # the jitter is random per segment
    val_levels = rms_db(torch.cat(list(dm.val_dataloader())))
    assert torch.all((val_levels + 23).abs() < 0.1), val_levels


def test_normalize_loudness_leaves_silence_and_never_clips() -> None:
    quiet = np.full(100, 1e-5, dtype=np.float32)
    np.testing.assert_array_equal(normalize_loudness(quiet, -23.0), quiet)
    loud = np.array([0.0, 0.5, -0.25, 0.0], dtype=np.float32)
    out = normalize_loudness(loud, 0.0, gain_db=6.0)
    np.testing.assert_allclose(out, 2 * loud, rtol=1e-6)  # limited to full scale: a gain, not a clip
    np.testing.assert_array_equal(normalize_loudness(4 * loud, None), 4 * loud)  # no target: untouched


def test_segments_keep_their_level_within_the_utterance(tmp_path: Path) -> None:
    """Loudness is set per file: a quiet stretch of a file stays 20 dB below its loud stretch instead
    of being boosted to the target (and near-silence is not raised by 30 dB)."""
    t = np.arange(RATE) / RATE
    tone = np.sin(2 * np.pi * 220 * t).astype(np.float32)
    sf.write(tmp_path / "a.wav", np.concatenate([0.5 * tone, 0.05 * tone]), RATE, subtype="FLOAT")
    sf.write(tmp_path / "b.wav", 0.3 * tone, RATE, subtype="FLOAT")
    dm = AudioDataModule(str(tmp_path), segment_seconds=0.25, batch_size=32, loudness_db=-23.0, gain_jitter_db=0.0)
    dm.setup("fit")
    levels = rms_db(torch.cat([batch for _, batch in zip(range(4), dm.train_dataloader(), strict=False)]))
    assert levels.max() - levels.min() > 15, levels  # the quiet half of a.wav is still quiet
    assert levels.max() < 0


def test_manifest_splits_and_relative_paths(tmp_path: Path) -> None:
    data = tmp_path / "corpus"
    elsewhere = write_tone(tmp_path / "elsewhere" / "abs.wav", 1000.0, 22050)
    write_tone(data / "wavs" / "t1.wav", 1000.0, 8000)
    write_tone(data / "wavs" / "t2.flac", 1000.0, 44100, channels=2)
    write_tone(data / "wavs" / "d1.wav", 3000.0, 22050)
    write_tone(data / "wavs" / "x1.wav", 5000.0, 16000)
    rows = [
        {"path": "wavs/t1.wav", "split": "train", "speaker": "s1", "text": "hello"},
        {"path": str(elsewhere), "split": "train", "duration": 1.5},
        {"path": "wavs/t2.flac"},
        {"path": "wavs/d1.wav", "split": "dev"},
        {"path": "wavs/x1.wav", "split": "test"},
    ]
    manifest = data / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    dm = AudioDataModule(str(manifest), segment_seconds=0.5, batch_size=8)
    train, val = dm.split_items()
    assert sorted(item.path.name for item in train) == ["abs.wav", "t1.wav", "t2.flac"]
    assert [item.path for item in val] == [data / "wavs" / "d1.wav"]
    assert next(item for item in train if item.path.name == "t1.wav").speaker == "s1"
    dm.setup("fit")
    assert torch.allclose(peak_hz(next(iter(dm.train_dataloader()))), torch.tensor(1000.0), atol=4)
    val_batch = torch.cat(list(dm.val_dataloader()))
    assert val_batch.shape[0] == 1
    assert torch.allclose(peak_hz(val_batch), torch.tensor(3000.0), atol=1)

    other = AudioDataModule(str(manifest), val=str(manifest), train_split="dev", val_split="test")
    train, val = other.split_items()
    assert sorted(item.path.name for item in train) == ["d1.wav", "t2.flac"]
    assert sorted(item.path.name for item in val) == ["t2.flac", "x1.wav"]


def test_folder_holdout_is_deterministic_and_disjoint(tmp_path: Path) -> None:
    root = tmp_path / "many"
    for i in range(30):
        write_tone(root / f"spk{i % 3}" / f"utt{i:02d}.wav", 440.0, 8000, seconds=0.4)
    first = AudioDataModule(str(root), val_fraction=0.2).split_items()
    again = AudioDataModule(str(root), val_fraction=0.2, seed=7).split_items()
    assert first == again
    train, val = ({item.key for item in items} for items in first)
    assert train and val and not train & val
    assert len(train | val) == 30

    moved = tmp_path / "moved" / "many"
    moved.parent.mkdir()
    root.rename(moved)
    _, val_moved = AudioDataModule(str(moved), val_fraction=0.2).split_items()
    assert {item.key for item in val_moved} == val

    dm = AudioDataModule(str(moved), val_fraction=0.2, max_val_items=3, val_segment_seconds=0.5)
    dm.setup("validate")
    assert dm.train_dataset is None
    batches = [torch.cat(list(dm.val_dataloader())) for _ in range(2)]
    assert batches[0].shape == (3, 1, RATE // 2)
    assert torch.equal(batches[0], batches[1])
    assert torch.all(batches[0][:, :, int(0.41 * RATE) :] == 0)  # 0.4 s files are zero-padded


def test_short_files_are_padded_and_too_short_ones_dropped(tmp_path: Path) -> None:
    write_tone(tmp_path / "a" / "short.wav", 500.0, 16000, seconds=0.4)
    write_tone(tmp_path / "a" / "tiny.wav", 500.0, 16000, seconds=0.1, amplitude=0.9)
    dm = AudioDataModule(str(tmp_path / "a"), val="synthetic", segment_seconds=1.0, batch_size=4, min_seconds=0.3)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (4, 1, RATE)
    assert torch.all(batch[..., : int(0.39 * RATE)].abs().amax(dim=-1) > 0.01)
    assert torch.all(batch[..., int(0.4 * RATE) :] == 0)


def test_synthetic_dataset_is_deterministic_and_speechlike() -> None:
    ds = SyntheticAudioDataset(10, 8000, RATE, seed=3)
    item = ds[4]
    assert item.shape == (1, 8000) and item.dtype == torch.float32
    assert torch.equal(item, SyntheticAudioDataset(10, 8000, RATE, seed=3)[4])
    assert not torch.equal(item, ds[5])
    assert not torch.equal(item, SyntheticAudioDataset(10, 8000, RATE, seed=4)[4])
    for index in range(len(ds)):
        audio = ds[index]
        assert audio.abs().max() <= 1.0
        assert audio.pow(2).mean().sqrt() > 0.01
    with pytest.raises(IndexError):
        ds[10]


def test_synthetic_datamodule(tmp_path: Path) -> None:
    dm = AudioDataModule("synthetic", segment_seconds=0.25, batch_size=4, synthetic_items=12, max_val_items=5)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert len(loader) == 3
    batch = next(iter(loader))
    assert batch.shape == (4, 1, RATE // 4)
    assert torch.all((rms_db(batch) + 23).abs() < 3.5)
    val = torch.cat(list(dm.val_dataloader()))
    assert val.shape == (5, 1, 3 * RATE)
    assert not torch.equal(val[0, :, : RATE // 4], dm.train_dataset[0])


def test_train_loader_options(tmp_path: Path) -> None:
    dm = AudioDataModule("synthetic", segment_seconds=0.1, batch_size=3, synthetic_items=10, num_workers=1)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert loader.drop_last and loader.persistent_workers and loader.num_workers == 1
    assert sum(1 for _ in loader) == 3
    assert not dm.val_dataloader().drop_last


def test_preloaded_audio_loads_in_worker(tmp_path: Path) -> None:
    root = mixed_rate_folder(tmp_path / "audio")
    dm = AudioDataModule(str(root), val="synthetic", segment_seconds=0.25, batch_size=4, num_workers=1)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert torch.allclose(peak_hz(batch), torch.tensor(1000.0), atol=8)


@pytest.mark.parametrize("preload", [True, False])
def test_bad_file_is_skipped_with_one_warning(tmp_path: Path, preload: bool) -> None:
    root = mixed_rate_folder(tmp_path / "audio")
    (root / "sub" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    dm = AudioDataModule(str(root), val="synthetic", segment_seconds=0.5, batch_size=4, preload=preload)
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable audio file\(s\): .*broken\.wav") as record:
        dm.setup("fit")
    assert len(record) == 1
    assert "\n" not in str(record[0].message)
    assert next(iter(dm.train_dataloader())).shape == (4, 1, RATE // 2)


def test_bad_validation_file_is_skipped(tmp_path: Path) -> None:
    good = write_tone(tmp_path / "good.wav", 1000.0, 8000)
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"\x00" * 64)
    items = [AudioItem(path=bad, key="bad.flac"), AudioItem(path=good, key="good.wav")]
    with pytest.warns(UserWarning, match="bad.flac"):
        dataset = load_validation(items, RATE, RATE, min_samples=0, loudness_db=-23.0)
    assert dataset is not None and len(dataset) == 1


def test_all_files_unreadable_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.wav").write_bytes(b"nope")
    dm = AudioDataModule(str(tmp_path / "junk"), val="synthetic")
    with pytest.warns(UserWarning, match="x.wav"), pytest.raises(CodecError, match="no readable training audio"):
        dm.setup("fit")


def write_manifest(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_or_empty_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(CodecError, match="missing: audio folder not found"):
        AudioDataModule(str(tmp_path / "missing")).setup("fit")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("not audio")
    with pytest.raises(CodecError, match="empty: no audio files found"):
        AudioDataModule(str(tmp_path / "empty")).setup("fit")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (None, "manifest not found"),
        (["", "  "], "manifest has no rows"),
        (['{"path": "a.wav"}', "", '{"path": "b.wav",}'], "line 3: not valid JSON"),
        (['["a.wav"]'], 'line 1: expected an object with a non-empty "path" string'),
        (['{"file": "a.wav"}'], 'line 1: expected an object with a non-empty "path" string'),
        (['{"path": "a.wav", "duration": "long"}'], 'line 1: "duration" must be a number'),
        (['{"path": "a.wav", "split": "dev"}'], "no rows with split 'train'"),
    ],
)
def test_bad_manifest_raises_naming_file_and_line(tmp_path: Path, lines: list[str] | None, message: str) -> None:
    manifest = tmp_path / "data.jsonl"
    if lines is not None:
        write_manifest(manifest, lines)
    with pytest.raises(CodecError, match=re.escape(f"{manifest}: {message}")):
        AudioDataModule(str(manifest)).setup("fit")


def test_validation_source_without_val_rows_is_an_error(tmp_path: Path) -> None:
    root = mixed_rate_folder(tmp_path / "audio")
    manifest = write_manifest(tmp_path / "val.jsonl", [json.dumps({"path": "audio/a_8k.wav", "split": "train"})])
    with pytest.raises(CodecError, match=re.escape(f"{manifest}: no rows with split 'dev'")):
        AudioDataModule(str(root), val=str(manifest)).setup("fit")


def test_epoch_length_covers_the_audio_once(tmp_path: Path) -> None:
    root = mixed_rate_folder(tmp_path / "audio")
    dm = AudioDataModule(str(root), val="synthetic", segment_seconds=0.25, batch_size=2)
    dm.setup("fit")
    assert len(dm.train_dataset) == math.ceil(3 * 1.5 / 0.25)


def test_extra_training_sources_join_train_but_not_validation(tmp_path: Path) -> None:
    main = tmp_path / "main"
    write_tone(main / "a.wav", 1000.0, 16000)
    write_tone(main / "d.wav", 3000.0, 16000)
    manifest = write_manifest(
        main / "manifest.jsonl",
        [json.dumps({"path": "a.wav", "split": "train"}), json.dumps({"path": "d.wav", "split": "dev"})],
    )
    styled = tmp_path / "styled"
    write_tone(styled / "a.wav", 2000.0, 22050, amplitude=0.05)
    write_tone(styled / "held.wav", 5000.0, 16000)
    extra = write_manifest(
        styled / "train.jsonl",
        [json.dumps({"path": "a.wav", "split": "train"}), json.dumps({"path": "held.wav", "split": "test"})],
    )
    folder = mixed_rate_folder(tmp_path / "folder")
    dm = AudioDataModule(str(manifest), extra_train=[str(extra), str(folder)], segment_seconds=0.5, batch_size=64)
    train, val = dm.split_items()
    assert sorted(item.path for item in train) == sorted(
        [main / "a.wav", styled / "a.wav", *(item for item in folder.rglob("*") if item.is_file())]
    )
    assert [item.path for item in val] == [main / "d.wav"]
    assert len({item.key for item in train}) == len(train)  # the two a.wav stay apart
    dm.setup("fit")
    heard = {round(float(hz), -3) for hz in peak_hz(next(iter(dm.train_dataloader())))}
    assert heard == {1000.0, 2000.0}
    assert torch.allclose(peak_hz(torch.cat(list(dm.val_dataloader()))), torch.tensor(3000.0), atol=1)

    alone = AudioDataModule(str(main / "a.wav"), extra_train=[str(extra)], segment_seconds=0.5, batch_size=64)
    with pytest.warns(UserWarning, match="nothing held out"):
        alone.setup("fit")  # one main file, nothing to hold out: validation on it, not on the extra files
    assert torch.allclose(peak_hz(torch.cat(list(alone.val_dataloader()))), torch.tensor(1000.0), atol=1)

    with pytest.raises(CodecError, match=re.escape(f"{extra}: no rows with split 'dev'")):
        AudioDataModule(str(manifest), extra_train=[str(extra)], train_split="dev").split_items()
    with pytest.raises(CodecError, match="synthetic training data takes none"):
        AudioDataModule("synthetic", extra_train=[str(extra)]).split_items()
