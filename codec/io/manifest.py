"""Audio lists: folders and JSONL manifests -> ``AudioItem``, hashed holdouts and even subsets.

A manifest has one JSON object per line: ``{"path": "a/b.flac", "split": "train", "duration": 3.2,
"source": "...", "speaker": "...", "text": "..."}``; only ``path`` is required and a relative path is
relative to the manifest's folder.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codec.errors import CodecError
from codec.io.audio import AUDIO_EXTENSIONS, find_audio_files


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
