"""Manifests and the summary of the tts16k recipe: ``pairs.jsonl``, one JSONL file per split,
``summary.json`` and ``summary.txt`` (sentences, hours, speed), all written atomically."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROW_FIELDS = (
    "key",
    "path",
    "text",
    "normalized",
    "language",
    "phones",
    "durations",
    "duration",
    "speaker",
    "style",
    "split",
    "category",
    "source",
    "align",
)
"""The fields of a ``pairs.jsonl`` row, in order (cache-only fields such as ``synth_s`` are left out)."""


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text to a temporary name, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_manifests(out: Path, rows: Sequence[dict], splits: Sequence[str], extra_fields: Sequence[str] = ()) -> None:
    """``pairs.jsonl`` (rows ordered by split, then key) and ``<split>.jsonl`` for each split, with
    the ``ROW_FIELDS`` and ``extra_fields`` of each row."""
    rank = {split: i for i, split in enumerate(splits)}
    ordered = sorted(rows, key=lambda r: (rank.get(r["split"], len(rank)), r["key"]))
    fields = (*ROW_FIELDS, *extra_fields)
    lines = {row["key"]: json.dumps({k: row.get(k) for k in fields}, ensure_ascii=False) + "\n" for row in ordered}
    write_text_atomic(out / "pairs.jsonl", "".join(lines.values()))
    for split in splits:
        write_text_atomic(out / f"{split}.jsonl", "".join(lines[r["key"]] for r in ordered if r["split"] == split))


def _per_100(seconds: float, count: int) -> float | None:
    return round(100 * seconds / count, 2) if count else None


def summarize(
    rows: Sequence[dict], sentences_read: int, synthesis: dict, tokens: dict | None, wall_s: float
) -> dict[str, Any]:
    """Counts, hours and speeds of a run (``synthesis`` and ``tokens`` as the recipe measured them)."""
    per_split: dict[str, dict[str, Any]] = defaultdict(lambda: {"utterances": 0, "hours": 0.0, "texts": set()})
    for row in rows:
        entry = per_split[row["split"]]
        entry["utterances"] += 1
        entry["hours"] += (row["duration"] or 0.0) / 3600
        entry["texts"].add(row["normalized"])
    splits = {
        split: {"utterances": e["utterances"], "sentences": len(e["texts"]), "hours": round(e["hours"], 4)}
        for split, e in per_split.items()
    }
    flite = [r for r in rows if r["source"] == "flite"]
    worker_s = sum(r.get("synth_s", 0.0) for r in flite)
    summary: dict[str, Any] = {
        "sentences_read": sentences_read,
        "utterances": len(rows),
        "hours": round(sum((r["duration"] or 0.0) for r in rows) / 3600, 4),
        "with_durations": sum(r["durations"] is not None for r in rows),
        "splits": splits,
        "speakers": sorted({str(r["speaker"]) for r in rows}),
        "synthesis": {
            **synthesis,
            "wall_s_per_100": _per_100(synthesis["wall_s"], synthesis["new"]),
            "worker_s_per_100": _per_100(worker_s, len(flite)),
        },
        "wall_s": round(wall_s, 2),
    }
    if tokens is not None:
        summary["tokens"] = {**tokens, "wall_s_per_100": _per_100(tokens["wall_s"], tokens["new"])}
    return summary


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    """Write ``summary.json`` and ``summary.txt`` and print the text."""
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    lines = [f"{'split':<8}{'utterances':>11}{'sentences':>11}{'hours':>9}"]
    for split, entry in summary["splits"].items():
        lines.append(f"{split:<8}{entry['utterances']:>11}{entry['sentences']:>11}{entry['hours']:>9.3f}")
    lines.append(f"{'total':<8}{summary['utterances']:>11}{'':>11}{summary['hours']:>9.3f}")
    syn = summary["synthesis"]
    lines.append(
        f"synthesis: {syn['new']} new in {syn['wall_s']} s ({syn['wall_s_per_100']} s per 100 wall; "
        f"{syn['worker_s_per_100']} s per 100 in one worker), {syn['errors']} failed"
    )
    if "tokens" in summary:
        tok = summary["tokens"]
        lines.append(
            f"tokens: {tok['new']} new in {tok['wall_s']} s ({tok['wall_s_per_100']} s per 100), "
            f"{tok['missing']} pairs without tokens, exit status {tok['status']} -> {tok['folder']}"
        )
    lines.append(f"wall time: {summary['wall_s']} s")
    text = "\n".join(lines) + "\n"
    write_text_atomic(out / "summary.txt", text)
    print(text, end="", flush=True)
