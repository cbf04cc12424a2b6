"""Token batches in memory (:class:`Tokens`) and on disk (the ``.tok`` file format).

A ``.tok`` file holds the tokens of one audio file. It is self-describing (it names the model, its
weights and every number needed to decode) and safe to load: it is parsed field by field, never
unpickled. All integers in the fixed parts are little-endian.

========  ===========  ==========================================================================
offset    size         content
========  ===========  ==========================================================================
0         4            magic ``b"CTOK"`` (``43 54 4F 4B``)
4         2            format version, uint16: ``1`` or ``2`` (see "Version 2" below)
6         4            ``H``: length in bytes of the JSON header, uint32
10        H            header: one UTF-8 JSON object (see below)
10+H      P            codes: bit-packed (see below), ``P = ceil(Q * T * b / 8)``; or range-coded
10+H+P    4            CRC-32 (zlib / IEEE 802.3 polynomial) of bytes ``[0, 10 + H + P)``, uint32
========  ===========  ==========================================================================

The file is exactly ``14 + H + P`` bytes long; anything after the checksum is an error. Writers
emit compact JSON (no spaces, no NaN/Infinity); readers accept any valid JSON object.

Header keys (all required unless marked optional; readers ignore keys they do not know):

- ``format_version`` (int): equal to the version at offset 4.
- ``model_name`` (str, non-empty): the model that made the tokens.
- ``fingerprint`` (str, lower-case hex digits): identifies the model (``codec.fingerprints``: its
  config and weights; in files written before 0.2, the legacy whole-model digest).
- ``token_fingerprint`` (str, lower-case hex digits, optional; written since 0.2): identifies what
  decides the codes (encoder and quantizer). A reader decodes the file with any model of the same
  token fingerprint (a renamed or decoder-fine-tuned one too); without it, the model's legacy
  digest must equal ``fingerprint``.
- ``min_codebooks`` (int >= 1, optional; written since 0.2): the fewest leading codebooks that are a
  valid lower-rate code (1 for residual VQ trained with quantizer dropout, ``n_codebooks`` where no
  prefix is, as for group residual VQ); ``n_codebooks >= min_codebooks``.
- ``sample_rate`` (int > 0): the model's audio rate in Hz.
- ``hop_length`` (int > 0): audio samples per frame.
- ``frame_rate`` (number): ``sample_rate / hop_length`` frames per second (informative; checked).
- ``n_codebooks`` (int >= 1): ``Q``, codes per frame.
- ``codebook_size`` (int, 1 <= K <= 2**32): ``K``, every code lies in ``[0, K)``.
- ``bits_per_code`` (int): ``b = max(1, ceil(log2 K))``, the bits each code takes in the payload.
- ``num_frames`` (int >= 0): ``T``, frames stored.
- ``num_samples`` (int >= 0): length of the encoded audio in samples at ``sample_rate``.
- ``meta`` (object, optional): free-form JSON data (source file name, ...).

Codes payload: the ``Q x T`` code matrix is taken in row-major order (all ``T`` frames of codebook
0, then codebook 1, ...), each code is written as ``b`` bits, most significant bit first, and the
bits are concatenated into bytes most significant bit first (as ``numpy.packbits`` does). The
last byte is padded with zero bits. Example: ``K = 8`` (``b = 3``), codes ``[[1, 2], [7, 0]]`` give
the bits ``001 010 111 000`` and the bytes ``2B 80``.

Version 2 (optional entropy coding). The layout above is unchanged; the header gains:

- ``coding`` (str, required in version 2): ``"packed"`` (the payload is the bit-packed codes
  described above, exactly as in version 1) or ``"range"`` (the payload is range-coded).
- ``stats_fingerprint`` (str, lower-case hex; required when ``coding`` is ``"range"``): the
  fingerprint of the code statistics the payload was coded with (``CodeStats.fingerprint`` in
  :mod:`codec.formats.entropy`, normally the model's ``code_stats.json``).
- ``payload_bytes`` (int >= 0, a multiple of 4; required when ``coding`` is ``"range"``): ``P``.

A range-coded payload is a sequence of 32-bit words, each stored little-endian (``P = 4 * W``).
They are the compressed output of one ``constriction.stream.queue.RangeEncoder`` (constriction's
default range coder: 32-bit words, 64-bit state, 24-bit probability precision) fed
codebook-major, in the same ``(Q, T)`` row-major order as the packed layout: the ``T`` codes of
codebook 0, then those of codebook 1, ... Codebook ``q`` is coded with
``constriction.stream.model.Categorical(p_q, perfect=False)`` where ``p_q`` is the float64 vector
``(c_qk + s) / sum_j (c_qj + s)`` of the statistics' counts ``c`` and Laplace pseudo-count ``s``
(``CodeStats.probabilities()``). A codebook of ``K = 1`` codes needs no bits and is not coded; an
empty code matrix gives an empty payload. Coding is deterministic, and readers require the payload
to be exactly the encoding of the codes it decodes to. Decoding needs the same statistics: a reader
without them, or with statistics of another fingerprint, refuses the file.

Writers emit version 1 for packed files (byte for byte what version-1 writers made, readable by
them) and version 2 for range-coded files; readers accept both versions (a version-1 header has
no ``coding`` field and is always packed).
"""

from __future__ import annotations

import json
import math
import re
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from codec.errors import CodecError
from codec.formats.bitpack import bits_for, unpack_codes
from codec.io.audio import require_file

if TYPE_CHECKING:
    from codec.formats.entropy import CodeStats


MAGIC = b"CTOK"


TOKEN_SUFFIX = ".tok"
"""Extension of token files."""


FORMAT_VERSION = 1
"""Version written for packed files (the original layout)."""


ENTROPY_FORMAT_VERSION = 2
"""Version written for range-coded files."""


SUPPORTED_FORMAT_VERSIONS = (FORMAT_VERSION, ENTROPY_FORMAT_VERSION)


CODINGS = ("packed", "range")


MAX_CODEBOOK_SIZE = 2**32


NEEDS_STATS = "entropy-coded: needs the model's code statistics"


HEADER_PREFIX = struct.Struct("<4sHI")  # magic, format version, header length


CHECKSUM = struct.Struct("<I")


HEX_DIGITS = re.compile(r"[0-9a-f]+")


def payload_length(header: dict[str, Any]) -> int:
    """``P``, the bytes of codes in a ``.tok`` file with this (validated) header."""
    if header.get("coding") == "range":
        return int(header["payload_bytes"])
    return (header["n_codebooks"] * header["num_frames"] * header["bits_per_code"] + 7) // 8


def read_file(path: str | Path) -> bytes:
    path = require_file(path)
    try:
        return path.read_bytes()
    except OSError as error:
        raise CodecError(f"cannot read file: {error.strerror or error}", path) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_file(
    data: bytes, name: str | Path, code_stats: CodeStats | None = None, decode: bool = True
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Validate ``.tok`` contents; return the header and the flat ``(Q * T,)`` int64 codes.

    With ``decode=False`` a range-coded payload without ``code_stats`` is not decoded (codes ``None``).
    """
    if not data:
        raise CodecError("empty file (not a token file)", name)
    if len(data) < len(MAGIC):
        if MAGIC.startswith(data):
            raise CodecError(f"truncated: file is only {len(data)} byte(s) long", name)
        raise CodecError("not a token file (bad magic)", name)
    if data[: len(MAGIC)] != MAGIC:
        raise CodecError("not a token file (bad magic)", name)
    if len(data) < HEADER_PREFIX.size:
        raise CodecError(f"truncated: file is only {len(data)} bytes long", name)
    _, version, header_length = HEADER_PREFIX.unpack_from(data)
    if version not in SUPPORTED_FORMAT_VERSIONS:
        supported = " and ".join(map(str, SUPPORTED_FORMAT_VERSIONS))
        raise CodecError(f"unsupported format version {version} (this reader supports {supported})", name)
    header_end = HEADER_PREFIX.size + header_length
    if len(data) < header_end:
        found = len(data) - HEADER_PREFIX.size
        raise CodecError(f"truncated: expected {header_length} bytes of header, found {found}", name)
    try:
        header = json.loads(data[HEADER_PREFIX.size : header_end].decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise CodecError(f"damaged header: not valid UTF-8 JSON ({error})", name) from None
    except RecursionError:
        raise CodecError("damaged header: JSON nested too deeply", name) from None
    if not isinstance(header, dict):
        raise CodecError("damaged header: not a JSON object", name)
    check_header(header, version, name)

    payload_size = payload_length(header)
    payload_end = header_end + payload_size
    if len(data) < payload_end:
        found = len(data) - header_end
        raise CodecError(f"truncated: expected {payload_size} bytes of codes, found {found}", name)
    if len(data) < payload_end + CHECKSUM.size:
        found = len(data) - payload_end
        raise CodecError(f"truncated: expected a {CHECKSUM.size}-byte checksum, found {found} byte(s)", name)
    if len(data) > payload_end + CHECKSUM.size:
        extra = len(data) - payload_end - CHECKSUM.size
        raise CodecError(f"damaged: {extra} unexpected byte(s) after the checksum", name)
    (stored_crc,) = CHECKSUM.unpack_from(data, payload_end)
    if zlib.crc32(memoryview(data)[:payload_end]) != stored_crc:
        raise CodecError("checksum mismatch: file is damaged", name)

    if header.get("coding") == "range" and code_stats is None and not decode:
        return header, None
    return header, decode_payload(data[header_end:payload_end], header, name, code_stats)


def decode_payload(
    payload: bytes, header: dict[str, Any], name: str | Path, code_stats: CodeStats | None = None
) -> np.ndarray:
    """The flat ``(Q * T,)`` int64 codes of a payload described by a checked header (:func:`check_header`).

    Raises:
        CodecError: naming ``name``, for a code outside the codebook, or a range-coded payload
            without (or with other) ``code_stats`` or that does not decode.
    """
    if header.get("coding") == "range":
        return _range_decode(payload, header, code_stats, name)
    count = header["n_codebooks"] * header["num_frames"]
    codes = unpack_codes(payload, count, header["bits_per_code"])
    if count:
        worst = int(codes.argmax())
        if codes[worst] >= header["codebook_size"]:
            codebook, frame = divmod(worst, header["num_frames"])
            raise CodecError(
                f"code {int(codes[worst])} at codebook {codebook}, frame {frame} is not below "
                f"codebook_size {header['codebook_size']}",
                name,
            )
    return codes


def _range_decode(payload: bytes, header: dict[str, Any], code_stats: CodeStats | None, name: str | Path) -> np.ndarray:
    """Decode a range-coded payload with the statistics the header names."""
    if code_stats is None:
        raise CodecError(f"{NEEDS_STATS} (load it with the model that made it)", name)
    if code_stats.fingerprint != header["stats_fingerprint"]:
        raise CodecError(
            f"entropy-coded with code statistics {header['stats_fingerprint']}, not with the given "
            f"{code_stats.fingerprint}; decode with the model (and code_stats.json) that encoded it",
            name,
        )
    if code_stats.codebook_size != header["codebook_size"] or code_stats.n_codebooks < header["n_codebooks"]:
        raise CodecError(
            f"code statistics for {code_stats.n_codebooks} x {code_stats.codebook_size} codes cannot decode "
            f"{header['n_codebooks']} x {header['codebook_size']} codes",
            name,
        )
    from codec.formats.entropy import range_decode

    return range_decode(payload, header["n_codebooks"], header["num_frames"], code_stats, name)


def check_header(header: dict[str, Any], version: int, name: str | Path) -> None:
    """Check the presence, types and consistency of a header's fields (see the module docstring).

    Raises:
        CodecError: naming ``name``, for the first missing, mistyped or inconsistent field.
    """

    def require(key: str, kind: str) -> Any:
        if key not in header:
            raise CodecError(f"damaged header: missing field {key!r}", name)
        value = header[key]
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "str": isinstance(value, str),
        }[kind]
        if not ok:
            raise CodecError(f"damaged header: field {key!r} must be {kind}, got {value!r}", name)
        return value

    def require_int(key: str, low: int, high: int | None = None) -> int:
        value = require(key, "int")
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in {low}..{high}"
            raise CodecError(f"damaged header: field {key!r} must be {bound}, got {value}", name)
        return value

    if require("format_version", "int") != version:
        raise CodecError(
            f"damaged header: format_version {header['format_version']} differs from the file's version {version}",
            name,
        )
    if not require("model_name", "str"):
        raise CodecError("damaged header: field 'model_name' is empty", name)
    if not HEX_DIGITS.fullmatch(require("fingerprint", "str")):
        raise CodecError(f"damaged header: fingerprint {header['fingerprint']!r} is not lower-case hex", name)
    if "token_fingerprint" in header and not HEX_DIGITS.fullmatch(require("token_fingerprint", "str")):
        raise CodecError(
            f"damaged header: token_fingerprint {header['token_fingerprint']!r} is not lower-case hex", name
        )
    sample_rate = require_int("sample_rate", 1)
    hop_length = require_int("hop_length", 1)
    n_codebooks = require_int("n_codebooks", 1)
    if "min_codebooks" in header and require_int("min_codebooks", 1) > n_codebooks:
        raise CodecError(
            f"damaged header: min_codebooks {header['min_codebooks']} exceeds n_codebooks {n_codebooks}", name
        )
    codebook_size = require_int("codebook_size", 1, MAX_CODEBOOK_SIZE)
    num_frames = require_int("num_frames", 0)
    num_samples = require_int("num_samples", 0)
    if -(-num_samples // hop_length) != num_frames:
        raise CodecError(
            f"damaged header: num_samples {num_samples} does not fit num_frames {num_frames} "
            f"(expected ceil(num_samples / hop_length) frames)",
            name,
        )
    bits = require_int("bits_per_code", 1)
    if bits != bits_for(codebook_size):
        raise CodecError(
            f"damaged header: bits_per_code {bits} does not match codebook_size {codebook_size} "
            f"(expected {bits_for(codebook_size)})",
            name,
        )
    frame_rate = require("frame_rate", "number")
    if not math.isclose(frame_rate, sample_rate / hop_length, rel_tol=1e-9):
        raise CodecError(
            f"damaged header: frame_rate {frame_rate} does not match sample_rate / hop_length "
            f"= {sample_rate / hop_length}",
            name,
        )
    if "meta" in header and not isinstance(header["meta"], dict):
        raise CodecError(f"damaged header: field 'meta' must be an object, got {header['meta']!r}", name)
    if version == FORMAT_VERSION:
        header.pop("coding", None)  # not a version-1 field: a version-1 file is always packed
        return
    coding = require("coding", "str")
    if coding not in CODINGS:
        raise CodecError(f"damaged header: unknown coding {coding!r} (known: {', '.join(CODINGS)})", name)
    if coding == "range":
        if not HEX_DIGITS.fullmatch(require("stats_fingerprint", "str")):
            raise CodecError(
                f"damaged header: stats_fingerprint {header['stats_fingerprint']!r} is not lower-case hex", name
            )
        if require_int("payload_bytes", 0) % 4:
            raise CodecError(f"damaged header: payload_bytes {header['payload_bytes']} is not a multiple of 4", name)


def read_header(path: str | Path, code_stats: CodeStats | None = None) -> dict[str, Any]:
    """The validated JSON header of a ``.tok`` file (including ``"meta"`` when present).

    The whole file is checked as by :meth:`codec.formats.tokens.Tokens.load`, except that the codes of a range-coded
    file are only decoded (and checked) when ``code_stats`` is given: without them its header,
    lengths and checksum are still checked.

    Raises:
        CodecError: as :meth:`codec.formats.tokens.Tokens.load`.
    """
    header, _ = parse_file(read_file(path), path, code_stats, decode=code_stats is not None)
    return header
