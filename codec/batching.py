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
from typing import TYPE_CHECKING

import torch

from codec.chunking import DEFAULT_CHUNK_SECONDS, decode_chunked, encode_chunked, receptive_field

if TYPE_CHECKING:
    from codec.model import Codec


def _frames(samples: int, hop: int) -> int:
    return -(-samples // hop)


def _tail_windows(lengths: list[int], total: int, redo: int | None, context: int | None) -> dict[int, tuple[int, int]]:
    """Items whose tail must be redone: ``{item: (first window frame, first redone frame)}``.

    ``lengths`` are per-item lengths in frames, ``total`` the padded length; the last ``redo`` frames
    of an item are redone with ``context`` frames before them (``None``: the whole item).
    """
    windows = {}
    for item, frames in enumerate(lengths):
        if frames >= total:
            continue
        if redo is None or context is None:
            windows[item] = (0, 0)
        else:
            first = max(0, frames - redo)
            windows[item] = (max(0, first - context), first)
    return windows


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
    field = receptive_field(codec)
    redo = None if field.encoder_lookahead is None else _frames(field.encoder_lookahead, hop) + 1
    context = None if field.encoder_history is None else _frames(field.encoder_history, hop) + 1
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)  # (window frames, redone frames) -> items
    windows = _tail_windows(frames, codes.shape[-1], redo, context)
    for item, (start, first) in windows.items():
        groups[(frames[item] - start, frames[item] - first)].append(item)
    for (size, keep), items in groups.items():
        starts = [windows[i][0] for i in items]
        batch = torch.stack([audio[i, :, s * hop : (s + size) * hop] for i, s in zip(items, starts, strict=True)])
        tails = encode_chunked(codec, batch, chunk_seconds, n_codebooks)[..., size - keep :]
        for row, item in enumerate(items):
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
    audio = decode_chunked(codec, codes, chunk_seconds)
    frames = [int(n) for n in code_lengths]
    field = receptive_field(codec)
    redo = None if field.decoder_back is None else _frames(field.decoder_back, hop) + 1
    context = None if field.decoder_ahead is None else _frames(field.decoder_ahead, hop) + 1
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    windows = _tail_windows(frames, codes.shape[-1], redo, context)
    for item, (start, first) in windows.items():
        if frames[item] > 0:
            groups[(frames[item] - start, frames[item] - first)].append(item)
    for (size, keep), items in groups.items():
        batch = torch.stack([codes[i, :, windows[i][0] : windows[i][0] + size] for i in items])
        tails = decode_chunked(codec, batch, chunk_seconds)[..., (size - keep) * hop :]
        for row, item in enumerate(items):
            audio[item, :, (frames[item] - keep) * hop : frames[item] * hop] = tails[row]
    return audio
