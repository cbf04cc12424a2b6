"""Batched encode and decode whose result for an item does not depend on the other items.

Clips of different lengths are zero-padded to a common length to run as one batch. Alone, a clip's
last frames see the network's own edge (zero feature padding); in a batch they see features
computed from the padding instead, so a few codes (or output samples) near the end of every
shorter item would depend on its batch-mates. These functions run the padded batch and then redo
each shorter item's tail alone, in a window wide enough to cover the receptive field, so that
every item gets exactly what encoding or decoding it by itself gives. Tails of equal length are
batched together; models with an unbounded receptive field (LSTM, attention) redo shorter items
whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from codec.chunking import DEFAULT_CHUNK_SECONDS, decode_chunked, encode_chunked, receptive_field
from codec.decoders import HarmonicVocosDecoder

if TYPE_CHECKING:
    from codec.model import Codec


def _frames(samples: int, hop: int) -> int:
    return -(-samples // hop)


def _tail_groups(
    lengths: list[int], total: int, sides: Callable[[], tuple[int | None, int | None]], hop: int
) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Shorter items whose tail must be redone, grouped by window shape:
    ``{(window frames, redone frames): [(item, first window frame), ...]}``.

    ``lengths`` are per-item lengths in frames, ``total`` the padded length. ``sides()`` gives
    ``(redo, context)`` in samples: the tail covers ``redo`` samples (plus a frame) and its window
    ``context`` samples (plus a frame) before it; ``None`` (an unbounded receptive field) redoes the
    whole item. It is only called when some item is shorter, since measuring the receptive field
    the first time costs seconds for a full-size model.
    """
    groups: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    shorter = [(item, frames) for item, frames in enumerate(lengths) if 0 < frames < total]
    if not shorter:
        return groups
    redo, context = sides()
    for item, frames in shorter:
        if redo is None or context is None:
            first = start = 0
        else:
            first = max(0, frames - _frames(redo, hop) - 1)
            start = max(0, first - _frames(context, hop) - 1)
        groups[(frames - start, frames - first)].append((item, start))
    return groups


def encode_batch(
    codec: Codec,
    audio: torch.Tensor,
    lengths: torch.Tensor,
    chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
    n_codebooks: int | None = None,
) -> torch.Tensor:
    """``encode_chunked`` of a padded batch, with every item's codes equal to encoding it alone.

    Call it in eval mode without autograd (``Codec.encode`` does).

    Args:
        audio: ``(B, 1, N)`` at the model rate, zero-padded after each item's length.
        lengths: ``(B,)`` valid samples per item.

    Returns:
        ``(B, Q, ceil(N / hop_length))`` int64 codes on the CPU; an item's frames past
        ``ceil(length / hop_length)`` are padding (arbitrary).
    """
    hop = codec.hop_length
    codes = encode_chunked(codec, audio, chunk_seconds, n_codebooks)
    frames = [max(1, _frames(int(n), hop)) for n in lengths]

    def sides() -> tuple[int | None, int | None]:
        field = receptive_field(codec)
        return field.encoder_lookahead, field.encoder_history

    groups = _tail_groups(frames, codes.shape[-1], sides, hop)
    for (size, keep), items in groups.items():
        batch = torch.stack([audio[i, :, start * hop : (start + size) * hop] for i, start in items])
        tails = encode_chunked(codec, batch, chunk_seconds, n_codebooks)[..., size - keep :]
        for row, (item, _) in enumerate(items):
            codes[item, :, frames[item] - keep : frames[item]] = tails[row]
    return codes


def decode_batch(
    codec: Codec,
    codes: torch.Tensor,
    code_lengths: torch.Tensor,
    chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
) -> torch.Tensor:
    """``decode_chunked`` of a padded batch, with every item's audio equal to decoding it alone.

    Call it in eval mode without autograd (``Codec.decode`` does).

    Args:
        codes: ``(B, Q, T)`` codes, padded after each item's ``code_lengths``.
        code_lengths: ``(B,)`` valid frames per item.

    Returns:
        ``(B, 1, T * hop_length)`` float32 audio on the CPU; an item's samples past
        ``code_lengths * hop_length`` are padding (arbitrary).
    """
    hop = codec.hop_length
    frames = [int(n) for n in code_lengths]
    if isinstance(codec.decoder, HarmonicVocosDecoder):
        # Its pulse train's phase runs from each item's start; decode every item at its own length.
        audio = torch.zeros(codes.shape[0], 1, codes.shape[-1] * hop)
        for item, length in enumerate(frames):
            audio[item, :, : length * hop] = decode_chunked(codec, codes[item : item + 1, :, :length], chunk_seconds)[0]
        return audio
    audio = decode_chunked(codec, codes, chunk_seconds)

    def sides() -> tuple[int | None, int | None]:
        field = receptive_field(codec)
        return field.decoder_back, field.decoder_ahead

    groups = _tail_groups(frames, codes.shape[-1], sides, hop)
    for (size, keep), items in groups.items():
        batch = torch.stack([codes[i, :, start : start + size] for i, start in items])
        tails = decode_chunked(codec, batch, chunk_seconds)[..., (size - keep) * hop :]
        for row, (item, _) in enumerate(items):
            audio[item, :, (frames[item] - keep) * hop : frames[item] * hop] = tails[row]
    return audio
