"""How much pitch do a model's tokens carry? Train a small F0 reader on them and report its error.

    python egs/speech16k/pitch_probe.py --model default DATA/manifest.jsonl [--steps 400] [--where quantized]

A codec that keeps the pitch must carry it through its codes: this trains a small convolutional
network (3 ConvNeXt blocks, width 256) to predict the original's F0 (``codec.pitch.yin``, 10 ms
frames) from the model's quantized latents (or, with ``--where latent``, from the encoder output
before quantization), on random 1 s segments of the train split, and prints the gross pitch error
(share of voiced frames off by more than 20 %) of the last 50 batches as it goes. The model
stays frozen. A low error means the pitch is in the codes, whatever the decoder makes of it.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

from codec.data import RandomSegmentDataset, load_bank, load_items
from codec.layers import ConvNeXtBlock
from codec.pitch import GROSS_PITCH_ERROR_OCTAVES, yin
from codec.pretrained import load_codec

PITCH_HOP_SECONDS = 0.01
F0_RANGE = (50.0, 600.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="JSONL manifest (its train split is used) or folder of audio")
    parser.add_argument("--model", default="default", help="model name, folder or checkpoint (default: default)")
    parser.add_argument("--where", choices=("quantized", "latent"), default="quantized")
    parser.add_argument("--steps", type=int, default=400, help="training steps of 16 x 1 s (default 400)")
    parser.add_argument("--files", type=int, default=1500, help="train files to draw segments from (default 1500)")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_codec(args.model).eval()
    rate = model.sample_rate
    pitch_hop = round(PITCH_HOP_SECONDS * rate)
    if model.hop_length % pitch_hop:
        parser.error(f"the model's hop {model.hop_length} is not a multiple of {pitch_hop} samples")
    per_frame = model.hop_length // pitch_hop

    items = [item for item in load_items(args.data) if item.split in (None, "train")]
    chosen = np.random.default_rng(0).choice(len(items), min(args.files, len(items)), replace=False)
    bank = load_bank([items[i] for i in chosen], rate, 1.0, preload=True)
    if bank is None:
        parser.error(f"no usable audio in {args.data}")
    segments = RandomSegmentDataset(bank, rate, 16 * args.steps, loudness_db=-20.0)

    reader = nn.Sequential(
        nn.Conv1d(model.encoder.dim, 256, 7, padding=3),
        *(ConvNeXtBlock(256, 512) for _ in range(3)),
        nn.Conv1d(256, per_frame, 1),
    )
    nn.init.constant_(reader[-1].bias, float(np.log2(150.0)))  # start mid-range, not clamped at the floor
    optimizer = torch.optim.AdamW(reader.parameters(), 1e-3)
    errors: list[float] = []
    for step in range(args.steps):
        audio = torch.stack([segments[16 * step + i] for i in range(16)])  # (16, 1, N)
        with torch.no_grad():
            latent = model.encoder(audio)
            features = model.quantizer(latent).quantized if args.where == "quantized" else latent
            f0, voiced = yin(audio[:, 0], rate, pitch_hop)
        log2_f0 = reader(features).transpose(1, 2).flatten(1).clamp(*np.log2(F0_RANGE))  # (16, T * per_frame)
        frames = min(log2_f0.shape[-1], f0.shape[-1])
        mask = voiced[:, :frames]
        if not mask.any():
            continue
        error = (log2_f0[:, :frames] - torch.log2(f0[:, :frames].clamp(min=1.0)))[mask].abs()
        optimizer.zero_grad()
        error.mean().backward()
        optimizer.step()
        errors.append(float((error.detach() > GROSS_PITCH_ERROR_OCTAVES).float().mean()))
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}: gross pitch error, last 50 batches: {np.mean(errors[-50:]):.3f}", flush=True)


if __name__ == "__main__":
    main()
