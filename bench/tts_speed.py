"""Real-time factor of the generators for a 10 s utterance, alone and in a batch.

    python bench/tts_speed.py [--seconds 10] [--batch 32] [--threads 2] [--kinds nar ar]
                              [--precisions float32 bfloat16]

Each generator is built at the default recipe's size (``recipes/tts/nar.yaml``'s width and depth for
all) with random weights: the work per token does not depend on training. ``ar`` and
``ar-semantic`` (which makes as many semantic units as tokens first) are made to generate exactly
the utterance's frames (their length bounds are set to it; ``ar-aligned``, whose
random pointer moves on early, is timed over the frames it makes), at the default tokenizer's 50
frames/s with 10 phones per second, with the options ``synthesize`` uses by default (``nar``: text
guidance 1.5, which doubles its batch). Prints the real-time factor (synthesis time / audio time, lower
is faster; the tokenizer's decode included) for one utterance, and for a batch of ``--batch``, at
each precision of ``tts.api.PRECISIONS`` (the generator under autocast; the decode in float32), and
each precision's time over float32's, alone.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from codec import load_codec
from tts.api import PRECISIONS, SYNTHESIS_DEFAULTS, precision_autocast
from tts.models import GENERATORS
from tts.sampling import SamplingOptions, generators_for

RECIPE = Path(__file__).parents[1] / "recipes" / "tts" / "nar.yaml"


def build(kind: str, n_symbols: int, codebook_size: int, frames: int, phones: int) -> torch.nn.Module:
    width = yaml.safe_load(RECIPE.read_text())["model"]["model"]
    options = {"dim": width["dim"], "heads": width["heads"], "dropout": 0.0}
    if kind == "nar":
        options |= {"encoder_layers": width["encoder_layers"], "decoder_layers": width["decoder_layers"]}
    else:
        per_phone = frames / phones
        options |= {"layers": width["encoder_layers"] + width["decoder_layers"], "max_frames_per_phone": per_phone}
        if kind in ("ar", "ar-semantic"):
            options["min_frames_per_phone"] = per_phone
    return GENERATORS[kind](n_symbols, 1, codebook_size, **options).eval()


def run(
    model: torch.nn.Module, kind: str, batch: int, phones: int, frames: int, codec: object, precision: str
) -> float:
    """Real-time factor of generating and decoding ``batch`` utterances (over the audio made)."""
    ids = torch.randint(5, 60, (batch, phones), generator=torch.Generator().manual_seed(0))
    lengths = torch.full((batch,), phones)
    empty, none = torch.zeros(batch, 1, 0, dtype=torch.long), torch.zeros(batch, dtype=torch.long)
    extra = dict(SYNTHESIS_DEFAULTS.get(kind, {}))
    if kind == "nar":
        extra["durations"] = torch.full((batch, phones), frames // phones)
    start = time.perf_counter()
    with precision_autocast("cpu", precision):
        codes, code_lengths = model.generate(
            ids, lengths, empty, none, generators_for(range(batch)), SamplingOptions(), **extra
        )
    tokens = codec.tokens(codes.clamp(max=codec.codebook_size - 1), code_lengths)
    codec.decode(tokens)
    return (time.perf_counter() - start) / (float(code_lengths.sum()) / codec.frame_rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="utterance length (default 10)")
    parser.add_argument("--batch", type=int, default=32, help="utterances in the batch (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--kinds", nargs="+", default=list(GENERATORS), help="generators (default all)")
    parser.add_argument(
        "--precisions", nargs="+", default=list(PRECISIONS), choices=list(PRECISIONS), help="(default all)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    codec = load_codec("default")
    frames = round(args.seconds * codec.frame_rate)
    phones = round(args.seconds * 10)
    print(f"{args.seconds:g} s utterances ({frames} frames, {phones} phones), {args.threads} threads; real-time factor")
    header = "".join(f" {f'{p} alone':>15} {f'batch {args.batch}':>9}" for p in args.precisions)
    print(f"{'generator':<11} {'params':>7}{header}  time / float32 alone")
    for kind in args.kinds:
        model = build(kind, 80, codec.codebook_size, frames, phones)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        alone = {}
        row = f"{kind:<11} {params:>6.1f}M"
        for precision in args.precisions:
            run(model, kind, 1, phones, frames, codec, precision)  # warm-up
            alone[precision] = run(model, kind, 1, phones, frames, codec, precision)
            batched = run(model, kind, args.batch, phones, frames, codec, precision)
            row += f" {alone[precision]:>15.3f} {batched:>9.3f}"
        reference = alone.get("float32")
        ratios = ", ".join(f"{p} {t / reference:.2f}" for p, t in alone.items() if reference and p != "float32")
        print(f"{row}  {ratios}", flush=True)


if __name__ == "__main__":
    main()
