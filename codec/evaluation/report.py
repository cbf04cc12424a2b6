"""What ``codec eval`` reports: per-file and mean scores per system, as a table, JSON and a
rate-quality plot."""

from __future__ import annotations

import importlib.util
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codec.errors import CodecError
from codec.io.audio import atomic_write_bytes


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
``vuv_error`` (frames voiced in one but not the other), both from YIN (``codec.nn.pitch``)."""


Metrics = dict[str, float | None]


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
        lines = [f"{count_files(len(self.files))}, mean over files:", *_format_rows(header, rows)]
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


def count_files(count: int) -> str:
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
