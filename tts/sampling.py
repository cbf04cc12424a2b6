"""Token sampling with one random generator per item, so that a batch samples what its items sample
one by one with the same seeds.

Temperature, top-k and top-p (nucleus) filtering, and VALL-E 2's repetition-aware sampling: when
the sampled token already fills more than ``repetition_threshold`` of the last
``repetition_window`` tokens, it is drawn again from the unfiltered distribution, which breaks the
loops that greedy-ish sampling of a codec language model falls into.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingOptions:
    """How tokens are drawn.

    Attributes:
        temperature: logits are divided by it; 0 takes the most likely token.
        top_k: keep the k most likely tokens (None: all).
        top_p: keep the smallest set of most likely tokens whose probability reaches p (None: all).
        repetition_window: tokens looked back on by repetition-aware sampling (0: off).
        repetition_threshold: share of the window above which a repeated token is drawn again.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_window: int = 0
    repetition_threshold: float = 0.1

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


DEFAULT_SAMPLING = SamplingOptions()


def generators_for(seeds: list[int], device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One seeded generator per item."""
    return [torch.Generator(device).manual_seed(int(seed)) for seed in seeds]


def filter_logits(logits: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """``(..., V)`` logits over temperature with the tokens outside top-k / top-p set to -inf."""
    logits = logits.float() / max(options.temperature, 1e-8)
    if options.top_k is not None and options.top_k < logits.shape[-1]:
        kth = logits.topk(options.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p is not None and options.top_p < 1:
        ordered, order = logits.sort(dim=-1, descending=True)
        cumulative = ordered.softmax(-1).cumsum(-1)
        # keep a token while the mass before it is below p (the first token always stays)
        drop = (cumulative - ordered.softmax(-1)) >= options.top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def draw(probabilities: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """One token per row of ``(B, V)`` probabilities, row ``i`` drawn with ``generators[i]``."""
    return torch.stack(
        [
            torch.multinomial(row, 1, generator=generator)[0]
            for row, generator in zip(probabilities, generators, strict=True)
        ]
    )


def sample(
    logits: torch.Tensor,
    generators: list[torch.Generator],
    options: SamplingOptions,
    history: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw ``(B,)`` tokens from ``(B, V)`` logits.

    Args:
        history: ``(B, L)`` tokens generated so far (repetition-aware sampling), or None.
    """
    if options.temperature == 0:
        return logits.argmax(-1)
    tokens = draw(filter_logits(logits, options).softmax(-1), generators)
    if options.repetition_window and history is not None and history.shape[1]:
        window = history[:, -options.repetition_window :]
        repeats = (window == tokens[:, None]).float().sum(1) / options.repetition_window
        again = repeats > options.repetition_threshold
        if again.any():
            plain = (logits.float() / max(options.temperature, 1e-8)).softmax(-1)
            rows = again.nonzero()[:, 0].tolist()
            redrawn = draw(plain[rows], [generators[row] for row in rows])
            tokens = tokens.clone()
            tokens[rows] = redrawn
    return tokens
