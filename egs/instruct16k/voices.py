"""The instruction corpus's other synthesizers: espeak-ng and festival, beside flite.

espeak-ng controls the most styles: gender by its voice variants (``m1``-``m7`` male, ``f1``-``f5``
female), pitch (``-p``), rate (``-s``, words per minute), amplitude (``-a``) and whispering (the
``whisper`` / ``whisperf`` variants). festival speaks with its diphone voices kal and ked (male; a
drawn duration stretch and mean F0) and the HTS voice slt (female, at its own rate and pitch, which
its HTS engine keeps), with the level and the whisper effect of the flite clips.

Neither prints phone durations as ``flite -psdur`` does, so their rows carry ``durations: null``
and ``"align": "mas"``, as the real speech of ``egs/tts16k`` does: the whole-utterance generators
(``ar``, ``ar-semantic``) train on them as they are. Their phones are the flite front end's for
the same text, so every row reads alike, and every clip is measured like the flite ones: the style
words come from the measurement, not from the settings. espeak-ng is the least intelligible of the
three to Whisper tiny.en (``../shared/DATA.md``), so both speak training utterances only and the
held-out rows stay comparable across corpus builds.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from codec.errors import CodecError
from codec.io.audio import resample

ESPEAK_VARIANTS = {"male": ("m1", "m2", "m3", "m4", "m5", "m6", "m7"), "female": ("f1", "f2", "f3", "f4", "f5")}
ESPEAK_WHISPER = {"male": "whisper", "female": "whisperf"}
ESPEAK_PITCH = (10, 90)
"""``-p`` (0-99, default 50)."""
ESPEAK_RATE = (110, 290)
"""``-s`` words per minute (default 175), drawn log-uniform."""
ESPEAK_AMPLITUDE = (25, 160)
"""``-a`` (default 100): about -12 to +4 dB."""
ESPEAK_DEFAULT_RATE = 175
FESTIVAL_VOICES = {"kal_diphone": "male", "ked_diphone": "male", "cmu_us_slt_arctic_hts": "female"}
FESTIVAL_F0 = (75.0, 150.0)
"""Mean F0 of the diphone voices (``int_lr_params``' target), Hz."""
FESTIVAL_SPEED = (0.7, 1.4)
ENGINES = ("espeak-ng", "festival")


def festival_voices() -> list[str]:
    """The festival voices of ``FESTIVAL_VOICES`` installed here."""
    roots = [Path("/usr/share/festival/voices")]
    return [voice for voice in FESTIVAL_VOICES if any(root.glob(f"*/{voice}") for root in roots)]


def draw_espeak(rng: random.Random, whisper_share: float) -> dict[str, Any]:
    """An espeak-ng style: variant (gender), pitch, rate, amplitude, whisper."""
    gender = rng.choice(("male", "female"))
    whisper = rng.random() < whisper_share
    variant = ESPEAK_WHISPER[gender] if whisper else rng.choice(ESPEAK_VARIANTS[gender])
    words_per_minute = round(math.exp(rng.uniform(*map(math.log, ESPEAK_RATE))))
    return {
        "engine": "espeak-ng",
        "voice": f"en-us+{variant}",
        "gender": gender,
        "rate": round(words_per_minute / ESPEAK_DEFAULT_RATE, 3),
        "pitch": None,
        "espeak_pitch": rng.randint(*ESPEAK_PITCH),
        "words_per_minute": words_per_minute,
        "amplitude": rng.randint(*ESPEAK_AMPLITUDE),
        "gain_db": 0.0,
        "whisper": whisper,
    }


def draw_festival(rng: random.Random, whisper_share: float, voices: list[str]) -> dict[str, Any]:
    """A festival style: voice (gender); for the diphone voices a speed and mean F0; level, whisper."""
    voice = rng.choice(voices)
    diphone = voice.endswith("_diphone")
    speed = round(math.exp(rng.uniform(*map(math.log, FESTIVAL_SPEED))), 3) if diphone else 1.0
    return {
        "engine": "festival",
        "voice": voice,
        "gender": FESTIVAL_VOICES[voice],
        "rate": speed,
        "pitch": float(round(rng.uniform(*FESTIVAL_F0))) if diphone else None,
        "gain_db": round(rng.uniform(-15.0, 5.0), 1),
        "whisper": rng.random() < whisper_share,
    }


def command(style: dict[str, Any], text: str, wav: str, text_file: str) -> list[str]:
    """The command line that speaks ``text`` in ``style`` into ``wav``."""
    if style["engine"] == "espeak-ng":
        return [
            "espeak-ng", "-v", style["voice"], "-p", str(style["espeak_pitch"]),
            "-s", str(style["words_per_minute"]), "-a", str(style["amplitude"]), "-w", wav, text,
        ]  # fmt: skip
    Path(text_file).write_text(text + "\n", encoding="utf-8")
    evals = [f"(voice_{style['voice']})"]
    if style["voice"].endswith("_diphone"):
        evals.append(f"(Parameter.set 'Duration_Stretch {1.0 / style['rate']:.4f})")
        # the diphone voices' intonation model maps its own F0 statistics onto this target
        evals.append(
            f"(set! int_lr_params '((target_f0_mean {style['pitch']:.1f}) (target_f0_std 14)"
            " (model_f0_mean 170) (model_f0_std 34)))"
        )
    return ["text2wave", *[arg for e in evals for arg in ("-eval", e)], text_file, "-o", wav]


def speak(style: dict[str, Any], text: str, tmp: str, sample_rate: int) -> np.ndarray:
    """``(N,)`` float32 speech of ``text`` at ``sample_rate``.

    Raises:
        CodecError: the synthesizer failed or wrote no audio.
    """
    wav, text_file = os.path.join(tmp, "other.wav"), os.path.join(tmp, "other.txt")
    try:
        proc = subprocess.run(command(style, text, wav, text_file), capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CodecError(f"{style['engine']} failed: {error}") from None
    if proc.returncode != 0 or not os.path.exists(wav):
        raise CodecError(f"{style['engine']} failed: {proc.stderr.strip()[-200:]}")
    audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    audio = resample(audio.mean(axis=1), rate, sample_rate)
    if audio.size < sample_rate // 10:
        raise CodecError(f"{style['engine']} wrote {audio.size} samples")
    return audio
