"""Encode and decode one long synthetic recording through ``Codec.encode`` / ``Codec.decode``, or
encode it from a file with ``Codec.encode_file``.

    python bench/long_audio.py [--minutes 60] [--chunk-seconds 30] [--model default] [--threads 2]
    python bench/long_audio.py --file-rate 44100 --channels 2 --minutes 180   # encode_file of a FLAC

``--model`` takes what ``load_codec`` takes (a published codec's folder too); ``random`` is
``recipes/codec/speech16k-vq.yaml`` with random weights (speed and memory do not depend on
training). Prints the peak resident memory of the process (target: within 2 GB for an hour at
16 kHz), how much of it the encode + decode added over the loaded model and input, and x real time
(audio seconds per wall-clock second; on a shared machine also per CPU second, which other
processes do not distort).
``--chunk-seconds 0`` runs the whole file at once (for comparison on short inputs; an hour would
need tens of GB).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml

from codec.api import Codec
from codec.loading import load_codec

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "codec"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_model(name: str) -> tuple[Codec, str]:
    """Any model ``load_codec`` takes (a published codec's folder too), or for ``random`` the
    speech16k-vq recipe with random weights."""
    if name != "random":
        return load_codec(name), name
    recipe = yaml.safe_load((RECIPES / "speech16k-vq.yaml").read_text())["model"]["codec"]
    torch.manual_seed(0)
    return Codec(**recipe).eval(), "speech16k-vq (random weights)"


def synthetic(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Speech-like test signal: gliding harmonic tones in syllable-rate bursts plus a little noise.

    Generated a minute at a time into one float32 array, so building it needs no more memory than
    the result.
    """
    rng = np.random.default_rng(seed)
    total = int(seconds * rate)
    audio = np.empty(total, dtype=np.float32)
    block = 60 * rate
    for start in range(0, total, block):
        n = min(block, total - start)
        t = (start + np.arange(n)) / rate
        pitch = 140 + 40 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6.3))
        phase = 2 * np.pi * np.cumsum(pitch) / rate
        voice = sum(np.sin(k * phase) / k for k in range(1, 6))
        envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2
        audio[start : start + n] = 0.1 * envelope * voice + 0.003 * rng.standard_normal(n)
    return audio


def write_flac(path: Path, seconds: float, rate: int, channels: int) -> None:
    """The synthetic recording at ``rate`` with ``channels`` copies, written ten minutes at a time."""
    block = 600.0
    with sf.SoundFile(path, "w", rate, channels, subtype="PCM_16", format="FLAC") as handle:
        for start in np.arange(0, seconds, block):
            part = synthetic(min(block, seconds - start), rate, seed=int(start))
            handle.write(np.repeat(part[:, None], channels, axis=1))


def from_file(model: Codec, label: str, args: argparse.Namespace) -> None:
    """Peak memory and speed of ``encode_file`` on a long FLAC file, which it reads in blocks."""
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.flac"
        write_flac(path, seconds, args.file_rate, args.channels)
        whole = seconds * args.file_rate * args.channels * 4 / 2**20
        model.encode(synthetic(1.0, model.sample_rate), model.sample_rate)  # warm-up, receptive field
        before = peak_rss_mb()
        print(f"model {label}, {seconds / 60:.0f} min FLAC at {args.file_rate} Hz x {args.channels}")
        print(f"peak RSS before: {before:.0f} MB (reading it whole as float32 would take {whole:.0f} MB)")
        start = time.perf_counter()
        tokens = model.encode_file(path, chunk_seconds=args.chunk_seconds or None)
        took = time.perf_counter() - start
        peak = peak_rss_mb()
    print(f"tokens {tuple(tokens.codes.shape)}; encode_file {took:.1f} s ({seconds / took:.1f}x real time)")
    print(f"peak RSS: {peak:.0f} MB ({peak - before:+.0f} MB during encode_file)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--chunk-seconds", type=float, default=30.0, help="0: whole file at once")
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--file-rate", type=int, default=0, help="encode a FLAC file at this rate (0: an array)")
    parser.add_argument("--channels", type=int, default=1, help="channels of the FLAC file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    chunk = args.chunk_seconds or None

    model, label = load_model(args.model)
    if args.file_rate:
        from_file(model, label, args)
        return
    seconds = args.minutes * 60
    audio = synthetic(seconds, model.sample_rate)
    model.encode(audio[: model.sample_rate], model.sample_rate, chunk_seconds=chunk)  # warm-up, receptive field
    before = peak_rss_mb()
    print(f"model {label}, {seconds / 60:.0f} min at {model.sample_rate} Hz, chunks of {chunk} s")
    print(f"peak RSS before: {before:.0f} MB (model, input {audio.nbytes / 2**20:.0f} MB)")

    start, cpu_start = time.perf_counter(), time.process_time()
    tokens = model.encode(audio, model.sample_rate, chunk_seconds=chunk)
    encoded = time.perf_counter()
    clips = model.decode(tokens, chunk_seconds=chunk)
    decoded, cpu = time.perf_counter(), time.process_time() - cpu_start
    assert clips[0].shape[0] == audio.shape[0]

    enc, dec = encoded - start, decoded - encoded
    print(f"tokens {tuple(tokens.codes.shape)}, audio out {clips[0].shape[0]} samples")
    print(f"encode {enc:.1f} s ({seconds / enc:.1f}x real time), decode {dec:.1f} s ({seconds / dec:.1f}x)")
    print(f"encode + decode {enc + dec:.1f} s ({seconds / (enc + dec):.1f}x real time)")
    print(f"CPU time {cpu:.1f} s over {args.threads} thread(s): {seconds / cpu:.1f}x real time per CPU second")
    peak = peak_rss_mb()
    print(f"peak RSS: {peak:.0f} MB ({peak - before:+.0f} MB during encode + decode); target within 2048 MB")


if __name__ == "__main__":
    main()
