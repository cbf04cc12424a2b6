"""What ``codec eval`` scores: the files (``EvalItem``, from files, folders and manifests) and the
optional metrics (``EvalOptions``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from codec.errors import CodecError
from codec.io.audio import find_audio_files
from codec.io.manifest import read_manifest

if TYPE_CHECKING:
    from codec.io.manifest import AudioItem


@dataclass(frozen=True)
class EvalItem:
    """One file to evaluate.

    Attributes:
        path: the audio file.
        text: what is said (a manifest's ``text``); the WER reference when given.
        language: the manifest's ``language`` (e.g. ``"en"``); WER, from an English-only Whisper,
            is computed for English files and files of unknown language only.
    """

    path: Path
    text: str | None = None
    language: str | None = None

    @property
    def english(self) -> bool:
        """Whether the file is English or of unknown language."""
        return self.language is None or self.language.lower().split("-")[0] == "en"


@dataclass
class EvalOptions:
    """What to compute besides the intrusive metrics.

    Attributes:
        n_codebooks: codebooks the model uses (default all).
        dnsmos: DNSMOS OVRL/SIG/BAK of every output (and of the originals).
        speaker_sim: cosine similarity of speaker embeddings, original vs output.
        wer: Whisper WER of every output (and of the originals) and its difference to the original's.
        batch_size: files per model call.
        progress: show a progress bar over files on stderr.
    """

    n_codebooks: int | None = None
    dnsmos: bool = True
    speaker_sim: bool = False
    wer: bool = False
    batch_size: int = 8
    progress: bool = False


def _manifest_languages(path: Path) -> list[str | None]:
    """The ``language`` of each row of a manifest already checked by ``read_manifest``, in row order."""
    languages = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                language = json.loads(line).get("language")
                languages.append(None if language is None else str(language))
    return languages


def collect_items(inputs: Sequence[str | Path], split: str | None = None, limit: int | None = None) -> list[EvalItem]:
    """The files to evaluate: folders (searched recursively), audio files, and JSONL manifests.

    Args:
        inputs: folders, audio files, or ``*.jsonl`` manifests (``path`` relative to the manifest's
            folder; ``text`` is the WER reference, ``language`` tells whether WER applies).
        split: keep only manifest rows with this ``split`` (folders and files are kept whole).
        limit: at most this many files, evenly spread over the list.

    Raises:
        CodecError: an input is missing, a manifest is malformed, or nothing is left to evaluate.
    """
    items: list[EvalItem] = []
    for raw in inputs:
        path = Path(raw)
        if path.suffix.lower() == ".jsonl" and path.is_file():
            rows = read_manifest(path)
            items += [
                EvalItem(row.path, row.text, language)
                for row, language in zip(rows, _manifest_languages(path), strict=True)
                if split is None or row.split == split
            ]
        else:
            items += [EvalItem(file) for file in find_audio_files([path])]
    seen: set[Path] = set()
    unique = []
    for item in items:
        if item.path not in seen:
            seen.add(item.path)
            unique.append(item)
    if limit is not None:
        if limit < 1:
            raise CodecError(f"--limit must be at least 1, got {limit}")
        if len(unique) > limit:
            unique = [unique[i] for i in np.linspace(0, len(unique) - 1, limit).round().astype(int)]
    if not unique:
        where = f" with split {split!r}" if split is not None else ""
        raise CodecError(f"no audio files{where} in {', '.join(str(i) for i in inputs)}")
    return unique


def as_item(file: EvalItem | AudioItem | str | Path) -> EvalItem:
    if isinstance(file, EvalItem):
        return file
    if isinstance(file, str | Path):
        return EvalItem(Path(file))
    return EvalItem(Path(file.path), file.text)
