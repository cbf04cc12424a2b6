"""Classic speech codecs to compare a model against: Opus, Codec2, Speex, LC3 and G.711 mu-law.

Each baseline round-trips a mono clip (encode, then decode) and returns it at the caller's rate.
Opus, Codec2, Speex and LC3 run their Debian command-line tools in a temporary folder
(``apt-get install opus-tools codec2 speex liblc3-tools``); mu-law is plain numpy, so one baseline
always works. Build them from short specs with :func:`parse_baseline`::

    opus:6   codec2:3200   codec2:700C   speex:0   lc3:16   mulaw
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from codec.errors import CodecError
from codec.io.audio import resample

__all__ = [
    "BASELINE_HELP",
    "Baseline",
    "Codec2Baseline",
    "LC3Baseline",
    "MuLawBaseline",
    "OpusBaseline",
    "SpeexBaseline",
    "mulaw_decode",
    "mulaw_encode",
    "parse_baseline",
]

#: One line per spec form, for ``--help`` texts and error messages.
BASELINE_HELP = (
    "opus:KBPS (6-256), codec2:MODE (3200, 2400, 1600, 1400, 1300, 1200, 700C, 450), "
    "speex:Q (wideband quality 0-10), lc3:KBPS (16-320), mulaw (G.711, 64 kbps)"
)

TOOL_TIMEOUT_S = 600.0
"""Longest a single encoder or decoder call may run."""

CODEC2_BITRATES: dict[str, float] = {
    "3200": 3200.0,
    "2400": 2400.0,
    "1600": 1600.0,
    "1400": 1400.0,
    "1300": 1300.0,
    "1200": 1200.0,
    "700C": 700.0,
    "450": 450.0,
}
"""Codec2 modes and their bit rates (8 kHz narrow band)."""

SPEEX_WIDEBAND_BITRATES: tuple[float, ...] = (
    3950.0,
    5750.0,
    7750.0,
    9800.0,
    12800.0,
    16800.0,
    20600.0,
    23800.0,
    27800.0,
    34200.0,
    42200.0,
)
"""Speex wideband (16 kHz) bit rate of each ``--quality`` 0-10, without Ogg framing."""


class Baseline(ABC):
    """A classic codec that round-trips mono audio.

    Attributes:
        name: the canonical spec, e.g. ``"opus:6"``; also the row name in result tables.
        bitrate: nominal bits per second of the coded stream (container overhead excluded).
        codec_rate: the rate the codec itself runs at, in Hz.
        tools: command-line programs the baseline needs.
        package: the Debian package that provides them.
    """

    name: str
    bitrate: float
    codec_rate: int
    tools: tuple[str, ...] = ()
    package: str = ""

    def missing_tools(self) -> list[str]:
        """The programs of ``tools`` that are not on the ``PATH``."""
        return [tool for tool in self.tools if shutil.which(tool) is None]

    def available(self) -> bool:
        """Whether every tool the baseline needs is installed."""
        return not self.missing_tools()

    def unavailable_reason(self) -> str | None:
        """``None`` when available, else one line saying what is missing and how to install it."""
        missing = self.missing_tools()
        if not missing:
            return None
        hint = f" (apt-get install {self.package})" if self.package else ""
        return f"{', '.join(missing)} not found{hint}"

    def roundtrip(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Encode and decode ``(N,)`` audio at ``sample_rate``; returns float32 ``(M,)`` at ``sample_rate``.

        ``M`` is close to ``N`` but codecs pad and delay, so align before comparing (see
        :func:`codec.evaluation.metrics.align`).

        Raises:
            CodecError: a tool is missing or fails.
        """
        reason = self.unavailable_reason()
        if reason is not None:
            raise CodecError(f"baseline {self.name} unavailable: {reason}")
        clip = np.clip(resample(np.asarray(audio, np.float32).reshape(-1), sample_rate, self.codec_rate), -1.0, 1.0)
        with tempfile.TemporaryDirectory(prefix="codec-baseline-") as folder:
            decoded = self._roundtrip(clip, Path(folder))
        return resample(decoded, self.codec_rate, sample_rate)

    @abstractmethod
    def _roundtrip(self, audio: np.ndarray, folder: Path) -> np.ndarray:
        """Round-trip ``(N,)`` audio at ``codec_rate`` using ``folder`` for files; same rate out."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.bitrate:g} bit/s)"


def _run(command: Sequence[str], folder: Path) -> None:
    """Run a codec tool in ``folder``; a non-zero exit or a timeout raises ``CodecError``."""
    try:
        done = subprocess.run(
            list(command),
            cwd=folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CodecError(f"{command[0]} ran longer than {TOOL_TIMEOUT_S:g} s") from None
    except OSError as error:
        raise CodecError(f"cannot run {command[0]}: {error.strerror or error}") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        detail = lines[-1] if lines else f"exit status {done.returncode}"
        raise CodecError(f"{' '.join(command)} failed: {detail}")


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    sf.write(path, audio, sample_rate, subtype="PCM_16", format="WAV")


def _read_wav(path: Path, sample_rate: int, tool: str) -> np.ndarray:
    """Read a tool's output as mono float32 at ``sample_rate``."""
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as error:
        raise CodecError(f"{tool} wrote no readable audio: {error}") from None
    return resample(data.mean(axis=1), int(rate), sample_rate)


def _to_int16(audio: np.ndarray) -> np.ndarray:
    return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")


class OpusBaseline(Baseline):
    """Opus through ``opusenc --bitrate KBPS`` and ``opusdec --rate 16000`` (16 kHz in and out)."""

    tools = ("opusenc", "opusdec")
    package = "opus-tools"
    codec_rate = 16000

    def __init__(self, kbps: float) -> None:
        if not 6 <= kbps <= 256:
            raise CodecError(f"opus bitrate must be 6-256 kbps, got {kbps:g}")
        self.kbps = float(kbps)
        self.name = f"opus:{self.kbps:g}"
        self.bitrate = self.kbps * 1000

    def _roundtrip(self, audio: np.ndarray, folder: Path) -> np.ndarray:
        _write_wav(folder / "in.wav", audio, self.codec_rate)
        _run(["opusenc", "--quiet", "--bitrate", f"{self.kbps:g}", "in.wav", "coded.opus"], folder)
        _run(["opusdec", "--quiet", "--rate", str(self.codec_rate), "coded.opus", "out.wav"], folder)
        return _read_wav(folder / "out.wav", self.codec_rate, "opusdec")


class Codec2Baseline(Baseline):
    """Codec2 through ``c2enc MODE`` and ``c2dec MODE`` on headerless 8 kHz 16-bit raw audio."""

    tools = ("c2enc", "c2dec")
    package = "codec2"
    codec_rate = 8000

    def __init__(self, mode: str) -> None:
        mode = str(mode).upper()
        if mode not in CODEC2_BITRATES:
            raise CodecError(f"unknown codec2 mode {mode!r}; known: {', '.join(CODEC2_BITRATES)}")
        self.mode = mode
        self.name = f"codec2:{mode}"
        self.bitrate = CODEC2_BITRATES[mode]

    def _roundtrip(self, audio: np.ndarray, folder: Path) -> np.ndarray:
        (folder / "in.raw").write_bytes(_to_int16(audio).tobytes())
        _run(["c2enc", self.mode, "in.raw", "coded.bit"], folder)
        _run(["c2dec", self.mode, "coded.bit", "out.raw"], folder)
        samples = np.frombuffer((folder / "out.raw").read_bytes(), dtype="<i2")
        if samples.size == 0:
            raise CodecError("c2dec wrote no samples")
        return samples.astype(np.float32) / 32768.0


class SpeexBaseline(Baseline):
    """Speex wideband through ``speexenc -w --quality Q`` and ``speexdec`` (16 kHz)."""

    tools = ("speexenc", "speexdec")
    package = "speex"
    codec_rate = 16000

    def __init__(self, quality: int) -> None:
        if not 0 <= quality < len(SPEEX_WIDEBAND_BITRATES):
            raise CodecError(f"speex quality must be 0-{len(SPEEX_WIDEBAND_BITRATES) - 1}, got {quality}")
        self.quality = int(quality)
        self.name = f"speex:{self.quality}"
        self.bitrate = SPEEX_WIDEBAND_BITRATES[self.quality]

    def _roundtrip(self, audio: np.ndarray, folder: Path) -> np.ndarray:
        _write_wav(folder / "in.wav", audio, self.codec_rate)
        _run(["speexenc", "-w", "--quality", str(self.quality), "in.wav", "coded.spx"], folder)
        _run(["speexdec", "coded.spx", "out.wav"], folder)
        return _read_wav(folder / "out.wav", self.codec_rate, "speexdec")


class LC3Baseline(Baseline):
    """LC3 (Bluetooth LE Audio) through ``elc3 -b BPS`` and ``dlc3`` at 16 kHz, 10 ms frames."""

    tools = ("elc3", "dlc3")
    package = "liblc3-tools"
    codec_rate = 16000

    def __init__(self, kbps: float) -> None:
        if not 16 <= kbps <= 320:
            raise CodecError(f"lc3 bitrate must be 16-320 kbps at 16 kHz, got {kbps:g}")
        self.kbps = float(kbps)
        self.name = f"lc3:{self.kbps:g}"
        self.bitrate = self.kbps * 1000

    def _roundtrip(self, audio: np.ndarray, folder: Path) -> np.ndarray:
        _write_wav(folder / "in.wav", audio, self.codec_rate)
        _run(["elc3", "-b", str(round(self.bitrate)), "in.wav", "coded.lc3"], folder)
        _run(["dlc3", "coded.lc3", "out.wav"], folder)
        return _read_wav(folder / "out.wav", self.codec_rate, "dlc3")


MULAW_BIAS = 0x84
MULAW_CLIP = 32635


def mulaw_encode(samples: np.ndarray) -> np.ndarray:
    """16-bit linear PCM (int) -> G.711 mu-law bytes (uint8): sign, 3-bit segment, 4-bit step, inverted."""
    linear = np.asarray(samples, dtype=np.int32)
    sign = np.where(linear < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(linear), MULAW_CLIP) + MULAW_BIAS
    segment = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    step = (magnitude >> (segment + 3)) & 0x0F
    return (~(sign | (segment << 4) | step) & 0xFF).astype(np.uint8)


def mulaw_decode(codes: np.ndarray) -> np.ndarray:
    """G.711 mu-law bytes -> 16-bit linear PCM values (int16)."""
    byte = ~np.asarray(codes, dtype=np.int32) & 0xFF
    segment = (byte >> 4) & 0x07
    magnitude = (((byte & 0x0F) << 3) + MULAW_BIAS) << segment
    return np.where(byte & 0x80, MULAW_BIAS - magnitude, magnitude - MULAW_BIAS).astype(np.int16)


class MuLawBaseline(Baseline):
    """G.711 mu-law: 8 kHz, 8 bits per sample (64 kbps), in numpy; needs no tool."""

    codec_rate = 8000

    def __init__(self) -> None:
        self.name = "mulaw"
        self.bitrate = 8.0 * self.codec_rate

    def _roundtrip(self, audio: np.ndarray, folder: Path) -> np.ndarray:
        return mulaw_decode(mulaw_encode(_to_int16(audio))).astype(np.float32) / 32768.0


_EXAMPLES = {"opus": "6", "codec2": "3200", "speex": "4", "lc3": "16"}


def _number(kind: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise CodecError(f"{kind} needs a number after the colon, got {value!r}") from None
    if not np.isfinite(number):
        raise CodecError(f"{kind} needs a finite number, got {value!r}")
    return number


def parse_baseline(spec: str) -> Baseline:
    """Build a baseline from a spec such as ``opus:6``, ``codec2:700C``, ``speex:4``, ``lc3:16`` or ``mulaw``.

    Parsing does not check that the tools are installed: see :meth:`Baseline.available`.

    Raises:
        CodecError: an unknown codec or an invalid setting.
    """
    kind, _, value = spec.strip().partition(":")
    kind = kind.lower()
    if kind in ("mulaw", "g711"):
        if value:
            raise CodecError(f"{kind} takes no setting, got {spec!r}")
        return MuLawBaseline()
    if kind not in _EXAMPLES:
        raise CodecError(f"unknown baseline {spec!r}; use {BASELINE_HELP}")
    if not value:
        raise CodecError(f"baseline {kind} needs a setting, e.g. {kind}:{_EXAMPLES[kind]}")
    if kind == "codec2":
        return Codec2Baseline(value)
    if kind == "speex":
        quality = _number(kind, value)
        if quality != int(quality):
            raise CodecError(f"speex quality must be a whole number 0-10, got {value!r}")
        return SpeexBaseline(int(quality))
    if kind == "opus":
        return OpusBaseline(_number(kind, value))
    return LC3Baseline(_number(kind, value))
