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
from codec.formats.tok_file import TOKEN_SUFFIX, read_header
from codec.formats.tokens import Tokens


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


MODEL_KEYS = (
    "model_name",
    "fingerprint",
    "token_fingerprint",
    "min_codebooks",
    "sample_rate",
    "hop_length",
    "frame_rate",
    "codebook_size",
    "n_codebooks",
)
"""What ``TokenDataset.model`` describes (``token_fingerprint`` and ``min_codebooks`` are None for
tokens written before 0.2)."""


def _model_of(header: dict) -> dict:
    return {key: header.get(key) for key in MODEL_KEYS}


def same_tokens(a: dict, b: dict) -> bool:
    """Whether two model descriptions make interchangeable tokens (the token fingerprint decides
    when both have one, else the model fingerprint)."""
    identity = "token_fingerprint" if a["token_fingerprint"] and b["token_fingerprint"] else "fingerprint"
    keys = (identity, "sample_rate", "hop_length", "codebook_size", "n_codebooks")
    return all(a[key] == b[key] for key in keys)


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
        n_codebooks: keep the first ``n_codebooks`` codebooks (default all); at least the tokens'
            ``min_codebooks`` (a shorter prefix is no valid code).

    Attributes:
        frames: frames per item (from headers or the index, without reading codes), e.g. for a
            length-bucketing sampler.
        model: the model that made the tokens (``MODEL_KEYS``: name, model and token fingerprints,
            rates, codebook size and count), from the headers.

    Hidden files (a ``.tok`` left half-written by a killed writer, ``.name.tmp-*``) are skipped.

    Raises:
        CodecError: ``root`` holds no token files, an index is malformed, the files come from
            different models, or ``n_codebooks`` is not a valid code. A damaged record raises
            ``CodecError`` naming its file when it is read.
    """

    def __init__(self, root: str | Path, code_stats: CodeStats | None = None, n_codebooks: int | None = None) -> None:
        self.root = Path(root)
        self.code_stats = code_stats
        self.n_codebooks = n_codebooks
        if not self.root.is_dir():
            raise CodecError("token folder not found", self.root)
        self._shard_headers: dict[Path, dict] = {}
        models: list[tuple[Path, dict]] = []
        if any(self.root.glob(INDEX_PATTERN)):
            index = sorted(read_index(self.root).items())
            self._entries = [_Entry(key, self.root / e["shard"], int(e["frames"]), e) for key, e in index]
            for entry in self._entries:
                if entry.path not in self._shard_headers:
                    self._shard_headers[entry.path] = read_shard_header(entry.path)
                header = self._shard_headers[entry.path]
                models.append((entry.path, _model_of({**header, "n_codebooks": entry.index["n_codebooks"]})))
        else:
            self._entries = []
            for path in sorted(self.root.rglob(f"*{TOKEN_SUFFIX}")):
                if any(part.startswith(".") for part in path.relative_to(self.root).parts):
                    continue
                key = path.relative_to(self.root).with_suffix("").as_posix()
                header = read_header(path)
                self._entries.append(_Entry(key, path, int(header["num_frames"])))
                models.append((path, _model_of(header)))
        if not self._entries:
            raise CodecError(f"no token files ({TOKEN_SUFFIX}) or shard index ({INDEX_PATTERN}) found", self.root)
        self.model = models[0][1]
        for path, model in models[1:]:
            if not same_tokens(self.model, model):
                raise CodecError(
                    f"tokens of another model than {models[0][0].name}'s ({model['model_name']}, "
                    f"{model['n_codebooks']} x {model['codebook_size']} codes); a folder holds one model's tokens",
                    path,
                )
        self.frames = [entry.frames for entry in self._entries]
        if n_codebooks is not None:
            low, high = self.model["min_codebooks"] or 1, self.model["n_codebooks"]
            if isinstance(n_codebooks, bool) or not isinstance(n_codebooks, int) or not low <= n_codebooks <= high:
                raise CodecError(f"n_codebooks must be in {low}..{high} for these tokens, got {n_codebooks!r}", root)

    def entry_file(self, index: int) -> Path:
        """The file that holds item ``index`` (its ``.tok`` file or its shard)."""
        return self._entries[index].path

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
            header = self._shard_headers[entry.path]
            codes = torch.from_numpy(read_record(entry.path, header, entry.index, self.code_stats))
            audio_length = int(entry.index["samples"])
        return TokenItem(entry.key, codes[: self.n_codebooks], audio_length)


def collate_tokens(items: Sequence[TokenItem], pad_value: int = 0) -> TokenBatch:
    """Pad ``TokenItem`` codes to the longest into a ``TokenBatch`` (a ``DataLoader`` collate_fn).

    Raises:
        ValueError: no items, or items with different numbers of codebooks.
    """
    if not items:
        raise ValueError("collate_tokens needs at least one item")
    counts = {item.codes.shape[0] for item in items}
    if len(counts) > 1:
        raise ValueError(f"collate_tokens got items with {sorted(counts)} codebooks; a batch needs one count")
    longest = max(item.codes.shape[-1] for item in items)
    codes = torch.full((len(items), items[0].codes.shape[0], longest), pad_value, dtype=torch.long)
    for row, item in enumerate(items):
        codes[row, :, : item.codes.shape[-1]] = item.codes
    lengths = torch.tensor([item.codes.shape[-1] for item in items], dtype=torch.long)
    return TokenBatch([item.key for item in items], codes, lengths)
