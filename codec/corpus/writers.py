"""Token writers of a corpus run: one ``.tok`` file per job, or shards plus an index per rank.

Both skip what is done, so a killed run restarts where it stopped with nothing lost or written
twice. Shards: ``shard-r<rank>-<n>.toks`` files (format in :mod:`codec.formats.shards`: the model
described once, then each item's codes payload and checksum); ``index-r<rank>.jsonl`` has one line
per item, ``{"key", "shard", "offset", "bytes", "frames", "samples", "n_codebooks", "seconds"}``.
A shard is written atomically before its index lines are appended, so the index only ever names
complete records; a shard that a kill left without index lines is removed on restart.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from codec.corpus.jobs import Job, output_paths
from codec.errors import CodecError
from codec.formats.entropy import CodeStats
from codec.formats.shards import SHARD_SUFFIX, check_shard_start, model_fields, shard_bytes
from codec.formats.tok_file import TOKEN_SUFFIX
from codec.formats.tokens import Tokens
from codec.io.audio import atomic_write_bytes
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
        if paths[job.key].resolve() == job.source.resolve():
            raise CodecError("the output path is this input file; choose another output", job.source)
    return TokenFiles(paths, code_stats, overwrite)
