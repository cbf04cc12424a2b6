"""``TTSDataModule``: pairs and token shards of one corpus, batched for a generator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from codec.errors import CodecError
from tts.data import Pair, PairDataset, collate_pairs

PAD = "<pad>"


def read_symbols(pairs: str | Path, split: str = "train") -> list[str]:
    """The phone inventory of a ``pairs.jsonl``'s split: padding first, then the symbols sorted."""
    symbols: set[str] = set()
    try:
        for line in Path(pairs).read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("split") == split:
                    symbols.update(row["phones"])
    except (OSError, json.JSONDecodeError, KeyError) as error:
        raise CodecError(f"cannot read phones: {error}", pairs) from None
    if not symbols:
        raise CodecError(f"no {split} rows with phones", pairs)
    return [PAD, *sorted(symbols)]


class TTSDataModule(LightningDataModule):
    """Training and validation pairs of ``pairs.jsonl`` joined with the token folder ``tokens``.

    Args:
        pairs: ``pairs.jsonl`` (``egs/tts16k``).
        tokens: the token folder of the same utterances (``codec tokenize``).
        generator: ``nar`` and ``ar-aligned`` train on pairs with durations, with prompts cut from
            each utterance's beginning (``prompt_share`` of its frames); ``ar`` on whole utterances.
        batch_size: pairs per batch.
        num_workers: loader processes.
        val_split: the split validated on (``dev``).
        prompt_share: range of the share of an utterance's frames that becomes its prompt.
        prompt_probability: share of training pairs cut into prompt + target (the rest have no prompt).
    """

    def __init__(
        self,
        pairs: str,
        tokens: str,
        generator: str = "nar",
        batch_size: int = 16,
        num_workers: int = 0,
        val_split: str = "dev",
        prompt_share: tuple[float, float] = (0.1, 0.4),
        prompt_probability: float = 0.8,
    ) -> None:
        super().__init__()
        self.pairs, self.tokens, self.generator = pairs, tokens, generator
        self.batch_size, self.num_workers, self.val_split = batch_size, num_workers, val_split
        self.prompt_share, self.prompt_probability = tuple(prompt_share), prompt_probability
        self.symbols = read_symbols(pairs)
        self._ids = {symbol: i for i, symbol in enumerate(self.symbols)}
        self.train_set = PairDataset(pairs, tokens, self.encode, "train", need_durations=generator != "ar")
        self.codec = dict(self.train_set.tokens.model)
        self.n_codebooks = int(self.codec["n_codebooks"])
        self.codebook_size = int(self.codec["codebook_size"])
        self.generator_seed = torch.Generator().manual_seed(0)

    def encode(self, phones: list[str]) -> list[int]:
        """Symbols -> ids (symbols unseen in training are dropped)."""
        return [self._ids[p] for p in phones if p in self._ids]

    def _collate(self, pairs: list[Pair]) -> Any:
        cut = self.generator != "ar" and float(torch.rand(1, generator=self.generator_seed)) < self.prompt_probability
        return collate_pairs(pairs, self.generator_seed, self.prompt_share if cut else None)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set, self.batch_size, shuffle=True, collate_fn=self._collate, num_workers=self.num_workers
        )

    def val_dataloader(self) -> DataLoader | list:
        try:
            dev = PairDataset(
                self.pairs, self.tokens, self.encode, self.val_split, need_durations=self.generator != "ar"
            )
        except CodecError:
            return []
        return DataLoader(
            dev, self.batch_size, collate_fn=lambda pairs: collate_pairs(pairs), num_workers=self.num_workers
        )
