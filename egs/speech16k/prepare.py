#!/usr/bin/env python3
"""Build the ``speech16k`` corpus from Debian packages and offline TTS engines.

The recipe downloads the real-speech packages of ``REAL_SOURCES`` (below) with
``apt-get download`` into ``OUT/debs/``, unpacks them with ``dpkg-deb -x`` into
``OUT/pkgroot/`` (nothing is installed system-wide for them), decodes every
speech file, downmixes to mono, resamples to 16 kHz with soxr and writes 16-bit
FLAC under ``OUT/audio/<source>/``.  It then synthesises wide-band speech with
exact transcripts (flite, espeak-ng and optionally festival, reading sentences
from the Debian ``fortunes*`` packages), optionally cuts game soundtracks into
10 s music pieces, assigns speaker-disjoint train/dev/test splits and writes
``OUT/manifest.jsonl`` plus ``OUT/{train,dev,test}.jsonl``.

Every step is cached: debs already downloaded, packages already unpacked and
audio already converted are reused on a rerun.  Only the Python standard
library, numpy, soundfile and soxr are needed; ``apt-get`` and ``dpkg-deb``
must be on PATH (and ``apt-get install`` is called for the TTS engines when
they are missing and the script runs as root).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import functools
import gzip
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

TARGET_SR = 16000
CACHE_VERSION = 1
SILENCE_PEAK = 1e-3
SPLITS = ("train", "dev", "test")
HELDOUT_FRACTION = 0.05
MAX_HOLDOUT_SPEAKER_FRACTION = 0.075

Row = dict[str, Any]
Result = dict[str, Any]


@dataclass(frozen=True)
class SourceSpec:
    """A real-speech source: the Debian packages it needs and what it holds."""

    packages: tuple[str, ...]
    description: str


REAL_SOURCES: dict[str, SourceSpec] = {
    "festvox-ru": SourceSpec(("festvox-ru",), "Russian studio sentences, 1 male, transcribed"),
    "fotaq": SourceSpec(("flight-of-the-amazon-queen",), "Flight of the Amazon Queen, English"),
    "drascula-en": SourceSpec(("drascula",), "Drascula voice acting, English"),
    "drascula-es": SourceSpec(("drascula-spanish",), "Drascula voice acting, Spanish"),
    "drascula-it": SourceSpec(("drascula-italian",), "Drascula voice acting, Italian"),
    "fillets-cs": SourceSpec(("fillets-ng-data-cs",), "Fish Fillets NG dialogue, Czech"),
    "fillets-nl": SourceSpec(("fillets-ng-data-nl",), "Fish Fillets NG dialogue, Dutch"),
    "asterisk-en": SourceSpec(
        ("asterisk-core-sounds-en-wav", "asterisk-core-sounds-en"),
        "Asterisk telephone prompts, English, transcribed",
    ),
    "asterisk-fr": SourceSpec(
        ("asterisk-core-sounds-fr-wav", "asterisk-core-sounds-fr"),
        "Asterisk telephone prompts, French, transcribed",
    ),
    "asterisk-ru": SourceSpec(
        ("asterisk-core-sounds-ru-wav", "asterisk-core-sounds-ru"),
        "Asterisk telephone prompts, Russian, transcribed",
    ),
    "klettres": SourceSpec(("klettres-data",), "letters and syllables, 20 languages"),
    "ktuberling": SourceSpec(("ktuberling-data",), "object words, ~25 languages"),
    "gcin": SourceSpec(("gcin-voice",), "Mandarin syllables, 2 voices"),
}

MUSIC_SOURCES: dict[str, str] = {
    "warzone2100-music": "usr/share/games/warzone2100/music",
    "wesnoth-1.16-music": "usr/share/games/wesnoth",
    "supertuxkart-data": "usr/share/games/supertuxkart/data/music",
    "fretsonfire-songs-muldjord": "usr/share/games/fretsonfire/data/songs",
    "fretsonfire-songs-sectoid": "usr/share/games/fretsonfire/data/songs",
}
# Packages whose songs come as stems (song.ogg, guitar.ogg) in one folder per song: the stems of a
# song share a "speaker", so that a song is held out whole.
MUSIC_STEMS = frozenset({"fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid"})
DEFAULT_MUSIC = ("warzone2100-music", "wesnoth-1.16-music")
MUSIC_PIECE_S = 10.0

TTS_PACKAGES = ("flite", "espeak-ng")
FESTIVAL_PACKAGES = ("festival", "festvox-kallpc16k", "festvox-us-slt-hts")

FORTUNE_PACKAGES: dict[str, tuple[str, str]] = {
    "en": ("fortunes", "usr/share/games/fortunes"),
    "de": ("fortunes-de", "usr/share/games/fortunes/de"),
    "es": ("fortunes-es", "usr/share/games/fortunes/es"),
    "it": ("fortunes-it", "usr/share/games/fortunes/it"),
    "ru": ("fortunes-ru", "usr/share/games/fortunes/ru"),
    "pt-BR": ("fortunes-br", "usr/share/games/fortunes"),
    "pl": ("fortunes-pl", "usr/share/games/fortunes/pl"),
    "cs": ("fortunes-cs", "usr/share/games/fortunes/cs"),
}
ENGLISH_FORTUNES = frozenset(
    {
        "art",
        "computers",
        "cookie",
        "education",
        "food",
        "goedel",
        "humorists",
        "kids",
        "law",
        "love",
        "magic",
        "medicine",
        "miscellaneous",
        "paradoxum",
        "people",
        "pets",
        "platitudes",
        "politics",
        "pratchett",
        "science",
        "songs-poems",
        "sports",
        "startrek",
        "wisdom",
        "work",
    }
)
FORTUNE_EXCLUDE = re.compile(r"(^|/)off(/|$)|szowinist|\.dat$|\.pre$|-pre$")
FALLBACK_ENCODING = {"ru": "koi8-r", "pl": "iso-8859-2", "cs": "iso-8859-2"}

FLITE_VOICES: dict[str, tuple[float, float | None]] = {
    "kal16": (1.0, 95.0),
    "awb": (1.0, 130.0),
    "slt": (1.0, 170.0),
    "rms": (0.5, None),
}
FLITE_HELDOUT = "rms"
ESPEAK_VOICES: dict[str, str] = {
    "en-us": "en",
    "en-gb": "en",
    "de": "de",
    "es": "es",
    "it": "it",
    "ru": "ru",
    "pt-br": "pt-BR",
    "pl": "pl",
    "cs": "cs",
}
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "croak", "whisper")
ESPEAK_HELDOUT = {"m4": "dev", "f4": "test"}
FESTIVAL_VOICES = {"kal": "voice_kal_diphone", "slt_hts": "voice_cmu_us_slt_arctic_hts"}
ENGINE_WEIGHTS = {"flite": 0.45, "espeak-ng": 0.45, "festival": 0.10}


@dataclass
class Job:
    """One unit of conversion work, picklable for the process pool.

    ``kind`` selects the decoder: ``file`` (anything soundfile reads),
    ``u8raw`` (unsigned 8-bit PCM with a trailer), ``slice`` (a byte range of
    an archive read by soundfile), ``flite``/``espeak-ng``/``festival`` (TTS,
    ``params`` holds the engine options) or ``music`` (fixed-length pieces).
    """

    source: str
    key: str
    kind: str
    out_stem: str
    speaker: str
    language: str | None
    text: str | None = None
    path: str = ""
    offset: int = 0
    size: int = -1
    params: dict[str, Any] = field(default_factory=dict)
    split: str | None = None
    style: dict[str, Any] | None = None


def log(msg: str) -> None:
    """Print a progress line immediately."""
    print(msg, flush=True)


def warn(msg: str) -> None:
    """Print a warning to stderr immediately."""
    print(f"WARNING: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Debian packages
# --------------------------------------------------------------------------


class AptError(RuntimeError):
    """Raised when a Debian package cannot be downloaded or unpacked."""


class PackageStore:
    """Downloads ``.deb`` files into ``debs/`` and unpacks them into ``pkgroot/``."""

    def __init__(self, root: Path, use_apt: bool) -> None:
        """Create the store under corpus root ``root``."""
        self.debs = root / "debs"
        self.pkgroot = root / "pkgroot"
        self.use_apt = use_apt
        self._updated = False
        self.debs.mkdir(parents=True, exist_ok=True)
        self.pkgroot.mkdir(parents=True, exist_ok=True)

    def _find_deb(self, package: str) -> Path | None:
        """Return the newest cached ``.deb`` for ``package``, if any."""
        found = sorted(self.debs.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
        return found[-1] if found else None

    def _apt(self, args: Sequence[str], cwd: Path | None = None) -> None:
        """Run apt-get with ``args``; raise AptError with its stderr on failure."""
        cmd = ["apt-get", "-q"]
        if os.geteuid() == 0:
            cmd += ["-o", "APT::Sandbox::User=root"]
        cmd += list(args)
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            raise AptError(lines[-1] if lines else f"apt-get {' '.join(args)} failed")

    def apt_update_once(self) -> None:
        """Run ``apt-get update`` once per process (root only)."""
        if self._updated or os.geteuid() != 0:
            return
        self._updated = True
        log("running apt-get update")
        try:
            self._apt(["update"])
        except AptError as exc:
            warn(f"apt-get update failed: {exc}")

    def download(self, package: str) -> Path:
        """Return the cached ``.deb`` of ``package``, downloading it if needed."""
        deb = self._find_deb(package)
        if deb is not None:
            return deb
        if not self.use_apt:
            raise AptError(f"{package}: not in {self.debs} and --no-apt given")
        try:
            self._apt(["download", package], cwd=self.debs)
        except AptError:
            self.apt_update_once()
            self._apt(["download", package], cwd=self.debs)
        deb = self._find_deb(package)
        if deb is None:
            raise AptError(f"{package}: apt-get download produced no .deb")
        return deb

    def unpack(self, package: str) -> Path:
        """Return ``pkgroot/<package>``, unpacking the package there if needed."""
        deb = self.download(package)
        dest = self.pkgroot / package
        marker = dest / f".unpacked-{deb.name}"
        if marker.exists():
            return dest
        tmp = self.pkgroot / f".{package}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise AptError(f"dpkg-deb -x {deb.name}: {proc.stderr.strip()}")
        (tmp / f".unpacked-{deb.name}").touch()
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        return dest


def ensure_tts_engines(use_apt: bool, festival: bool) -> set[str]:
    """Install flite/espeak-ng (and festival) if missing; return usable engines."""
    wanted = {"flite": "flite", "espeak-ng": "espeak-ng"}
    packages = list(TTS_PACKAGES)
    if festival:
        wanted["festival"] = "text2wave"
        packages += FESTIVAL_PACKAGES
    missing = [e for e, exe in wanted.items() if shutil.which(exe) is None]
    if festival and not missing and not festival_voices_present():
        missing.append("festival")
    if missing and use_apt and os.geteuid() == 0:
        log(f"installing TTS engines with apt-get: {' '.join(packages)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "-q", *packages]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            warn(f"apt-get install failed: {proc.stderr.strip()[-300:]}")
    engines = {e for e, exe in wanted.items() if shutil.which(exe) is not None}
    if "festival" in engines and not festival_voices_present():
        engines.discard("festival")
    for engine in sorted(set(wanted) - engines):
        warn(f"TTS engine {engine} unavailable; synthetic speech goes without it")
    return engines


def festival_voices_present() -> bool:
    """Return True if both festival voices used by the recipe are installed."""
    base = Path("/usr/share/festival/voices")
    return (base / "english/kal_diphone").is_dir() and (base / "us/cmu_us_slt_arctic_hts").is_dir()


# --------------------------------------------------------------------------
# Audio helpers (run inside the worker processes)
# --------------------------------------------------------------------------


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Downmix a (frames, channels) or (frames,) array to float32 mono."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return audio


def resample(audio: np.ndarray, sr: int) -> np.ndarray:
    """Resample mono float audio from ``sr`` to 16 kHz with soxr (HQ)."""
    if sr == TARGET_SR:
        return audio.astype(np.float32)
    out: np.ndarray = soxr.resample(audio, sr, TARGET_SR, quality="HQ")
    return out.astype(np.float32)


def is_silent(audio: np.ndarray) -> bool:
    """Return True for digital silence (peak below -60 dBFS)."""
    return audio.size == 0 or float(np.max(np.abs(audio))) < SILENCE_PEAK


def split_long(audio: np.ndarray, max_s: float, min_s: float) -> list[tuple[int, int]]:
    """Cut audio longer than ``max_s`` at its quietest 20 ms frame.

    Each cut lies between ``min_s`` and ``max_s`` seconds after the previous
    one, so every piece but the last is ``min_s``..``max_s`` long.
    """
    n = audio.size
    max_n = int(max_s * TARGET_SR)
    min_n = int(min_s * TARGET_SR)
    if n <= max_n:
        return [(0, n)]
    hop = TARGET_SR // 50
    frames = n // hop
    energy = np.square(audio[: frames * hop].reshape(frames, hop)).mean(axis=1)
    pieces: list[tuple[int, int]] = []
    start = 0
    while n - start > max_n:
        lo = (start + min_n) // hop + 1
        hi = (start + max_n) // hop
        cut = start + max_n if hi <= lo else (lo + int(np.argmin(energy[lo:hi]))) * hop + hop // 2
        pieces.append((start, cut))
        start = cut
    pieces.append((start, n))
    return pieces


def write_flac(path: Path, audio: np.ndarray) -> None:
    """Write 16-bit mono FLAC atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pcm = np.clip(audio, -1.0, 32767 / 32768)
    sf.write(tmp, pcm, TARGET_SR, format="FLAC", subtype="PCM_16")
    os.replace(tmp, path)


def read_bytes(path: str, offset: int, size: int) -> bytes:
    """Read ``size`` bytes at ``offset`` of ``path`` (all of it when size < 0)."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read() if size < 0 else fh.read(size)


def synthesize(job: Job, tmpdir: str) -> tuple[np.ndarray, int]:
    """Run the TTS engine described by ``job`` and return (audio, rate)."""
    p = job.params
    wav = os.path.join(tmpdir, "tts.wav")
    text = job.text or ""
    if job.kind == "flite":
        cmd = ["flite", "-voice", p["voice"]]
        cmd += ["--setf", f"duration_stretch={p['stretch']:.3f}"]
        if p.get("f0") is not None:
            cmd += ["--setf", f"int_f0_target_mean={p['f0']:.1f}"]
        cmd += ["-t", text, "-o", wav]
    elif job.kind == "espeak-ng":
        cmd = ["espeak-ng", "-v", f"{p['voice']}+{p['variant']}"]
        cmd += ["-p", str(p["pitch"]), "-s", str(p["rate"]), "-w", wav, text]
    else:
        txt = os.path.join(tmpdir, "tts.txt")
        Path(txt).write_text(text + "\n", encoding="utf-8")
        cmd = ["text2wave", "-eval", f"({p['voice']})", txt, "-o", wav]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    audio, sr = sf.read(wav, dtype="float32", always_2d=False)
    return audio, sr


def load_audio(job: Job, tmpdir: str) -> tuple[np.ndarray, int]:
    """Decode the input of ``job`` to float audio and its sample rate."""
    if job.kind == "file":
        audio, sr = sf.read(job.path, dtype="float32", always_2d=False)
    elif job.kind == "slice":
        blob = read_bytes(job.path, job.offset, job.size)
        audio, sr = sf.read(io.BytesIO(blob), dtype="float32", always_2d=False)
    elif job.kind == "u8raw":
        blob = read_bytes(job.path, 0, -1)
        trailer = int(job.params.get("trailer", 0))
        raw = np.frombuffer(blob[: len(blob) - trailer], dtype=np.uint8)
        audio = (raw.astype(np.float32) - 128.0) / 128.0
        sr = int(job.params["rate"])
    else:
        audio, sr = synthesize(job, tmpdir)
    return audio, int(sr)


def convert(job: Job, out_root: str, min_s: float, max_s: float) -> Result:
    """Decode, downmix, resample, split and write one job; never raises.

    Returns a cache record: ``key``, ``orig_sr``, ``segments`` (list of
    ``{"path", "duration"}``) and ``skip`` (reason or None) or ``error``.
    """
    result: Result = {"key": job.key, "orig_sr": None, "segments": [], "skip": None}
    try:
        if job.kind == "music":
            return convert_music(job, out_root, result)
        with tempfile.TemporaryDirectory(prefix="speech16k-") as tmpdir:
            audio, sr = load_audio(job, tmpdir)
        result["orig_sr"] = sr
        audio = resample(to_mono(audio), sr)
        if audio.size < min_s * TARGET_SR:
            result["skip"] = "short"
            return result
        if is_silent(audio):
            result["skip"] = "silent"
            return result
        bounds = split_long(audio, max_s, min_s=max_s / 2)
        for i, (a, b) in enumerate(bounds):
            piece = audio[a:b]
            if piece.size < min_s * TARGET_SR or is_silent(piece):
                continue
            name = f"{job.out_stem}-p{i:02d}.flac" if len(bounds) > 1 else f"{job.out_stem}.flac"
            write_flac(Path(out_root) / name, piece)
            result["segments"].append({"path": name, "duration": round(piece.size / TARGET_SR, 4)})
        if not result["segments"]:
            result["skip"] = "silent"
    except Exception as exc:  # a bad input file must not stop the run
        result["error"] = f"{type(exc).__name__}: {exc}"[:500]
    return result


def convert_music(job: Job, out_root: str, result: Result) -> Result:
    """Cut ``params["pieces"]`` evenly spread 10 s windows out of one track.

    Only the windows are decoded (soundfile seeks), so long 48 kHz tracks
    cost little; silent windows are dropped.
    """
    with sf.SoundFile(job.path) as fh:
        sr = fh.samplerate
        width = int(MUSIC_PIECE_S * sr)
        available = fh.frames // width
        count = min(int(job.params["pieces"]), available)
        picks = sorted({int((j + 0.5) * available / count) for j in range(count)}) if count > 0 else []
        result["orig_sr"] = sr
        for k in picks:
            fh.seek(k * width)
            piece = resample(to_mono(fh.read(width, dtype="float32")), sr)
            if is_silent(piece):
                continue
            name = f"{job.out_stem}-t{int(k * MUSIC_PIECE_S):05d}.flac"
            write_flac(Path(out_root) / name, piece)
            result["segments"].append({"path": name, "duration": round(piece.size / TARGET_SR, 4)})
    if not result["segments"]:
        result["skip"] = "silent" if picks else "short"
    return result


def init_worker(niceness: int) -> None:
    """Lower the priority of a pool worker so the machine stays usable."""
    if niceness > 0:
        with contextlib.suppress(OSError):
            os.nice(niceness)


# --------------------------------------------------------------------------
# Conversion cache
# --------------------------------------------------------------------------


class Cache:
    """Append-only JSONL record of converted jobs for one source.

    A record is reused when its key matches and every output file exists.
    The file name carries a hash of the conversion settings, so changing
    them starts a fresh cache.
    """

    def __init__(self, root: Path, source: str, tag: str) -> None:
        """Open (or create) the cache of ``source`` under ``root/cache``."""
        self.root = root
        self.path = root / "cache" / f"{source}.{tag}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, Result] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.records[rec["key"]] = rec

    def get(self, key: str) -> Result | None:
        """Return a valid record for ``key`` or None."""
        rec = self.records.get(key)
        if rec is None or rec.get("error"):
            return None
        if all((self.root / s["path"]).exists() for s in rec["segments"]):
            return rec
        return None

    def add(self, records: Iterable[Result]) -> None:
        """Append records (flushed at once, so an interrupted run keeps them)."""
        with self.path.open("a", encoding="utf-8") as fh:
            for rec in records:
                self.records[rec["key"]] = rec
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def run_jobs(
    pool: cf.Executor,
    worker: Callable[[Job], Result],
    jobs: Sequence[Job],
    cache: Cache,
    label: str,
) -> list[Result]:
    """Convert ``jobs`` (reusing the cache) and return results in job order."""
    results: list[Result | None] = [cache.get(j.key) for j in jobs]
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        bar = make_progress(len(todo), label)
        last = time.monotonic()
        pending: list[Result] = []
        chunk = max(1, min(16, len(todo) // 64))
        todo_jobs = [jobs[i] for i in todo]
        for n, (i, rec) in enumerate(zip(todo, pool.map(worker, todo_jobs, chunksize=chunk), strict=True), 1):
            results[i] = rec
            pending.append(rec)
            if len(pending) >= 200:
                cache.add(pending)
                pending = []
            if bar is not None:
                bar.update(1)
            elif time.monotonic() - last > 15:
                last = time.monotonic()
                log(f"  {label}: {n}/{len(todo)} converted")
        cache.add(pending)
        if bar is not None:
            bar.close()
    return [r for r in results if r is not None]


def make_progress(total: int, label: str) -> Any:
    """Return a tqdm bar when tqdm is installed and stderr is a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=label, unit="file", leave=False)


# --------------------------------------------------------------------------
# Real-speech sources: enumerate jobs
# --------------------------------------------------------------------------


def audio_files(base: Path, exts: tuple[str, ...]) -> list[Path]:
    """Sorted regular (non-symlink) files under ``base`` with given suffixes."""
    if not base.is_dir():
        raise FileNotFoundError(f"{base} missing")
    return sorted(p for p in base.rglob("*") if p.suffix.lower() in exts and p.is_file() and not p.is_symlink())


def jobs_festvox_ru(roots: dict[str, Path]) -> list[Job]:
    """festvox-ru: one speaker; sentences >= 561 alternate into dev and test."""
    voice = roots["festvox-ru"] / "usr/share/festival/voices/russian/msu_ru_nsh_clunits"
    texts: dict[str, str] = {}
    data = (voice / "etc/txt.done.data").read_text(encoding="utf-8")
    for m in re.finditer(r'\(\s*(\S+)\s+"(.*?)"\s*\)', data):
        texts[m.group(1)] = re.sub(r"\s+", " ", m.group(2).replace("+", "")).strip()
    jobs: list[Job] = []
    heldout = 0
    for wav in audio_files(voice / "wav", (".wav",)):
        utt = wav.stem
        number = int(re.sub(r"\D", "", utt) or 0)
        split = "train"
        if number >= 561:
            split = "dev" if heldout % 2 == 0 else "test"
            heldout += 1
        jobs.append(
            Job(
                "festvox-ru",
                utt,
                "file",
                f"audio/festvox-ru/{utt}",
                "festvox-ru/msu_ru_nsh",
                "ru",
                texts.get(utt),
                str(wav),
                split=split,
            )
        )
    return jobs


def queen_entries(path: Path) -> list[tuple[str, int, int]]:
    """Parse the FOTAQ ``queen.1c`` table: (name, offset, size) per entry."""
    with path.open("rb") as fh:
        head = fh.read(15)
        if head[:4] != b"QTBL":
            raise ValueError(f"{path}: bad magic {head[:4]!r}")
        count = struct.unpack(">H", head[13:15])[0]
        table = fh.read(21 * count)
    entries = []
    for i in range(count):
        rec = table[21 * i : 21 * (i + 1)]
        name = rec[:12].split(b"\0")[0].decode("latin-1")
        offset, size = struct.unpack(">II", rec[13:21])
        entries.append((name, offset, size))
    return entries


def fotaq_people(archive: Path, entries: Sequence[tuple[str, int, int]]) -> dict[int, str]:
    """Map FOTAQ talk keys to character names via the ``*.DOG`` dialogue files.

    A DOG file has a 20-byte header, then big-endian int16 level count,
    unique key and talk key; ``SPARKY1.DOG`` .. ``SPARKY8.DOG`` all belong to
    the character ``sparky``.
    """
    people: dict[int, str] = {}
    with archive.open("rb") as fh:
        for name, offset, size in entries:
            if not name.upper().endswith(".DOG") or size < 26:
                continue
            fh.seek(offset + 24)
            talk_key = struct.unpack(">h", fh.read(2))[0]
            people[talk_key] = re.sub(r"\d+$", "", name[:-4]).lower()
    return people


def fotaq_speaker(stem: str, people: dict[int, str]) -> str:
    """Map a FOTAQ speech entry name to a speaker label.

    Dialogue lines are ``KKnnnnJk`` (Joe, the hero) or ``KKnnnnPk`` (the
    character of talk key KK); ``JOE*`` are Joe's remarks; cutaways (``C*``)
    and other lines mix voices and are labelled ``mixed-*``.
    """
    if stem.startswith("JOE"):
        return "joe"
    if len(stem) == 8 and stem[:2].isdigit() and stem[6] == "J":
        return "joe"
    if len(stem) == 8 and stem[:2].isdigit() and stem[6] == "P":
        return people.get(int(stem[:2]), f"npc{stem[:2]}")
    if stem.startswith("C"):
        return f"mixed-cutaway{stem[1:4]}"
    return f"mixed-{stem[:2]}"


def jobs_fotaq(roots: dict[str, Path]) -> list[Job]:
    """FOTAQ: MP3 speech entries (``*.SB``) inside the queen.1c archive."""
    archive = roots["flight-of-the-amazon-queen"] / "usr/share/scummvm/flight-of-the-amazon-queen/queen.1c"
    entries = queen_entries(archive)
    people = fotaq_people(archive, entries)
    jobs = []
    for name, offset, size in entries:
        if not name.upper().endswith(".SB"):
            continue
        stem = name[:-3]
        jobs.append(
            Job(
                "fotaq",
                stem,
                "slice",
                f"audio/fotaq/{stem}",
                f"fotaq/{fotaq_speaker(stem, people)}",
                "en",
                path=str(archive),
                offset=offset,
                size=size,
            )
        )
    return jobs


DRASCULA_SPEAKERS = {
    "": "john",
    "I": "igor",
    "T": "bartender",
    "BJ": "bj",
    "VB": "vonbraun",
    "P": "pianist",
    "B": "drunk",
    "L": "werewolf",
    "E": "musician",
    "D": "mixed-d",
    "F": "mixed-f",
}


def jobs_drascula(source: str, package: str, lang: str) -> Callable[..., list[Job]]:
    """Return the enumerator of one Drascula language (raw u8 ``*.ALS``)."""

    def enumerate_jobs(roots: dict[str, Path]) -> list[Job]:
        """Drascula: file prefix names the character; ``S*`` are effects."""
        base = roots[package] / f"usr/share/scummvm/drascula/{lang}"
        jobs = []
        for als in audio_files(base, (".als",)):
            prefix = re.sub(r"\d+$", "", als.stem).upper()
            if prefix == "S":
                continue
            who = DRASCULA_SPEAKERS.get(prefix, f"mixed-{prefix.lower()}")
            jobs.append(
                Job(
                    source,
                    als.stem,
                    "u8raw",
                    f"audio/{source}/{als.stem}",
                    f"{source}/{who}",
                    lang,
                    path=str(als),
                    params={"rate": 11025, "trailer": 64},
                )
            )
        return jobs

    return enumerate_jobs


def fillets_speaker(level: str, stem: str) -> str:
    """Map a Fish Fillets line ``prefix-X-line`` to a speaker label.

    ``m``/``v`` are the small and the big fish.  Another alphabetic X is an
    NPC; the same code is grouped across levels.  Everything else (numbered
    lines, hints, ``hurt`` noises, two-part names) cannot be attributed and
    is labelled ``mixed-<level>``.
    """
    parts = stem.split("-")
    if parts[0] in ("m", "v"):
        return f"fish-{parts[0]}"
    if len(parts) >= 3 and parts[1] in ("m", "v"):
        return f"fish-{parts[1]}"
    if len(parts) >= 3 and parts[1].isalpha() and parts[1] != "hurt":
        return f"npc-{parts[1]}"
    return f"mixed-{level}"


def jobs_fillets(source: str, package: str, lang: str) -> Callable[..., list[Job]]:
    """Return the enumerator of one Fish Fillets language."""

    def enumerate_jobs(roots: dict[str, Path]) -> list[Job]:
        """Fillets: ``sound/LEVEL/LANG/*.ogg``; speaker from the file name."""
        base = roots[package] / "usr/share/games/fillets-ng/sound"
        jobs = []
        for ogg in audio_files(base, (".ogg",)):
            if ogg.parent.name != lang:
                continue
            who = fillets_speaker(ogg.parent.parent.name, ogg.stem)
            rel = ogg.relative_to(base).with_suffix("")
            jobs.append(Job(source, str(rel), "file", f"audio/{source}/{rel}", f"{source}/{who}", lang, path=str(ogg)))
        return jobs

    return enumerate_jobs


def jobs_asterisk(source: str, lang: str) -> Callable[..., list[Job]]:
    """Return the enumerator of one Asterisk prompt language."""

    def enumerate_jobs(roots: dict[str, Path]) -> list[Job]:
        """Asterisk: one voice per language; text from core-sounds-LANG.txt."""
        wav_pkg = roots[f"asterisk-core-sounds-{lang}-wav"]
        doc_pkg = roots[f"asterisk-core-sounds-{lang}"]
        texts: dict[str, str] = {}
        for txt in doc_pkg.rglob(f"core-sounds-{lang}.txt*"):
            raw = read_bytes(str(txt), 0, -1)
            if txt.suffix == ".gz":
                raw = gzip.decompress(raw)
            for line in raw.decode("utf-8", errors="replace").splitlines():
                if ":" in line and not line.startswith(";"):
                    key, text = line.split(":", 1)
                    text = re.sub(r"\s+", " ", text).strip()
                    if text:
                        texts[key.strip()] = text
        base = wav_pkg / "usr/share/asterisk/sounds"
        jobs = []
        for wav in audio_files(base, (".wav",)):
            rel = wav.relative_to(base)
            voice = rel.parts[0]
            prompt = str(Path(*rel.parts[1:]).with_suffix(""))
            jobs.append(
                Job(
                    source,
                    str(rel.with_suffix("")),
                    "file",
                    f"audio/{source}/{rel.with_suffix('')}",
                    f"{source}/{voice}",
                    lang,
                    texts.get(prompt),
                    str(wav),
                )
            )
        return jobs

    return enumerate_jobs


def kde_language(code: str) -> str:
    """Turn a KDE locale directory name into a BCP-47-like language tag."""
    base, _, variant = code.partition("@")
    tag = base.replace("_", "-")
    if "latin" in variant:
        tag += "-Latn"
    return tag


def jobs_klettres(roots: dict[str, Path]) -> list[Job]:
    """KLettres: ``LANG/{alpha,syllab}/*.ogg``, one speaker per language."""
    base = roots["klettres-data"] / "usr/share/klettres"
    jobs = []
    for ogg in audio_files(base, (".ogg",)):
        rel = ogg.relative_to(base)
        lang = rel.parts[0]
        jobs.append(
            Job(
                "klettres",
                str(rel.with_suffix("")),
                "file",
                f"audio/klettres/{rel.with_suffix('')}",
                f"klettres/{lang}",
                kde_language(lang),
                path=str(ogg),
            )
        )
    return jobs


def jobs_ktuberling(roots: dict[str, Path]) -> list[Job]:
    """KTuberling: ``sounds/LANG/*``, one speaker per language."""
    base = roots["ktuberling-data"] / "usr/share/ktuberling/sounds"
    jobs = []
    for f in audio_files(base, (".ogg", ".wav", ".opus", ".flac")):
        rel = f.relative_to(base)
        if len(rel.parts) < 2:
            continue
        lang = rel.parts[0]
        jobs.append(
            Job(
                "ktuberling",
                str(rel.with_suffix("")),
                "file",
                f"audio/ktuberling/{rel.with_suffix('')}",
                f"ktuberling/{lang}",
                kde_language(lang),
                path=str(f),
            )
        )
    return jobs


def jobs_gcin(roots: dict[str, Path]) -> list[Job]:
    """gcin-voice: ``ogg/SYLLABLE/{3,5}.ogg``; 3 and 5 are two voices."""
    base = roots["gcin-voice"] / "usr/share/gcin-voice/ogg"
    jobs = []
    for ogg in audio_files(base, (".ogg",)):
        rel = ogg.relative_to(base)
        jobs.append(
            Job(
                "gcin",
                str(rel.with_suffix("")),
                "file",
                f"audio/gcin/{rel.with_suffix('')}",
                f"gcin/voice{ogg.stem}",
                "zh",
                path=str(ogg),
            )
        )
    return jobs


ENUMERATORS: dict[str, Callable[[dict[str, Path]], list[Job]]] = {
    "festvox-ru": jobs_festvox_ru,
    "fotaq": jobs_fotaq,
    "drascula-en": jobs_drascula("drascula-en", "drascula", "en"),
    "drascula-es": jobs_drascula("drascula-es", "drascula-spanish", "es"),
    "drascula-it": jobs_drascula("drascula-it", "drascula-italian", "it"),
    "fillets-cs": jobs_fillets("fillets-cs", "fillets-ng-data-cs", "cs"),
    "fillets-nl": jobs_fillets("fillets-nl", "fillets-ng-data-nl", "nl"),
    "asterisk-en": jobs_asterisk("asterisk-en", "en"),
    "asterisk-fr": jobs_asterisk("asterisk-fr", "fr"),
    "asterisk-ru": jobs_asterisk("asterisk-ru", "ru"),
    "klettres": jobs_klettres,
    "ktuberling": jobs_ktuberling,
    "gcin": jobs_gcin,
}


def content_hash(job: Job) -> str:
    """Hash the raw input bytes of a file-backed job (for de-duplication)."""
    return hashlib.md5(read_bytes(job.path, job.offset, job.size)).hexdigest()


def dedupe(jobs: list[Job], seen: set[str]) -> tuple[list[Job], int]:
    """Drop jobs whose input bytes were already seen; return (kept, dropped)."""
    kept = []
    for job in jobs:
        digest = content_hash(job)
        if digest in seen:
            continue
        seen.add(digest)
        kept.append(job)
    return kept, len(jobs) - len(kept)


# --------------------------------------------------------------------------
# Synthetic speech
# --------------------------------------------------------------------------


ALLOWED_PUNCT = set(" ,.;:!?'-’")


def clean_sentences(text: str, lang: str) -> Iterator[str]:
    """Yield clean 5-25 word sentences from a fortune file's text."""
    for cookie in text.split("\n%\n"):
        lines = [ln for ln in cookie.splitlines() if not re.match(r"\s*(--|—|―)", ln) and ln.strip() != "%"]
        if any(re.match(r"\s*\w+\s*:", ln) for ln in lines[:1]) and lang == "en":
            continue
        flat = " ".join(ln.strip() for ln in lines)
        flat = re.sub(r"\s+--\s+", ", ", flat)
        flat = re.sub(r"[\"«»„“”]", "", flat)
        flat = re.sub(r"\s+", " ", flat).strip()
        for sent in re.split(r"(?<=[.!?])\s+", flat):
            if sentence_ok(sent, lang):
                yield sent


def sentence_ok(sent: str, lang: str) -> bool:
    """Check that ``sent`` is a readable 5-25 word sentence in ``lang``."""
    words = sent.split()
    if not 5 <= len(words) <= 25 or sent[-1] not in ".!?":
        return False
    if not sent[0].isalpha() or not sent[0].isupper():
        return False
    if any(not (c.isalpha() or c in ALLOWED_PUNCT) for c in sent):
        return False
    if re.search(r"\.\.|[,;:]{2}|\s[,.;:!?]|'{2}|\w\.\w|--|(^|\s)-|-($|\s|[.,;:!?])", sent):
        return False
    letters = [c for c in sent if c.isalpha()]
    if lang == "en" and not sent.isascii():
        return False
    cyrillic = sum("\u0400" <= c <= "\u04ff" for c in letters)
    if (lang == "ru") != (cyrillic > 0.9 * len(letters)):
        return False
    if lang != "ru" and cyrillic:
        return False
    return not any(len(w) > 1 and w.isupper() for w in re.findall(r"\w+", sent))


def load_sentences(roots: dict[str, Path]) -> dict[str, list[str]]:
    """Read the fortunes packages and return clean sentences per language."""
    out: dict[str, list[str]] = {}
    for lang, (package, sub) in FORTUNE_PACKAGES.items():
        if package not in roots:
            continue
        base = roots[package] / sub
        files = sorted(p for p in base.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_size > 0)
        if lang == "en":
            files = [p for p in files if p.parent == base and p.name in ENGLISH_FORTUNES]
        elif lang == "pt-BR":
            files = [p for p in files if p.name == "brasil"]
        names = {p.name for p in files}
        sentences: dict[str, None] = {}
        for path in files:
            rel = str(path.relative_to(base))
            if FORTUNE_EXCLUDE.search(rel):
                continue
            if not path.name.endswith(".u8") and f"{path.name}.u8" in names:
                continue
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode(FALLBACK_ENCODING.get(lang, "latin-1"), "replace")
            for sent in clean_sentences(text.replace("\r", ""), lang):
                sentences.setdefault(sent)
        if sentences:
            out[lang] = list(sentences)
    return out


def sentence_split(sentence: str) -> str:
    """Assign a sentence to a text pool (90/5/5) by a stable hash."""
    bucket = zlib.crc32(sentence.encode("utf-8")) % 20
    return "dev" if bucket == 0 else "test" if bucket == 1 else "train"


def plan_utterance(
    index: int,
    seed: int,
    engines: set[str],
    pools: dict[str, dict[str, list[str]]],
) -> Job:
    """Draw the voice, style and sentence of synthetic utterance ``index``."""
    rng = random.Random(f"speech16k-{seed}-{index}")
    names = [e for e in ENGINE_WEIGHTS if e in engines]
    engine = rng.choices(names, [ENGINE_WEIGHTS[e] for e in names])[0]
    params: dict[str, Any]
    style: dict[str, Any] = {"engine": engine}
    split = "train"
    if engine == "flite":
        voices = list(FLITE_VOICES)
        voice = rng.choices(voices, [FLITE_VOICES[v][0] for v in voices])[0]
        speed = round(rng.uniform(0.8, 1.25), 2)
        base_f0 = FLITE_VOICES[voice][1]
        f0 = None if base_f0 is None else round(base_f0 * rng.uniform(0.8, 1.25))
        params = {"voice": voice, "stretch": 1.0 / speed, "f0": f0}
        style.update(voice=voice, variant=None, pitch=f0, rate=speed)
        speaker, lang = f"flite-{voice}", "en"
        if voice == FLITE_HELDOUT:
            split = "dev" if index % 2 == 0 else "test"
    elif engine == "espeak-ng":
        voice = rng.choice(sorted(v for v, lg in ESPEAK_VOICES.items() if lg in pools))
        variant = rng.choice(ESPEAK_VARIANTS)
        pitch = rng.randint(20, 80)
        rate = rng.randint(130, 210)
        params = {"voice": voice, "variant": variant, "pitch": pitch, "rate": rate}
        style.update(voice=voice, variant=variant, pitch=pitch, rate=rate)
        speaker, lang = f"espeak-{voice}+{variant}", ESPEAK_VOICES[voice]
        split = ESPEAK_HELDOUT.get(variant, "train")
    else:
        voice = rng.choice(sorted(FESTIVAL_VOICES))
        params = {"voice": FESTIVAL_VOICES[voice]}
        style.update(voice=voice, variant=None, pitch=None, rate=1.0)
        speaker, lang = f"festival-{voice}", "en"
    pool = pools[lang][split] or pools[lang]["train"]
    text = rng.choice(pool)
    digest = hashlib.md5(json.dumps([engine, params, text], sort_keys=True).encode("utf-8")).hexdigest()[:8]
    key = f"u{index:06d}-{digest}"
    return Job(
        "synthetic",
        key,
        engine,
        f"audio/synthetic/{engine}/{key}",
        f"synthetic/{speaker}",
        lang,
        text,
        params=params,
        split=split,
        style=style,
    )


def run_synthetic(
    pool: cf.Executor,
    worker: Callable[[Job], Result],
    out: Path,
    roots: dict[str, Path],
    engines: set[str],
    minutes: float,
    seed: int,
    tag: str,
) -> list[tuple[Job, Result]]:
    """Synthesise utterances in index order until ``minutes`` are reached."""
    sentences = load_sentences(roots)
    if "en" not in sentences:
        engines = engines - {"flite", "festival"}
    if not engines or not sentences:
        warn("no TTS engine or no sentence text: synthetic speech skipped")
        return []
    pools: dict[str, dict[str, list[str]]] = {}
    for lang, sents in sentences.items():
        pools[lang] = {s: [] for s in SPLITS}
        for sent in sents:
            pools[lang][sentence_split(sent)].append(sent)
    log("synthetic: sentences per language: " + ", ".join(f"{lg} {len(s)}" for lg, s in sentences.items()))
    cache = Cache(out, "synthetic", f"{tag}-s{seed}")
    target = minutes * 60.0
    total = 0.0
    chosen: list[tuple[Job, Result]] = []
    index = 0
    batch = 64
    while total < target and index < 1_000_000:
        jobs = [plan_utterance(index + k, seed, engines, pools) for k in range(batch)]
        index += batch
        results = run_jobs(pool, worker, jobs, cache, "synthetic")
        for job, rec in zip(jobs, results, strict=True):
            if total >= target:
                break
            if rec.get("error") or rec.get("skip"):
                continue
            chosen.append((job, rec))
            total += sum(s["duration"] for s in rec["segments"])
        log(f"  synthetic: {len(chosen)} utterances, {total / 60:.1f} min")
    log(f"synthetic: {len(chosen)} utterances from {', '.join(sorted(engines))}, {total / 3600:.2f} h")
    return chosen


# --------------------------------------------------------------------------
# Music
# --------------------------------------------------------------------------


def music_jobs(roots: dict[str, Path], packages: Sequence[str], minutes: float) -> list[Job]:
    """One job per soundtrack file, packages interleaved; pieces spread over tracks."""
    per_package: list[list[tuple[str, Path, Path]]] = []
    for package in packages:
        if package in roots:
            base = roots[package] / MUSIC_SOURCES[package]
            files = audio_files(base, (".ogg", ".opus", ".flac", ".wav"))
            per_package.append([(package, base, f) for f in files])
    depth = max((len(t) for t in per_package), default=0)
    tracks = [t[i] for i in range(depth) for t in per_package if i < len(t)]
    if not tracks:
        return []
    pieces = math.ceil(1.2 * minutes * 60 / MUSIC_PIECE_S / len(tracks))
    jobs = []
    for package, base, f in tracks:
        rel = f.relative_to(base).with_suffix("")
        jobs.append(
            Job(
                "music",
                f"{package}/{rel}|{pieces}",
                "music",
                f"audio/music/{package}/{rel}",
                f"music/{package}/{rel.parent if package in MUSIC_STEMS else rel}",
                None,
                path=str(f),
                params={"pieces": pieces},
            )
        )
    return jobs


# --------------------------------------------------------------------------
# Splits, manifest, summary
# --------------------------------------------------------------------------


def holdable(speaker: str) -> bool:
    """Speakers labelled ``mixed-*`` share voices with others: never hold out."""
    return not speaker.split("/")[-1].startswith("mixed-")


def assign_speaker_splits(rows: list[Row]) -> None:
    """Hold out whole speakers of one source for dev and test (~5 % each).

    Speakers carrying more than 7.5 % of the source (protagonists, single-voice
    sources) always stay in train; the largest remaining speakers that fit go
    to dev, then to test.
    """
    per_speaker: dict[str, float] = defaultdict(float)
    for row in rows:
        per_speaker[row["speaker"]] += row["duration"]
    total = sum(per_speaker.values())
    target = HELDOUT_FRACTION * total
    candidates = sorted(
        (
            (dur, spk)
            for spk, dur in per_speaker.items()
            if dur <= MAX_HOLDOUT_SPEAKER_FRACTION * total and holdable(spk)
        ),
        key=lambda t: (-t[0], t[1]),
    )
    chosen: dict[str, str] = {}
    for split in ("dev", "test"):
        acc = 0.0
        for dur, spk in candidates:
            if spk in chosen or acc + dur > 1.3 * target:
                continue
            chosen[spk] = split
            acc += dur
            if acc >= 0.9 * target:
                break
    for row in rows:
        row["split"] = chosen.get(row["speaker"], "train")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_jsonl(path: Path, rows: Iterable[Row]) -> None:
    """Write rows as JSON lines atomically."""
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def summary_table(rows: Sequence[Row], order: Sequence[str]) -> str:
    """Format hours per source and split (plus file counts) as a text table."""
    hours: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    files: dict[str, int] = defaultdict(int)
    for row in rows:
        hours[row["source"]][row["split"]] += row["duration"] / 3600
        files[row["source"]] += 1
    head = f"{'source':<14}{'files':>8}" + "".join(f"{s:>9}" for s in SPLITS)
    lines = [head + f"{'total':>9}", "-" * (len(head) + 9)]
    totals: dict[str, float] = defaultdict(float)
    for src in [s for s in order if s in hours]:
        h = hours[src]
        cells = "".join(f"{h[s]:9.3f}" for s in SPLITS)
        lines.append(f"{src:<14}{files[src]:8d}{cells}{sum(h.values()):9.3f}")
        for s in SPLITS:
            totals[s] += h[s]
    grand = sum(totals.values())
    cells = "".join(f"{totals[s]:9.3f}" for s in SPLITS)
    lines.append("-" * (len(head) + 9))
    lines.append(f"{'total (h)':<14}{len(rows):8d}{cells}{grand:9.3f}")
    if grand > 0:
        share = "".join(f"{100 * totals[s] / grand:8.1f}%" for s in SPLITS)
        lines.append(f"{'share':<14}{'':8}{share}")
    return "\n".join(lines)


def make_rows(job: Job, rec: Result) -> list[Row]:
    """Turn a job and its conversion record into manifest rows."""
    segments = rec["segments"]
    text = job.text if len(segments) == 1 else None
    return [
        {
            "path": seg["path"],
            "source": job.source,
            "speaker": job.speaker,
            "language": job.language,
            "duration": seg["duration"],
            "text": text,
            "split": job.split,
            "orig_sr": rec.get("orig_sr"),
            "style": job.style,
        }
        for seg in segments
    ]


def report_source(name: str, jobs: Sequence[Job], results: Sequence[Result], cached: int, dups: int) -> None:
    """Print the one-line outcome of a source."""
    counts: dict[str, int] = defaultdict(int)
    errors = [r["error"] for r in results if r.get("error")]
    for r in results:
        counts[r.get("skip") or ("error" if r.get("error") else "ok")] += 1
    segs = sum(len(r["segments"]) for r in results)
    hours = sum(s["duration"] for r in results for s in r["segments"]) / 3600
    log(
        f"{name}: {len(jobs)} inputs ({cached} cached, {dups} duplicates dropped), "
        f"{counts['ok']} ok, {counts['short']} short, {counts['silent']} silent, "
        f"{counts['error']} errors -> {segs} files, {hours:.2f} h"
    )
    for err in errors[:3]:
        warn(f"{name}: {err}")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--out",
        required=True,
        type=Path,
        help="corpus root; receives debs/, pkgroot/, audio/, cache/, manifest.jsonl, "
        "train/dev/test.jsonl and summary.txt",
    )
    ap.add_argument(
        "--sources",
        default="all",
        help="comma-separated real-speech sources to include, or 'all' or 'none' "
        f"(default all): {', '.join(REAL_SOURCES)}",
    )
    ap.add_argument(
        "--synthetic-minutes",
        type=float,
        default=60.0,
        help="minutes of synthetic TTS speech with exact transcripts "
        "(flite, espeak-ng, festival); 0 disables (default 60)",
    )
    ap.add_argument(
        "--no-festival",
        action="store_true",
        help="do not install or use festival for synthetic speech",
    )
    ap.add_argument(
        "--music-minutes",
        type=float,
        default=0.0,
        help="minutes of game-soundtrack music in 10 s pieces, source 'music' (default 0 = none)",
    )
    ap.add_argument(
        "--music-sources",
        default=",".join(DEFAULT_MUSIC),
        help="comma-separated music packages (default %(default)s; also supertuxkart-data, a 630 MB download)",
    )
    ap.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the synthetic voice/style/sentence draws (default 0)",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="conversion worker processes (default 2)",
    )
    ap.add_argument(
        "--nice",
        type=int,
        default=10,
        help="niceness added to the worker processes (default 10)",
    )
    ap.add_argument(
        "--min-seconds",
        type=float,
        default=0.3,
        help="drop files or pieces shorter than this (default 0.3)",
    )
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=20.0,
        help="split longer files at quiet points into pieces of at most this (default 20)",
    )
    ap.add_argument(
        "--no-apt",
        action="store_true",
        help="never call apt-get: use only debs already in OUT/debs and TTS engines already installed",
    )
    return ap.parse_args(argv)


def select_sources(spec: str) -> list[str]:
    """Resolve the --sources value to a list of source names."""
    if spec.strip() == "all":
        return list(REAL_SOURCES)
    if spec.strip() in ("", "none"):
        return []
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in REAL_SOURCES]
    if unknown:
        raise SystemExit(f"unknown source(s): {', '.join(unknown)}")
    return names


def fetch_packages(store: PackageStore, packages: Iterable[str]) -> dict[str, Path]:
    """Download and unpack packages; return roots of those that succeeded."""
    roots: dict[str, Path] = {}
    for package in packages:
        try:
            roots[package] = store.unpack(package)
        except (AptError, OSError) as exc:
            warn(f"package {package} unavailable: {exc}")
    return roots


def process_source(
    name: str,
    pool: cf.Executor,
    worker: Callable[[Job], Result],
    out: Path,
    roots: dict[str, Path],
    tag: str,
    seen: set[str],
) -> list[Row]:
    """Enumerate, de-duplicate, convert and split one real-speech source."""
    missing = [p for p in REAL_SOURCES[name].packages if p not in roots]
    if missing:
        raise RuntimeError(f"package {', '.join(missing)} unavailable")
    jobs, dups = dedupe(ENUMERATORS[name](roots), seen)
    cache = Cache(out, name, tag)
    cached = sum(cache.get(j.key) is not None for j in jobs)
    results = run_jobs(pool, worker, jobs, cache, name)
    report_source(name, jobs, results, cached, dups)
    rows = [row for j, r in zip(jobs, results, strict=True) for row in make_rows(j, r)]
    if name != "festvox-ru":
        assign_speaker_splits(rows)
    return rows


def process_music(
    pool: cf.Executor,
    worker: Callable[[Job], Result],
    out: Path,
    roots: dict[str, Path],
    packages: Sequence[str],
    minutes: float,
    tag: str,
) -> list[Row]:
    """Cut soundtracks into 10 s pieces until ``minutes`` are reached; split by track."""
    jobs = music_jobs(roots, packages, minutes)
    cache = Cache(out, "music", tag)
    cached = sum(cache.get(j.key) is not None for j in jobs)
    results = run_jobs(pool, worker, jobs, cache, "music")
    report_source("music", jobs, results, cached, 0)
    per_track = [make_rows(j, r) for j, r in zip(jobs, results, strict=True)]
    depth = max((len(t) for t in per_track), default=0)
    rows: list[Row] = []
    total = 0.0
    for row in (t[k] for k in range(depth) for t in per_track if k < len(t)):
        if total >= minutes * 60:
            break
        rows.append(row)
        total += row["duration"]
    assign_speaker_splits(rows)
    return rows


def write_outputs(out: Path, rows_by_source: dict[str, list[Row]], skipped: Sequence[str], elapsed: float) -> None:
    """Write the manifest, the per-split lists and summary.txt; print the summary."""
    order = [*REAL_SOURCES, "synthetic", "music"]
    manifest = [r for src in order for r in sorted(rows_by_source.get(src, []), key=lambda r: r["path"])]
    write_jsonl(out / "manifest.jsonl", manifest)
    for split in SPLITS:
        write_jsonl(out / f"{split}.jsonl", (r for r in manifest if r["split"] == split))
    text = f"{summary_table(manifest, order)}\n\nwall time: {elapsed / 60:.1f} min\n"
    if skipped:
        text += "skipped: " + "; ".join(skipped) + "\n"
    write_text_atomic(out / "summary.txt", text)
    log("")
    log(text.rstrip())
    log(f"manifest: {out / 'manifest.jsonl'} ({len(manifest)} rows)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the recipe; return the process exit status."""
    args = parse_args(argv)
    t0 = time.monotonic()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    sources = select_sources(args.sources)
    music_pkgs = [p.strip() for p in args.music_sources.split(",") if p.strip()]
    bad_music = [p for p in music_pkgs if p not in MUSIC_SOURCES]
    if bad_music:
        raise SystemExit(f"unknown music package(s): {', '.join(bad_music)}")

    packages = [pkg for name in sources for pkg in REAL_SOURCES[name].packages]
    if args.synthetic_minutes > 0:
        packages += [pkg for pkg, _ in FORTUNE_PACKAGES.values()]
    if args.music_minutes > 0:
        packages += music_pkgs
    store = PackageStore(out, use_apt=not args.no_apt)
    log(f"fetching {len(packages)} Debian packages into {store.debs}")
    roots = fetch_packages(store, packages)
    log(f"packages ready ({time.monotonic() - t0:.0f} s)")

    tag_src = json.dumps([CACHE_VERSION, TARGET_SR, args.min_seconds, args.max_seconds, SILENCE_PEAK])
    tag = hashlib.md5(tag_src.encode()).hexdigest()[:8]
    worker = functools.partial(convert, out_root=str(out), min_s=args.min_seconds, max_s=args.max_seconds)
    rows_by_source: dict[str, list[Row]] = {}
    skipped: list[str] = []
    seen: set[str] = set()
    with cf.ProcessPoolExecutor(max_workers=max(1, args.jobs), initializer=init_worker, initargs=(args.nice,)) as pool:
        for name in sources:
            try:
                rows = process_source(name, pool, worker, out, roots, tag, seen)
            except Exception as exc:  # one broken source must not stop the others
                warn(f"source {name} skipped: {type(exc).__name__}: {exc}")
                skipped.append(f"{name} ({exc})")
                continue
            if rows:
                rows_by_source[name] = rows
            else:
                skipped.append(f"{name} (no usable audio)")

        if args.synthetic_minutes > 0:
            engines = ensure_tts_engines(not args.no_apt, not args.no_festival)
            chosen = run_synthetic(pool, worker, out, roots, engines, args.synthetic_minutes, args.seed, tag)
            rows = [row for j, r in chosen for row in make_rows(j, r)]
            if rows:
                rows_by_source["synthetic"] = rows
            else:
                skipped.append("synthetic")

        if args.music_minutes > 0:
            rows = process_music(pool, worker, out, roots, music_pkgs, args.music_minutes, tag)
            if rows:
                rows_by_source["music"] = rows
            else:
                skipped.append("music")

    write_outputs(out, rows_by_source, skipped, time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
