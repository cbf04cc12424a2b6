"""Parameter counts and encode / decode speed of every recipe's codec, side by side.

    python bench/recipe_speed.py [--seconds 10] [--threads 1 2] [--batch 1] [--device cpu]
                                 [--recipes speech16k-vq encodec ...]

Models are built from the recipes with random weights (speed does not depend on training); the
shipped ``default`` model is timed too when present. Prints x real time (audio seconds per
wall-clock second, best of ``--repeats``) for encode, decode and both on a batch of ``--batch``
clips, per thread count, and each model's ratio to the first one in the list. ``--device cuda``
times on a GPU (waiting for the GPU's work in every timed call; threads then only drive the host),
with nothing beyond the main install, so it also runs on a lent GPU machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from codec.api import Codec
from codec.loading import load_codec, shipped_models

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "codec"


def recipe_names() -> list[str]:
    """Every recipe but the tiny test ones, sorted."""
    return sorted(p.stem for p in RECIPES.glob("*.yaml") if not p.stem.startswith("tiny-"))


def recipe_codec(name: str) -> Codec:
    """The codec of ``recipes/codec/NAME.yaml`` with random weights."""
    return Codec.from_config(yaml.safe_load((RECIPES / f"{name}.yaml").read_text())["model"]["codec"])


def best_time(function, repeats: int, device: str = "cpu") -> float:
    """Smallest wall-clock time of ``repeats`` calls after one warm-up call (each call waits for the
    GPU's work to finish when ``device`` is a CUDA device)."""

    def call() -> None:
        function()
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)

    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(model: Codec, seconds: float, repeats: int, batch: int = 1, device: str = "cpu") -> tuple[float, float]:
    """x real time (audio seconds of the whole batch per second) of ``encode_codes`` and
    ``decode_codes`` on ``batch`` clips of ``seconds``."""
    model.eval().to(device)
    audio = torch.randn(batch, 1, int(seconds * model.sample_rate), device=device) * 0.1
    with torch.inference_mode():
        codes = model.encode_codes(audio)
        encode = best_time(lambda: model.encode_codes(audio), repeats, device)
        decode = best_time(lambda: model.decode_codes(codes), repeats, device)
    return batch * seconds / encode, batch * seconds / decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads (default 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default 3)")
    parser.add_argument("--batch", type=int, default=1, help="clips per call (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--recipes", nargs="+", default=None, help="recipe names (default: all but tiny-*)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available here")

    names = args.recipes or recipe_names()
    models: dict[str, Codec] = {}
    if "default" in shipped_models():
        models["default (shipped)"] = load_codec("default")
    for name in names:
        models[name] = recipe_codec(name)

    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(f"clip {args.seconds:g} s, batch {args.batch}, {where}; x real time (higher is faster)")
    header = f"{'model':<22}{'params':>9}{'kbit/s':>8}"
    for threads in args.threads:
        header += f"{f'enc@{threads}':>10}{f'dec@{threads}':>10}{f'both@{threads}':>10}{'ratio':>7}"
    print(header)
    reference: dict[int, float] = {}
    for name, model in models.items():
        row = f"{name:<22}{model.num_parameters() / 1e6:>8.1f}M{model.bitrate() / 1000:>8.2f}"
        for threads in args.threads:
            torch.set_num_threads(threads)
            encode, decode = measure(model, args.seconds, args.repeats, args.batch, args.device)
            both = 1 / (1 / encode + 1 / decode)
            reference.setdefault(threads, both)
            row += f"{encode:>10.1f}{decode:>10.1f}{both:>10.1f}{both / reference[threads]:>7.2f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
