"""Token batches in memory (:class:`Tokens`): codes with per-item lengths and the model they came
from, saved to and loaded from ``.tok`` files (format in :mod:`codec.formats.tok_file`)."""

from __future__ import annotations

import json
import operator
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from codec.errors import CodecError
from codec.formats.bitpack import bits_for, nominal_bitrate, pack_codes
from codec.formats.tok_file import (
    CHECKSUM,
    ENTROPY_FORMAT_VERSION,
    FORMAT_VERSION,
    HEADER_PREFIX,
    HEX_DIGITS,
    MAGIC,
    MAX_CODEBOOK_SIZE,
    parse_file,
    read_file,
)
from codec.io.audio import atomic_write_bytes

if TYPE_CHECKING:
    from codec.fingerprints import Fingerprints
    from codec.formats.entropy import CodeStats


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
        fingerprint: lower-case hex digest of the model (``codec.fingerprints``; in files of
            versions before 0.2, its legacy whole-model digest).
        token_fingerprint: lower-case hex digest of what decides the codes (encoder and quantizer):
            the model must have the same one to decode them. None for files of versions before 0.2,
            which are matched by ``fingerprint`` against the model's legacy digest.
        min_codebooks: fewest leading codebooks that are a valid code (``Quantizer.min_codebooks``);
            None when unknown (files of versions before 0.2).

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
    token_fingerprint: str | None = None
    min_codebooks: int | None = None

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
        if not isinstance(self.fingerprint, str) or not HEX_DIGITS.fullmatch(self.fingerprint):
            raise ValueError(f"Tokens.fingerprint must be a lower-case hex string, got {self.fingerprint!r}")
        if self.token_fingerprint is not None and not (
            isinstance(self.token_fingerprint, str) and HEX_DIGITS.fullmatch(self.token_fingerprint)
        ):
            raise ValueError(
                f"Tokens.token_fingerprint must be a lower-case hex string, got {self.token_fingerprint!r}"
            )
        if self.min_codebooks is not None and not (_is_int(self.min_codebooks) and self.min_codebooks >= 1):
            raise ValueError(f"Tokens.min_codebooks must be an integer >= 1, got {self.min_codebooks!r}")
        if self.min_codebooks is not None and n_codebooks < self.min_codebooks:
            raise ValueError(
                f"Tokens hold {n_codebooks} codebooks, fewer than the {self.min_codebooks} that make a valid code"
            )
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
        return bits_for(self.codebook_size)

    @property
    def bitrate(self) -> float:
        """Nominal bitrate in bits per second: ``frame_rate * Q * log2(codebook_size)``."""
        return nominal_bitrate(self.frame_rate, self.n_codebooks, self.codebook_size)

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
            self.token_fingerprint or self.fingerprint,
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
                :mod:`codec.formats.entropy`); ``None`` bit-packs them (format version 1).

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
            **({"token_fingerprint": self.token_fingerprint} if self.token_fingerprint is not None else {}),
            **({"min_codebooks": self.min_codebooks} if self.min_codebooks is not None else {}),
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
        from codec.formats.entropy import range_encode

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
        body = HEADER_PREFIX.pack(MAGIC, header["format_version"], len(header_bytes)) + header_bytes + payload
        return body + CHECKSUM.pack(zlib.crc32(body))

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
        header, codes = parse_file(data, name, code_stats)
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
            token_fingerprint=header.get("token_fingerprint"),
            min_codebooks=header.get("min_codebooks"),
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
        return cls.from_bytes(read_file(path), path, code_stats)


def check_compatible(
    tokens: Tokens,
    *,
    fingerprints: Fingerprints,
    sample_rate: int,
    hop_length: int,
    codebook_size: int,
    model_name: str,
    path: str | Path | None = None,
) -> None:
    """Check that ``tokens`` can be decoded by the model described by the keyword arguments.

    The token fingerprint decides (the encoder and quantizer that made the codes: a renamed model
    or one whose decoder was fine-tuned still reads them); tokens from before it existed are matched
    by the legacy whole-model digest. The rates and codebook size must then agree too.

    Raises:
        CodecError: naming ``path`` (when given), e.g. "made by model X (fingerprint abc…), not by Y".
    """

    def short(value: str) -> str:
        return value if len(value) <= 12 else value[:12] + "…"

    theirs, ours = (
        (tokens.token_fingerprint, fingerprints.tokens)
        if tokens.token_fingerprint is not None
        else (tokens.fingerprint, fingerprints.legacy)
    )
    if theirs != ours:
        raise CodecError(
            f"made by model {tokens.model_name} (fingerprint {short(theirs)}), "
            f"not by {model_name} (fingerprint {short(ours)}); decode with the model that encoded it",
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
