"""Audio file input/output, channel mixing and resampling.

Everything a user can get wrong here (a missing or damaged file, an unsupported format, an empty
recording, NaN samples, an unwritable destination) raises :class:`codec.errors.CodecError` naming
the file. Audio arrays are float32 and channel-first: ``(C, N)`` for C channels of N samples.

Files are written atomically: the data goes to a temporary file beside the destination, which is
then renamed over it, so an interrupted or failed write never leaves a partial file behind and
never damages an existing one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from codec.errors import CodecError

__all__ = [
    "AUDIO_EXTENSIONS",
    "atomic_write_bytes",
    "check_finite",
    "find_audio_files",
    "read_audio",
    "require_file",
    "resample",
    "resampled_length",
    "to_mono",
    "write_audio",
]

# Extension -> (libsndfile container format, default subtype when writing).
_FORMATS: dict[str, tuple[str, str]] = {
    ".wav": ("WAV", "PCM_16"),
    ".wave": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".oga": ("OGG", "VORBIS"),
    ".opus": ("OGG", "OPUS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
    ".aiff": ("AIFF", "PCM_16"),
    ".aif": ("AIFF", "PCM_16"),
    ".aifc": ("AIFF", "PCM_16"),
    ".au": ("AU", "PCM_16"),
    ".snd": ("AU", "PCM_16"),
    ".caf": ("CAF", "PCM_16"),
    ".w64": ("W64", "PCM_16"),
    ".rf64": ("RF64", "PCM_16"),
}

#: File extensions (lower case, with the dot) that :func:`find_audio_files` picks up in folders.
AUDIO_EXTENSIONS: frozenset[str] = frozenset(_FORMATS)

_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})


def check_finite(audio: np.ndarray | torch.Tensor, name: str | Path) -> None:
    """Raise :class:`CodecError` naming ``name`` if ``audio`` (any shape) has NaN or infinite values.

    Args:
        audio: samples, a numpy array or a torch tensor of any shape.
        name: the file name or description used in the error message.
    """
    if isinstance(audio, torch.Tensor):
        finite = torch.isfinite(audio.detach())
        if bool(finite.all()):
            return
        values = audio.detach().cpu().numpy()
    else:
        values = np.asarray(audio)
        if bool(np.isfinite(values).all()):
            return
    n_nan = int(np.isnan(values).sum())
    n_inf = int(np.isinf(values).sum())
    raise CodecError(f"audio contains {n_nan} NaN and {n_inf} infinite sample value(s)", name)


def require_file(path: str | Path) -> Path:
    """``path`` as a ``Path``; ``CodecError`` if it does not exist, is not a regular file or cannot be
    read (the message says which)."""
    path = Path(path)
    if not path.exists():
        raise CodecError("broken symlink or symlink loop" if path.is_symlink() else "no such file", path)
    if not path.is_file():
        raise CodecError("not a file", path)
    if not os.access(path, os.R_OK):
        raise CodecError("permission denied: the file cannot be read", path)
    return path


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file with soundfile.

    Args:
        path: any file libsndfile can decode (see :data:`AUDIO_EXTENSIONS`).

    Returns:
        ``(audio, sample_rate)`` with ``audio`` float32 of shape ``(C, N)``, N >= 1.

    Raises:
        CodecError: the file is missing, not a regular file, unreadable (permissions), damaged or in
            an unsupported format, decodes to clearly less than its header's length (a truncated
            compressed file, which the decoder would otherwise return in part), holds no samples, or
            holds NaN or infinite samples.
    """
    path = require_file(path)
    try:
        with sf.SoundFile(path) as handle:
            expected, sample_rate = handle.frames, handle.samplerate
            data = handle.read(dtype="float32", always_2d=True)
    except PermissionError:
        raise CodecError("permission denied: the file cannot be read", path) from None
    except (RuntimeError, TypeError, ValueError, OSError, EOFError) as error:
        raise CodecError(f"cannot read audio (unsupported format or damaged file): {error}", path) from None
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise CodecError("audio file holds no samples", path)
    if expected > 0 and expected - data.shape[0] > max(0.01 * expected, 0.05 * sample_rate):
        raise CodecError(
            f"damaged or truncated: it decodes to {data.shape[0] / sample_rate:.2f} s of the "
            f"{expected / sample_rate:.2f} s its header gives",
            path,
        )
    check_finite(data, path)
    return np.ascontiguousarray(data.T), int(sample_rate)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels of ``(C, N)`` audio into float32 ``(N,)``; ``(N,)`` input is returned as float32."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return audio
    if audio.ndim != 2:
        raise ValueError(f"to_mono expects (C, N) or (N,) audio, got shape {audio.shape}")
    return audio.mean(axis=0, dtype=np.float32)


def resampled_length(num_samples: int, sr_in: int, sr_out: int) -> int:
    """Number of samples :func:`resample` returns for ``num_samples`` input samples.

    ``round(num_samples * sr_out / sr_in)``, but at least 1 when the input is not empty.
    """
    if num_samples <= 0:
        return 0
    return max(1, (2 * num_samples * sr_out + sr_in) // (2 * sr_in))


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample along the last axis with soxr (quality "HQ").

    Args:
        audio: ``(..., N)`` samples, e.g. ``(N,)`` or ``(C, N)``.
        sr_in: rate of ``audio`` in Hz.
        sr_out: wanted rate in Hz.

    Returns:
        A new float32 array ``(..., M)`` with ``M = resampled_length(N, sr_in, sr_out)``; a copy
        when the rates match.
    """
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    audio = np.asarray(audio, dtype=np.float32)
    if sr_in == sr_out:
        return audio.copy()
    *lead, n = audio.shape
    target = resampled_length(n, sr_in, sr_out)
    if n == 0:
        return np.zeros((*lead, 0), dtype=np.float32)
    columns = np.ascontiguousarray(audio.reshape(-1, n).T)  # (N, channels): soxr is channel-last
    out = soxr.resample(columns, sr_in, sr_out, quality="HQ")
    if out.shape[0] < target:
        # Too few input samples for the filter to produce output (1-2 samples): hold the nearest ones.
        nearest = np.minimum(np.arange(target) * sr_in // sr_out, n - 1)
        out = columns[nearest]
    out = np.ascontiguousarray(out[:target].T, dtype=np.float32)
    return out.reshape(*lead, target)


def _temporary_sibling(path: Path) -> tuple[Path, int]:
    """Create a new, empty hidden file next to ``path`` with the same extension; return it and its fd.

    ``os.open`` with mode 0o666 lets the umask decide the permissions, as for a normally created file.
    """
    while True:
        tmp = path.with_name(f".{path.stem}.tmp-{secrets.token_hex(6)}{path.suffix}")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then ``os.replace``).

    Parent folders are created. An existing file at ``path`` is either fully replaced or untouched.

    Raises:
        CodecError: the file cannot be written.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp, fd = _temporary_sibling(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the name points at it
        os.replace(tmp, path)
    except OSError as error:
        if tmp is not None:
            _remove_quietly(tmp)
        raise CodecError(f"cannot write file: {error.strerror or error}", path) from None


def write_audio(
    path: str | Path,
    audio: np.ndarray,
    sample_rate: int,
    subtype: str | None = None,
) -> None:
    """Write ``(N,)`` or ``(C, N)`` audio atomically; the extension picks the format.

    Args:
        path: destination; its extension must be one of :data:`AUDIO_EXTENSIONS`. Parent folders
            are created.
        audio: float samples, nominally in [-1, 1]; ``(N,)`` mono or ``(C, N)``.
        sample_rate: rate in Hz.
        subtype: libsndfile subtype such as ``"PCM_16"``, ``"PCM_24"`` or ``"FLOAT"``; ``None`` uses
            the format's default (16-bit PCM for wav/flac/aiff, Vorbis for ogg, Opus for opus).
            For every subtype other than FLOAT/DOUBLE the samples are clipped to [-1, 1] first.

    Raises:
        CodecError: unknown extension, subtype not valid for the format, NaN/inf samples, or the
            write fails (then no temporary file remains and an existing destination is untouched).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        known = ", ".join(sorted(AUDIO_EXTENSIONS))
        raise CodecError(f"unknown audio extension {path.suffix!r} (use one of {known})", path)
    container, default_subtype = _FORMATS[suffix]
    subtype = default_subtype if subtype is None else subtype.upper()
    if not sf.check_format(container, subtype):
        raise CodecError(f"subtype {subtype} cannot be written in {container} format", path)
    if sample_rate <= 0:
        raise CodecError(f"invalid sample rate {sample_rate}", path)
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim not in (1, 2):
        raise ValueError(f"write_audio expects (N,) or (C, N) audio, got shape {samples.shape}")
    check_finite(samples, path)
    if subtype not in _FLOAT_SUBTYPES:
        samples = np.clip(samples, -1.0, 1.0)
    frames = samples if samples.ndim == 1 else samples.T  # soundfile wants (N, C)

    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp, fd = _temporary_sibling(path)
        os.close(fd)
        sf.write(tmp, frames, int(sample_rate), subtype=subtype, format=container)
        os.replace(tmp, path)
    except (RuntimeError, TypeError, ValueError, OSError) as error:
        if tmp is not None:
            _remove_quietly(tmp)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        if tmp is not None:  # name the output, not the temporary file the library tried to open
            reason = reason.replace(str(tmp), str(path))
        raise CodecError(f"cannot write audio: {reason}", path) from None


def probe_seconds(path: str | Path) -> float | None:
    """Duration of an audio file from its header (no decoding); None when the header is unreadable."""
    try:
        info = sf.info(str(path))
    except (RuntimeError, TypeError, ValueError, OSError, EOFError):
        return None
    return info.frames / info.samplerate if info.samplerate > 0 else None


def real_path(path: Path) -> Path:
    """``path`` with symlinks resolved; a symlink loop stays as it is (reading it reports the loop)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.absolute()


def find_audio_files(inputs: Sequence[str | Path], recursive: bool = True) -> list[Path]:
    """Expand files and folders into a list of audio files.

    Files named in ``inputs`` are kept as given, whatever their extension. Folders contribute the
    files with an extension in :data:`AUDIO_EXTENSIONS` (case-insensitive), sorted by path, searched
    recursively when ``recursive``; hidden files and folders (name starting with ".") are skipped.
    A file reached twice is listed once, at its first position.

    Raises:
        CodecError: an input does not exist.
    """
    found: list[Path] = []
    seen: set[Path] = set()

    def add(file: Path) -> None:
        key = real_path(file)
        if key not in seen:
            seen.add(key)
            found.append(file)

    for item in inputs:
        item = Path(item)
        if item.is_dir():
            matches: list[Path] = []
            for folder, dirnames, filenames in os.walk(item):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")] if recursive else []
                matches.extend(
                    Path(folder, name)
                    for name in filenames
                    if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS
                )
            for file in sorted(matches):
                add(file)
        elif item.exists():
            add(item)
        else:
            raise CodecError("no such file or folder", item)
    return found
