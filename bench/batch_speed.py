"""Padded batches against one item at a time: which way ``Codec.encode`` / ``decode`` should run a batch.

    python bench/batch_speed.py [--model default] [--files 8] [--seconds 10] [--spread 0.05]
                                [--threads 1 2] [--device cpu]

``codec encode`` / ``decode`` hand the model batches of files of similar length (bucketed by
length). ``codec.inference.batching`` can run such a batch padded to its longest item, redoing each shorter
item's tail alone so that no item depends on its batch-mates, or run the items one after another.
This times both on ``--files`` random clips whose lengths spread evenly over ``--spread`` of
``--seconds`` below the longest (0 gives equal lengths: nothing to redo), best of ``--repeats``,
and prints x real time (audio seconds per wall-clock second) side by side with the ratio of
padded to one by one: above 1, padding pays. ``codec.inference.batching.pads_batches`` picks the way by
device from this measurement.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from recipe_speed import best_time  # the sibling script in bench/

import codec.inference.batching
from codec.loading import load_codec


def timed(padded: bool, function: Callable[[], object], repeats: int, device: str) -> float:
    """``best_time`` of ``function`` with ``codec.inference.batching`` forced to pad batches or not."""
    chosen = codec.inference.batching.pads_batches
    codec.inference.batching.pads_batches = lambda _: padded
    try:
        return best_time(function, repeats, device)
    finally:
        codec.inference.batching.pads_batches = chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help="model name, folder or checkpoint (default: default)")
    parser.add_argument("--files", type=int, default=8, help="clips per batch (default 8)")
    parser.add_argument("--seconds", type=float, default=10.0, help="longest clip (default 10)")
    parser.add_argument("--spread", type=float, default=0.05, help="lengths spread over this share below it (0.05)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts (default 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement, best kept (default 3)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = parser.parse_args()

    model = load_codec(args.model).eval().to(args.device)
    rate = model.sample_rate
    generator = torch.Generator().manual_seed(0)
    longest = int(args.seconds * rate)
    lengths = [round(longest * (1 - args.spread * i / max(1, args.files - 1))) for i in range(args.files)]
    clips = [0.1 * torch.randn(n, generator=generator) for n in lengths]
    audio_seconds = sum(lengths) / rate
    print(
        f"{model.name}: {args.files} clips of {lengths[-1] / rate:.2f}-{lengths[0] / rate:.2f} s on {args.device}; "
        "x real time (higher is faster)"
    )
    print(f"{'threads':>7}  {'step':<6} {'padded':>8} {'1 by 1':>8} {'padded / 1 by 1':>16}")
    tokens = model.encode(clips, rate)
    for threads in args.threads:
        torch.set_num_threads(threads)
        for step, function in (("encode", lambda: model.encode(clips, rate)), ("decode", lambda: model.decode(tokens))):
            padded = audio_seconds / timed(True, function, args.repeats, args.device)
            alone = audio_seconds / timed(False, function, args.repeats, args.device)
            print(f"{threads:>7}  {step:<6} {padded:>8.1f} {alone:>8.1f} {padded / alone:>16.2f}")


if __name__ == "__main__":
    main()
