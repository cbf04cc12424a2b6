"""``TTSDataModule``: pairs and token shards of one corpus, batched for a generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from codec.corpus.token_dataset import same_tokens
from codec.errors import CodecError
from tts.data import Pair, PairDataset, collate_pairs
from tts.instruct.bins import StyleBins
from tts.text.frontend import TextFrontend

WHOLE_UTTERANCES = ("ar", "ar-semantic")
"""Generators that train on whole utterances, without durations or prompts cut from them."""


class TTSDataModule(LightningDataModule):
    """Training and validation pairs of ``pairs.jsonl`` joined with the token folder ``tokens``.

    Args:
        pairs: ``pairs.jsonl`` (``egs/tts16k``).
        tokens: the token folder of the same utterances (``codec tokenize``).
        backend, language: the text front end whose symbols the pairs' phones are
            (``tts.text.frontend.TextFrontend``); its inventory goes into the model.
        generator: ``nar`` and ``ar-aligned`` train on pairs with durations, with prompts cut from
            each utterance's beginning (``prompt_share`` of its frames); ``ar`` and
            ``ar-semantic`` on whole utterances.
        batch_size: pairs per batch.
        num_workers: loader processes.
        val_split: the split validated on (``dev``).
        prompt_share: range of the share of an utterance's frames that becomes its prompt.
        prompt_probability: share of training pairs cut into prompt + target (the rest have no prompt).
        instruction_prompt_probability: the same for pairs read with an instruction. A prompt cut
            from the utterance itself carries its voice, pitch, loudness and whisper, which leaves
            the instruction nothing to teach but the timing; most instructed pairs go without one.
        instruction_prompt_source: where an instructed pair's prompt comes from: ``speaker``, the
            start of another utterance of its speaker (its voice in another style: the voice from
            the prompt, the style from the instruction) or ``self``, its own start.
        instructions: train on instructions composed from the rows' ``style_words``
            (``egs/instruct16k``); the corpus's ``style_bins.json`` goes into the model.
        semantic_units: the units file of the pairs (``tts units apply``; ``ar-semantic`` only,
            which needs it); its unit count goes into the model.
        max_frames: leave training pairs with more token frames out (validation keeps them all).
        plain_corpora: more training corpora (``{"pairs": ..., "tokens": ...}`` each, tokens of the
            same tokenizer) read without instructions, so that an instruction model stays a plain
            TTS of their voices too (one model for both: ``egs/tts16k`` beside ``egs/instruct16k``).
    """

    def __init__(
        self,
        pairs: str,
        tokens: str,
        generator: str = "nar",
        backend: str = "flite",
        language: str = "en",
        batch_size: int = 16,
        num_workers: int = 0,
        val_split: str = "dev",
        prompt_share: tuple[float, float] = (0.1, 0.4),
        prompt_probability: float = 0.8,
        instruction_prompt_probability: float = 0.2,
        instruction_prompt_source: str = "speaker",
        instructions: bool = False,
        semantic_units: str | None = None,
        max_frames: int | None = None,
        plain_corpora: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__()
        if (generator == "ar-semantic") != (semantic_units is not None):
            raise CodecError(
                "ar-semantic trains on semantic units (--data.semantic_units, from 'tts units apply'); "
                "the other generators read none"
            )
        self.semantic_units, self.max_frames = semantic_units, max_frames
        self.pairs, self.tokens, self.generator = pairs, tokens, generator
        self.batch_size, self.num_workers, self.val_split = batch_size, num_workers, val_split
        self.prompt_share, self.prompt_probability = tuple(prompt_share), prompt_probability
        self.instruction_prompt_probability = instruction_prompt_probability
        if instruction_prompt_source not in ("speaker", "self"):
            raise CodecError(f"instruction_prompt_source is speaker or self, not {instruction_prompt_source!r}")
        frontend = TextFrontend(backend, language)
        self.frontend = frontend.to_dict()
        self.inventory = frontend.inventory
        self.n_symbols = len(frontend.inventory)
        self.instructions = instructions
        self.style_bins = read_style_bins(Path(pairs).parent / "style_bins.json") if instructions else None
        voices = instructions and instruction_prompt_source == "speaker" and generator not in WHOLE_UTTERANCES
        self.train_set = PairDataset(
            pairs, tokens, self.encode, "train", **self._reading(), max_frames=max_frames, voices=voices
        )
        self.n_units = self.train_set.units.classes if self.train_set.units is not None else 0
        self.codec = dict(self.train_set.tokens.model)
        self.n_codebooks = int(self.codec["n_codebooks"])
        self.codebook_size = int(self.codec["codebook_size"])
        self.generator_seed = torch.Generator().manual_seed(0)
        self.training_sets: list[Dataset] = [self.train_set, *self._plain_sets(plain_corpora or [])]

    def _plain_sets(self, corpora: list[dict[str, str]]) -> list[PairDataset]:
        """The training pairs of ``plain_corpora``; ``CodecError`` for units or other tokens."""
        if corpora and self.semantic_units is not None:
            raise CodecError("plain_corpora have no semantic units: ar-semantic trains on one corpus")
        sets = []
        for corpus in corpora:
            if set(corpus) != {"pairs", "tokens"}:
                raise CodecError(f"a plain corpus is {{pairs: FILE, tokens: FOLDER}}, not {sorted(corpus)}")
            reading = {**self._reading(), "instructions": False, "max_frames": self.max_frames}
            pairs = PairDataset(corpus["pairs"], corpus["tokens"], self.encode, "train", **reading)
            if not same_tokens(pairs.tokens.model, self.train_set.tokens.model):
                raise CodecError(
                    f"tokens of {pairs.tokens.model.get('model_name')}, not of {self.codec.get('model_name')} "
                    "like the main corpus's",
                    corpus["tokens"],
                )
            sets.append(pairs)
        return sets

    def _reading(self) -> dict[str, Any]:
        """How ``PairDataset`` reads the pairs for this generator."""
        return {
            "need_durations": self.generator not in WHOLE_UTTERANCES,
            "instructions": self.instructions,
            "semantic": self.semantic_units,
        }

    def encode(self, phones: list[str]) -> list[int]:
        """Symbols -> ids of the front end's inventory (``<unk>`` for others)."""
        return self.inventory.encode(phones)

    def _collate(self, pairs: list[Pair]) -> Any:
        if self.generator in WHOLE_UTTERANCES:
            return collate_pairs(pairs, self.generator_seed)
        draws = torch.rand(len(pairs), generator=self.generator_seed).tolist()
        prompted = [
            draw < (self.prompt_probability if pair.instruction is None else self.instruction_prompt_probability)
            for pair, draw in zip(pairs, draws, strict=True)
        ]
        return collate_pairs(pairs, self.generator_seed, self.prompt_share, prompted)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            ConcatDataset(self.training_sets),
            self.batch_size,
            shuffle=True,
            collate_fn=self._collate,
            num_workers=self.num_workers,
        )

    def val_dataloader(self) -> DataLoader | list:
        try:
            dev = PairDataset(self.pairs, self.tokens, self.encode, self.val_split, **self._reading())
        except CodecError:
            return []
        return DataLoader(
            dev, self.batch_size, collate_fn=lambda pairs: collate_pairs(pairs), num_workers=self.num_workers
        )


def read_style_bins(path: Path) -> dict[str, Any]:
    """The corpus's style bins (``egs/instruct16k`` writes them beside ``pairs.jsonl``).

    Raises:
        CodecError: the file is missing or damaged.
    """
    if not path.is_file():
        raise CodecError("no style_bins.json beside the pairs: build them with egs/instruct16k", path)
    return StyleBins.load(path).to_dict()
