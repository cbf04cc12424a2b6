"""Corpus-scale tokenization: thousands of audio files -> token files or token shards.

The pieces that ``codec encode`` (one process) and ``codec tokenize`` (Lightning, many devices)
share:

- ``plan_jobs``: audio files, folders and JSONL manifests -> ``Job`` (file + unique key);
- ``length_batches``: jobs sorted by duration and grouped so that a batch wastes little padding;
- ``ClipReader``: a ``Dataset`` that reads, downmixes and resamples one batch, for worker processes;
- ``TokenFiles`` / ``TokenShards``: writers that skip what is done, so a killed run restarts where
  it stopped with nothing lost or written twice.

Shards: ``shard-r<rank>-<n>.toks`` files (format in :mod:`codec.shards`: the model described once,
then each item's codes payload and checksum); ``index-r<rank>.jsonl`` has one line per item,
``{"key", "shard", "offset", "bytes", "frames", "samples", "n_codebooks", "seconds"}``.
A shard is written atomically before its index lines are appended, so the index only ever names
complete records; a shard that a kill left without index lines is removed on restart.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf
from torch.utils.data import Dataset

from codec.audio import atomic_write_bytes, find_audio_files, read_audio, resample, to_mono
from codec.data import read_json_lines, read_manifest
from codec.entropy import CodeStats
from codec.errors import CodecError
from codec.shards import check_shard_start, model_fields, shard_bytes
from codec.tokens import Tokens

if TYPE_CHECKING:
    from codec.model import Codec

TOKEN_SUFFIX = ".tok"
SHARD_SUFFIX = ".toks"
INDEX_PATTERN = "index-r*.jsonl"
_SHARD_NAME = re.compile(r"shard-r(\d+)-(\d+)\.toks$")


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


def _probe_seconds(path: Path) -> float:
    try:
        info = sf.info(str(path))
        return info.frames / info.samplerate if info.samplerate > 0 else 0.0
    except (RuntimeError, TypeError, ValueError, OSError, EOFError):
        return 0.0  # unreadable: reading it later reports the problem


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
                jobs.append(Job(item.path, item.key, item.duration or _probe_seconds(item.path)))
        elif path.is_dir():
            for file in find_audio_files([path], recursive=recursive):
                jobs.append(Job(file, file.relative_to(path).as_posix(), _probe_seconds(file)))
        else:
            jobs.append(Job(path, path.name, _probe_seconds(path)))
    seen: dict[str, Path] = {}
    for job in jobs:
        if job.key in seen and seen[job.key].resolve() != job.source.resolve():
            raise CodecError(f"{seen[job.key]} and {job.source} would both be written as {job.key!r}", job.source)
        seen[job.key] = job.source
    unique = {job.key: job for job in jobs}
    return list(unique.values())


def token_file_paths(jobs: Sequence[Job], output: Path) -> dict[str, Path]:
    """``{key: .tok path}``: ``output`` itself for one job when it is named like a file, else
    ``output/<key without extension>.tok``, keeping the extension (``a.wav.tok``) for keys that
    differ only in it."""
    if len(jobs) == 1 and output.suffix and not output.is_dir():
        return {jobs[0].key: output}
    stems: dict[str, int] = {}
    for job in jobs:
        stem = str(Path(job.key).with_suffix(""))
        stems[stem] = stems.get(stem, 0) + 1
    paths = {}
    for job in jobs:
        stem = str(Path(job.key).with_suffix(""))
        paths[job.key] = output / ((job.key if stems[stem] > 1 else stem) + TOKEN_SUFFIX)
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


ClipResult = tuple[int, np.ndarray | str]
"""``(job index, mono audio at the model rate)``, or ``(job index, why it could not be read)``."""


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
            try:
                results.append((job_index, read_clip(self.jobs[job_index].source, self.sample_rate)))
            except CodecError as error:
                results.append((job_index, error.reason))
        return results


def own_batches(batches: Sequence[Sequence[int]], rank: int, world_size: int) -> list[list[int]]:
    """The batches of process ``rank`` out of ``world_size`` (every ``world_size``-th one)."""
    return [list(b) for b in batches[rank::world_size]]


class TokenFiles:
    """Writes one ``.tok`` file per job (atomically); a job whose file exists is done."""

    def __init__(self, paths: dict[str, Path], code_stats: CodeStats | None = None, overwrite: bool = False) -> None:
        self.paths = paths
        self.code_stats = code_stats
        self.overwrite = overwrite

    def is_done(self, key: str) -> bool:
        """Whether ``key`` has its output already (and is not to be redone)."""
        return not self.overwrite and self.paths[key].exists()

    def write(self, job: Job, tokens: Tokens) -> None:
        """Save the one-item ``tokens`` of ``job``."""
        tokens.save(self.paths[job.key], code_stats=self.code_stats)

    def close(self) -> None:
        """Nothing is buffered."""


def read_index(folder: Path) -> dict[str, dict]:
    """All index entries of a shard folder, ``{key: entry}``; a torn last line is ignored.

    Raises:
        CodecError: an index file cannot be read or is not UTF-8, or a line (other than a torn last
            line) is not a JSON object with a string ``key``, a plain file name ``shard``, an
            integer ``frames`` and a finite ``seconds`` >= 0, or repeats a key.
    """
    entries: dict[str, dict] = {}
    for path in sorted(folder.glob(INDEX_PATTERN)):
        for number, entry in read_json_lines(path, torn_end=True):
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("key"), str)
                and isinstance(entry.get("shard"), str)
                and _SHARD_NAME.fullmatch(entry["shard"])
                and isinstance(entry.get("frames"), int)
                and isinstance(entry.get("seconds"), int | float)
                and math.isfinite(entry["seconds"])
                and entry["seconds"] >= 0
            ):
                raise CodecError(f"line {number}: not an index entry (key, shard, frames, seconds)", path)
            if entry["key"] in entries:
                raise CodecError(f"line {number}: key {entry['key']!r} is indexed twice", path)
            entries[entry["key"]] = entry
    return entries


@dataclass
class TokenShards:
    """Writes jobs into shards of ``items_per_shard`` records plus this rank's index file.

    On creation the rank's torn index line (if any) is dropped and shards without index entries
    (left by a kill between writing a shard and indexing it) are removed.
    """

    folder: Path
    rank: int = 0
    items_per_shard: int = 1000
    code_stats: CodeStats | None = None
    overwrite: bool = False
    _done: set[str] = field(default_factory=set, init=False)
    _pending: list[tuple[Job, dict, bytes]] = field(default_factory=list, init=False)
    _model: dict = field(default_factory=dict, init=False)
    _next: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.items_per_shard < 1:
            raise ValueError(f"items_per_shard must be >= 1, got {self.items_per_shard}")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CodecError(f"cannot create the shard folder: {error.strerror or error}", self.folder) from None
        self._repair_index()
        entries = read_index(self.folder)
        self._done = set() if self.overwrite else set(entries)
        used = {entry["shard"] for entry in entries.values()}
        if used:
            check_shard_start(self.folder / min(used))  # e.g. a folder of the older layout
        indexed: list[int] = [-1]
        unindexed: dict[int, Path] = {}
        for shard in self.folder.glob(f"shard-r{self.rank}-*{SHARD_SUFFIX}"):
            match = _SHARD_NAME.match(shard.name)
            if match is None:
                continue
            if shard.name in used:
                indexed.append(int(match.group(2)))
            else:
                unindexed[int(match.group(2))] = shard
        # A kill can leave one shard written but not indexed, the newest; anything else means the
        # index was lost or edited, and its shards are not deleted.
        if len(unindexed) > 1 or any(number < max(indexed) for number in unindexed):
            raise CodecError(
                f"{len(unindexed)} shard(s) of rank {self.rank} are not in {self.index_path.name} (was it deleted?); "
                "move them away or write to a new folder",
                self.folder,
            )
        for shard in unindexed.values():
            shard.unlink()
        self._next = max([*indexed, *unindexed]) + 1

    @property
    def index_path(self) -> Path:
        """This rank's index file."""
        return self.folder / f"index-r{self.rank}.jsonl"

    def _repair_index(self) -> None:
        path = self.index_path
        if path.exists():
            try:
                data = path.read_bytes()
            except OSError as error:
                raise CodecError(f"cannot read file: {error.strerror or error}", path) from None
            if data and not data.endswith(b"\n"):
                atomic_write_bytes(path, data[: data.rfind(b"\n") + 1])

    def is_done(self, key: str) -> bool:
        """Whether ``key`` is in an index already (and is not to be redone)."""
        return key in self._done

    def write(self, job: Job, tokens: Tokens) -> None:
        """Buffer the one-item ``tokens`` of ``job``; a full buffer (or another model) becomes a shard."""
        header, payload = tokens.encoded(self.code_stats)
        if self._pending and model_fields(header) != self._model:
            self._flush()
        self._model = model_fields(header)
        self._pending.append((job, header, payload))
        if len(self._pending) >= self.items_per_shard:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        name = f"shard-r{self.rank}-{self._next:06d}{SHARD_SUFFIX}"
        data, places = shard_bytes(self._model, [payload for _, _, payload in self._pending])
        atomic_write_bytes(self.folder / name, data)
        lines = []
        for (job, header, _), (offset, size) in zip(self._pending, places, strict=True):
            entry = {"key": job.key, "shard": name, "offset": offset, "bytes": size, "frames": header["num_frames"]}
            entry |= {"samples": header["num_samples"], "n_codebooks": header["n_codebooks"]}
            lines.append(json.dumps(entry | {"seconds": round(job.seconds, 4)}) + "\n")
            self._done.add(job.key)
        with self.index_path.open("a", encoding="utf-8") as handle:
            handle.write("".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
        self._pending = []
        self._next += 1

    def close(self) -> None:
        """Write the last, partly filled shard."""
        self._flush()


TokenWriter = TokenFiles | TokenShards


@dataclass
class CorpusReport:
    """What a corpus run did: items written, failures ``(file, reason)``, audio seconds, wall seconds."""

    done: int = 0
    failures: list[tuple[Path, str]] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def hours_per_minute(self) -> float:
        """Hours of audio tokenized per wall-clock minute."""
        return self.audio_seconds / 3600 / max(self.wall_seconds / 60, 1e-9)


def pending_batches(
    jobs: Sequence[Job],
    writer: TokenWriter,
    batch_size: int,
    batch_seconds: float,
    rank: int = 0,
    world_size: int = 1,
) -> list[list[int]]:
    """This rank's length-bucketed batches of the jobs that are not done yet.

    Batches are cut over *all* jobs (so every rank, and every restart with the same world size,
    sees the same assignment of jobs to ranks) and done jobs are dropped afterwards.
    """
    batches = own_batches(length_batches([j.seconds for j in jobs], batch_size, batch_seconds), rank, world_size)
    todo = [[i for i in batch if not writer.is_done(jobs[i].key)] for batch in batches]
    return [batch for batch in todo if batch]


Outcome = tuple[int, Tokens | str]
"""``(job index, one-item tokens)``, or ``(job index, why it failed)``."""


def encode_results(model: Codec, results: Sequence[ClipResult], **encode: Any) -> list[Outcome]:
    """Encode the readable clips of one batch with ``model.encode(**encode)`` (one call)."""
    ready = [(i, clip) for i, clip in results if not isinstance(clip, str)]
    outcomes: list[Outcome] = [(i, clip) for i, clip in results if isinstance(clip, str)]
    if ready:
        tokens = model.encode([clip for _, clip in ready], model.sample_rate, **encode)
        outcomes += [(i, item) for (i, _), item in zip(ready, tokens.items(), strict=True)]
    return outcomes


def write_outcomes(jobs: Sequence[Job], outcomes: Sequence[Outcome], writer: TokenWriter, report: CorpusReport) -> None:
    """Write encoded items; failed, unreadable or unwritable ones go to ``report.failures``."""
    for index, outcome in outcomes:
        if isinstance(outcome, str):
            report.failures.append((jobs[index].source, outcome))
            continue
        try:
            writer.write(jobs[index], outcome)
            report.done += 1
            report.audio_seconds += int(outcome.audio_lengths[0]) / outcome.sample_rate
        except CodecError as error:  # the output could not be written: name it
            where = f"{error.path}: " if error.path and error.path != str(jobs[index].source) else ""
            report.failures.append((jobs[index].source, where + error.reason))


def iterate_batches(reader: ClipReader, workers: int) -> Iterator[list[ClipResult]]:
    """The reader's batches in order, read by ``workers`` processes (0: in this process)."""
    if workers <= 0:
        yield from (reader[i] for i in range(len(reader)))
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(reader, batch_size=None, shuffle=False, num_workers=workers, prefetch_factor=2)
    yield from loader


def encode_corpus(
    model: Codec,
    jobs: Sequence[Job],
    writer: TokenWriter,
    batch_size: int = 32,
    batch_seconds: float = 320.0,
    workers: int = 1,
    progress: bool = True,
    **encode: Any,
) -> CorpusReport:
    """Tokenize ``jobs`` with ``model`` (a ``Codec``) into ``writer``, skipping done ones.

    Args:
        batch_size: most files per model call.
        batch_seconds: most padded audio seconds per model call (bounds memory).
        workers: processes that read and resample audio (0: in this process).
        progress: show a progress bar (audio seconds; the rate is x real time) with hours per minute.
        encode: passed to ``model.encode`` (``n_codebooks``, ``chunk_seconds``).
    """
    from tqdm.auto import tqdm

    batches = pending_batches(jobs, writer, batch_size, batch_seconds)
    reader = ClipReader(jobs, batches, model.sample_rate)
    report = CorpusReport()
    total = sum(jobs[i].seconds for batch in batches for i in batch)
    start = time.perf_counter()
    read = 0.0
    with tqdm(total=round(total), unit="s", disable=not progress or not batches, desc="audio") as bar:
        try:
            for results in iterate_batches(reader, workers if len(batches) > 1 else 0):
                write_outcomes(jobs, encode_results(model, results, **encode), writer, report)
                report.wall_seconds = time.perf_counter() - start
                read += sum(jobs[i].seconds for i, _ in results)
                bar.set_postfix_str(f"{report.hours_per_minute:.2f} h/min", refresh=False)
                bar.update(round(read) - bar.n)
        finally:
            writer.close()
    report.wall_seconds = time.perf_counter() - start
    return report
