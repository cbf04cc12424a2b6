"""Bit packing of code matrices: each code as ``b`` bits, most significant bit first (the payload of
a packed ``.tok`` file and of a shard record)."""

from __future__ import annotations

import math

import numpy as np

_CHUNK = 1 << 20  # codes per packing step; a multiple of 8, so every chunk fills whole bytes


def bits_for(codebook_size: int) -> int:
    """``max(1, ceil(log2 K))``."""
    return max(1, (codebook_size - 1).bit_length())


def _word_bytes(bits: int) -> int:
    """Bytes of the smallest unsigned integer type holding ``bits`` bits (1, 2 or 4)."""
    return 1 if bits <= 8 else 2 if bits <= 16 else 4


def pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """Bit-pack non-negative integer codes, ``bits`` (1..32) bits each, MSB first.

    Args:
        codes: any shape; packed in C (row-major) order. Values must be below ``2**bits``.
        bits: bits per code.

    Returns:
        ``ceil(codes.size * bits / 8)`` bytes, the last one padded with zero bits.
    """
    if not 1 <= bits <= 32:
        raise ValueError(f"bits must be in 1..32, got {bits}")
    width = _word_bytes(bits)
    flat = np.asarray(codes).reshape(-1)
    pieces = []
    for start in range(0, flat.size, _CHUNK):
        words = flat[start : start + _CHUNK].astype(f">u{width}")  # big-endian: MSB byte first
        bit_matrix = np.unpackbits(words.view(np.uint8).reshape(-1, width), axis=1)
        pieces.append(np.packbits(bit_matrix[:, 8 * width - bits :]).tobytes())
    return b"".join(pieces)


def unpack_codes(data: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: the first ``count`` codes of ``data`` as a flat int64 array.

    ``data`` must hold at least ``ceil(count * bits / 8)`` bytes.
    """
    if not 1 <= bits <= 32:
        raise ValueError(f"bits must be in 1..32, got {bits}")
    needed = (count * bits + 7) // 8
    if len(data) < needed:
        raise ValueError(f"{count} codes of {bits} bits need {needed} bytes, got {len(data)}")
    width = _word_bytes(bits)
    raw = np.frombuffer(data, dtype=np.uint8, count=needed)
    out = np.empty(count, dtype=np.int64)
    chunk_bytes = _CHUNK * bits // 8
    for index, start in enumerate(range(0, count, _CHUNK)):
        n = min(_CHUNK, count - start)
        chunk = raw[index * chunk_bytes : index * chunk_bytes + (n * bits + 7) // 8]
        bit_matrix = np.zeros((n, 8 * width), dtype=np.uint8)
        bit_matrix[:, 8 * width - bits :] = np.unpackbits(chunk, count=n * bits).reshape(n, bits)
        out[start : start + n] = np.packbits(bit_matrix, axis=1).view(f">u{width}").reshape(n)
    return out


def nominal_bitrate(frame_rate: float, n_codebooks: int, codebook_size: int) -> float:
    """Bits per second of ``n_codebooks`` codes of ``codebook_size`` values per frame, ``log2`` each."""
    return frame_rate * n_codebooks * math.log2(codebook_size)
