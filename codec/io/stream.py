"""Reading a long audio file in blocks, as windows of mono samples at another rate, so that memory
follows the window and not the file.

``AudioStream(path, rate).read(start, stop)`` returns samples ``[start, stop)`` of the file downmixed
and resampled to ``rate``, for windows whose starts never go backwards (those of a chunked encoder).
The file is decoded once, front to back, in blocks (no seeking, which compressed formats do only
approximately); each window is resampled on its own with a margin of
source samples on both sides, and starts on a source sample that falls on an output sample, so its
samples equal the whole file's resampled ones up to the resampler's filter tails (exactly, when the
rates are equal).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf

from codec.errors import CodecError
from codec.io.audio import require_file, resample, resampled_length

STREAM_SECONDS = 600.0
"""Files longer than this are read in blocks by ``Codec.encode_file`` and ``codec encode``."""
RESAMPLE_MARGIN_SECONDS = 0.05
"""Source audio read beyond each side of a window before resampling it: soxr's filter spans far less."""
BLOCK_SECONDS = 10.0
"""Source audio decoded per read from the file."""


class AudioStream:
    """Windows of a file at ``rate``.

    Args:
        path: any file soundfile reads.
        rate: the rate of the windows.

    Attributes:
        length: the file's length in samples at ``rate``.

    Raises:
        CodecError: the file is missing or unreadable, or holds no samples.
    """

    def __init__(self, path: str | Path, rate: int) -> None:
        self.path = require_file(path)
        try:
            self._file = sf.SoundFile(self.path)
        except (RuntimeError, TypeError, ValueError, OSError) as error:
            raise CodecError(f"cannot read audio (unsupported format or damaged file): {error}", self.path) from None
        self.source_rate = self._file.samplerate
        self.rate = rate
        if self._file.frames <= 0:
            raise CodecError("audio file holds no samples", self.path)
        self.length = resampled_length(self._file.frames, self.source_rate, rate)
        self._step = self.source_rate // math.gcd(self.source_rate, rate)  # source samples per aligned start
        self._margin = math.ceil(RESAMPLE_MARGIN_SECONDS * self.source_rate)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0  # source index of _buffer[0]
        self._eof = False

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _fill(self, stop: int) -> None:
        """Decode blocks until the buffer reaches source index ``stop`` or the end of the file."""
        block = max(1, round(BLOCK_SECONDS * self.source_rate))
        parts = [self._buffer]
        end = self._buffer_start + self._buffer.shape[0]
        while end < stop and not self._eof:
            try:
                data = self._file.read(block, dtype="float32", always_2d=True)
            except (RuntimeError, ValueError, OSError) as error:
                raise CodecError(f"cannot read audio (damaged file): {error}", self.path) from None
            if data.shape[0] < block:
                self._eof = True
                self._check_complete(end + data.shape[0])
            if not np.isfinite(data).all():
                raise CodecError("audio holds NaN or infinite samples", self.path)
            parts.append(data.mean(axis=1).astype(np.float32))
            end += data.shape[0]
        self._buffer = np.concatenate(parts)

    def _check_complete(self, decoded: int) -> None:
        """A compressed file that decodes short of its header's length is damaged (as ``read_audio``)."""
        expected = self._file.frames
        if expected - decoded > max(0.01 * expected, 0.05 * self.source_rate):
            raise CodecError(
                f"damaged or truncated: it decodes to {decoded / self.source_rate:.2f} s of the "
                f"{expected / self.source_rate:.2f} s its header gives",
                self.path,
            )

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` at ``rate`` (zeros past the end), float32 ``(stop - start,)``.

        Raises:
            CodecError: the file cannot be decoded, or holds NaN / infinite samples.
            ValueError: the window starts before the previous one did.
        """
        # First source sample: on an output sample (so the window's grid is the file's), with margin.
        first = max(0, (start * self.source_rate // self.rate - self._margin) // self._step * self._step)
        last = math.ceil(stop * self.source_rate / self.rate) + self._margin
        if first < self._buffer_start:
            raise ValueError(f"window at {start} starts before the previous one did")
        self._fill(last)
        drop = first - self._buffer_start  # later windows start no earlier than this one
        if drop:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
        source = self._buffer[first - self._buffer_start : last - self._buffer_start]
        offset = first * self.rate // self.source_rate
        window = resample(source, self.source_rate, self.rate) if source.size else source
        out = np.zeros(stop - start, dtype=np.float32)
        part = window[start - offset : stop - offset]
        out[: part.shape[0]] = part
        return out
