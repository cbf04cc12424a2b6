"""``UnitModel``: k-means centroids over speech features, fitted on a corpus and applied to any clip.

Whisper's encoder states carry their position in the 30 s window (its positional embedding
survives the four layers): clustered raw, k-means spends units on where a frame sat, and silence
alone spreads over hundreds of units. So every state is first centred by the corpus's mean state
at its window position; features without positions (HuBERT, WavLM) have none to remove.

The model is one ``.npz``: ``centroids (K, D)``, ``position_mean (P, D)`` (``P = 0`` when unused)
and a JSON ``meta`` (features, frame rate, clusters, frames it was fitted on).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codec.errors import CodecError
from codec.io.audio import atomic_write_bytes

FRAME_RATE = 50.0


@dataclass
class UnitModel:
    """Centroids ``(K, D)``, the position means ``(P, D)`` removed first, and a description."""

    centroids: np.ndarray
    position_mean: np.ndarray
    meta: dict[str, Any]

    @property
    def clusters(self) -> int:
        return int(self.centroids.shape[0])

    def centred(self, states: np.ndarray, first: int) -> np.ndarray:
        """``(T, D)`` states minus the mean state of the window positions they sat at."""
        states = np.asarray(states, dtype=np.float32)
        if self.position_mean.shape[0] == 0:
            return states
        means = self.position_mean[first : first + states.shape[0]]
        return states - np.pad(means, ((0, states.shape[0] - means.shape[0]), (0, 0)))

    def assign(self, states: np.ndarray, first: int = 0) -> np.ndarray:
        """Nearest centroid of each ``(T, D)`` state, as int16 ``(T,)``."""
        x = self.centred(states, first)
        c = self.centroids
        distances = (x * x).sum(1, keepdims=True) - 2 * x @ c.T + (c * c).sum(1)
        return distances.argmin(1).astype(np.int16)

    def save(self, path: str | Path) -> None:
        """Write the model atomically as one ``.npz``."""
        buffer = io.BytesIO()
        meta = np.frombuffer(json.dumps(self.meta).encode("utf-8"), dtype=np.uint8)
        np.savez(buffer, centroids=self.centroids, position_mean=self.position_mean, meta=meta)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> UnitModel:
        """Read a saved model.

        Raises:
            CodecError: naming the file: missing or not a unit model.
        """
        try:
            with np.load(path, allow_pickle=False) as archive:
                meta = json.loads(archive["meta"].tobytes().decode("utf-8"))
                model = cls(archive["centroids"].astype(np.float32), archive["position_mean"].astype(np.float32), meta)
        except FileNotFoundError:
            raise CodecError("unit model not found", path) from None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as error:
            raise CodecError(f"not a unit model ({error})", path) from None
        if model.centroids.ndim != 2 or "features" not in meta:
            raise CodecError("not a unit model (no centroids or features)", path)
        return model


def kmeans(data: torch.Tensor, clusters: int, iterations: int, generator: torch.Generator) -> torch.Tensor:
    """Lloyd's k-means with k-means++ seeding on ``(N, D)`` rows; an emptied cluster takes the row
    farthest from its centroid."""
    first = int(torch.randint(len(data), (1,), generator=generator))
    centroids = [data[first]]
    nearest = ((data - data[first]) ** 2).sum(1)
    for _ in range(1, clusters):
        pick = int(torch.multinomial(nearest.clamp(min=0) + 1e-12, 1, generator=generator))
        centroids.append(data[pick])
        nearest = torch.minimum(nearest, ((data - data[pick]) ** 2).sum(1))
    c = torch.stack(centroids)
    for _ in range(iterations):
        distances = torch.cdist(data, c)
        labels = distances.argmin(1)
        counts = torch.bincount(labels, minlength=clusters)
        sums = torch.zeros_like(c).index_add_(0, labels, data)
        moved = sums / counts.clamp(min=1)[:, None]
        empty = counts == 0
        if bool(empty.any()):
            far = distances.gather(1, labels[:, None])[:, 0].argsort(descending=True)[: int(empty.sum())]
            moved[empty] = data[far]
        c = moved
    return c


def fit_unit_model(
    features: Iterable[tuple[np.ndarray, int]],
    clusters: int,
    feature_name: str,
    max_frames: int = 200_000,
    iterations: int = 30,
    seed: int = 0,
) -> UnitModel:
    """Fit position means and ``clusters`` centroids on ``(states (T, D), first position)`` pairs.

    Raises:
        CodecError: fewer frames than clusters.
    """
    items = [(np.asarray(states, np.float32), int(first)) for states, first in features]
    frames = sum(len(states) for states, _ in items)
    if frames < clusters:
        raise CodecError(f"{frames} frames cannot make {clusters} units")
    dim = items[0][0].shape[1]
    span = max(first + len(states) for states, first in items)
    position_mean = np.zeros((0, dim), np.float32)
    if any(first > 0 for _, first in items):
        total, count = np.zeros((span, dim)), np.zeros(span)
        for states, first in items:
            total[first : first + len(states)] += states
            count[first : first + len(states)] += 1
        position_mean = (total / np.maximum(count, 1)[:, None]).astype(np.float32)
    model = UnitModel(np.zeros((clusters, dim), np.float32), position_mean, {})
    data = np.concatenate([model.centred(states, first) for states, first in items])
    rng = np.random.default_rng(seed)
    if len(data) > max_frames:
        data = data[rng.choice(len(data), max_frames, replace=False)]
    generator = torch.Generator().manual_seed(seed)
    model.centroids = kmeans(torch.from_numpy(data), clusters, iterations, generator).numpy().astype(np.float32)
    model.meta = {"features": feature_name, "frame_rate": FRAME_RATE, "clusters": clusters, "fit_frames": len(data)}
    return model
