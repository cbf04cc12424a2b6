"""The instruction encoders: a style description -> one style vector.

``InstructionEncoder`` reads UTF-8 bytes: no vocabulary file, any wording, spelling or language; a
small transformer trained with the generator learns which words matter (the quoted text is taken
out beforehand, ``tts.instruct.instructions.parse_instruction``, so only the style is read). With
``lexicon`` it also reads each word's class in ``tts.instruct.lexicon`` (the gender of person nouns,
the synonyms of "very" and "normal", from WordNet), which a word's bytes do not tell.
``PretrainedInstructionEncoder`` reads the description with a frozen pretrained text encoder from a
local folder (any Hugging Face ``transformers`` encoder: BERT, T5's encoder, ...), which knows
synonyms the corpus never shows; only its projection is trained and saved, so a model trained with
one needs the same folder wherever it runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tts.instruct.lexicon import CLASSES, byte_classes
from tts.models.batch import lengths_mask
from tts.models.transformer import Transformer

BYTE_SYMBOLS = 257
"""Byte values 0..255 shifted by one; 0 is padding."""


def encode_instructions(styles: Sequence[str | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """Style descriptions -> ``(B, L)`` byte ids (+1; 0 pads) and ``(B,)`` lengths (0: no instruction)."""
    rows = [list((style or "").encode("utf-8")) for style in styles]
    ids = torch.zeros(len(rows), max([1, *map(len, rows)]), dtype=torch.long)
    for item, row in enumerate(rows):
        ids[item, : len(row)] = torch.tensor(row, dtype=torch.long) + 1
    return ids, torch.tensor([len(row) for row in rows], dtype=torch.long)


class InstructionEncoder(nn.Module):
    """``(B, L)`` byte ids -> ``(B, D)`` style vectors (masked mean of a transformer's states).

    Items of length 0 (no instruction) get the learned ``null`` vector, which is also what
    classifier-free guidance compares against. With ``lexicon`` each byte's embedding is added its
    word's class embedding (``tts.instruct.lexicon.byte_classes``; starts at zero, so that a model
    trained without one reads as before).
    """

    def __init__(self, dim: int, layers: int, heads: int, dropout: float = 0.1, lexicon: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Embedding(BYTE_SYMBOLS, dim, padding_idx=0)
        self.word_classes = None
        if lexicon:
            self.word_classes = nn.Embedding(len(CLASSES) + 1, dim, padding_idx=0)
            nn.init.zeros_(self.word_classes.weight)
        self.transformer = Transformer(dim, layers, heads, dropout=dropout)
        self.out = nn.Linear(dim, dim)
        self.null = nn.Parameter(torch.zeros(dim))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        valid = lengths_mask(lengths, ids.shape[1])
        embedded = self.embedding(ids)
        if self.word_classes is not None:
            embedded = embedded + self.word_classes(word_class_ids(ids, lengths))
        states = self.transformer(embedded, valid)
        pooled = (states * valid[..., None]).sum(1) / valid.sum(1, keepdim=True).clamp(min=1)
        return torch.where((lengths > 0)[:, None], self.out(pooled), self.null)


def word_class_ids(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, L)`` instruction byte ids -> ``(B, L)`` their words' class ids in the lexicon (0: none)."""
    rows, classes = ids.cpu().tolist(), torch.zeros(ids.shape, dtype=ids.dtype)  # one copy from the device
    for item, length in enumerate(lengths.cpu().tolist()):
        classes[item, :length] = torch.tensor(byte_classes(bytes(b - 1 for b in rows[item][:length])), dtype=ids.dtype)
    return classes.to(ids.device)


def decode_instructions(ids: torch.Tensor, lengths: torch.Tensor) -> list[str]:
    """Inverse of ``encode_instructions``: the style descriptions of ``(B, L)`` byte ids."""
    return [bytes((ids[i, : int(n)] - 1).tolist()).decode("utf-8", "replace") for i, n in enumerate(lengths)]


class PretrainedInstructionEncoder(nn.Module):
    """``(B, L)`` byte ids -> ``(B, D)`` style vectors through a frozen text encoder in ``folder``
    (mean of its last hidden states, projected to ``dim``).

    The text encoder is kept out of ``state_dict`` (it is the user's, not part of the model).

    Raises:
        CodecError: the folder holds no text encoder and tokenizer ``transformers`` can load.
    """

    def __init__(self, dim: int, folder: str) -> None:
        super().__init__()
        from codec.errors import CodecError

        try:
            from transformers import AutoModel, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            text_model = AutoModel.from_pretrained(folder, local_files_only=True)
        except (ImportError, OSError, ValueError) as error:
            raise CodecError(f"no text encoder and tokenizer to load ({str(error)[:200]})", folder) from None
        encoder = getattr(text_model, "get_encoder", None)
        text_model = (encoder() if callable(encoder) and text_model.config.is_encoder_decoder else text_model).eval()
        text_model.requires_grad_(False)
        self._frozen = (tokenizer, text_model)  # a tuple, so that nn.Module registers no submodule
        self.out = nn.Linear(text_model.config.hidden_size, dim)
        self.null = nn.Parameter(torch.zeros(dim))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        tokenizer, text_model = self._frozen
        text_model.to(ids.device)
        texts = decode_instructions(ids, lengths)
        tokens = tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(ids.device)
        with torch.no_grad():
            states = text_model(**tokens).last_hidden_state
        mask = tokens["attention_mask"][..., None].to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
        return torch.where((lengths > 0)[:, None], self.out(pooled.to(self.out.weight.dtype)), self.null)


def make_instruction_encoder(dim: int, layers: int, heads: int, dropout: float, kind: str = "bytes") -> nn.Module:
    """The byte-level ``InstructionEncoder`` (``kind="bytes"``; ``"lexicon"``: with the lexicon's
    word classes) or a ``PretrainedInstructionEncoder`` of the local folder ``kind``."""
    if kind in ("bytes", "lexicon"):
        return InstructionEncoder(dim, layers, heads, dropout, lexicon=kind == "lexicon")
    return PretrainedInstructionEncoder(dim, kind)


def style_vectors(
    encoder: nn.Module | None, instructions: torch.Tensor | None, instruction_lengths: torch.Tensor | None, batch: int
) -> torch.Tensor | None:
    """``(B, D)`` style vectors of ``(B, L)`` instruction bytes; the null style for all ``batch``
    items when there are no instructions; None for a model without an instruction encoder."""
    if encoder is None:
        return None
    if instructions is None or instruction_lengths is None:
        return encoder.null.expand(batch, -1)
    return encoder(instructions, instruction_lengths)


def drop_styles(encoder: nn.Module, style: torch.Tensor, share: float) -> torch.Tensor:
    """``style`` with the null style in place of a random ``share`` of its rows (classifier-free
    guidance training)."""
    dropped = torch.rand(style.shape[0], device=style.device) < share
    return torch.where(dropped[:, None], encoder.null.expand_as(style), style)
