"""A PyTorch ``Dataset`` over tokenized corpora, for training language models on codec tokens.

It reads what ``codec encode`` / ``codec tokenize`` write: a folder of ``.tok`` files or a folder
of shards with ``index-r*.jsonl`` files (``codec.corpus.run``). Items are ``TokenItem`` with codes
``(Q, T)``; ``collate_tokens`` pads a list of them into a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from codec.corpus.writers import INDEX_PATTERN, read_index
from codec.errors import CodecError
from codec.formats.entropy import CodeStats
from codec.formats.shards import read_record, read_shard_header
from codec.formats.tok_file import TOKEN_SUFFIX
from codec.formats.tokens import Tokens, read_header


@dataclass(frozen=True)
class TokenItem:
    """One tokenized file: ``codes`` ``(Q, T)`` int64, its ``key`` and its audio length in samples."""

    key: str
    codes: torch.Tensor
    audio_length: int


@dataclass(frozen=True)
class TokenBatch:
    """Padded items: ``codes`` ``(B, Q, T_max)`` (padding = ``pad_value``), ``lengths`` ``(B,)`` frames."""

    keys: list[str]
    codes: torch.Tensor
    lengths: torch.Tensor


@dataclass(frozen=True)
class _Entry:
    key: str
    path: Path
    frames: int
    index: dict | None = None  # the shard index line; None for a .tok file


class TokenDataset(Dataset):
    """Tokens of a corpus, one item per audio file, ordered by key.

    Args:
        root: a folder of ``.tok`` files (searched recursively; keys are their paths relative to
            ``root`` without the suffix) or a shard folder (keys as indexed).
        code_stats: statistics to read range-coded (``--entropy``) tokens.
        n_codebooks: keep the first ``n_codebooks`` codebooks (default all).

    Attributes:
        frames: frames per item (from headers or the index, without reading codes), e.g. for a
            length-bucketing sampler.

    Raises:
        CodecError: ``root`` holds no token files, or an index is malformed. A damaged record
            raises ``CodecError`` naming its file when it is read.
    """

    def __init__(self, root: str | Path, code_stats: CodeStats | None = None, n_codebooks: int | None = None) -> None:
        self.root = Path(root)
        self.code_stats = code_stats
        self.n_codebooks = n_codebooks
        if not self.root.is_dir():
            raise CodecError("token folder not found", self.root)
        if any(self.root.glob(INDEX_PATTERN)):
            index = sorted(read_index(self.root).items())
            self._entries = [_Entry(key, self.root / e["shard"], int(e["frames"]), e) for key, e in index]
        else:
            self._entries = []
            for path in sorted(self.root.rglob(f"*{TOKEN_SUFFIX}")):
                key = path.relative_to(self.root).with_suffix("").as_posix()
                self._entries.append(_Entry(key, path, int(read_header(path)["num_frames"])))
        if not self._entries:
            raise CodecError(f"no token files ({TOKEN_SUFFIX}) or shard index ({INDEX_PATTERN}) found", self.root)
        self.frames = [entry.frames for entry in self._entries]
        self._shard_headers: dict[Path, dict] = {}

    @property
    def keys(self) -> list[str]:
        """Item keys in dataset order."""
        return [entry.key for entry in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> TokenItem:
        entry = self._entries[index]
        if entry.index is None:
            tokens = Tokens.load(entry.path, self.code_stats)
            codes = tokens.codes[0, :, : int(tokens.code_lengths[0])]
            audio_length = int(tokens.audio_lengths[0])
        else:
            if entry.path not in self._shard_headers:
                self._shard_headers[entry.path] = read_shard_header(entry.path)
            header = self._shard_headers[entry.path]
            codes = torch.from_numpy(read_record(entry.path, header, entry.index, self.code_stats))
            audio_length = int(entry.index["samples"])
        return TokenItem(entry.key, codes[: self.n_codebooks], audio_length)


def collate_tokens(items: Sequence[TokenItem], pad_value: int = 0) -> TokenBatch:
    """Pad ``TokenItem`` codes to the longest into a ``TokenBatch`` (a ``DataLoader`` collate_fn)."""
    if not items:
        raise ValueError("collate_tokens needs at least one item")
    longest = max(item.codes.shape[-1] for item in items)
    codes = torch.full((len(items), items[0].codes.shape[0], longest), pad_value, dtype=torch.long)
    for row, item in enumerate(items):
        codes[row, :, : item.codes.shape[-1]] = item.codes
    lengths = torch.tensor([item.codes.shape[-1] for item in items], dtype=torch.long)
    return TokenBatch([item.key for item in items], codes, lengths)
