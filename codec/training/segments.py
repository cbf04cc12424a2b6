"""Training and validation segments: audio decoded once into memory (or on demand) and cut into
random training segments, and the fixed first seconds of validation files."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from codec.errors import CodecError
from codec.io.audio import probe_seconds, read_audio, resample, to_mono
from codec.io.manifest import AudioItem
from codec.training.semantic import Units, crop_units

log = logging.getLogger(__name__)


SILENCE_DB = -60.0
"""Segments quieter than this (RMS, dBFS) are left as they are by loudness normalization."""


INT16_SCALE = 32767.0


def level_db(audio: np.ndarray) -> float | None:
    """RMS level of ``(N,)`` audio in dBFS; None for empty or near-silent audio (below ``SILENCE_DB``)."""
    if not audio.size:
        return None
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    level = 20.0 * math.log10(max(rms, 1e-12))
    return level if level > SILENCE_DB else None


def normalize_loudness(
    audio: np.ndarray, target_db: float | None, gain_db: float = 0.0, level: float | None = None
) -> np.ndarray:
    """Scale ``(N,)`` audio so that its utterance sits at ``target_db + gain_db`` dBFS, never clipping.

    Args:
        target_db: RMS target; None keeps the level as it is.
        gain_db: extra gain (training's jitter).
        level: the utterance's level in dBFS (``level_db`` of the whole file a segment was cut
            from), so that a quiet stretch of speech stays quiet; default ``audio``'s own. Near-silent
            utterances (None) get no gain.

    The gain is lowered where it would push a peak past full scale (a limiter, not a clip).
    """
    level = level_db(audio) if level is None else level
    if target_db is None or level is None or not audio.size:
        return audio.astype(np.float32, copy=False)
    gain = 10.0 ** ((target_db + gain_db - level) / 20.0)
    peak = float(np.max(np.abs(audio)))
    if peak * gain > 1.0:
        gain = 1.0 / peak
    return (audio * np.float32(gain)).astype(np.float32, copy=False)


def fit_length(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """Crop or zero-pad ``(N,)`` audio at the end to ``num_samples``."""
    if audio.shape[-1] >= num_samples:
        return audio[:num_samples]
    return np.pad(audio, (0, num_samples - audio.shape[-1]))


def decode(path: str | Path, sample_rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Read a file as mono float32 ``(N,)`` at ``sample_rate``, optionally only its first seconds.

    Raises:
        CodecError: the file cannot be read.
    """
    audio, sr = read_audio(path)
    mono = to_mono(audio)
    if max_seconds is not None:
        mono = mono[: math.ceil(max_seconds * sr) + 1]
    return resample(mono, sr, sample_rate)


def _probe_seconds(path: Path) -> float:
    """Duration of a file from its header, decoding it only when the header cannot be read."""
    seconds = probe_seconds(path)
    if seconds is None:
        audio, sr = read_audio(path)
        seconds = audio.shape[-1] / sr
    return seconds


class AudioBank(Protocol):
    """A set of audio files at one sample rate from which segments can be cut."""

    lengths: np.ndarray
    """``(F,)`` int64 lengths in samples at the bank's rate."""
    keys: list[str]
    """The files' item keys."""

    def segment(self, index: int, start: int, num_samples: int) -> np.ndarray:
        """Samples ``[start, start + num_samples)`` of file ``index`` as float32 ``(<= num_samples,)``."""
        ...

    def level(self, index: int) -> float | None:
        """The RMS level of file ``index`` as a whole in dBFS (``level_db``)."""
        ...


class PreloadedAudio:
    """All files decoded once into one int16 buffer with an index of offsets.

    Only numpy arrays are held, so forked DataLoader workers share the buffer copy-on-write without
    touching its pages.

    Args:
        samples: ``(T,)`` int16 concatenated audio.
        offsets: ``(F + 1,)`` int64 start of each file in ``samples``, then ``T``.
        keys: the files' item keys.
        levels: ``(F,)`` float RMS level of each file in dBFS, NaN for near-silent ones; default
            measured on ``samples``.
    """

    def __init__(
        self, samples: np.ndarray, offsets: np.ndarray, keys: Sequence[str] = (), levels: np.ndarray | None = None
    ) -> None:
        self.samples = samples
        self.offsets = offsets
        self.lengths = np.diff(offsets)
        self.keys = list(keys)
        if levels is None:
            measured = [level_db(self.segment(i, 0, int(n))) for i, n in enumerate(self.lengths)]
            levels = np.array([np.nan if value is None else value for value in measured])
        self.levels = np.asarray(levels, dtype=np.float64)

    def level(self, index: int) -> float | None:
        value = float(self.levels[index])
        return None if math.isnan(value) else value

    def segment(self, index: int, start: int, num_samples: int) -> np.ndarray:
        begin = int(self.offsets[index]) + start
        end = min(begin + num_samples, int(self.offsets[index + 1]))
        return self.samples[begin:end].astype(np.float32) / np.float32(INT16_SCALE)


class LazyAudio:
    """Files decoded on demand: each segment reads its file, crops, then resamples only the crop.

    A file that became unreadable after the scan (or whose manifest duration was trusted) raises
    ``CodecError`` when it is drawn.

    Args:
        paths: the files.
        seconds: ``(F,)`` their durations.
        sample_rate: rate of the returned segments.
        keys: the files' item keys.
    """

    def __init__(self, paths: Sequence[Path], seconds: np.ndarray, sample_rate: int, keys: Sequence[str] = ()) -> None:
        self.paths = np.array([str(path) for path in paths])
        self.keys = list(keys)
        self.sample_rate = sample_rate
        self.lengths = np.maximum(1, np.round(seconds * sample_rate)).astype(np.int64)
        self._levels: dict[int, float | None] = {}

    def _mono(self, index: int) -> tuple[np.ndarray, int]:
        audio, sr = read_audio(str(self.paths[index]))
        mono = to_mono(audio)
        if index not in self._levels:
            self._levels[index] = level_db(mono)
        return mono, sr

    def segment(self, index: int, start: int, num_samples: int) -> np.ndarray:
        mono, sr = self._mono(index)
        begin = start * sr // self.sample_rate
        crop = mono[begin : begin + math.ceil(num_samples * sr / self.sample_rate)]
        return resample(crop, sr, self.sample_rate)[:num_samples]

    def level(self, index: int) -> float | None:
        if index not in self._levels:
            self._mono(index)
        return self._levels[index]


def _warn_skipped(errors: Sequence[CodecError]) -> None:
    if errors:
        warnings.warn(
            f"skipped {len(errors)} unreadable audio file(s): " + "; ".join(str(error) for error in errors),
            stacklevel=3,
        )


def load_bank(items: Sequence[AudioItem], sample_rate: int, min_seconds: float, preload: bool) -> AudioBank | None:
    """Decode (``preload``) or probe the files, skipping unreadable ones with one warning.

    Files shorter than ``min_seconds`` are dropped. Returns None when no file is left.
    """
    errors: list[CodecError] = []
    chunks: list[np.ndarray] = []
    levels: list[float] = []
    kept: list[AudioItem] = []
    seconds: list[float] = []
    short = 0
    desc = "Loading audio" if preload else "Scanning audio"
    for item in tqdm(items, desc=desc, unit="file", dynamic_ncols=True):
        if item.duration is not None and item.duration < min_seconds:
            short += 1
            continue
        try:
            if preload:
                audio = decode(item.path, sample_rate)
                duration = audio.shape[-1] / sample_rate
            else:
                duration = item.duration if item.duration is not None else _probe_seconds(item.path)
        except CodecError as error:
            errors.append(error)
            continue
        if duration < min_seconds:
            short += 1
            continue
        if preload:
            chunks.append(np.round(np.clip(audio, -1.0, 1.0) * INT16_SCALE).astype(np.int16))
            level = level_db(audio)
            levels.append(np.nan if level is None else level)
        kept.append(item)
        seconds.append(duration)
    _warn_skipped(errors)
    if short:
        log.info("dropped %d file(s) shorter than %.2f s", short, min_seconds)
    if not kept:
        return None
    keys = [item.key for item in kept]
    if not preload:
        return LazyAudio([item.path for item in kept], np.asarray(seconds), sample_rate, keys)
    offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum([len(chunk) for chunk in chunks], out=offsets[1:])
    return PreloadedAudio(np.concatenate(chunks), offsets, keys, np.asarray(levels))


class RandomSegmentDataset(Dataset):
    """Random training segments: files drawn with probability proportional to their length.

    A file shorter than a segment is zero-padded at the end. Randomness comes from torch's generator,
    which DataLoader seeds differently per worker and epoch (and ``seed_everything`` makes repeatable),
    mixed with the index, which differs between ranks under a ``DistributedSampler``.

    Args:
        bank: the audio.
        num_samples: segment length ``N``.
        num_items: items per epoch.
        loudness_db: RMS target in dBFS of each file as a whole (segments keep their level within it),
            or None to keep levels.
        gain_jitter_db: uniform random gain in ``[-gain_jitter_db, gain_jitter_db]`` added to the target.
        units: teacher units of the bank's files (``codec.training.semantic``); segments then start on a unit
            boundary and items are ``(audio, ids)`` pairs.
        unit_hop: samples per unit.
    """

    def __init__(
        self,
        bank: AudioBank,
        num_samples: int,
        num_items: int,
        loudness_db: float | None = None,
        gain_jitter_db: float = 0.0,
        units: Units | None = None,
        unit_hop: int = 1,
    ) -> None:
        self.bank = bank
        self.num_samples = num_samples
        self.num_items = num_items
        self.loudness_db = loudness_db
        self.gain_jitter_db = gain_jitter_db
        self.cumulative = np.cumsum(bank.lengths)
        self.units = units
        self.unit_hop = unit_hop

    def __len__(self) -> int:
        return self.num_items

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """A ``(1, N)`` float32 segment, with units its ``(N / hop,)`` int64 ids; ``index`` only counts items."""
        rng = np.random.default_rng([index, int(torch.randint(2**62, ()).item())])
        file = int(np.searchsorted(self.cumulative, rng.integers(self.cumulative[-1]), side="right"))
        spare = int(self.bank.lengths[file]) - self.num_samples
        start = int(rng.integers(spare // self.unit_hop + 1)) * self.unit_hop if spare > 0 else 0
        audio = self.bank.segment(file, start, self.num_samples)
        gain = rng.uniform(-self.gain_jitter_db, self.gain_jitter_db) if self.gain_jitter_db > 0 else 0.0
        audio = normalize_loudness(audio, self.loudness_db, gain, self.bank.level(file))
        audio = torch.from_numpy(fit_length(audio, self.num_samples))[None]
        if self.units is None:
            return audio
        ids = self.units.ids.get(self.bank.keys[file])
        return audio, torch.from_numpy(crop_units(ids, start // self.unit_hop, self.num_samples // self.unit_hop))


class SegmentDataset(Dataset):
    """Fixed segments held in memory.

    Args:
        segments: ``(M, 1, N)`` float32.
        units: ``(M, T)`` int64 teacher unit ids per segment (``codec.training.semantic.IGNORE`` where none);
            items are then ``(segment, ids)`` pairs.
    """

    def __init__(self, segments: torch.Tensor, units: torch.Tensor | None = None) -> None:
        self.segments = segments
        self.units = units

    def __len__(self) -> int:
        return self.segments.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``(1, N)``, with units its ``(T,)`` ids."""
        if self.units is None:
            return self.segments[index]
        return self.segments[index], self.units[index]


def load_validation(
    items: Sequence[AudioItem],
    sample_rate: int,
    num_samples: int,
    min_samples: int,
    loudness_db: float | None,
    units: Units | None = None,
) -> SegmentDataset | None:
    """The first ``num_samples`` of each file (zero-padded), at the loudness of its whole utterance
    normalized without jitter, and with ``units`` the ids of those samples.

    Files shorter than ``min_samples`` are dropped and unreadable ones skipped with one warning;
    returns None when no file is left.
    """
    errors: list[CodecError] = []
    segments = []
    ids = []
    hop = units.hop(sample_rate) if units is not None else 1
    for item in tqdm(items, desc="Loading validation audio", unit="file", dynamic_ncols=True):
        try:
            audio = decode(item.path, sample_rate)
        except CodecError as error:
            errors.append(error)
            continue
        if audio.shape[-1] < min_samples:
            continue
        audio = normalize_loudness(audio[:num_samples], loudness_db, level=level_db(audio))
        segments.append(torch.from_numpy(fit_length(audio, num_samples)))
        if units is not None:
            ids.append(torch.from_numpy(crop_units(units.ids.get(item.key), 0, num_samples // hop)))
    _warn_skipped(errors)
    if not segments:
        return None
    return SegmentDataset(torch.stack(segments)[:, None], torch.stack(ids) if units is not None else None)
