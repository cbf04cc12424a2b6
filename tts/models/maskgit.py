"""MaskGIT's decoding steps for masked parallel generators (``nar``): the schedule, the draw of the
positions still unknown and the re-masking of the least confident draws.

Positions travel as ``rows``, the ``(N,)`` item and frame indices of the unknown positions item by
item (``unknown.nonzero(as_tuple=True)``), with ``counts``, how many belong to each item: logits
exist for those rows only, and every item draws from its own generator, so that an item draws alike
alone and in a batch.
"""

from __future__ import annotations

import math

import torch

from tts.sampling import SamplingOptions, filter_logits


def cosine_masked(ratio: torch.Tensor) -> torch.Tensor:
    """MaskGIT's schedule: the share of tokens still masked after progress ``ratio`` in [0, 1]."""
    return torch.cos(ratio * math.pi / 2)


def draw_unknown(
    logits: torch.Tensor, counts: list[int], generators: list[torch.Generator], options: SamplingOptions
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw a token for each of ``(N, K)`` logits, item ``i``'s ``counts[i]`` rows with ``generators[i]``.

    Inverse-CDF sampling (one uniform number per row, looked up in the cumulated probabilities)
    draws from the same distribution as ``multinomial`` over the softmax, with one random number per
    row instead of one per token.

    Returns:
        ``(N,)`` tokens and ``(N,)`` their log-probabilities under ``logits`` (the confidence that
        ``remask_least_confident`` ranks; the logits' own, whatever the temperature or filter).
    """
    plain = options.temperature == 1 and options.top_k is None and options.top_p is None
    filtered = logits if plain else filter_logits(logits, options)
    if options.temperature > 0:
        probabilities = filtered.softmax(-1)
        cumulated = probabilities.cumsum(-1)
        uniform = [
            torch.rand(n, generator=generator, device=generator.device)
            for n, generator in zip(counts, generators, strict=True)
        ]
        threshold = torch.cat(uniform).to(cumulated.device)[:, None] * cumulated[:, -1:]
        drawn = torch.searchsorted(cumulated, threshold, right=True)[:, 0].clamp(max=logits.shape[-1] - 1)
    else:
        drawn = filtered.argmax(-1)
    if plain:  # the softmax just computed is the logits' own
        confidence = probabilities.gather(-1, drawn[:, None])[:, 0].log()
    else:
        confidence = logits.gather(-1, drawn[:, None])[:, 0] - logits.logsumexp(-1)
    return drawn, confidence


def remask_least_confident(
    unknown: torch.Tensor,
    rows: tuple[torch.Tensor, torch.Tensor],
    confidence: torch.Tensor,
    counts: list[int],
    keep_masked: torch.Tensor,
    generators: list[torch.Generator],
) -> torch.Tensor:
    """The ``(B, S)`` positions to mask again: per item, the ``keep_masked[i]`` of this step's draws
    (at ``rows``, of ``(B, S)`` ``unknown``) with the lowest confidence plus Gumbel noise."""
    still = torch.zeros_like(unknown)
    pieces = zip(confidence.split(counts), rows[1].split(counts), generators, strict=True)
    for item, (scores, where, generator) in enumerate(pieces):
        n = int(keep_masked[item])
        if n == 0 or len(where) == 0:
            continue
        noise = -torch.log(-torch.log(torch.rand(len(where), generator=generator).clamp(1e-9, 1 - 1e-9)))
        order = (scores + noise.to(scores.device)).argsort()
        still[item, where[order[:n]]] = True
    return still
