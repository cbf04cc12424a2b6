"""Token writers of a corpus run: one ``.tok`` file per job, or shards plus an index per rank.

Both skip what is done, so a killed run restarts where it stopped with nothing lost or written
twice. Shards: ``shard-r<rank>-<n>.toks`` files (format in :mod:`codec.formats.shards`: the model
described once, then each item's codes payload and checksum); ``index-r<rank>.jsonl`` has one line
per item, ``{"key", "shard", "offset", "bytes", "frames", "samples", "n_codebooks", "seconds"}``.
A shard is written atomically before its index lines are appended, so the index only ever names
complete records; a shard that a kill left without index lines is removed on restart.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from codec.corpus.jobs import Job, output_paths
from codec.errors import CodecError
from codec.formats.entropy import CodeStats
from codec.formats.shards import SHARD_SUFFIX, check_shard_start, model_fields, read_shard_header, shard_bytes
from codec.formats.tok_file import TOKEN_SUFFIX
from codec.formats.tokens import Tokens
from codec.io.audio import atomic_write_bytes, real_path
from codec.io.manifest import read_json_lines

INDEX_PATTERN = "index-r*.jsonl"


_SHARD_NAME = re.compile(r"shard-r(\d+)-(\d+)\.toks$")


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

    A shard folder holds one model's tokens, and each rank's part of it is written by one process
    at a time (an exclusive lock on ``.lock-r<rank>`` while the writer is open). On creation the
    rank's torn index line (if any) is dropped, a shard without index entries (left by a kill
    between writing a shard and indexing it) is removed, and every indexed shard must still be
    there whole; with ``overwrite`` the rank's own shards and index are removed first.

    Raises:
        CodecError: another process writes this rank of the folder, an indexed shard is missing or
            truncated, or (on ``write``) the tokens come from another model than the folder's.
    """

    folder: Path
    rank: int = 0
    items_per_shard: int = 1000
    code_stats: CodeStats | None = None
    overwrite: bool = False
    _done: set[str] = field(default_factory=set, init=False)
    _pending: list[tuple[Job, dict, bytes]] = field(default_factory=list, init=False)
    _model: dict | None = field(default=None, init=False)
    _next: int = field(default=0, init=False)
    _lock: IO[str] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.items_per_shard < 1:
            raise ValueError(f"items_per_shard must be >= 1, got {self.items_per_shard}")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CodecError(f"cannot create the shard folder: {error.strerror or error}", self.folder) from None
        self._lock = lock_rank(self.folder, self.rank)
        try:
            self._open()
        except BaseException:
            self.release()
            raise

    def _open(self) -> None:
        own = [p for p in self.folder.glob(f"shard-r{self.rank}-*{SHARD_SUFFIX}") if _SHARD_NAME.match(p.name)]
        if self.overwrite:
            for path in [*own, self.index_path]:
                path.unlink(missing_ok=True)
            own = []
        self._repair_index()
        entries = read_index(self.folder)
        self._done = set(entries)
        used = {entry["shard"] for entry in entries.values()}
        check_indexed_shards(self.folder, entries.values())
        if used:
            first = self.folder / min(used)
            check_shard_start(first)  # e.g. a folder of the older layout
            self._model = {k: v for k, v in read_shard_header(first).items() if k != "shard_version"}
        indexed: list[int] = [-1]
        unindexed: dict[int, Path] = {}
        for shard in own:
            number = int(_SHARD_NAME.match(shard.name).group(2))
            if shard.name in used:
                indexed.append(number)
            else:
                unindexed[number] = shard
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
        """Buffer the one-item ``tokens`` of ``job``; a full buffer becomes a shard.

        Raises:
            CodecError: the tokens come from another model than the folder's.
        """
        header, payload = tokens.encoded(self.code_stats)
        model = model_fields(header)
        if self._model is not None and model != self._model:
            raise CodecError(
                f"holds tokens of model {self._model['model_name']} ({self._model['fingerprint']}), not of "
                f"{model['model_name']} ({model['fingerprint']}); write each model's tokens to its own folder",
                self.folder,
            )
        self._model = model
        self._pending.append((job, header, payload))
        if len(self._pending) >= self.items_per_shard:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        name = f"shard-r{self.rank}-{self._next:06d}{SHARD_SUFFIX}"
        assert self._model is not None
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
        """Write the last, partly filled shard and release the folder."""
        try:
            self._flush()
        finally:
            self.release()

    def release(self) -> None:
        """Release this rank's lock on the folder (``close`` does)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def lock_rank(folder: Path, rank: int) -> IO[str]:
    """An exclusive lock on ``folder/.lock-r<rank>``, held until the returned file is closed.

    Raises:
        CodecError: another process holds it.
    """
    path = folder / f".lock-r{rank}"
    handle = path.open("a")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise CodecError(f"another process is writing rank {rank} of this shard folder", folder) from None
    return handle


def check_indexed_shards(folder: Path, entries: Iterable[dict]) -> None:
    """Every shard an index names exists and holds the records it indexes.

    Raises:
        CodecError: naming the shard that is missing or shorter than its indexed records.
    """
    ends: dict[str, int] = {}
    for entry in entries:
        end = int(entry.get("offset", 0)) + int(entry.get("bytes", 0))
        ends[entry["shard"]] = max(ends.get(entry["shard"], 0), end)
    for name, end in sorted(ends.items()):
        path = folder / name
        if not path.is_file():
            raise CodecError(
                f"indexed shard {name} is missing: its items would be lost; encode again with --overwrite "
                "or into a new folder",
                folder,
            )
        if path.stat().st_size < end:
            raise CodecError(
                f"indexed shard {name} is truncated ({path.stat().st_size} of at least {end} bytes); encode again "
                "with --overwrite or into a new folder",
                folder,
            )


TokenWriter = TokenFiles | TokenShards


def make_writer(
    layout: str,
    output: Path,
    jobs: Sequence[Job],
    code_stats: CodeStats | None = None,
    overwrite: bool = False,
    shard_items: int = 1000,
    rank: int = 0,
) -> TokenWriter:
    """The writer of ``layout`` (``"files"`` or ``"shards"``) for ``jobs`` under ``output``.

    Raises:
        CodecError: shards asked for a path that is not a folder, or an output path is an input.
    """
    if layout == "shards":
        if output.exists() and not output.is_dir():
            raise CodecError("--layout shards needs an output folder", output)
        return TokenShards(output, rank, shard_items, code_stats, overwrite)
    paths = output_paths([job.key for job in jobs], output, TOKEN_SUFFIX)
    for job in jobs:
        if real_path(paths[job.key]) == real_path(job.source):
            raise CodecError("the output path is this input file; choose another output", job.source)
    return TokenFiles(paths, code_stats, overwrite)
