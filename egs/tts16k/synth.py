"""One TTS training pair: flite speaks a normalised sentence, ``-psdur`` gives each phone's end time.

``synthesize_pair(job, out_root)`` runs in a worker process and never raises: it returns a record
(the ``pairs.jsonl`` row, or ``{"key", "error"}``). The phones are the ``flite`` back end's symbols
of ``tts.text`` for the same normalised text (stress digits and ``|`` word boundaries), so a model
reads them with ``TextFrontend("flite")``; ``-psdur`` phones equal them without stress digits, and
the word boundaries get a duration of 0. The last phone (always ``pau``) ends at the audio's end:
flite's diphone voice kal16 shortens the final pause by up to about 0.15 s, and the clustergen
voices differ by a few ms.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from codec.errors import CodecError
from tts.text.g2p import WORD_BOUNDARY
from tts.text.g2p_flite import PAUSE, FliteG2P, parse_psdur, strip_stress

SAMPLE_RATE = 16000
MAX_END_GAP_S = 0.3
"""The largest disagreement between flite's last phone end and the audio length that is accepted."""


@dataclass(frozen=True)
class PairJob:
    """A planned utterance (picklable for the process pool).

    Attributes:
        key: the pair's key and its audio path relative to the corpus root.
        text: the sentence as written; ``normalized``: what flite reads.
        voice: flite voice; ``stretch``: duration_stretch (1 / speed); ``f0``: int_f0_target_mean
            or None for the voice's own.
        split: ``train``, ``dev``, ``test`` or ``robust``; ``category``: robust-set category.
    """

    key: str
    text: str
    normalized: str
    voice: str
    stretch: float
    f0: float | None
    split: str
    category: str | None = None
    style: dict[str, Any] = field(default_factory=dict)


_G2P: FliteG2P | None = None


def flite_g2p() -> FliteG2P:
    """One flite back end per process."""
    global _G2P
    if _G2P is None:
        _G2P = FliteG2P()
    return _G2P


def attach_durations(symbols: list[str], psdur: list[tuple[str, float]], seconds: float) -> list[float]:
    """Per-symbol durations in seconds for ``symbols`` from flite's ``(phone, end)`` pairs.

    Word boundaries get 0; the last phone is stretched or cut to end at ``seconds``.

    Raises:
        CodecError: the phone sequences differ, or the last end is too far from ``seconds``.
    """
    spoken = [strip_stress(s) for s in symbols if s != WORD_BOUNDARY]
    if spoken != [p for p, _ in psdur]:
        raise CodecError("flite -psdur phones differ from the flite back end's phones")
    if psdur[-1][0] != PAUSE or abs(psdur[-1][1] - seconds) > MAX_END_GAP_S:
        raise CodecError(f"flite's last phone ends at {psdur[-1][1]:.3f} s but the audio lasts {seconds:.3f} s")
    ends = [end for _, end in psdur]
    ends[-1] = seconds
    if len(ends) > 1 and ends[-1] < ends[-2]:
        raise CodecError("the audio ends before flite's last phone starts")
    spans = iter(np.diff([0.0, *ends]).round(5).tolist())
    return [0.0 if s == WORD_BOUNDARY else next(spans) for s in symbols]


def flite_command(job: PairJob, wav: str) -> list[str]:
    """The flite command line that speaks ``job`` into ``wav`` and prints phone end times."""
    cmd = ["flite", "-voice", job.voice, "--setf", f"duration_stretch={job.stretch:.4f}"]
    if job.f0 is not None:
        cmd += ["--setf", f"int_f0_target_mean={job.f0:.1f}"]
    return [*cmd, "-psdur", "-t", job.normalized, "-o", wav]


def write_flac(path: Path, audio: np.ndarray) -> None:
    """16-bit mono FLAC at 16 kHz, written to a temporary name and renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    sf.write(tmp, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    os.replace(tmp, path)


def synthesize_pair(job: PairJob, out_root: str) -> dict[str, Any]:
    """Speak ``job``, write its FLAC under ``out_root`` and return its ``pairs.jsonl`` row."""
    start = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="tts16k-") as tmp:
            wav = os.path.join(tmp, "out.wav")
            proc = subprocess.run(flite_command(job, wav), capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                raise CodecError(f"flite failed: {proc.stderr.strip()[-200:]}")
            audio, rate = sf.read(wav, dtype="int16")
        if rate != SAMPLE_RATE:
            raise CodecError(f"flite voice {job.voice} speaks at {rate} Hz, not {SAMPLE_RATE}")
        seconds = len(audio) / SAMPLE_RATE
        phones = flite_g2p().phonemize(job.normalized, "en")
        durations = attach_durations(phones, parse_psdur(proc.stdout), seconds)
        write_flac(Path(out_root) / job.key, audio)
    except (CodecError, OSError, subprocess.TimeoutExpired, RuntimeError) as error:
        return {"key": job.key, "error": f"{type(error).__name__}: {error}"[:300]}
    row = pair_row(job, phones, durations, seconds, f"flite-{job.voice}", "flite")
    return {**row, "synth_s": round(time.monotonic() - start, 4)}


def pair_row(
    job: PairJob, phones: list[str], durations: list[float] | None, seconds: float, speaker: str, source: str
) -> dict[str, Any]:
    """The ``pairs.jsonl`` row of ``job``'s audio: without ``durations`` it is marked for monotonic
    alignment search (``"align": "mas"``)."""
    return {
        "key": job.key,
        "path": job.key,
        "text": job.text,
        "normalized": job.normalized,
        "language": "en",
        "phones": phones,
        "durations": durations,
        "duration": round(seconds, 5),
        "speaker": speaker,
        "style": job.style,
        "split": job.split,
        "category": job.category,
        "source": source,
        "align": "durations" if durations is not None else "mas",
    }
