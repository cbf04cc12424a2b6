"""Corpus-scale tokenization: thousands of audio files -> token files or token shards.

``encode_corpus`` is ``codec encode``'s loop; ``codec tokenize`` (``codec.corpus.distributed``)
shares its pieces: ``pending_batches`` (this rank's batches of what is not done),
``encode_results`` and ``write_outcomes``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codec.corpus.jobs import ClipReader, ClipResult, Job, length_batches, own_batches
from codec.corpus.writers import TokenWriter
from codec.errors import CodecError
from codec.formats.tokens import Tokens

if TYPE_CHECKING:
    from codec.api import Codec


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
    """Encode the readable clips of one batch with ``model.encode(**encode)`` (one call), and long
    files with ``model.encode_file`` (read in blocks)."""
    # Audio arrives as an array, or as a tensor from DataLoader workers (which convert arrays).
    ready = [(i, clip) for i, clip in results if not isinstance(clip, str | Path)]
    outcomes: list[Outcome] = [(i, clip) for i, clip in results if isinstance(clip, str)]
    if ready:
        tokens = model.encode([clip for _, clip in ready], model.sample_rate, **encode)
        outcomes += [(i, item) for (i, _), item in zip(ready, tokens.items(), strict=True)]
    for i, path in results:
        if isinstance(path, Path):
            try:
                outcomes.append((i, model.encode_file(path, **encode)))
            except CodecError as error:
                outcomes.append((i, error.reason))
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
