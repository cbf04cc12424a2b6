"""Corpus jobs: audio files, folders and JSONL manifests -> ``Job`` (file + unique key), their output
paths, length-bucketed batches, and a ``Dataset`` that reads whole batches in worker processes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from codec.errors import CodecError
from codec.io.audio import find_audio_files, probe_seconds, read_audio, real_path, resample, to_mono
from codec.io.manifest import read_manifest
from codec.io.stream import STREAM_SECONDS


@dataclass(frozen=True)
class Job:
    """One input file.

    Attributes:
        source: the audio file.
        key: its unique name in the output: the path relative to its input folder or manifest
            entry (POSIX, with extension), or the file name for a file given directly.
        seconds: duration when known before reading (header or manifest), else 0.
    """

    source: Path
    key: str
    seconds: float = 0.0


def existing_input(raw: str | Path) -> Path:
    """An input path given on the command line, which must exist.

    Raises:
        CodecError: the path is empty or names nothing.
    """
    if not str(raw):
        raise CodecError("an input path is empty")
    path = Path(raw)
    if not path.exists():
        raise CodecError("no such file or folder", path)
    return path


def plan_jobs(inputs: Sequence[str | Path], recursive: bool = True) -> list[Job]:
    """Jobs for audio files, folders (searched for audio files) and ``*.jsonl`` manifests.

    Raises:
        CodecError: an input does not exist, a manifest is malformed, or two inputs share a key.
    """
    jobs: list[Job] = []
    for raw in inputs:
        path = existing_input(raw)
        if path.is_file() and path.suffix.lower() == ".jsonl":
            for item in read_manifest(path):
                jobs.append(Job(item.path, item.key, item.duration or (probe_seconds(item.path) or 0.0)))
        elif path.is_dir():
            for file in find_audio_files([path], recursive=recursive):
                jobs.append(Job(file, file.relative_to(path).as_posix(), probe_seconds(file) or 0.0))
        else:
            jobs.append(Job(path, path.name, probe_seconds(path) or 0.0))
    seen: dict[str, Path] = {}
    for job in jobs:
        if job.key in seen and real_path(seen[job.key]) != real_path(job.source):
            raise CodecError(f"{seen[job.key]} and {job.source} would both be written as {job.key!r}", job.source)
        seen[job.key] = job.source
    unique = {job.key: job for job in jobs}
    return list(unique.values())


def output_paths(keys: Sequence[str], output: Path, suffix: str) -> dict[str, Path]:
    """``{key: output path}``: ``output`` itself for one key when it is named like a file, else
    ``output/<key without extension><suffix>``, keeping the extension (``a.wav.tok``) for keys
    that differ only in it.

    Args:
        keys: relative POSIX paths (``Job.key``, or a file's path relative to its input folder).
        suffix: the outputs' extension with its dot (``.tok``, ``.wav``).
    """
    if len(keys) == 1 and output.suffix and not output.is_dir():
        return {keys[0]: output}
    stems: dict[str, int] = {}
    for key in keys:
        stem = str(Path(key).with_suffix(""))
        stems[stem] = stems.get(stem, 0) + 1
    paths = {}
    for key in keys:
        stem = str(Path(key).with_suffix(""))
        paths[key] = output / ((key if stems[stem] > 1 else stem) + suffix)
    return paths


def length_batches(seconds: Sequence[float], max_items: int, max_seconds: float) -> list[list[int]]:
    """Group item indices by length: sorted by duration, then cut so that a batch has at most
    ``max_items`` items and at most ``max_seconds`` of padded audio (items x longest). An item
    longer than ``max_seconds`` gets a batch of its own. Deterministic."""
    if max_items < 1 or max_seconds <= 0:
        raise ValueError(f"need max_items >= 1 and max_seconds > 0, got {max_items} and {max_seconds}")
    order = sorted(range(len(seconds)), key=lambda i: (seconds[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current and (len(current) >= max_items or (len(current) + 1) * seconds[index] > max_seconds):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def read_clip(path: Path, sample_rate: int) -> np.ndarray:
    """An audio file as float32 mono ``(N,)`` at ``sample_rate``; ``CodecError`` if unreadable."""
    audio, rate = read_audio(path)
    return resample(to_mono(audio), rate, sample_rate)


ClipResult = tuple[int, np.ndarray | Path | str]
"""``(job index, mono audio at the model rate)``; ``(job index, its file)`` for a file longer than
``STREAM_SECONDS``, which the model reads in blocks itself; or ``(job index, why it could not be read)``."""


class ClipReader(Dataset):
    """Reads whole batches of jobs: ``reader[b]`` is a list of ``ClipResult`` for ``batches[b]``.

    Meant for a ``DataLoader(reader, batch_size=None, num_workers=W)`` so that decoding and
    resampling run in worker processes while the model encodes. A file that cannot be read becomes
    an error string, never an exception, so one bad file does not stop the run.
    """

    def __init__(self, jobs: Sequence[Job], batches: Sequence[Sequence[int]], sample_rate: int) -> None:
        self.jobs = list(jobs)
        self.batches = [list(b) for b in batches]
        self.sample_rate = sample_rate

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> list[ClipResult]:
        results: list[ClipResult] = []
        for job_index in self.batches[index]:
            job = self.jobs[job_index]
            if job.seconds > STREAM_SECONDS:
                results.append((job_index, job.source))
                continue
            try:
                results.append((job_index, read_clip(job.source, self.sample_rate)))
            except CodecError as error:
                results.append((job_index, error.reason))
        return results


def own_batches(batches: Sequence[Sequence[int]], rank: int, world_size: int) -> list[list[int]]:
    """The batches of process ``rank`` out of ``world_size`` (every ``world_size``-th one)."""
    return [list(b) for b in batches[rank::world_size]]
