"""Training pairs for the generators: phones and their durations in token frames, joined with the
token shards of the same utterances.

``pairs.jsonl`` rows (written by ``egs/tts16k``): ``key`` (the utterance's key in the token folder),
``phones`` (symbols), ``durations`` (seconds per phone, or null where unknown), ``split``; for
instruction-to-speech also ``text`` and ``style_words`` (``egs/instruct16k``), from which each
item's instruction is composed afresh in varied wording every time it is read. The
tokens come from ``codec.corpus.token_dataset.TokenDataset`` over a folder that ``codec encode`` /
``codec tokenize`` wrote.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from codec.corpus.token_dataset import TokenDataset
from codec.errors import CodecError
from codec.training.semantic import load_units
from tts.instruct.composing import compose
from tts.instruct.instructions import attribute_targets, parse_instruction
from tts.models.batch import TTSBatch
from tts.models.instruction_encoder import encode_instructions


@dataclass
class Pair:
    """One utterance: ``phones (P,)`` ids, ``durations (P,)`` frames (sum = frames) or None,
    ``codes (Q, T)``, its style description (instruction-to-speech) or None, its semantic
    units ``(T,)`` (one per token frame) or None, and ``voice (Q, T')``, the codes of another
    utterance of its speaker (a prompt in its voice but not in its style) or None."""

    key: str
    phones: torch.Tensor
    durations: torch.Tensor | None
    codes: torch.Tensor
    instruction: str | None = None
    semantic: torch.Tensor | None = None
    voice: torch.Tensor | None = None


KEEP_ATTRIBUTE = 0.7
"""Chance that a training instruction names each of an item's measured attributes."""


def draw_instruction(row: dict, rng: random.Random, held_out: bool = False) -> str:
    """The style description of an instruction for ``row`` (its ``style_words``, each attribute
    named with probability ``KEEP_ATTRIBUTE``), with the quoted text taken out. Where the gender
    is left out, the pitch asked is the row's ``pitch_overall`` (its level among all voices) when
    the row has one: a pitch word without a gender then picks a voice of that pitch."""
    words = {key: value for key, value in row["style_words"].items() if rng.random() < KEEP_ATTRIBUTE}
    if "pitch" in words and "gender" not in words and row.get("pitch_overall"):
        words["pitch"] = row["pitch_overall"]
    return parse_instruction(compose(words, row.get("text") or "...", rng, held_out)).style


def frames_per_phone(seconds: Sequence[float], frame_rate: float, frames: int) -> torch.Tensor:
    """Phone durations in seconds -> whole frames that sum to ``frames``: phone boundaries are
    rounded to the nearest frame (no rounding error accumulates) and the last phone takes what is
    left (trailing silence, or the tokenizer's padded last frame)."""
    ends = torch.tensor(seconds, dtype=torch.float64).cumsum(0) * frame_rate
    bounds = ends.round().long().clamp(max=frames)
    bounds[-1] = frames
    return torch.diff(bounds, prepend=torch.zeros(1, dtype=torch.long)).clamp(min=0)


class PairDataset(Dataset):
    """The pairs of one split whose tokens exist.

    Args:
        pairs: the ``pairs.jsonl`` file.
        tokens: the token folder (files or shards) of the same utterances.
        encode: phone symbols -> ids (the model's inventory).
        split: rows of this split only.
        need_durations: leave out rows without durations (``nar`` and ``ar-aligned`` train on them).
        instructions: give each pair an instruction drawn from its ``style_words`` (rows without
            them are left out); in the ``train`` split a new one at every read, elsewhere a fixed
            one per row.
        semantic: a units file (``tts units apply``) at the tokens' frame rate: each pair gets the
            units of its key, cut or padded (last unit repeated) to its token frames.
        max_frames: leave out pairs with more token frames (an AR model's memory grows with the
            square of its sequence).
        voices: give each pair the codes of another utterance of its ``speaker`` (``Pair.voice``),
            drawn afresh at every read in the ``train`` split.

    Raises:
        CodecError: a missing or damaged file, units at another frame rate, a pair without units
            or with units of another length, or no pair with tokens.
    """

    def __init__(
        self,
        pairs: str | Path,
        tokens: str | Path,
        encode: Callable[[list[str]], list[int]],
        split: str = "train",
        need_durations: bool = True,
        instructions: bool = False,
        semantic: str | Path | None = None,
        max_frames: int | None = None,
        voices: bool = False,
    ) -> None:
        self.tokens = TokenDataset(tokens)
        self.frame_rate = float(self.tokens.model["frame_rate"])
        self.units = None if semantic is None else load_units(semantic)
        if self.units is not None and abs(self.units.frame_rate - self.frame_rate) > 1e-6:
            raise CodecError(
                f"units at {self.units.frame_rate:g} Hz; the tokens run at {self.frame_rate:g} Hz", semantic
            )
        index = {key: i for i, key in enumerate(self.tokens.keys)}
        self.rows: list[tuple[dict, int]] = []
        try:
            lines = Path(pairs).read_text().splitlines()
        except OSError as error:
            raise CodecError(f"cannot read pairs: {error.strerror or error}", pairs) from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise CodecError(f"line {number} is not JSON", pairs) from None
            if row.get("split") != split or row.get("key") not in index:
                continue
            if need_durations and row.get("durations") is None:
                continue
            if max_frames is not None and self.tokens.frames[index[row["key"]]] > max_frames:
                continue
            if instructions and not row.get("style_words"):
                continue
            if self.units is not None:
                self._check_units(row["key"], self.tokens.frames[index[row["key"]]], semantic)
            self.rows.append((row, index[row["key"]]))
        if not self.rows:
            raise CodecError(f"no {split} pair has tokens in {tokens}", pairs)
        self.encode = encode
        self.instructions, self.split = instructions, split
        self.speakers: dict[str, list[int]] = {}
        if voices:
            for number, (row, _) in enumerate(self.rows):
                if row.get("speaker") is not None:
                    self.speakers.setdefault(row["speaker"], []).append(number)

    def _check_units(self, key: str, frames: int, source: str | Path) -> None:
        """Units of ``key`` that cover its token ``frames`` to within two frames (a unit model's
        frames and the tokenizer's may round the clip's end differently), else ``CodecError``."""
        if key not in self.units.ids:
            raise CodecError(f"no units of {key!r} (apply the unit model to every pair)", source)
        if abs(len(self.units.ids[key]) - frames) > 2:
            raise CodecError(
                f"the units of {key!r} ({len(self.units.ids[key])} frames) do not cover its {frames} token "
                "frames: units of other audio?",
                source,
            )

    def __len__(self) -> int:
        return len(self.rows)

    def frames(self, index: int) -> int:
        """Token frames of pair ``index`` (for length bucketing)."""
        return self.tokens.frames[self.rows[index][1]]

    def __getitem__(self, index: int) -> Pair:
        row, token_index = self.rows[index]
        codes = self.tokens[token_index].codes
        phones = torch.tensor(self.encode(row["phones"]), dtype=torch.long)
        durations = None
        if row.get("durations") is not None:
            durations = frames_per_phone(row["durations"], self.frame_rate, codes.shape[-1])
        rng = random.Random() if self.split == "train" else random.Random(f"{self.split}-{index}")
        instruction = draw_instruction(row, rng) if self.instructions else None
        voice = None
        same = self.speakers.get(row.get("speaker"), [])
        if len(same) > 1:
            other = index
            while other == index:
                other = rng.choice(same)
            voice = self.tokens[self.rows[other][1]].codes
        semantic = None
        if self.units is not None:
            ids, frames = self.units.ids[row["key"]], codes.shape[-1]
            padded = np.pad(ids, (0, max(0, frames - len(ids))), mode="edge") if len(ids) else np.zeros(frames)
            semantic = torch.from_numpy(padded[:frames].astype(np.int64))
        return Pair(row["key"], phones, durations, codes, instruction, semantic, voice)


def collate_pairs(
    pairs: Sequence[Pair],
    generator: torch.Generator | None = None,
    prompt_share: tuple[float, float] | None = None,
    prompted: Sequence[bool] | None = None,
) -> TTSBatch:
    """Pad pairs into a ``TTSBatch``; with ``prompt_share = (low, high)`` each utterance (each one
    flagged in ``prompted``, default all) gets a prompt of a random share in that range of its
    frames: the start of its ``voice`` where it has one (the utterance stays whole), else its own
    start, cut at the nearest phone boundary (the phones before it are dropped)."""
    cuts, starts, prompts = [], [], []
    for index, pair in enumerate(pairs):
        cut, start, prompt = 0, 0, pair.codes[:, :0]
        if prompt_share is not None and (prompted is None or prompted[index]):
            share = prompt_share[0] + (prompt_share[1] - prompt_share[0]) * float(torch.rand(1, generator=generator))
            if pair.voice is not None:
                prompt = pair.voice[:, : max(1, round(share * pair.voice.shape[-1]))]
            elif pair.durations is not None and len(pair.phones) > 1:
                ends = pair.durations.cumsum(0)
                cut = int((ends - share * ends[-1]).abs()[:-1].argmin()) + 1
                start = int(ends[cut - 1])
                prompt = pair.codes[:, :start]
        cuts.append(cut)
        starts.append(start)
        prompts.append(prompt)
    size = len(pairs)
    n_codebooks = pairs[0].codes.shape[0]
    max_phones = max(len(pair.phones) - cut for pair, cut in zip(pairs, cuts, strict=True))
    max_prompt = max(prompt.shape[-1] for prompt in prompts)
    max_frames = max(pair.codes.shape[-1] - start for pair, start in zip(pairs, starts, strict=True))
    phones = torch.zeros(size, max_phones, dtype=torch.long)
    durations = torch.zeros(size, max_phones, dtype=torch.long)
    prompt = torch.zeros(size, n_codebooks, max_prompt, dtype=torch.long)
    codes = torch.zeros(size, n_codebooks, max_frames, dtype=torch.long)
    phone_lengths, prompt_lengths, code_lengths = (torch.zeros(size, dtype=torch.long) for _ in range(3))
    for item, (pair, cut, own, start) in enumerate(zip(pairs, cuts, prompts, starts, strict=True)):
        kept = pair.phones[cut:]
        phones[item, : len(kept)] = kept
        phone_lengths[item] = len(kept)
        if pair.durations is not None:
            durations[item, : len(kept)] = pair.durations[cut:]
        prompt[item, :, : own.shape[-1]] = own
        prompt_lengths[item] = own.shape[-1]
        rest = pair.codes[:, start:]
        codes[item, :, : rest.shape[-1]] = rest
        code_lengths[item] = rest.shape[-1]
    batch = TTSBatch(phones, phone_lengths, durations, prompt, prompt_lengths, codes, code_lengths)
    if any(pair.instruction is not None for pair in pairs):
        batch.instructions, batch.instruction_lengths = encode_instructions([pair.instruction for pair in pairs])
        batch.style_targets = torch.tensor([attribute_targets(pair.instruction) for pair in pairs], dtype=torch.long)
    if all(pair.semantic is not None for pair in pairs):
        batch.semantic = torch.zeros(size, max_frames, dtype=torch.long)
        for item, (pair, start) in enumerate(zip(pairs, starts, strict=True)):
            batch.semantic[item, : len(pair.semantic) - start] = pair.semantic[start:]
    return batch
