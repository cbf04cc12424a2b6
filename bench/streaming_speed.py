"""Streaming speed: x real time of ``StreamingEncoder`` / ``StreamingDecoder`` with small pushes.

    python bench/streaming_speed.py [--recipe speech16k-causal] [--seconds 5] [--push-ms 20 80] [--threads 1]

Random weights (speed does not depend on them). For each push size, times the encoder (carried
state for causal spectral encoders, else a recomputed window), and the decoder twice side by
side: with carried convolution state (the default for causal Vocos decoders) and with the
windowed recomputation used for other decoders. Prints x real time (audio seconds per wall-clock
second) and the stateful decoder's speed-up.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from codec.api import Codec
from codec.inference.streaming_decoder import StreamingDecoder
from codec.inference.streaming_encoder import StreamingEncoder

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "codec"


def run_encoder(model: Codec, audio: torch.Tensor, push: int) -> tuple[float, torch.Tensor]:
    encoder = StreamingEncoder(model)
    start = time.perf_counter()
    codes = [encoder.push(audio[i : i + push]) for i in range(0, audio.shape[0], push)]
    codes.append(encoder.flush())
    return time.perf_counter() - start, torch.cat(codes, dim=1)


def run_decoder(model: Codec, codes: torch.Tensor, frames: int, stateful: bool) -> float:
    decoder = StreamingDecoder(model)
    if not stateful:
        decoder.stateful = False
        decoder.reset()
    start = time.perf_counter()
    for i in range(0, codes.shape[1], frames):
        decoder.push(codes[:, i : i + frames])
    decoder.flush()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="speech16k-causal", help="a causal recipe (default speech16k-causal)")
    parser.add_argument("--seconds", type=float, default=5.0, help="stream length (default 5)")
    parser.add_argument("--push-ms", type=int, nargs="+", default=[20, 80], help="push sizes in ms (default 20 80)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Codec(**yaml.safe_load((RECIPES / f"{args.recipe}.yaml").read_text())["model"]["codec"]).eval()
    audio = 0.1 * torch.randn(int(args.seconds * model.sample_rate))
    print(f"{args.recipe}, {args.seconds:g} s stream, {args.threads} thread(s); x real time")
    print("| push | encoder | decoder, carried state | decoder, recomputed window | speed-up |")
    print("|---:|---:|---:|---:|---:|")
    for push_ms in args.push_ms:
        frames = max(1, round(push_ms / 1000 * model.frame_rate))
        encode_time, codes = run_encoder(model, audio, frames * model.hop_length)
        stateful = run_decoder(model, codes, frames, stateful=True)
        windowed = run_decoder(model, codes, frames, stateful=False)
        rt = args.seconds
        print(
            f"| {push_ms} ms | {rt / encode_time:.1f}x | {rt / stateful:.1f}x | {rt / windowed:.1f}x | "
            f"{windowed / stateful:.1f} |"
        )


if __name__ == "__main__":
    main()
