"""Training and validation data: audio folders, JSONL manifests or synthetic speech-like signals.

``AudioDataModule`` is configured from a LightningCLI ``data:`` section with plain values::

    data:
      train: /data/LibriTTS/train-clean-100   # a folder, a manifest.jsonl, or "synthetic"
      sample_rate: 16000
      segment_seconds: 1.0

Training batches are random ``(B, 1, N)`` float32 segments; validation batches are the first
``val_segment_seconds`` of a fixed, deterministic set of files, so validation metrics are
comparable between runs. By default all training audio is decoded and resampled once, kept in
memory as int16, and each step only slices it.

A manifest has one JSON object per line: ``{"path": "a/b.flac", "split": "train", "duration": 3.2,
"source": "...", "speaker": "...", "text": "..."}``; only ``path`` is required and a relative path is
relative to the manifest's folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf
import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from codec.audio import AUDIO_EXTENSIONS, find_audio_files, read_audio, resample, to_mono
from codec.errors import CodecError
from codec.semantic import Units, crop_units, load_units

log = logging.getLogger(__name__)

SYNTHETIC = "synthetic"
SILENCE_DB = -60.0
"""Segments quieter than this (RMS, dBFS) are left as they are by loudness normalization."""
INT16_SCALE = 32767.0


@dataclass(frozen=True)
class AudioItem:
    """One audio file of a data source.

    Attributes:
        path: the file.
        key: stable name used for hashed splits: the path relative to its folder or as written in the manifest.
        split: the manifest's ``split``; None for folders and rows without one.
        duration: seconds, when the manifest gives it.
        source, speaker, text: optional manifest metadata.
    """

    path: Path
    key: str
    split: str | None = None
    duration: float | None = None
    source: str | None = None
    speaker: str | None = None
    text: str | None = None


def _optional_str(row: dict, key: str) -> str | None:
    value = row.get(key)
    return None if value is None else str(value)


def read_json_lines(path: Path, torn_end: bool = False) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for every non-blank line of a JSON-lines file.

    Args:
        torn_end: skip a last line that does not parse and has no newline (a write cut by a kill).

    Raises:
        CodecError: naming ``path``: it cannot be read, is not UTF-8, or a line is not valid JSON.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise CodecError(f"not UTF-8 text (byte {error.start})", path) from None
    except OSError as error:
        raise CodecError(f"cannot read file: {error.strerror or error}", path) from None
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except (ValueError, RecursionError) as error:
            if torn_end and number == len(lines):
                return
            reason = error.msg if isinstance(error, json.JSONDecodeError) else "too large or too deeply nested"
            raise CodecError(f"line {number}: not valid JSON ({reason})", path) from None


def read_manifest(path: str | Path) -> list[AudioItem]:
    """Parse a JSONL manifest; blank lines are ignored.

    Raises:
        CodecError: the manifest is missing, or a line is not a JSON object with a string ``path``
            (the message names the file and the line number).
    """
    path = Path(path)
    if not path.is_file():
        raise CodecError("manifest not found", path)
    root = path.parent
    items = []
    for number, row in read_json_lines(path):
        if not isinstance(row, dict) or not isinstance(row.get("path"), str) or not row["path"]:
            raise CodecError(f'line {number}: expected an object with a non-empty "path" string', path)
        duration = row.get("duration")
        if duration is not None and not (isinstance(duration, int | float) and math.isfinite(duration)):
            raise CodecError(f'line {number}: "duration" must be a number of seconds', path)
        rel = Path(row["path"])
        items.append(
            AudioItem(
                path=rel if rel.is_absolute() else root / rel,
                key=rel.as_posix(),
                split=_optional_str(row, "split"),
                duration=None if duration is None else float(duration),
                source=_optional_str(row, "source"),
                speaker=_optional_str(row, "speaker"),
                text=_optional_str(row, "text"),
            )
        )
    if not items:
        raise CodecError("manifest has no rows", path)
    return items


def load_items(source: str | Path) -> list[AudioItem]:
    """The audio files of a folder (recursive) or a ``*.jsonl`` manifest, sorted by key.

    Raises:
        CodecError: the source is missing, has no audio files, or is a malformed manifest.
    """
    path = Path(source)
    if path.suffix.lower() == ".jsonl":
        items = read_manifest(path)
    else:
        if not path.exists():
            raise CodecError("audio folder not found", path)
        files = find_audio_files([path], recursive=True)
        if not files:
            raise CodecError(f"no audio files found (looked for {', '.join(sorted(AUDIO_EXTENSIONS))})", path)
        root = path if path.is_dir() else path.parent
        items = [AudioItem(path=file, key=Path(file).relative_to(root).as_posix()) for file in files]
    return sorted(items, key=lambda item: item.key)


def _unit_hash(key: str) -> float:
    """A deterministic number in [0, 1) from a string (independent of Python's hash seed)."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:15], 16) / 16**15


def holdout(items: Sequence[AudioItem], fraction: float) -> tuple[list[AudioItem], list[AudioItem]]:
    """Split items into (train, val) by hashed key: the same file always lands on the same side.

    An item is held out when its hash is below ``fraction``. With two or more items and a positive
    fraction, at least one is held out and at least one is kept.
    """
    hashes = [_unit_hash(item.key) for item in items]
    val = {i for i, h in enumerate(hashes) if h < fraction}
    if fraction > 0 and len(items) >= 2:
        order = sorted(range(len(items)), key=hashes.__getitem__)
        if not val:
            val = {order[0]}
        if len(val) == len(items):
            val.discard(order[-1])
    return (
        [item for i, item in enumerate(items) if i not in val],
        [item for i, item in enumerate(items) if i in val],
    )


def spread(items: Sequence[AudioItem], count: int) -> list[AudioItem]:
    """At most ``count`` items, evenly spaced over the list (a deterministic, varied subset)."""
    if len(items) <= count:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def normalize_loudness(audio: np.ndarray, target_db: float | None, gain_db: float = 0.0) -> np.ndarray:
    """Scale ``(N,)`` audio to an RMS of ``target_db + gain_db`` dBFS and clip to [-1, 1].

    Near-silent audio (below ``SILENCE_DB``) and ``target_db=None`` are only clipped.
    """
    if target_db is not None and audio.size:
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        level = 20.0 * math.log10(max(rms, 1e-12))
        if level > SILENCE_DB:
            audio = audio * np.float32(10.0 ** ((target_db + gain_db - level) / 20.0))
    return np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)


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
    """Duration of a file from its header, decoding it only when soundfile cannot read the header."""
    try:
        return float(sf.info(str(path)).duration)
    except (RuntimeError, TypeError, ValueError, OSError, EOFError):
        audio, sr = read_audio(path)
        return audio.shape[-1] / sr


class AudioBank(Protocol):
    """A set of audio files at one sample rate from which segments can be cut."""

    lengths: np.ndarray
    """``(F,)`` int64 lengths in samples at the bank's rate."""
    keys: list[str]
    """The files' item keys."""

    def segment(self, index: int, start: int, num_samples: int) -> np.ndarray:
        """Samples ``[start, start + num_samples)`` of file ``index`` as float32 ``(<= num_samples,)``."""
        ...


class PreloadedAudio:
    """All files decoded once into one int16 buffer with an index of offsets.

    Only numpy arrays are held, so forked DataLoader workers share the buffer copy-on-write without
    touching its pages.

    Args:
        samples: ``(T,)`` int16 concatenated audio.
        offsets: ``(F + 1,)`` int64 start of each file in ``samples``, then ``T``.
        keys: the files' item keys.
    """

    def __init__(self, samples: np.ndarray, offsets: np.ndarray, keys: Sequence[str] = ()) -> None:
        self.samples = samples
        self.offsets = offsets
        self.lengths = np.diff(offsets)
        self.keys = list(keys)

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

    def segment(self, index: int, start: int, num_samples: int) -> np.ndarray:
        audio, sr = read_audio(str(self.paths[index]))
        mono = to_mono(audio)
        begin = start * sr // self.sample_rate
        crop = mono[begin : begin + math.ceil(num_samples * sr / self.sample_rate)]
        return resample(crop, sr, self.sample_rate)[:num_samples]


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
    return PreloadedAudio(np.concatenate(chunks), offsets, keys)


class RandomSegmentDataset(Dataset):
    """Random training segments: files drawn with probability proportional to their length.

    A file shorter than a segment is zero-padded at the end. Randomness comes from torch's generator,
    which DataLoader seeds differently per worker and epoch (and ``seed_everything`` makes repeatable),
    mixed with the index, which differs between ranks under a ``DistributedSampler``.

    Args:
        bank: the audio.
        num_samples: segment length ``N``.
        num_items: items per epoch.
        loudness_db: RMS target in dBFS, or None to keep levels.
        gain_jitter_db: uniform random gain in ``[-gain_jitter_db, gain_jitter_db]`` added to the target.
        units: teacher units of the bank's files (``codec.semantic``); segments then start on a unit
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
        audio = torch.from_numpy(fit_length(normalize_loudness(audio, self.loudness_db, gain), self.num_samples))[None]
        if self.units is None:
            return audio
        ids = self.units.ids.get(self.bank.keys[file])
        return audio, torch.from_numpy(crop_units(ids, start // self.unit_hop, self.num_samples // self.unit_hop))


class SegmentDataset(Dataset):
    """Fixed segments held in memory.

    Args:
        segments: ``(M, 1, N)`` float32.
        units: ``(M, T)`` int64 teacher unit ids per segment (``codec.semantic.IGNORE`` where none);
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
    """The first ``num_samples`` of each file (zero-padded), loudness-normalized without jitter, and
    with ``units`` the ids of those samples.

    Files shorter than ``min_samples`` are dropped and unreadable ones skipped with one warning;
    returns None when no file is left.
    """
    errors: list[CodecError] = []
    segments = []
    ids = []
    hop = units.hop(sample_rate) if units is not None else 1
    for item in tqdm(items, desc="Loading validation audio", unit="file", dynamic_ncols=True):
        try:
            audio = decode(item.path, sample_rate, max_seconds=num_samples / sample_rate)
        except CodecError as error:
            errors.append(error)
            continue
        if audio.shape[-1] < min_samples:
            continue
        audio = normalize_loudness(audio[:num_samples], loudness_db)
        segments.append(torch.from_numpy(fit_length(audio, num_samples)))
        if units is not None:
            ids.append(torch.from_numpy(crop_units(units.ids.get(item.key), 0, num_samples // hop)))
    _warn_skipped(errors)
    if not segments:
        return None
    return SegmentDataset(torch.stack(segments)[:, None], torch.stack(ids) if units is not None else None)


def synthesize_speechlike(rng: np.random.Generator, num_samples: int, sample_rate: int) -> np.ndarray:
    """A speech-like test signal, ``(N,)`` float32 in [-1, 1].

    The signal is a sequence of 60-350 ms events, each silence, voiced (harmonics of an f0 gliding
    within 80-400 Hz with vibrato, shaped by three moving formant resonances and a spectral tilt),
    fricative (band-limited noise burst) or a chirp, each with its own onset/decay envelope and level.
    """
    n, sr = num_samples, sample_rate
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    nyquist = sr / 2
    t = np.arange(n) / sr

    shortest, longest = max(1, int(0.06 * sr)), max(2, int(0.35 * sr))
    lengths = rng.integers(shortest, longest, size=n // shortest + 1)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    count = max(1, int(np.searchsorted(starts, n)))
    lengths, starts = lengths[:count], starts[:count]
    event = np.repeat(np.arange(count), lengths)[:n]
    position = (np.arange(n) - starts[event]) / lengths[event]

    silence, voiced, fricative, chirp = range(4)
    kinds = rng.choice(4, size=count, p=[0.15, 0.6, 0.2, 0.05])
    if not np.any(kinds == voiced):
        kinds[0] = voiced
    attack = rng.uniform(0.03, 0.3, count)[event]
    release = rng.uniform(0.1, 0.4, count)[event]
    envelope = np.clip(position / attack, 0, 1) * np.clip((1 - position) / release, 0, 1)
    envelope = envelope * envelope * (3 - 2 * envelope) * (10 ** (rng.uniform(-18, 0, count) / 20))[event]

    anchors = max(2, int(t[-1] / 0.25) + 2) if n else 2
    log_f0 = np.log(rng.uniform(100, 250)) + rng.normal(0, 0.2, anchors).cumsum() * 0.5
    f0 = np.exp(np.interp(t, np.linspace(0, t[-1] if n else 0, anchors), log_f0))
    f0 *= 1 + rng.uniform(0.005, 0.03) * np.sin(2 * np.pi * rng.uniform(4, 7) * t + rng.uniform(0, 2 * np.pi))
    f0 = np.clip(f0, 80, 400).astype(np.float32)
    phase = np.mod(2 * np.pi * np.cumsum(f0, dtype=np.float64) / sr, 2 * np.pi).astype(np.float32)

    # Harmonic amplitudes vary slowly: evaluate them once per millisecond frame.
    hop = max(1, sr // 1000)
    frames = -(-n // hop)
    harmonics = np.arange(1, 49, dtype=np.float32)[:, None]
    frequency = harmonics * f0[::hop]
    centers = starts + lengths / 2
    gain = np.zeros_like(frequency)
    for low, high, width, weight in ((300, 850, 90, 1.0), (850, 2400, 120, 0.6), (2300, 3400, 180, 0.3)):
        formant = np.interp(np.arange(frames) * hop, centers, rng.uniform(low, high, count)).astype(np.float32)
        gain += weight / (1 + np.square((frequency - formant) / width))
    gain = (gain + 0.02) / harmonics * (frequency < 0.95 * nyquist)
    waves = harmonics[:, :, None] * np.pad(phase, (0, frames * hop - n)).reshape(1, frames, hop)
    tone = np.einsum("kf,kfh->fh", gain, np.sin(waves, out=waves)).reshape(-1)[:n]
    tone /= np.sqrt(np.mean(np.square(tone))) + 1e-8

    spectrum = np.fft.rfft(rng.standard_normal(n))
    bins = np.fft.rfftfreq(n, 1 / sr)
    center = rng.uniform(min(2500, 0.5 * nyquist), min(7000, 0.85 * nyquist))
    noise = np.fft.irfft(spectrum * np.exp(-0.5 * np.square((bins - center) / (0.25 * center))), n)
    noise /= np.sqrt(np.mean(np.square(noise))) + 1e-8

    low, high = np.exp(rng.uniform(np.log(150), np.log(0.4 * nyquist), (2, count)))
    sweep = low[event] * (high[event] / low[event]) ** position
    sweep_wave = np.sin(2 * np.pi * np.cumsum(sweep) / sr)

    kind = kinds[event]
    signal = envelope * (
        np.where(kind == voiced, tone + 0.05 * noise, 0.0)
        + np.where(kind == fricative, 0.7 * noise, 0.0)
        + np.where(kind == chirp, 0.5 * sweep_wave, 0.0)
    )
    signal = np.where(kind == silence, 0.0, signal) + 1e-3 * rng.standard_normal(n)
    signal *= rng.uniform(0.3, 0.95) / (np.max(np.abs(signal)) + 1e-8)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


class SyntheticAudioDataset(Dataset):
    """Deterministic speech-like signals (see ``synthesize_speechlike``), so recipes run without data.

    Item ``i`` depends only on ``(seed, i)``.

    Args:
        num_items: dataset length.
        num_samples: ``N`` per item.
        sample_rate: rate in Hz.
        seed: base seed.
        loudness_db: RMS target in dBFS, or None to keep the generated level.
        gain_jitter_db: per-item gain in ``[-gain_jitter_db, gain_jitter_db]`` drawn from the item's seed.
    """

    def __init__(
        self,
        num_items: int,
        num_samples: int,
        sample_rate: int,
        seed: int = 0,
        loudness_db: float | None = None,
        gain_jitter_db: float = 0.0,
    ) -> None:
        self.num_items = num_items
        self.num_samples = num_samples
        self.sample_rate = sample_rate
        self.seed = seed
        self.loudness_db = loudness_db
        self.gain_jitter_db = gain_jitter_db

    def __len__(self) -> int:
        return self.num_items

    def __getitem__(self, index: int) -> torch.Tensor:
        """``(1, N)`` float32 in [-1, 1]."""
        if not 0 <= index < self.num_items:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        audio = synthesize_speechlike(rng, self.num_samples, self.sample_rate)
        gain = rng.uniform(-self.gain_jitter_db, self.gain_jitter_db) if self.gain_jitter_db > 0 else 0.0
        return torch.from_numpy(normalize_loudness(audio, self.loudness_db, gain))[None]


class AudioDataModule(LightningDataModule):
    """Audio segments for codec training.

    Args:
        train: a folder of audio (searched recursively), a ``*.jsonl`` manifest, or ``"synthetic"``.
        val: same kinds, or None: then manifest rows whose split is ``val_split`` (or, when there are
            none, a hashed holdout of ``val_fraction`` of the training rows), a hashed holdout of
            ``val_fraction`` of a folder's files, or synthetic items with another seed.
        train_split: manifest split used for training; rows without a split count as training rows.
        val_split: manifest split used for validation.
        sample_rate: rate of the batches in Hz (files are resampled with soxr).
        segment_seconds: training segment length.
        batch_size: training batch size.
        val_batch_size: validation batch size.
        val_segment_seconds: validation uses the first this many seconds of each file (zero-padded).
        num_workers: training DataLoader workers (validation data is in memory and uses none).
        loudness_db: RMS target of each segment in dBFS, or None to keep levels.
        gain_jitter_db: training segments get a random gain in ``[-gain_jitter_db, gain_jitter_db]`` dB
            on top of ``loudness_db``.
        preload: decode and resample all training audio once into memory (int16); otherwise every
            training segment decodes its file.
        min_seconds: files shorter than this are not used.
        val_fraction: share of files held out for validation when ``val`` is None.
        max_val_items: at most this many validation files, evenly spread over the sorted list.
        synthetic_items: training items per epoch with ``train="synthetic"``.
        seed: seed of the synthetic data.
        semantic_units: a units file (``codec.semantic``, keyed like the manifest) whose ids are
            served with every segment, for a codec trained with a semantic head; None for audio only.
    """

    def __init__(
        self,
        train: str,
        val: str | None = None,
        train_split: str = "train",
        val_split: str = "dev",
        sample_rate: int = 16000,
        segment_seconds: float = 1.0,
        batch_size: int = 16,
        val_batch_size: int = 4,
        val_segment_seconds: float = 3.0,
        num_workers: int = 0,
        loudness_db: float | None = -23.0,
        gain_jitter_db: float = 3.0,
        preload: bool = True,
        min_seconds: float = 0.3,
        val_fraction: float = 0.05,
        max_val_items: int = 64,
        synthetic_items: int = 2000,
        seed: int = 0,
        semantic_units: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.train = train
        self.val = val
        self.train_split = train_split
        self.val_split = val_split
        self.sample_rate = sample_rate
        self.segment_samples = round(segment_seconds * sample_rate)
        self.val_segment_samples = round(val_segment_seconds * sample_rate)
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size
        self.num_workers = num_workers
        self.loudness_db = loudness_db
        self.gain_jitter_db = gain_jitter_db
        self.preload = preload
        self.min_seconds = min_seconds
        self.val_fraction = val_fraction
        self.max_val_items = max_val_items
        self.synthetic_items = synthetic_items
        self.seed = seed
        self.semantic_units = semantic_units
        self.units: Units | None = None
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None

    def split_items(self) -> tuple[list[AudioItem], list[AudioItem]]:
        """(train, val) files of the non-synthetic sources, before decoding; empty for synthetic ones.

        Raises:
            CodecError: a source is missing, or has no files for its split.
        """
        items = [] if self.train == SYNTHETIC else load_items(self.train)
        train = [item for item in items if item.split in (None, self.train_split)]
        if items and not train:
            raise CodecError(f"no rows with split {self.train_split!r}", self.train)
        if self.val == SYNTHETIC:
            return train, []
        if self.val is not None:
            val = [item for item in load_items(self.val) if item.split in (None, self.val_split)]
            if not val:
                raise CodecError(f"no rows with split {self.val_split!r}", self.val)
            return train, val
        val = [item for item in items if item.split == self.val_split]
        return (train, val) if val else holdout(train, self.val_fraction)

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets (once); training audio is decoded only for fitting."""
        fit = stage in (None, "fit")
        if (self.train_dataset is not None or not fit) and self.val_dataset is not None:
            return
        train_items, val_items = self.split_items()
        if self.semantic_units is not None and self.units is None:
            if SYNTHETIC in (self.train, self.val):
                raise CodecError("semantic units need real audio, not synthetic data", self.semantic_units)
            self.units = load_units(self.semantic_units)
            try:
                self.units.hop(self.sample_rate)
            except ValueError as error:
                raise CodecError(str(error), self.semantic_units) from None
        if fit and self.train_dataset is None:
            self.train_dataset = self._train_dataset(train_items)
        if self.val_dataset is None:
            self.val_dataset = self._val_dataset(train_items, val_items)

    def _train_dataset(self, items: list[AudioItem]) -> Dataset:
        if self.train == SYNTHETIC:
            return SyntheticAudioDataset(
                self.synthetic_items,
                self.segment_samples,
                self.sample_rate,
                seed=self.seed,
                loudness_db=self.loudness_db,
                gain_jitter_db=self.gain_jitter_db,
            )
        bank = load_bank(items, self.sample_rate, self.min_seconds, self.preload)
        if bank is None:
            raise CodecError(f"no readable training audio of at least {self.min_seconds} s", self.train)
        world_size = self.trainer.world_size if self.trainer is not None else 1
        num_items = max(math.ceil(int(bank.lengths.sum()) / self.segment_samples), self.batch_size * world_size)
        hop = self.units.hop(self.sample_rate) if self.units is not None else 1
        return RandomSegmentDataset(
            bank, self.segment_samples, num_items, self.loudness_db, self.gain_jitter_db, self.units, hop
        )

    def _val_dataset(self, train_items: list[AudioItem], val_items: list[AudioItem]) -> Dataset:
        if not val_items and SYNTHETIC in (self.train, self.val):
            return SyntheticAudioDataset(
                self.max_val_items, self.val_segment_samples, self.sample_rate, self.seed + 1, self.loudness_db
            )
        if not val_items:
            warnings.warn(f"{self.train}: nothing held out; validating on the training files", stacklevel=3)
            val_items = train_items
        kept = [item for item in val_items if item.duration is None or item.duration >= self.min_seconds]
        dataset = load_validation(
            spread(kept, self.max_val_items),
            self.sample_rate,
            self.val_segment_samples,
            round(self.min_seconds * self.sample_rate),
            self.loudness_db,
            self.units,
        )
        if dataset is None:
            raise CodecError("no readable validation audio", self.val or self.train)
        return dataset

    @property
    def semantic_classes(self) -> int:
        """Number of teacher units (0 without ``semantic_units``)."""
        if self.semantic_units is None:
            return 0
        if self.units is None:
            self.units = load_units(self.semantic_units)
        return self.units.classes

    def train_dataloader(self) -> DataLoader:
        """Batches of ``(B, 1, segment_samples)`` float32 (with ``semantic_units``, paired with
        ``(B, segment_samples / hop)`` int64 ids)."""
        if self.train_dataset is None:
            self.setup("fit")
        return DataLoader(
            self.train_dataset,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def val_dataloader(self) -> DataLoader:
        """Batches of ``(B, 1, val_segment_samples)`` float32, the same every time."""
        if self.val_dataset is None:
            self.setup("validate")
        return DataLoader(self.val_dataset, batch_size=self.val_batch_size, shuffle=False)
