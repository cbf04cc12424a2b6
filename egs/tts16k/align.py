"""Fill the phone durations of the pairs that have none (the real speech, ``"align": "mas"``) by
monotonic alignment search with a trained ``nar`` model (``tts.align``).

    python egs/tts16k/align.py --pairs $DATA/pairs.jsonl --tokens $DATA/tokens/default --model my-tts

The model must generate the tokens' tokenizer's tokens (same token fingerprint) and read the pairs'
phones (same front end). Each aligned row gets ``durations`` in seconds (whole frames) and keeps
``"align": "mas"``; rows that already have durations are left alone, so a rerun only aligns what is
new (``--realign`` redoes the MAS rows, e.g. with a better model). ``pairs.jsonl`` and the
``<split>.jsonl`` manifests beside it are rewritten atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from codec.corpus.token_dataset import TokenDataset
from codec.errors import CodecError
from codec.io.audio import atomic_write_bytes
from tts.align import align
from tts.api import load_tts
from tts.models.nar import NarTTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, required=True, help="pairs.jsonl of egs/tts16k")
    parser.add_argument("--tokens", type=Path, required=True, help="the pairs' token folder")
    parser.add_argument("--model", required=True, help="a nar TTS model folder ('tts export')")
    parser.add_argument("--realign", action="store_true", help="align the MAS rows again")
    args = parser.parse_args(argv)
    try:
        tts = load_tts(args.model)
        if not isinstance(tts.generator, NarTTS):
            raise CodecError("alignment needs a nar model", args.model)
        tokens = TokenDataset(args.tokens)
        if tokens.model.get("token_fingerprint") != tts.codec.fingerprints().tokens:
            raise CodecError("the tokens were made by another tokenizer than the model's", args.tokens)
        index = {key: i for i, key in enumerate(tokens.keys)}
        rows = [json.loads(line) for line in args.pairs.read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as error:
        print(f"error: {args.pairs}: {error}", file=sys.stderr)
        return 2
    except CodecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    todo = [
        row
        for row in rows
        if row.get("align") == "mas" and (args.realign or row.get("durations") is None) and row.get("key") in index
    ]
    hop_seconds = 1 / float(tokens.model["frame_rate"])
    aligned = skipped = 0
    for row in tqdm(todo, desc="align", unit="utt"):
        phones = torch.tensor(tts.frontend.inventory.encode(row["phones"]), dtype=torch.long)
        codes = tokens[index[row["key"]]].codes
        if len(phones) == 0 or codes.shape[-1] < len(phones):
            skipped += 1
            continue
        row["durations"] = [round(int(n) * hop_seconds, 6) for n in align(tts.generator, phones, codes)]
        aligned += 1
    lines = [json.dumps(row) + "\n" for row in rows]
    atomic_write_bytes(args.pairs, "".join(lines).encode())
    # the recipe's per-split manifests beside pairs.jsonl hold the same rows: keep them in step
    for split in sorted({row.get("split") for row in rows if row.get("split")}):
        manifest = args.pairs.with_name(f"{split}.jsonl")
        if manifest.is_file():
            atomic_write_bytes(
                manifest,
                "".join(line for line, row in zip(lines, rows, strict=True) if row.get("split") == split).encode(),
            )
    print(f"{aligned} aligned, {skipped} skipped (fewer frames than phones), {len(rows) - len(todo)} left as they were")
    return 0


if __name__ == "__main__":
    sys.exit(main())
