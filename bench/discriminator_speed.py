"""Cost of one forward + backward pass of each GAN discriminator, side by side.

    python bench/discriminator_speed.py [--batch 16] [--seconds 1] [--threads 1]

A GAN training step runs the discriminators about three times (real and fake for the
discriminator update, fake again for the generator's adversarial and feature-matching losses), so
on a CPU their cost decides whether the GAN is affordable at all. Prints the best wall-clock time of
``--repeats`` passes at the default widths, the parameter count, and each one's time relative to
the first one listed (the frame discriminator ``mrfd`` by default).
"""

from __future__ import annotations

import argparse

import torch
from recipe_speed import best_time  # the sibling script in bench/

from codec.training.discriminators import DISCRIMINATORS


def pass_seconds(name: str, audio: torch.Tensor, repeats: int) -> tuple[float, int]:
    """Best time of forward + backward of discriminator ``name`` on ``audio``, and its parameters."""
    discriminator = DISCRIMINATORS[name]()

    def step() -> None:
        logits, features = discriminator(audio)
        loss = sum(x.mean() for x in logits) + sum(f.abs().mean() for fs in features for f in fs)
        loss.backward()

    return best_time(step, repeats), sum(p.numel() for p in discriminator.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="clips per batch (default 16)")
    parser.add_argument("--seconds", type=float, default=1.0, help="clip length (default 1)")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default 3)")
    parser.add_argument("--names", nargs="+", default=["mrfd", "mrd", "mbstft", "mpd"], choices=sorted(DISCRIMINATORS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    audio = (0.1 * torch.randn(args.batch, 1, int(args.seconds * args.sample_rate))).requires_grad_()
    print(f"batch {args.batch} x {args.seconds} s, {args.threads} thread(s), fwd + bwd, best of {args.repeats}")
    print(f"| discriminator | parameters | seconds per pass | x {args.names[0]} |")
    print("|---|---|---|---|")
    reference = None
    for name in args.names:
        seconds, parameters = pass_seconds(name, audio, args.repeats)
        reference = reference or seconds
        print(f"| {name} | {parameters / 1e6:.2f} M | {seconds:.3f} | {seconds / reference:.1f} |", flush=True)


if __name__ == "__main__":
    main()
