"""Optional entropy coding of token files with code statistics stored next to the model.

Codes are far from uniform: a codec uses some entries of a codebook much more often than others.
A range coder driven by how often each code occurs in a corpus stores them in fewer bits than the
fixed ``ceil(log2 K)`` bits of the packed layout, losslessly. The statistics belong to the model:
they are fitted once (:func:`codec.formats.fit_stats.fit_code_stats`), saved as ``code_stats.json`` in the pretrained
folder (:func:`save_code_stats`) and loaded with it (``model.code_stats``, ``None`` when the
folder has none). A range-coded ``.tok`` file records the fingerprint of the statistics it was
coded with and can only be decoded with the same statistics (see :mod:`codec.formats.tokens`).

Range coding uses the optional package ``constriction`` (``pip install 'codec-tokenizer[entropy]'``);
everything else here (fitting, saving, loading statistics) works without it.

``code_stats.json`` is one JSON object::

    {"format_version": 1, "model_name": "...", "model_fingerprint": "...", "n_codebooks": Q,
     "codebook_size": K, "smoothing": 1, "fingerprint": "<16 hex digits>", "counts": [[...], ...]}

``counts`` holds ``Q`` lists of ``K`` non-negative integers: how often each code of each codebook
occurred in the corpus. ``model_name`` and ``model_fingerprint`` (the model the statistics were
fitted with, may be null) are informative; ``fingerprint`` must equal :attr:`CodeStats.fingerprint`.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from codec.errors import CodecError
from codec.io.audio import atomic_write_bytes

if TYPE_CHECKING:
    pass

__all__ = [
    "CODE_STATS_FILE",
    "MAX_ENTROPY_CODEBOOK_SIZE",
    "CodeStats",
    "constriction_available",
    "load_code_stats",
    "range_decode",
    "range_encode",
    "require_constriction",
    "save_code_stats",
]

CODE_STATS_FILE = "code_stats.json"
CODE_STATS_VERSION = 1
MAX_ENTROPY_CODEBOOK_SIZE = 2**20
"""Largest codebook the range coder handles (its probabilities have 24-bit precision)."""

_FINGERPRINT_TAG = b"codec-code-stats-v1\0"
_INSTALL_HINT = "pip install 'codec-tokenizer[entropy]'"


def constriction_available() -> bool:
    """Whether the optional range-coding package ``constriction`` can be imported."""
    try:
        require_constriction()
    except CodecError:
        return False
    return True


def require_constriction() -> ModuleType:
    """The ``constriction`` module.

    Raises:
        CodecError: it is not installed.
    """
    try:
        import constriction
    except ImportError:
        raise CodecError(f"entropy coding needs the optional package constriction ({_INSTALL_HINT})") from None
    return constriction


@dataclass(frozen=True, eq=False)
class CodeStats:
    """How often each code of each codebook occurs: the probability model of the range coder.

    The coder's probability of code ``k`` in codebook ``q`` is Laplace-smoothed,
    ``(counts[q, k] + smoothing) / sum_j (counts[q, j] + smoothing)``, so every code can be coded,
    even one never seen in the corpus.

    Attributes:
        counts: ``(Q, K)`` non-negative integer counts (stored as a read-only int64 copy).
        smoothing: pseudo-count added to every code (integer >= 1; 1 is Laplace's rule).
        model_name: name of the model the statistics were fitted with (informative).
        model_fingerprint: that model's fingerprint (informative).

    Construction raises ``ValueError`` for a bad shape, negative counts, a codebook larger than
    :data:`MAX_ENTROPY_CODEBOOK_SIZE` or a bad smoothing value.
    """

    counts: np.ndarray
    smoothing: int = 1
    model_name: str | None = None
    model_fingerprint: str | None = None
    _fingerprint: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts)
        if counts.ndim != 2 or counts.shape[0] < 1 or counts.shape[1] < 1:
            raise ValueError(f"CodeStats.counts must have shape (Q, K) with Q, K >= 1, got {counts.shape}")
        if counts.shape[1] > MAX_ENTROPY_CODEBOOK_SIZE:
            raise ValueError(
                f"entropy coding supports codebooks of up to {MAX_ENTROPY_CODEBOOK_SIZE} codes, got {counts.shape[1]}"
            )
        if counts.dtype.kind not in "iu":
            raise ValueError(f"CodeStats.counts must be integers, got {counts.dtype}")
        if counts.size and int(counts.min()) < 0:
            raise ValueError("CodeStats.counts must be non-negative")
        if isinstance(self.smoothing, bool) or not isinstance(self.smoothing, (int, np.integer)) or self.smoothing < 1:
            raise ValueError(f"CodeStats.smoothing must be an integer >= 1, got {self.smoothing!r}")
        counts = counts.astype(np.int64, copy=True)
        counts.flags.writeable = False
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "smoothing", int(self.smoothing))
        smoothed = (counts + self.smoothing).astype("<u8")
        digest = hashlib.sha256(_FINGERPRINT_TAG + struct.pack("<II", *counts.shape) + smoothed.tobytes())
        object.__setattr__(self, "_fingerprint", digest.hexdigest()[:16])

    @property
    def n_codebooks(self) -> int:
        """Q, the codebooks described."""
        return int(self.counts.shape[0])

    @property
    def codebook_size(self) -> int:
        """K, codes per codebook."""
        return int(self.counts.shape[1])

    @property
    def fingerprint(self) -> str:
        """16 hex digits identifying the probability model (what a range-coded file records).

        The first 16 hex digits of SHA-256 over ``b"codec-code-stats-v1\\0"``, ``Q`` and ``K`` as
        uint32 little-endian, and the smoothed counts ``counts + smoothing`` as ``(Q, K)`` uint64
        little-endian in row-major order. Statistics with equal smoothed counts code alike and
        share the fingerprint; the informative model fields do not enter it.
        """
        return self._fingerprint

    def probabilities(self) -> np.ndarray:
        """``(Q, K)`` float64 smoothed probabilities, each row summing to 1 (the range coder's model)."""
        smoothed = self.counts.astype(np.float64) + self.smoothing
        return smoothed / smoothed.sum(axis=1, keepdims=True)

    def bits_per_code(self) -> np.ndarray:
        """``(Q,)`` average bits the coder spends per code on the counted corpus (its cross-entropy).

        A codebook with no counts gets ``log2(K)``, the uniform rate.
        """
        totals = self.counts.sum(axis=1)
        log_probs = np.log2(self.probabilities())
        spent = -(self.counts * log_probs).sum(axis=1)
        uniform = np.full(self.n_codebooks, math.log2(self.codebook_size))
        return np.where(totals > 0, spent / np.maximum(totals, 1), uniform)

    def coded_bits(self, counts: np.ndarray) -> np.ndarray:
        """``(Q,)`` average bits the range coder spends per code on codes counted in ``counts``
        ``(Q', K)`` (``Q'`` at most ``Q``): their cross-entropy under these statistics; ``0`` for a
        codebook with no counts."""
        counts = np.asarray(counts, dtype=np.float64)
        _check_shape(counts.shape[0], self)
        spent = -(counts * np.log2(self.probabilities()[: counts.shape[0]])).sum(axis=1)
        return spent / np.maximum(counts.sum(axis=1), 1)

    def bitrate(self, frame_rate: float, n_codebooks: int | None = None) -> float:
        """Expected bits per second of range-coded codes with the first ``n_codebooks`` (default all)."""
        n = self.n_codebooks if n_codebooks is None else n_codebooks
        return float(frame_rate * self.bits_per_code()[:n].sum())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CodeStats):
            return NotImplemented
        return (
            np.array_equal(self.counts, other.counts)
            and self.smoothing == other.smoothing
            and self.model_name == other.model_name
            and self.model_fingerprint == other.model_fingerprint
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"CodeStats(n_codebooks={self.n_codebooks}, codebook_size={self.codebook_size}, "
            f"codes_counted={int(self.counts.sum())}, smoothing={self.smoothing}, "
            f"model_name={self.model_name!r}, fingerprint={self.fingerprint!r})"
        )

    def to_json(self) -> dict[str, Any]:
        """The ``code_stats.json`` object (see the module docstring)."""
        return {
            "format_version": CODE_STATS_VERSION,
            "model_name": self.model_name,
            "model_fingerprint": self.model_fingerprint,
            "n_codebooks": self.n_codebooks,
            "codebook_size": self.codebook_size,
            "smoothing": self.smoothing,
            "fingerprint": self.fingerprint,
            "counts": self.counts.tolist(),
        }

    @classmethod
    def from_json(cls, data: Any, name: str | Path = "<code stats>") -> CodeStats:
        """Parse a ``code_stats.json`` object.

        Raises:
            CodecError: naming ``name``, for a wrong version, missing or inconsistent fields.
        """
        if not isinstance(data, dict):
            raise CodecError("damaged code statistics: not a JSON object", name)
        if data.get("format_version") != CODE_STATS_VERSION:
            raise CodecError(f"unsupported code statistics version {data.get('format_version')!r}", name)
        for key in ("model_name", "model_fingerprint"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise CodecError(f"damaged code statistics: {key!r} must be a string or null", name)
        counts = data.get("counts")
        if not isinstance(counts, list) or not all(
            isinstance(row, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in row) for row in counts
        ):
            raise CodecError("damaged code statistics: 'counts' must be a list of lists of integers", name)
        if len({len(row) for row in counts}) > 1:
            raise CodecError("damaged code statistics: rows of 'counts' differ in length", name)
        try:
            stats = cls(
                np.array(counts, dtype=np.int64).reshape(len(counts), -1 if counts else 0),
                data.get("smoothing"),  # type: ignore[arg-type]
                data.get("model_name"),
                data.get("model_fingerprint"),
            )
        except (ValueError, OverflowError) as error:
            raise CodecError(f"damaged code statistics: {error}", name) from None
        for key in ("n_codebooks", "codebook_size", "fingerprint"):
            if data.get(key) != getattr(stats, key):
                raise CodecError(
                    f"damaged code statistics: {key!r} is {data.get(key)!r}, the counts give {getattr(stats, key)!r}",
                    name,
                )
        return stats


def save_code_stats(folder: str | Path, stats: CodeStats) -> Path:
    """Write ``stats`` as ``folder/code_stats.json`` atomically; returns the file's path.

    ``folder`` is normally a pretrained model folder; :func:`codec.loading.load_folder` then
    attaches the statistics to the model as ``model.code_stats``.

    Raises:
        CodecError: the file cannot be written.
    """
    path = Path(folder) / CODE_STATS_FILE
    atomic_write_bytes(path, (json.dumps(stats.to_json(), separators=(",", ":")) + "\n").encode())
    return path


def load_code_stats(path: str | Path) -> CodeStats | None:
    """Read code statistics from a folder's ``code_stats.json`` or from that file itself.

    Returns:
        The statistics, or ``None`` when ``path`` is a folder without ``code_stats.json``.

    Raises:
        CodecError: naming the file, when it is missing (a file path), unreadable or damaged.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CODE_STATS_FILE
        if not path.exists():
            return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CodecError("no such file", path) from None
    except OSError as error:
        raise CodecError(f"cannot read code statistics: {error.strerror or error}", path) from None
    except (UnicodeDecodeError, ValueError) as error:
        raise CodecError(f"damaged code statistics: not valid JSON ({error})", path) from None
    except RecursionError:
        raise CodecError("damaged code statistics: JSON nested too deeply", path) from None
    return CodeStats.from_json(data, path)


def _categorical(constriction: ModuleType, probabilities: np.ndarray) -> Any:
    return constriction.stream.model.Categorical(probabilities, perfect=False)


def _check_shape(n_codebooks: int, stats: CodeStats) -> None:
    if n_codebooks > stats.n_codebooks:
        raise ValueError(f"{n_codebooks} codebooks to code but the code statistics describe {stats.n_codebooks}")


def range_encode(codes: np.ndarray, stats: CodeStats) -> bytes:
    """Range-code a ``(Q, T)`` code matrix: the payload of a range-coded ``.tok`` file.

    Codebook-major: the ``T`` codes of codebook 0 with that codebook's model, then codebook 1, ...,
    into one ``constriction.stream.queue.RangeEncoder``; its compressed 32-bit words are returned
    as little-endian bytes (a multiple of 4). A codebook of one code needs no bits and is skipped.

    Raises:
        CodecError: ``constriction`` is not installed.
        ValueError: more codebooks than ``stats`` describe, or codes outside ``[0, K)``.
    """
    constriction = require_constriction()
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (Q, T), got {codes.shape}")
    _check_shape(codes.shape[0], stats)
    if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= stats.codebook_size):
        raise ValueError(f"codes must lie in [0, {stats.codebook_size})")
    encoder = constriction.stream.queue.RangeEncoder()
    if codes.shape[1] and stats.codebook_size > 1:
        probabilities = stats.probabilities()
        for q in range(codes.shape[0]):
            encoder.encode(codes[q].astype(np.int32), _categorical(constriction, probabilities[q]))
    return encoder.get_compressed().astype("<u4").tobytes()


def range_decode(
    payload: bytes, n_codebooks: int, num_frames: int, stats: CodeStats, name: str | Path | None = None
) -> np.ndarray:
    """Inverse of :func:`range_encode`: the flat ``(Q * T,)`` int64 codes, codebook-major.

    The payload must be exactly what :func:`range_encode` makes of the decoded codes (the codes
    are re-encoded and compared), so damaged data cannot decode silently into other codes.

    Raises:
        CodecError: naming ``name``, when ``constriction`` is missing or the payload is damaged.
        ValueError: more codebooks than ``stats`` describe.
    """
    try:
        constriction = require_constriction()
    except CodecError as error:
        raise CodecError(f"entropy-coded: {error.reason}", name) from None
    _check_shape(n_codebooks, stats)
    if len(payload) % 4:
        raise CodecError(f"damaged payload: {len(payload)} bytes is not a whole number of 32-bit words", name)
    codes = np.zeros((n_codebooks, num_frames), dtype=np.int64)
    if num_frames and stats.codebook_size > 1:
        words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        decoder = constriction.stream.queue.RangeDecoder(words)
        probabilities = stats.probabilities()
        try:
            for q in range(n_codebooks):
                codes[q] = decoder.decode(_categorical(constriction, probabilities[q]), num_frames)
        except (AssertionError, ValueError, RuntimeError):
            raise CodecError("damaged payload: not valid range-coded data", name) from None
    if range_encode(codes, stats) != payload:
        raise CodecError("damaged payload: range-coded data does not match the codes it decodes to", name)
    return codes.reshape(-1)
