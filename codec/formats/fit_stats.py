"""Fitting a model's code statistics (``codec.formats.entropy.CodeStats``) on audio or tokens."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from codec.formats.entropy import CodeStats
from codec.formats.tokens import Tokens
from codec.io.audio import read_audio, resample, to_mono
from codec.quantizers.usage import count_codes

if TYPE_CHECKING:
    from codec.api import Codec


def fit_code_stats(
    model: Codec,
    sources: Iterable[str | Path | Tokens],
    *,
    batch_size: int = 8,
    smoothing: int = 1,
) -> CodeStats:
    """Count the codes ``model`` produces on a corpus.

    Args:
        model: the codec; audio is encoded with all its codebooks.
        sources: audio files (any format and rate :func:`codec.io.audio.read_audio` takes; channels are
            averaged) and/or :class:`Tokens` made by ``model`` (only valid frames are counted; a
            batch with fewer codebooks adds to the first ones).
        batch_size: audio files per ``model.encode`` call.
        smoothing: pseudo-count of every code (see :class:`CodeStats`).

    Returns:
        ``(model.n_codebooks, model.codebook_size)`` statistics naming the model.

    Raises:
        CodecError: an audio file cannot be read, or tokens were made by another model.
        ValueError: the sources hold no frames at all.
    """
    counts = np.zeros((model.n_codebooks, model.codebook_size), dtype=np.int64)

    def add(tokens: Tokens) -> None:
        found = count_codes(tokens.codes, tokens.codebook_size, tokens.code_lengths).cpu().numpy()
        counts[: found.shape[0]] += found

    pending: list[np.ndarray] = []
    for source in sources:
        if isinstance(source, Tokens):
            model.check_tokens(source)
            add(source)
            continue
        audio, rate = read_audio(source)
        pending.append(resample(to_mono(audio), rate, model.sample_rate))
        if len(pending) >= batch_size:
            add(model.encode(pending, model.sample_rate))
            pending = []
    if pending:
        add(model.encode(pending, model.sample_rate))
    if not counts.any():
        raise ValueError("no codes to count: the sources hold no frames")
    return CodeStats(counts, smoothing, model.name, model.fingerprints().model)
