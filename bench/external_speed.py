"""Published codecs through our API against their own packages' calls, in the same process.

    python bench/external_speed.py [--families encodec dac mimi wavtokenizer snac] [--seconds 10]
                                   [--files 4] [--repeats 3] [--threads 2] [--device cpu]

Each family is built at its published size with random weights (``codec.external.random_weights``:
the speed does not depend on the weights) and saved in its published layout; ``load_codec`` loads
it. Both sides encode and decode the same ``--files`` clips of ``--seconds`` (lengths spread by a
few percent, as real files are): the package one clip per call, as its README does, and ours as
one ``Codec.encode`` / ``decode`` call on the list. Prints x real time (audio seconds per
wall-clock second, best of ``--repeats``) and the ratio ours / theirs: above 1, ours is faster.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch
from recipe_speed import best_time  # the sibling script in bench/

from codec.external.random_weights import save_random
from codec.loading import load_codec


def reference_calls(family: str, network: Any, hop: int) -> tuple[Any, Any]:
    """The package's own ``encode(x (1, 1, N))`` and ``decode(codes)``."""
    if family == "snac":
        return network.encode, network.decode
    if family == "encodec":
        top = max(network.config.target_bandwidths)
        return (
            lambda x: network.encode(x, bandwidth=top).audio_codes,
            lambda codes: network.decode(codes, [None]).audio_values,
        )
    if family == "dac":

        def encode(x: torch.Tensor) -> torch.Tensor:
            padded = torch.nn.functional.pad(x, (0, -(-x.shape[-1] // hop) * hop - x.shape[-1]))
            return network.encode(padded).audio_codes

        return encode, lambda codes: network.decode(audio_codes=codes).audio_values
    return lambda x: network.encode(x).audio_codes, lambda codes: network.decode(codes).audio_values


def bench_family(family: str, folder: Path, args: argparse.Namespace) -> None:
    """Print one family's encode and decode rows."""
    network = save_random(family, folder).to(args.device)
    model = load_codec(folder, device=args.device)
    rate, hop = model.sample_rate, model.hop_length
    generator = torch.Generator().manual_seed(0)
    lengths = [round(args.seconds * rate * (1 - 0.05 * i / max(1, args.files - 1))) for i in range(args.files)]
    clips = [0.1 * torch.randn(n, generator=generator) for n in lengths]
    seconds = sum(lengths) / rate
    encode, decode = reference_calls(family, network, hop)
    with torch.inference_mode():
        codes = [encode(clip[None, None].to(args.device)) for clip in clips]
    tokens = model.encode(clips, rate)
    timings = {
        "encode": (
            lambda: [encode(clip[None, None].to(args.device)) for clip in clips],
            lambda: model.encode(clips, rate),
        ),
        "decode": (lambda: [decode(c) for c in codes], lambda: model.decode(tokens)),
    }
    params = sum(p.numel() for p in network.parameters()) / 1e6
    for step, (theirs, ours) in timings.items():
        with torch.inference_mode():
            theirs_time = best_time(theirs, args.repeats, args.device)
        ours_time = best_time(ours, args.repeats, args.device)
        print(
            f"{family:<13} {params:>6.1f}M {step:<7} {seconds / theirs_time:>8.1f} {seconds / ours_time:>8.1f} "
            f"{theirs_time / ours_time:>14.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["encodec", "dac", "mimi", "wavtokenizer", "snac"])
    parser.add_argument("--seconds", type=float, default=10.0, help="longest clip (default 10)")
    parser.add_argument("--files", type=int, default=4, help="clips (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls, best kept (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"{args.files} clips of up to {args.seconds:g} s on {args.device}, {args.threads} threads; x real time")
    print(f"{'family':<13} {'params':>7} {'step':<7} {'theirs':>8} {'ours':>8} {'ours / theirs':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            bench_family(family, Path(tmp) / family, args)


if __name__ == "__main__":
    main()
