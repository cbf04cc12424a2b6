"""Bit rates of a model's token files: nominal, entropy-coded as written, and entropy bounds.

    python bench/token_rate.py DATA [--model default] [--split test] [--limit 200]
                                    [--n-codebooks Q]

Encodes the files of DATA (folders, audio files or JSONL manifests, as ``codec eval`` takes them)
and writes each one's token file in memory twice, as ``codec encode`` does: fixed-width and range
coded with the model's code statistics (``--entropy``). Prints, in bit/s of audio:

- nominal: ``log2(codebook size)`` bits per code;
- fixed-width payload and whole ``.tok`` files (header included);
- range-coded payload and whole ``.tok`` files: what ``codec encode --entropy`` stores;
- the cross-entropy of the codes under the code statistics: what an ideal coder with the same
  static model would reach (the range coder's overhead is the gap to it);
- the plug-in entropy of these files' own code histogram: a lower bound that is biased low when
  there are few frames per codebook entry (it is what ``codec eval`` reports as "entropy").
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from tqdm import tqdm

from codec.evaluation.items import collect_items
from codec.formats.tokens import Tokens
from codec.io.audio import read_audio
from codec.loading import load_codec
from codec.quantizers.usage import usage_stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="+", help="folders, audio files or JSONL manifests")
    parser.add_argument("--model", default="default", help="shipped name or model folder (default: default)")
    parser.add_argument("--split", default=None, help="only manifest rows with this split, e.g. test")
    parser.add_argument("--limit", type=int, default=None, help="at most N files, evenly spread")
    parser.add_argument("--n-codebooks", type=int, default=None, help="codebooks to keep (default: all)")
    args = parser.parse_args()

    model = load_codec(args.model).eval()
    stats = model.code_stats
    if stats is None:
        sys.exit(f"error: {args.model}: the model has no code statistics (export it with --code-stats)")
    items = collect_items(args.data, split=args.split, limit=args.limit)
    n_q = args.n_codebooks or model.n_codebooks
    histogram = np.zeros((n_q, model.codebook_size), dtype=np.int64)
    seconds = frames = 0.0
    sizes = {"fixed payload": 0, "fixed file": 0, "coded payload": 0, "coded file": 0}
    for item in tqdm(items, desc="encoding", unit="file"):
        audio, rate = read_audio(item.path)
        with torch.inference_mode():
            tokens: Tokens = model.encode(audio, rate, n_codebooks=n_q)
        codes = tokens.codes[0].numpy()  # (Q, T)
        seconds += audio.shape[-1] / rate
        frames += codes.shape[1]
        for q in range(n_q):
            histogram[q] += np.bincount(codes[q], minlength=model.codebook_size)
        _, fixed_payload = tokens.encoded()
        _, coded_payload = tokens.encoded(stats)
        sizes["fixed payload"] += len(fixed_payload)
        sizes["fixed file"] += len(tokens.to_bytes())
        sizes["coded payload"] += len(coded_payload)
        sizes["coded file"] += len(tokens.to_bytes(code_stats=stats))

    entropy_bits = usage_stats(torch.from_numpy(histogram))["entropy_bits"].sum().item()  # per frame
    rows = [
        ("nominal", model.bitrate(n_q)),
        ("fixed-width payload", 8 * sizes["fixed payload"] / seconds),
        ("fixed-width .tok files", 8 * sizes["fixed file"] / seconds),
        ("range-coded payload", 8 * sizes["coded payload"] / seconds),
        ("range-coded .tok files", 8 * sizes["coded file"] / seconds),
        ("cross-entropy under the code stats", stats.coded_bits(histogram).sum() * frames / seconds),
        ("plug-in entropy of these files", entropy_bits * frames / seconds),
    ]
    print(f"{args.model}, {n_q} codebook(s): {len(items)} files, {seconds / 60:.1f} min, {int(frames)} frames")
    nominal = rows[0][1]
    for name, rate in rows:
        print(f"{name:<36}{rate:>9.0f} bit/s{rate / nominal:>8.1%}")
    per_entry = frames / model.codebook_size
    print(f"({per_entry:.2f} frames per codebook entry: the plug-in entropy is biased low when that is small)")


if __name__ == "__main__":
    main()
