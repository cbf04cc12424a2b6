"""How an instruction model reads free wordings: per line of a TSV (instruction, then the levels
it asks for as ``attribute=level`` joined by commas), the levels the model reads (``TTS.read_styles``), and per
attribute how often the level asked is the level read (an attribute not asked must read as none).

    python egs/instruct16k/read_wordings.py egs/instruct16k/free_wordings.tsv --model tts16k-instruct
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codec.errors import CodecError
from tts.api import load_tts
from tts.instruct.phrasings import LEVELS


def read_table(path: Path) -> list[tuple[str, dict[str, str]]]:
    """The TSV's rows: (instruction, attribute -> level asked); ``#`` lines are comments."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        instruction, _, levels = line.partition("\t")
        items = [item.strip().partition("=") for item in levels.split(",") if item.strip()]
        asked = {attribute: level for attribute, _, level in items}
        wrong = [f"{a}={v}" for a, v in asked.items() if v not in LEVELS.get(a, ())]
        if wrong:
            raise CodecError(f"line {number}: unknown level {', '.join(wrong)}", str(path))
        rows.append((instruction, asked))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("table", type=Path, help="TSV: instruction<TAB>attribute=level, ...")
    parser.add_argument("--model", default="tts16k-instruct", help="an instruction model (default: tts16k-instruct)")
    args = parser.parse_args(argv)
    try:
        rows = read_table(args.table)
        read = load_tts(args.model).read_styles([instruction for instruction, _ in rows])
    except (CodecError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if read is None:
        print(f"error: {args.model} reads no levels (not a level model)", file=sys.stderr)
        return 1
    right, exact = dict.fromkeys(LEVELS, 0), 0
    for (instruction, asked), levels in zip(rows, read, strict=True):
        hits = {a: asked.get(a) == levels.get(a) for a in LEVELS}
        right = {a: right[a] + hits[a] for a in LEVELS}
        exact += all(hits.values())
        print(f"{'ok ' if all(hits.values()) else 'MISS'} {instruction}  -> {levels}")
    per = ", ".join(f"{a} {n}/{len(rows)}" for a, n in right.items())
    print(f"read as asked: {exact}/{len(rows)} instructions; per attribute {per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
