"""Attribute levels as the style a generator reads (``NarTTS(style_levels=True)``).

An instruction's style vector (``tts.models.instruction_encoder``) carries its wording as well as
what it asks; a generator conditioned on it can learn to tie a phrase to a voice ("with a very low
voice" spoken by a woman). Here a classifier on the style vector names, per attribute of
``LEVELS``, the level asked (or none), and the generator reads only the sum of those levels'
learned embeddings. In training the levels are the ones the instruction names, so the generator
never sees the wording at all. Pitch levels are relative to the gender asked (``tts.instruct.bins``:
a man's "high" is a woman's "low"), so each pitch level has an embedding per gender asked (none,
male, female) rather than one shared embedding added to the gender's.
"""

from __future__ import annotations

import random

import torch
from torch import nn

from tts.instruct.composing import compose
from tts.instruct.instructions import attribute_targets, parse_instruction
from tts.instruct.phrasings import LEVELS
from tts.models.instruction_encoder import encode_instructions

STYLE_CLASSES = [len(levels) + 1 for levels in LEVELS.values()]
"""Classes per attribute of ``LEVELS``: none asked, then each level."""

GENDER, PITCH = list(LEVELS).index("gender"), list(LEVELS).index("pitch")
EMBEDDING_ROWS = [n * (STYLE_CLASSES[GENDER] if a == PITCH else 1) for a, n in enumerate(STYLE_CLASSES)]
"""Embedding rows per attribute: its classes, for pitch once per gender class."""


def read_levels(logits: torch.Tensor, instruction_lengths: torch.Tensor | None) -> torch.Tensor:
    """``(B, sum(STYLE_CLASSES))`` classifier logits -> ``(B, A)`` levels per attribute as ``1 +
    index`` of the level, 0 for none (and for items without instruction)."""
    parts = logits.split(STYLE_CLASSES, dim=-1)
    levels = torch.stack([part.argmax(-1) for part in parts], dim=-1)
    if instruction_lengths is None:
        return torch.zeros_like(levels)
    return levels * (instruction_lengths > 0)[:, None]


class LevelEmbeddings(nn.Embedding):
    """``(B, A)`` levels (``read_levels``) -> ``(B, D)`` the sum of their embeddings (the pitch's
    for the gender asked); level 0 (none asked) adds nothing, so no level at all is the zero
    vector. Starts at zero."""

    def __init__(self, dim: int) -> None:
        super().__init__(sum(EMBEDDING_ROWS), dim)
        nn.init.zeros_(self.weight)
        self.register_buffer("offsets", torch.tensor([0, *EMBEDDING_ROWS[:-1]]).cumsum(0), persistent=False)

    def forward(self, levels: torch.Tensor) -> torch.Tensor:
        rows = levels + self.offsets
        rows[:, PITCH] += levels[:, GENDER] * STYLE_CLASSES[PITCH]
        return (super().forward(rows) * (levels > 0)[..., None]).sum(1)

    def row(self, attribute: str, level: int, gender: int = 0) -> int:
        """The embedding row of ``level`` (``1 + index``) of ``attribute`` (for pitch, asked
        with ``gender``, ``1 + index`` of it or 0 for none)."""
        position = list(LEVELS).index(attribute)
        return int(self.offsets[position]) + level + (gender * STYLE_CLASSES[PITCH] if position == PITCH else 0)

    @torch.no_grad()
    def init_from_reading(self, encoder: nn.Module, samples: int = 32) -> None:
        """Set every level's embedding to ``encoder``'s mean style vector (less its null style)
        over ``samples`` instructions asking that level alone in training phrasings: a model
        started from one that read style vectors starts from that model's reading of each level.
        Pitch asked with a gender starts at zero: such a model reads a pitch word as a choice of
        voice (docs/instruct.md, "Pitch words without a gender"), right only where no gender is named."""
        rng, training = random.Random(0), encoder.training
        encoder.eval()
        for position, (attribute, levels) in enumerate(LEVELS.items()):
            for index, level in enumerate(levels):
                styles = [parse_instruction(compose({attribute: level}, "...", rng)).style for _ in range(samples)]
                if attribute_targets(styles[0])[position] != index + 1:
                    continue  # a level no phrasing names ("not whispered")
                vectors = encoder(*(t.to(self.weight.device) for t in encode_instructions(styles)))
                self.weight[self.row(attribute, index + 1)] = vectors.mean(0) - encoder.null
        encoder.train(training)
