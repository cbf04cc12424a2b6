"""Shrink a trained model's decoder as a warm start for a faster model.

    python egs/speech16k/shrink_decoder.py --model default --keep-layers 0 1 3 5 6 7 \\
        --intermediate-dim 768 -o SHRUNK

Keeps the listed ConvNeXt blocks of the decoder and the ``--intermediate-dim`` hidden units of
each block's MLP with the largest weights (``codec.training.shrink.shrink_decoder``), and saves the result as
a model folder. Encoder and codebooks are unchanged, so it gives the original's codes for the
same audio. Fine-tune its decoder as README.md in this folder shows ("A faster decoder").
"""

from __future__ import annotations

import argparse
import sys

from codec.errors import CodecError
from codec.loading import load_codec, save_pretrained
from codec.training.shrink import shrink_decoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="shipped name, model folder or .ckpt (default: default)")
    parser.add_argument("--keep-layers", type=int, nargs="+", required=True, help="decoder block indices to keep")
    parser.add_argument("--intermediate-dim", type=int, required=True, help="MLP width of the kept blocks")
    parser.add_argument("-o", "--output", required=True, help="model folder to write")
    args = parser.parse_args()
    try:
        codec = load_codec(args.model)
        shrunk = shrink_decoder(codec, args.keep_layers, args.intermediate_dim)
        folder = save_pretrained(shrunk, args.output)
    except (CodecError, ValueError) as error:
        sys.exit(f"error: {error}")
    before, after = codec.decoder, shrunk.decoder
    count = sum(p.numel() for p in before.parameters()), sum(p.numel() for p in after.parameters())
    print(f"decoder {count[0] / 1e6:.2f}M -> {count[1] / 1e6:.2f}M parameters; written to {folder}")


if __name__ == "__main__":
    main()
