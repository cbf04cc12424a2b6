"""Batched encode and decode whose result for an item does not depend on the other items.

Clips of different lengths are zero-padded to a common length to run as one batch. Alone, a clip's
last frames see the network's own edge (zero feature padding); in a batch they see features
computed from the padding instead, so a few codes (or output samples) near the end of every
shorter item would depend on its batch-mates. These functions run the padded batch and then redo
each shorter item's tail alone, in a window wide enough to cover the receptive field, so that
every item gets exactly what encoding or decoding it by itself gives. Tails of equal length are
batched together; models with an unbounded receptive field (LSTM, attention) redo shorter items
whole.

That pays on an accelerator. On a CPU a padded batch is slower than its items one after another
(larger tensors, padding and redone tails; ``bench/batch_speed.py``), so there each item simply
runs alone (``pads_batches``). A harmonic-plus-noise decoder's pulse train integrates its F0,
whose float rounding differs a little with the batch size: in a padded batch its waveforms drift
slowly from a decode alone (the same spectra), as between runtimes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from codec.inference.chunking import (
    DEFAULT_CHUNK_SECONDS,
    decode_chunked,
    decode_harmonic_chunked,
    encode_chunked,
    receptive_field,
)

if TYPE_CHECKING:
    from codec.model import CodecNetwork


def pads_batches(codec: CodecNetwork) -> bool:
    """Whether ``encode_batch`` / ``decode_batch`` run a padded batch (on an accelerator) rather
    than each item alone (on a CPU, where that is faster; and always for published models run by
    their own packages, whose receptive fields are not measured, ``codec.external``)."""
    return codec.device.type != "cpu" and getattr(codec, "support", None) is None


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
    codec: CodecNetwork,
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
    frames = [max(1, _frames(int(n), hop)) for n in lengths]
    if not pads_batches(codec) and audio.shape[0] > 1:
        # Each item at its own length: an external model may pad a partial last frame its own way.
        parts = [
            encode_chunked(codec, audio[i : i + 1, :, : max(1, int(n))], chunk_seconds, n_codebooks)
            for i, n in enumerate(lengths)
        ]
        codes = torch.zeros(
            audio.shape[0], parts[0].shape[1], max(1, _frames(audio.shape[-1], hop)), dtype=parts[0].dtype
        )
        for item, part in enumerate(parts):
            codes[item, :, : part.shape[-1]] = part[0]
        return codes
    codes = encode_chunked(codec, audio, chunk_seconds, n_codebooks)

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
    codec: CodecNetwork,
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
    if not pads_batches(codec) and codes.shape[0] > 1:
        audio = torch.zeros(codes.shape[0], 1, codes.shape[-1] * hop)
        for item, length in enumerate(frames):
            if length > 0:
                part = decode_chunked(codec, codes[item : item + 1, :, :length], chunk_seconds)
                audio[item, :, : length * hop] = part[0]
        return audio

    def sides() -> tuple[int | None, int | None]:
        field = receptive_field(codec)
        return field.decoder_back, field.decoder_ahead

    groups = _tail_groups(frames, codes.shape[-1], sides, hop)
    if codec.decoder.stateful_phase:
        return _decode_harmonic_batch(codec, codes, frames, groups, chunk_seconds)
    audio = decode_chunked(codec, codes, chunk_seconds)
    for (size, keep), items in groups.items():
        batch = torch.stack([codes[i, :, start : start + size] for i, start in items])
        tails = decode_chunked(codec, batch, chunk_seconds)[..., (size - keep) * hop :]
        for row, (item, _) in enumerate(items):
            audio[item, :, (frames[item] - keep) * hop : frames[item] * hop] = tails[row]
    return audio


def _decode_harmonic_batch(
    codec: CodecNetwork,
    codes: torch.Tensor,
    frames: list[int],
    groups: dict[tuple[int, int], list[tuple[int, int]]],
    chunk_seconds: float | None,
) -> torch.Tensor:
    """``decode_batch`` for a ``HarmonicVocosDecoder``, whose pulse train's phase is a running sum from
    each item's start: the padded batch gives every item its phase up to its tail, and each redone
    tail window continues the phase its item had where the tail begins."""
    hop = codec.hop_length
    # Pulse-train sample where each redone tail begins, for tails that do not start with the item.
    first = torch.full((codes.shape[0],), -1, dtype=torch.long)
    for (size, keep), items in groups.items():
        for item, _ in items:
            first[item] = (frames[item] - keep) * hop if size > keep else -1
    audio, phase = decode_harmonic_chunked(codec, codes, chunk_seconds, capture=first if groups else None)
    for (size, keep), items in groups.items():
        batch = torch.stack([codes[i, :, start : start + size] for i, start in items])
        rows = [item for item, _ in items]
        anchor = ((size - keep) * hop, phase[rows]) if size > keep else None
        tails, _ = decode_harmonic_chunked(codec, batch, chunk_seconds, anchor=anchor)
        for row, item in enumerate(rows):
            audio[item, :, (frames[item] - keep) * hop : frames[item] * hop] = tails[row, :, (size - keep) * hop :]
    return audio
