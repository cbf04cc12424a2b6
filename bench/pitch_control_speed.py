"""What pitch control costs: instructed synthesis with and without it, in the same process.

    python bench/pitch_control_speed.py [--model default] [--repeats 3] [--threads 2]

Speaks the test sentences of ``tests/data/synthetic`` under instructions that ask a pitch level
(a man's low and very low voice, a woman's high one, a pitch without a gender) with the shipped
instruction model, once with pitch control (``TTS.instruct``'s default: clips outside the asked
range are measured and decoded again at a moved pitch) and once without, alternating, best of
``--repeats`` each. Prints both times, their ratio and how many clips were moved.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from tts import load_tts

SYNTHETIC = Path(__file__).parents[1] / "tests" / "data" / "synthetic"
STYLES = (
    "A man speaks with a low voice.",
    "A man speaks with a very low voice.",
    "A woman speaks with a high voice.",
    "Someone speaks in a very high pitch.",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="an instruction model (default: default)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each setting (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tts = load_tts(args.model)
    rows = [json.loads(line) for line in (SYNTHETIC / "manifest.jsonl").read_text().splitlines()]
    texts = [row["text"] for row in rows for _ in STYLES]
    instructions = [style for _ in rows for style in STYLES]
    best, audio = {}, {}
    tts.instruct(instructions[:2], texts=texts[:2])  # warm-up
    for _ in range(args.repeats):
        for control in (True, False):
            start = time.perf_counter()
            audio[control] = tts.instruct(instructions, texts=texts, seed=0, pitch_control=control)
            best[control] = min(best.get(control, float("inf")), time.perf_counter() - start)
    moved = sum(not torch.equal(a, b) for a, b in zip(audio[True], audio[False], strict=True))
    seconds = sum(clip.shape[-1] for clip in audio[False]) / tts.sample_rate
    print(f"{len(texts)} instructed clips, {seconds:.1f} s of speech, {args.threads} threads, best of {args.repeats}")
    print(f"  without pitch control {best[False]:.2f} s")
    print(f"  with pitch control    {best[True]:.2f} s ({moved} clips moved)")
    print(f"  ratio {best[True] / best[False]:.3f}")


if __name__ == "__main__":
    main()
