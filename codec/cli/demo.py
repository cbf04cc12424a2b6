"""``codec demo``: round-trip the shipped speech samples with a model and print rate, tokens and quality."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from codec.cli.common import add_model_options, load_model_from_args
from codec.errors import CodecError

SAMPLES_DIR = Path(__file__).parents[1] / "samples"


def cmd_demo(args: argparse.Namespace) -> int:
    """``codec demo``: round-trip the shipped speech samples and print rate, tokens and quality."""
    import time

    import numpy as np

    from codec.evaluation.metrics import missing_packages, quality
    from codec.io.audio import read_audio, resample, to_mono, write_audio

    model = load_model_from_args(args)
    samples = [Path(p) for p in args.samples] if args.samples else sorted(SAMPLES_DIR.glob("*.flac"))
    if not samples:
        raise CodecError("no samples given and none shipped", SAMPLES_DIR)
    output = Path(args.output)
    model.decode(model.encode(np.zeros(model.sample_rate, dtype=np.float32), model.sample_rate))
    print(
        f"model {model.name}: {model.sample_rate} Hz, {model.frame_rate:g} frames/s, "
        f"{model.n_codebooks} x {model.codebook_size} codes, {model.bitrate():g} bit/s"
    )
    for sample in samples:
        audio, rate = read_audio(sample)
        reference = resample(to_mono(audio), rate, model.sample_rate)
        seconds = len(reference) / model.sample_rate
        start = time.perf_counter()
        tokens = model.encode(reference, model.sample_rate)
        encoded = time.perf_counter()
        reconstruction = model.decode(tokens)[0].numpy()
        decoded = time.perf_counter()
        token_path = output / f"{sample.stem}.tok"
        tokens.save(token_path)
        write_audio(output / f"{sample.stem}.wav", reconstruction, model.sample_rate)
        scores = quality(reference, reconstruction, model.sample_rate)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if v is not None)
        print(
            f"{sample.name}: {seconds:.2f} s -> {int(tokens.code_lengths[0]) * tokens.n_codebooks} tokens, "
            f"{token_path.stat().st_size} bytes ({token_path.stat().st_size * 8 / seconds:.0f} bit/s with header); "
            f"encode {seconds / (encoded - start):.0f}x, decode {seconds / (decoded - encoded):.0f}x real time"
        )
        print(f"  {shown}")
    if missing_packages():
        print(f"(install {', '.join(missing_packages())} for PESQ/STOI: pip install '.[eval]')")
    print(f"tokens and reconstructions written to {output}/")
    return 0


def add_parser(commands: Any) -> None:
    """The ``demo`` sub-command."""
    demo = commands.add_parser(
        "demo",
        help="encode + decode the shipped speech samples and print bitrate, tokens and PESQ/STOI",
        description="Round-trip the speech samples shipped with the package (or --samples) through a model, "
        "write the .tok files and reconstructions, and print bitrate, token count, speed and quality.",
    )
    demo.add_argument("--samples", nargs="+", default=None, help="audio files to use instead of the shipped ones")
    demo.add_argument(
        "-o", "--output", default="demo_output", help="folder for tokens and audio (default: demo_output)"
    )
    add_model_options(demo)
    demo.set_defaults(run=cmd_demo)
