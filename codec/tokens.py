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
- ``fingerprint`` (str, lower-case hex digits): identifies the model's weights.
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
  :mod:`codec.entropy`, normally the model's ``code_stats.json``).
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
import operator
import re
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from codec.audio import atomic_write_bytes, require_file
from codec.errors import CodecError

if TYPE_CHECKING:
    from codec.entropy import CodeStats

__all__ = [
    "CODINGS",
    "ENTROPY_FORMAT_VERSION",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_CODEBOOK_SIZE",
    "SUPPORTED_FORMAT_VERSIONS",
    "Tokens",
    "check_compatible",
    "check_header",
    "decode_payload",
    "pack_codes",
    "payload_length",
    "read_header",
    "unpack_codes",
]

MAGIC = b"CTOK"
FORMAT_VERSION = 1
"""Version written for packed files (the original layout)."""
ENTROPY_FORMAT_VERSION = 2
"""Version written for range-coded files."""
SUPPORTED_FORMAT_VERSIONS = (FORMAT_VERSION, ENTROPY_FORMAT_VERSION)
CODINGS = ("packed", "range")
MAX_CODEBOOK_SIZE = 2**32
NEEDS_STATS = "entropy-coded: needs the model's code statistics"

_PREFIX = struct.Struct("<4sHI")  # magic, format version, header length
_CRC = struct.Struct("<I")
_HEX = re.compile(r"[0-9a-f]+")
_CHUNK = 1 << 20  # codes per packing step; a multiple of 8, so every chunk fills whole bytes


def _bits_for(codebook_size: int) -> int:
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


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@dataclass(eq=False, repr=False)
class Tokens:
    """A batch of discrete codes from one model, with everything needed to decode them.

    Attributes:
        codes: ``(B, Q, T)`` int64 codes in ``[0, codebook_size)``; frames at or past an item's
            ``code_lengths`` are padding and are set to 0 on construction.
        code_lengths: ``(B,)`` int64, valid frames per item (at most T).
        audio_lengths: ``(B,)`` int64, samples per item of the encoded audio at ``sample_rate``.
        sample_rate: the model's audio rate in Hz.
        hop_length: audio samples per frame.
        codebook_size: ``K``, codes per codebook (1 to 2**32).
        model_name: name of the model that produced the codes.
        fingerprint: lower-case hex string identifying the model's weights.

    Construction validates shapes, dtypes, devices and ranges and raises ``ValueError``.
    """

    codes: torch.Tensor
    code_lengths: torch.Tensor
    audio_lengths: torch.Tensor
    sample_rate: int
    hop_length: int
    codebook_size: int
    model_name: str
    fingerprint: str

    def __post_init__(self) -> None:
        for name in ("codes", "code_lengths", "audio_lengths"):
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"Tokens.{name} must be a torch.Tensor, got {type(value).__name__}")
            if value.dtype != torch.int64:
                raise ValueError(f"Tokens.{name} must be int64, got {value.dtype}")
        if self.codes.dim() != 3:
            raise ValueError(f"Tokens.codes must have shape (B, Q, T), got {tuple(self.codes.shape)}")
        batch, n_codebooks, frames = self.codes.shape
        if n_codebooks < 1:
            raise ValueError("Tokens.codes must have at least one codebook (Q >= 1)")
        for name in ("code_lengths", "audio_lengths"):
            value = getattr(self, name)
            if tuple(value.shape) != (batch,):
                raise ValueError(f"Tokens.{name} must have shape ({batch},), got {tuple(value.shape)}")
            if value.device != self.codes.device:
                raise ValueError(f"Tokens.{name} is on {value.device} but codes are on {self.codes.device}")
        for name, low, high in (
            ("sample_rate", 1, None),
            ("hop_length", 1, None),
            ("codebook_size", 1, MAX_CODEBOOK_SIZE),
        ):
            value = getattr(self, name)
            if not _is_int(value) or value < low or (high is not None and value > high):
                bound = f">= {low}" if high is None else f"in {low}..{high}"
                raise ValueError(f"Tokens.{name} must be an integer {bound}, got {value!r}")
            setattr(self, name, int(value))
        if not isinstance(self.model_name, str) or not self.model_name:
            raise ValueError(f"Tokens.model_name must be a non-empty string, got {self.model_name!r}")
        if not isinstance(self.fingerprint, str) or not _HEX.fullmatch(self.fingerprint):
            raise ValueError(f"Tokens.fingerprint must be a lower-case hex string, got {self.fingerprint!r}")
        if batch == 0:
            return
        if int(self.code_lengths.min()) < 0 or int(self.code_lengths.max()) > frames:
            raise ValueError(f"Tokens.code_lengths must lie in [0, {frames}], got {self.code_lengths.tolist()}")
        if int(self.audio_lengths.min()) < 0:
            raise ValueError(f"Tokens.audio_lengths must be >= 0, got {self.audio_lengths.tolist()}")
        if frames == 0:
            return
        low, high = int(self.codes.min()), int(self.codes.max())
        if low < 0 or high >= self.codebook_size:
            raise ValueError(f"Tokens.codes must lie in [0, {self.codebook_size}), found values in [{low}, {high}]")
        padding = torch.arange(frames, device=self.codes.device) >= self.code_lengths[:, None]  # (B, T)
        padding = padding[:, None, :]  # (B, 1, T)
        if bool((padding & (self.codes != 0)).any()):
            self.codes = self.codes.masked_fill(padding, 0)

    # ----------------------------------------------------------------- properties

    @property
    def batch_size(self) -> int:
        """B, the number of items."""
        return int(self.codes.shape[0])

    @property
    def n_codebooks(self) -> int:
        """Q, the number of codes per frame."""
        return int(self.codes.shape[1])

    @property
    def frame_rate(self) -> float:
        """Frames per second, ``sample_rate / hop_length``."""
        return self.sample_rate / self.hop_length

    @property
    def bits_per_code(self) -> int:
        """Bits each code takes in a ``.tok`` file: ``max(1, ceil(log2 codebook_size))``."""
        return _bits_for(self.codebook_size)

    @property
    def bitrate(self) -> float:
        """Nominal bitrate in bits per second: ``frame_rate * Q * log2(codebook_size)``."""
        return self.frame_rate * self.n_codebooks * math.log2(self.codebook_size)

    # ----------------------------------------------------------------- container protocol

    def __len__(self) -> int:
        return self.batch_size

    def __getitem__(self, index: int) -> Tokens:
        """Item ``index`` as a batch of one, its codes ``(1, Q, code_lengths[index])`` trimmed to its length."""
        position = operator.index(index)
        if position < 0:
            position += self.batch_size
        if not 0 <= position < self.batch_size:
            raise IndexError(f"index {index} out of range for {self.batch_size} item(s)")
        length = int(self.code_lengths[position])
        return replace(
            self,
            codes=self.codes[position : position + 1, :, :length],
            code_lengths=self.code_lengths[position : position + 1],
            audio_lengths=self.audio_lengths[position : position + 1],
        )

    def items(self) -> Iterator[Tokens]:
        """Yield each item as a batch of one (see :meth:`__getitem__`)."""
        for index in range(self.batch_size):
            yield self[index]

    def __eq__(self, other: object) -> bool:
        """Same model metadata and equal tensors (same padded shape)."""
        if not isinstance(other, Tokens):
            return NotImplemented
        return self._model_key() == other._model_key() and all(
            torch.equal(getattr(self, name).cpu(), getattr(other, name).cpu())
            for name in ("codes", "code_lengths", "audio_lengths")
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Tokens(batch_size={self.batch_size}, n_codebooks={self.n_codebooks}, "
            f"frames={self.codes.shape[2]}, code_lengths={self.code_lengths.tolist()}, "
            f"codebook_size={self.codebook_size}, sample_rate={self.sample_rate}, hop_length={self.hop_length}, "
            f"model_name={self.model_name!r}, fingerprint={self.fingerprint[:12]!r}, device={self.codes.device})"
        )

    def _model_key(self) -> tuple[object, ...]:
        return (
            self.model_name,
            self.fingerprint,
            self.sample_rate,
            self.hop_length,
            self.codebook_size,
            self.n_codebooks,
        )

    @classmethod
    def cat(cls, batches: Sequence[Tokens]) -> Tokens:
        """Concatenate batches along B, padding codes with 0 to the largest T.

        Raises:
            ValueError: no batches, or batches from different models (name, fingerprint, rates,
                codebook size or number of codebooks differ), or on different devices.
        """
        if not batches:
            raise ValueError("Tokens.cat needs at least one batch")
        first = batches[0]
        for other in batches[1:]:
            if other._model_key() != first._model_key():
                raise ValueError(
                    "Tokens.cat cannot mix models: "
                    f"{first.model_name} ({first.fingerprint[:12]}, {first.sample_rate} Hz, hop {first.hop_length}, "
                    f"{first.n_codebooks}x{first.codebook_size}) vs "
                    f"{other.model_name} ({other.fingerprint[:12]}, {other.sample_rate} Hz, hop {other.hop_length}, "
                    f"{other.n_codebooks}x{other.codebook_size})"
                )
            if other.codes.device != first.codes.device:
                raise ValueError(f"Tokens.cat got batches on {first.codes.device} and {other.codes.device}")
        frames = max(batch.codes.shape[2] for batch in batches)
        return replace(
            first,
            codes=torch.cat([F.pad(batch.codes, (0, frames - batch.codes.shape[2])) for batch in batches]),
            code_lengths=torch.cat([batch.code_lengths for batch in batches]),
            audio_lengths=torch.cat([batch.audio_lengths for batch in batches]),
        )

    def to(self, device: torch.device | str) -> Tokens:
        """The same tokens with all tensors on ``device``."""
        return replace(
            self,
            codes=self.codes.to(device),
            code_lengths=self.code_lengths.to(device),
            audio_lengths=self.audio_lengths.to(device),
        )

    # ----------------------------------------------------------------- serialisation

    def encoded(self, code_stats: CodeStats | None = None) -> tuple[dict[str, Any], bytes]:
        """The ``.tok`` header fields (without ``meta``) and the codes payload of a batch of one.

        Args:
            code_stats: range-code the codes with these statistics (format version 2, see
                :mod:`codec.entropy`); ``None`` bit-packs them (format version 1).

        Raises:
            ValueError: the batch does not hold exactly one item, or ``code_stats`` does not fit the
                tokens (codebook size, fewer codebooks).
            CodecError: ``code_stats`` is given but ``constriction`` is not installed.
        """
        if self.batch_size != 1:
            raise ValueError(f"only a batch of one can be saved, this one has {self.batch_size}; use items()")
        num_frames = int(self.code_lengths[0])
        codes = self.codes[0, :, :num_frames].cpu().numpy()  # (Q, T), coded row-major
        version = FORMAT_VERSION if code_stats is None else ENTROPY_FORMAT_VERSION
        header: dict[str, Any] = {
            "format_version": version,
            "model_name": self.model_name,
            "fingerprint": self.fingerprint,
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
            "frame_rate": self.frame_rate,
            "n_codebooks": self.n_codebooks,
            "codebook_size": self.codebook_size,
            "bits_per_code": self.bits_per_code,
            "num_frames": num_frames,
            "num_samples": int(self.audio_lengths[0]),
        }
        if code_stats is None:
            return header, pack_codes(codes, self.bits_per_code)
        from codec.entropy import range_encode

        if code_stats.codebook_size != self.codebook_size:
            raise ValueError(
                f"code statistics are for codebooks of {code_stats.codebook_size} codes, "
                f"the tokens have {self.codebook_size}"
            )
        payload = range_encode(codes, code_stats)
        header.update(coding="range", stats_fingerprint=code_stats.fingerprint, payload_bytes=len(payload))
        return header, payload

    def to_bytes(self, meta: dict[str, Any] | None = None, code_stats: CodeStats | None = None) -> bytes:
        """The ``.tok`` file contents (see the module docstring) for a batch of one.

        Args:
            meta: optional JSON-serialisable dict stored under the header's ``"meta"`` key.
            code_stats: range-code the codes with these statistics (see :meth:`encoded`).

        Raises:
            ValueError: the batch does not hold exactly one item, ``meta`` is not JSON data, or
                ``code_stats`` does not fit the tokens (codebook size, fewer codebooks).
            CodecError: ``code_stats`` is given but ``constriction`` is not installed.
        """
        header, payload = self.encoded(code_stats)
        if meta is not None:
            if not isinstance(meta, dict):
                raise ValueError(f"meta must be a dict, got {type(meta).__name__}")
            header["meta"] = meta
        try:
            header_bytes = json.dumps(header, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as error:
            raise ValueError(f"meta must be JSON-serialisable: {error}") from None
        body = _PREFIX.pack(MAGIC, header["format_version"], len(header_bytes)) + header_bytes + payload
        return body + _CRC.pack(zlib.crc32(body))

    def save(self, path: str | Path, meta: dict[str, Any] | None = None, code_stats: CodeStats | None = None) -> None:
        """Write a batch of one to a ``.tok`` file atomically (parent folders are created).

        Args:
            meta: see :meth:`to_bytes`.
            code_stats: range-code the codes with these statistics (see :meth:`to_bytes`).

        Raises:
            ValueError: the batch does not hold exactly one item, ``meta`` is not JSON data, or
                ``code_stats`` does not fit the tokens.
            CodecError: the file cannot be written, or ``constriction`` is missing for range coding.
        """
        atomic_write_bytes(path, self.to_bytes(meta, code_stats))

    @classmethod
    def from_bytes(cls, data: bytes, name: str | Path = "<bytes>", code_stats: CodeStats | None = None) -> Tokens:
        """Parse ``.tok`` contents into a batch of one on the CPU.

        Args:
            code_stats: the model's code statistics, needed for range-coded (version 2) contents.

        Raises:
            CodecError: naming ``name``, for any malformed, damaged or unsupported content, and for
                range-coded contents without ``code_stats`` or with statistics of another fingerprint.
        """
        header, codes = _parse(data, name, code_stats)
        assert codes is not None  # decode=True always yields codes
        return cls(
            codes=torch.from_numpy(codes.reshape(1, header["n_codebooks"], header["num_frames"])),
            code_lengths=torch.tensor([header["num_frames"]], dtype=torch.int64),
            audio_lengths=torch.tensor([header["num_samples"]], dtype=torch.int64),
            sample_rate=header["sample_rate"],
            hop_length=header["hop_length"],
            codebook_size=header["codebook_size"],
            model_name=header["model_name"],
            fingerprint=header["fingerprint"],
        )

    @classmethod
    def load(cls, path: str | Path, code_stats: CodeStats | None = None) -> Tokens:
        """Read a ``.tok`` file into a batch of one on the CPU (codes ``(1, Q, T)``).

        Args:
            code_stats: the model's code statistics (``model.code_stats``), needed to read a
                range-coded file; ignored for packed files.

        Raises:
            CodecError: naming the file, if it is missing, unreadable, not a token file, of an
                unsupported version, truncated, damaged (checksum) or inconsistent; if it is
                range-coded and ``code_stats`` is ``None`` ("entropy-coded: needs the model's code
                statistics"), of another fingerprint, or ``constriction`` is not installed.
        """
        return cls.from_bytes(_read_file(path), path, code_stats)


def read_header(path: str | Path, code_stats: CodeStats | None = None) -> dict[str, Any]:
    """The validated JSON header of a ``.tok`` file (including ``"meta"`` when present).

    The whole file is checked as by :meth:`Tokens.load`, except that the codes of a range-coded
    file are only decoded (and checked) when ``code_stats`` is given: without them its header,
    lengths and checksum are still checked.

    Raises:
        CodecError: as :meth:`Tokens.load`.
    """
    header, _ = _parse(_read_file(path), path, code_stats, decode=code_stats is not None)
    return header


def payload_length(header: dict[str, Any]) -> int:
    """``P``, the bytes of codes in a ``.tok`` file with this (validated) header."""
    if header.get("coding") == "range":
        return int(header["payload_bytes"])
    return (header["n_codebooks"] * header["num_frames"] * header["bits_per_code"] + 7) // 8


def check_compatible(
    tokens: Tokens,
    *,
    fingerprint: str,
    sample_rate: int,
    hop_length: int,
    codebook_size: int,
    model_name: str,
    path: str | Path | None = None,
) -> None:
    """Check that ``tokens`` can be decoded by the model described by the keyword arguments.

    The fingerprint decides which model made the tokens (a renamed copy of the same weights is
    accepted); the rates and codebook size must then agree too.

    Raises:
        CodecError: naming ``path`` (when given), e.g. "made by model X (fingerprint abc…), not by Y".
    """

    def short(value: str) -> str:
        return value if len(value) <= 12 else value[:12] + "…"

    if tokens.fingerprint != fingerprint:
        raise CodecError(
            f"made by model {tokens.model_name} (fingerprint {short(tokens.fingerprint)}), "
            f"not by {model_name} (fingerprint {short(fingerprint)}); decode with the model that encoded it",
            path,
        )
    for field, expected in (
        ("sample_rate", sample_rate),
        ("hop_length", hop_length),
        ("codebook_size", codebook_size),
    ):
        found = getattr(tokens, field)
        if found != expected:
            raise CodecError(f"tokens have {field} {found} but model {model_name} has {expected}", path)


def _read_file(path: str | Path) -> bytes:
    path = require_file(path)
    try:
        return path.read_bytes()
    except OSError as error:
        raise CodecError(f"cannot read file: {error.strerror or error}", path) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse(
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
    if len(data) < _PREFIX.size:
        raise CodecError(f"truncated: file is only {len(data)} bytes long", name)
    _, version, header_length = _PREFIX.unpack_from(data)
    if version not in SUPPORTED_FORMAT_VERSIONS:
        supported = " and ".join(map(str, SUPPORTED_FORMAT_VERSIONS))
        raise CodecError(f"unsupported format version {version} (this reader supports {supported})", name)
    header_end = _PREFIX.size + header_length
    if len(data) < header_end:
        found = len(data) - _PREFIX.size
        raise CodecError(f"truncated: expected {header_length} bytes of header, found {found}", name)
    try:
        header = json.loads(data[_PREFIX.size : header_end].decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise CodecError(f"damaged header: not valid UTF-8 JSON ({error})", name) from None
    if not isinstance(header, dict):
        raise CodecError("damaged header: not a JSON object", name)
    check_header(header, version, name)

    payload_size = payload_length(header)
    payload_end = header_end + payload_size
    if len(data) < payload_end:
        found = len(data) - header_end
        raise CodecError(f"truncated: expected {payload_size} bytes of codes, found {found}", name)
    if len(data) < payload_end + _CRC.size:
        found = len(data) - payload_end
        raise CodecError(f"truncated: expected a {_CRC.size}-byte checksum, found {found} byte(s)", name)
    if len(data) > payload_end + _CRC.size:
        extra = len(data) - payload_end - _CRC.size
        raise CodecError(f"damaged: {extra} unexpected byte(s) after the checksum", name)
    (stored_crc,) = _CRC.unpack_from(data, payload_end)
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
    from codec.entropy import range_decode

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
    if not _HEX.fullmatch(require("fingerprint", "str")):
        raise CodecError(f"damaged header: fingerprint {header['fingerprint']!r} is not lower-case hex", name)
    sample_rate = require_int("sample_rate", 1)
    hop_length = require_int("hop_length", 1)
    require_int("n_codebooks", 1)
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
    if bits != _bits_for(codebook_size):
        raise CodecError(
            f"damaged header: bits_per_code {bits} does not match codebook_size {codebook_size} "
            f"(expected {_bits_for(codebook_size)})",
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
        if not _HEX.fullmatch(require("stats_fingerprint", "str")):
            raise CodecError(
                f"damaged header: stats_fingerprint {header['stats_fingerprint']!r} is not lower-case hex", name
            )
        if require_int("payload_bytes", 0) % 4:
            raise CodecError(f"damaged header: payload_bytes {header['payload_bytes']} is not a multiple of 4", name)
