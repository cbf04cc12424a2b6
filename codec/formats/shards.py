"""The token shard format (``.toks``): many tokenized files in one file, the model described once.

A ``.tok`` file repeats its ~250-byte JSON header for every audio file, which for short clips
costs more than the codes themselves. A shard stores that description once; each record is only
its codes payload and a checksum. What differs per record (frames, samples, codebooks, where it
lies) is in the shard folder's index (``index-r<rank>.jsonl``, :mod:`codec.corpus.run`), one JSON line
per record. All integers in the fixed parts are little-endian.

========  ===========  ==========================================================================
offset    size         content
========  ===========  ==========================================================================
0         4            magic ``b"CTSH"``
4         2            shard format version, uint16: ``1``
6         4            ``H``: length in bytes of the JSON header, uint32
10        H            header: one UTF-8 JSON object (see below)
10+H      4            CRC-32 of bytes ``[0, 10 + H)``, uint32
14+H      ...          records back to back: a codes payload of ``P`` bytes, then the CRC-32 of
                       those ``P`` bytes (uint32)
========  ===========  ==========================================================================

Header keys: ``shard_version`` (int, equal to the version at offset 4) and the model fields of a
version-2 ``.tok`` header (:mod:`codec.formats.tok_file`): ``model_name``, ``fingerprint``,
``token_fingerprint`` and ``min_codebooks`` (both written since 0.2), ``sample_rate``, ``hop_length``,
``frame_rate``, ``codebook_size``, ``bits_per_code``, ``coding`` (``"packed"`` or ``"range"``) and,
when range-coded, ``stats_fingerprint``.

Index entry keys: ``key``, ``shard`` (file name), ``offset`` (of the record's payload), ``bytes``
(``P + 4``, payload and checksum), ``frames``, ``samples``, ``n_codebooks`` and ``seconds``. A
record's payload is exactly that of a ``.tok`` file whose header is the shard header plus
``n_codebooks``, ``num_frames`` = ``frames``, ``num_samples`` = ``samples`` and, when range-coded,
``payload_bytes`` = ``P``; it is checked and decoded as such.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from codec.errors import CodecError
from codec.formats.tok_file import ENTROPY_FORMAT_VERSION, check_header, decode_payload, payload_length
from codec.formats.tok_file import MAGIC as TOKEN_MAGIC

if TYPE_CHECKING:
    from codec.formats.entropy import CodeStats

SHARD_MAGIC = b"CTSH"
SHARD_SUFFIX = ".toks"
"""Extension of shard files."""
SHARD_VERSION = 1
MODEL_FIELDS = (
    "model_name",
    "fingerprint",
    "token_fingerprint",
    "min_codebooks",
    "sample_rate",
    "hop_length",
    "frame_rate",
    "codebook_size",
    "bits_per_code",
    "coding",
    "stats_fingerprint",
)
_PREFIX = struct.Struct("<4sHI")  # magic, shard version, header length
_CRC = struct.Struct("<I")


def model_fields(token_header: dict[str, Any]) -> dict[str, Any]:
    """The shard-level part of a ``.tok`` header (:meth:`codec.formats.tokens.Tokens.encoded`)."""
    fields = {key: token_header[key] for key in MODEL_FIELDS if key in token_header}
    fields.setdefault("coding", "packed")
    return fields


def shard_bytes(model: dict[str, Any], payloads: Sequence[bytes]) -> tuple[bytes, list[tuple[int, int]]]:
    """A shard's contents and each record's ``(offset, bytes)`` (payload plus checksum).

    Args:
        model: the shared model fields (:func:`model_fields`).
        payloads: each record's codes payload, in order.
    """
    header = {"shard_version": SHARD_VERSION, **model}
    header_bytes = json.dumps(header, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    head = _PREFIX.pack(SHARD_MAGIC, SHARD_VERSION, len(header_bytes)) + header_bytes
    parts = [head, _CRC.pack(zlib.crc32(head))]
    places, offset = [], len(head) + _CRC.size
    for payload in payloads:
        parts += [payload, _CRC.pack(zlib.crc32(payload))]
        places.append((offset, len(payload) + _CRC.size))
        offset += len(payload) + _CRC.size
    return b"".join(parts), places


def read_shard_header(path: Path) -> dict[str, Any]:
    """The checked JSON header of a shard file.

    Raises:
        CodecError: naming ``path``, for a file that is missing, empty, not a shard (or a shard of
            the older layout), of another version, truncated or damaged.
    """
    try:
        with path.open("rb") as handle:
            prefix = handle.read(_PREFIX.size)
            _check_prefix(prefix, path)
            _, version, length = _PREFIX.unpack(prefix)
            rest = handle.read(length + _CRC.size)
    except OSError as error:
        raise CodecError(f"cannot read shard: {error.strerror or error}", path) from None
    if len(rest) < length + _CRC.size:
        raise CodecError("truncated: shard header is incomplete", path)
    header_bytes, (stored_crc,) = rest[:length], _CRC.unpack(rest[length:])
    if zlib.crc32(prefix + header_bytes) != stored_crc:
        raise CodecError("checksum mismatch: shard header is damaged", path)
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CodecError("damaged shard header: not valid UTF-8 JSON", path) from None
    if not isinstance(header, dict) or header.get("shard_version") != version:
        raise CodecError("damaged shard header: shard_version is missing or differs from the file's", path)
    # The model fields must make a valid .tok header with any record's lengths.
    # A record holds at least min_codebooks rows (more than one for a grouped or multi-scale code).
    least = header.get("min_codebooks", 1)
    least = least if isinstance(least, int) and not isinstance(least, bool) and least > 0 else 1
    _token_header(header, {"n_codebooks": least, "frames": 0, "samples": 0, "bytes": _CRC.size}, path)
    return header


def check_shard_start(path: Path) -> None:
    """Check that ``path`` starts like a shard of this layout (magic and version), reading no more.

    Raises:
        CodecError: naming ``path``, for a file that cannot be read, is empty, is not a shard (or a
            shard of the older layout), or has another version.
    """
    try:
        with path.open("rb") as handle:
            prefix = handle.read(_PREFIX.size)
    except OSError as error:
        raise CodecError(f"cannot read shard: {error.strerror or error}", path) from None
    _check_prefix(prefix, path)


def _check_prefix(prefix: bytes, path: Path) -> None:
    if not prefix:
        raise CodecError("empty file (not a token shard)", path)
    if prefix.startswith(TOKEN_MAGIC):
        raise CodecError("a shard of the older layout (.tok records); tokenize again into a new folder", path)
    if prefix[: len(SHARD_MAGIC)] != SHARD_MAGIC[: len(prefix)]:
        raise CodecError("not a token shard (bad magic)", path)
    if len(prefix) < _PREFIX.size:
        raise CodecError(f"truncated: shard is only {len(prefix)} bytes long", path)
    version = _PREFIX.unpack(prefix)[1]
    if version != SHARD_VERSION:
        raise CodecError(f"unsupported shard version {version} (this reader supports {SHARD_VERSION})", path)


def _check_entry(entry: dict[str, Any], name: str) -> None:
    """Index entries hold non-negative integers where the format says so."""
    for key, low in (("offset", 0), ("bytes", _CRC.size), ("frames", 0), ("samples", 0), ("n_codebooks", 1)):
        value = entry.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise CodecError(f"damaged index entry: {key!r} must be an integer >= {low}, got {value!r}", name)


def _token_header(shard_header: dict[str, Any], entry: dict[str, Any], name: str | Path) -> dict[str, Any]:
    """The ``.tok`` header of a record with this (checked) index entry, checked."""
    header = {key: shard_header[key] for key in MODEL_FIELDS if key in shard_header}
    header |= {"format_version": ENTROPY_FORMAT_VERSION, "n_codebooks": entry["n_codebooks"]}
    header |= {"num_frames": entry["frames"], "num_samples": entry["samples"]}
    if header.get("coding") == "range":
        header["payload_bytes"] = entry["bytes"] - _CRC.size
    check_header(header, ENTROPY_FORMAT_VERSION, name)
    return header


def record_header(shard_header: dict[str, Any], entry: dict[str, Any], name: str) -> dict[str, Any]:
    """The checked ``.tok`` header of one record: the shard's model fields plus its index entry.

    Raises:
        CodecError: naming ``name``, when the entry is malformed, the combination is not a valid
            header, or its payload length differs from the entry's ``bytes``.
    """
    _check_entry(entry, name)
    header = _token_header(shard_header, entry, name)
    expected = payload_length(header) + _CRC.size
    if expected != entry["bytes"]:
        raise CodecError(
            f"index says {entry['bytes']} bytes, but {header['n_codebooks']} x {header['num_frames']} codes "
            f"take {expected}",
            name,
        )
    return header


def read_record(
    path: Path, shard_header: dict[str, Any], entry: dict[str, Any], code_stats: CodeStats | None = None
) -> np.ndarray:
    """The ``(Q, T)`` int64 codes of the record ``entry`` (an index line) in shard ``path``.

    Raises:
        CodecError: naming the shard and the record's key, for a malformed index entry or a short,
            damaged or undecodable record.
    """
    name = f"{path} record {entry.get('key')!r}"
    header = record_header(shard_header, entry, name)
    try:
        with path.open("rb") as handle:
            handle.seek(entry["offset"])
            data = handle.read(entry["bytes"])
    except (OSError, OverflowError, ValueError, MemoryError) as error:
        raise CodecError(f"cannot read the record: {getattr(error, 'strerror', None) or error}", name) from None
    if len(data) != entry["bytes"]:
        raise CodecError("shard is shorter than its index says", name)
    payload, (stored_crc,) = data[: -_CRC.size], _CRC.unpack(data[-_CRC.size :])
    if zlib.crc32(payload) != stored_crc:
        raise CodecError("checksum mismatch: record is damaged", name)
    codes = decode_payload(payload, header, name, code_stats)
    return codes.reshape(header["n_codebooks"], header["num_frames"])
