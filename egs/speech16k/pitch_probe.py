"""How much pitch do a model's tokens carry? Train a small F0 reader on them and report its error.

    python egs/speech16k/pitch_probe.py --model default DATA/manifest.jsonl [--steps 400] [--where quantized]
    python egs/speech16k/pitch_probe.py --model speech16k-hn DATA/manifest.jsonl --head [--files 32]

A codec that keeps the pitch must carry it through its codes: this trains a small convolutional
network (3 ConvNeXt blocks, width 256) to predict the original's F0 (``codec.nn.pitch.yin``, 10 ms
frames) from the model's quantized latents (or, with ``--where latent``, from the encoder output
before quantization), on random 1 s segments of the train split, and prints the gross pitch error
(share of voiced frames off by more than 20 %) of the last 50 batches as it goes. The model
stays frozen. A low error means the pitch is in the codes, whatever the decoder makes of it.

With ``--head`` nothing is trained: the F0 that a harmonic-plus-noise (``vocos-hn``) model's own
pitch head reads from its codes is compared with YIN's F0 of the original on the voiced frames of
``--files`` test files (evenly spaced over the test split), and the files are decoded twice, with
that F0 driving the pulse train and with the original's (as in teacher-forced training), and
scored: what the model would gain from a perfect pitch.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

from codec.api import Codec
from codec.corpus.jobs import read_clip
from codec.decoders import HarmonicVocosDecoder
from codec.evaluation.metrics import quality
from codec.io.manifest import AudioItem, load_items
from codec.loading import load_codec
from codec.nn.layers import ConvNeXtBlock
from codec.nn.pitch import GROSS_PITCH_ERROR_OCTAVES, filled_log2_f0, yin
from codec.training.segments import RandomSegmentDataset, load_bank

PITCH_HOP_SECONDS = 0.01
F0_RANGE = (50.0, 600.0)
QUALITY_KEYS = ("pesq_wb", "pesq_nb", "stoi", "mel_distance", "f0_gpe", "vuv_error")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="JSONL manifest (its train split is used) or folder of audio")
    parser.add_argument("--model", default="default", help="model name, folder or checkpoint (default: default)")
    parser.add_argument("--where", choices=("quantized", "latent"), default="quantized")
    parser.add_argument("--steps", type=int, default=400, help="training steps of 16 x 1 s (default 400)")
    parser.add_argument(
        "--files",
        type=int,
        help="train files to draw segments from (default 1500); with --head, test files (default 32)",
    )
    parser.add_argument("--head", action="store_true", help="score a vocos-hn model's own pitch head on the test split")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_codec(args.model).eval()
    rate = model.sample_rate
    pitch_hop = round(PITCH_HOP_SECONDS * rate)
    if model.hop_length % pitch_hop:
        parser.error(f"the model's hop {model.hop_length} is not a multiple of {pitch_hop} samples")
    per_frame = model.hop_length // pitch_hop
    if args.head:
        if not isinstance(model.decoder, HarmonicVocosDecoder):
            parser.error(f"--head needs a vocos-hn model; {args.model} has no pitch head")
        score_head(model, [item for item in load_items(args.data) if item.split == "test"], args.files or 32)
        return

    items = [item for item in load_items(args.data) if item.split in (None, "train")]
    chosen = np.random.default_rng(0).choice(len(items), min(args.files or 1500, len(items)), replace=False)
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


def score_head(model: Codec, items: list[AudioItem], files: int) -> None:
    """Print the gross and median error (octaves) of ``model``'s pitch head on ``files`` of ``items``,
    and the mean quality of its decodes driven by that F0 and by YIN's F0 of the original."""
    if not items:
        raise SystemExit("error: the manifest has no test split")
    chosen = np.linspace(0, len(items) - 1, min(files, len(items))).round().astype(int)
    head = model.decoder.head
    errors, scores = [], {"its own F0": [], "the original's F0": []}
    for index in chosen:
        audio = model.pad_to_hop(torch.from_numpy(read_clip(items[index].path, model.sample_rate))[None, None])
        with torch.inference_mode():
            latent = model.quantizer.decode(model.encode_codes(audio))
            own, log2_f0 = model.decoder.forward_with_pitch(latent)
            forced, _ = model.decoder.forward_with_pitch(
                latent, filled_log2_f0(audio[:, 0], model.sample_rate, head.pitch_hop)
            )
            f0, voiced = yin(audio[:, 0, : log2_f0.shape[-1] * head.pitch_hop], model.sample_rate, head.pitch_hop)
        errors.append((log2_f0 - torch.log2(f0.clamp(min=1.0)))[voiced].abs())
        for name, decoded in (("its own F0", own), ("the original's F0", forced)):
            metrics = quality(audio[0, 0].numpy(), decoded[0, 0].numpy(), model.sample_rate)
            scores[name].append([np.nan if metrics[key] is None else metrics[key] for key in QUALITY_KEYS])
    error = torch.cat(errors)
    print(
        f"pitch head on {len(chosen)} test files, {error.numel()} voiced frames: gross pitch error "
        f"{(error > GROSS_PITCH_ERROR_OCTAVES).float().mean():.3f}, median error {error.median():.3f} octave"
    )
    for name, rows in scores.items():
        means = np.nanmean(np.array(rows, dtype=float), axis=0)
        print(
            f"decoded with {name}: "
            + ", ".join(f"{key} {value:.3f}" for key, value in zip(QUALITY_KEYS, means, strict=True))
        )


if __name__ == "__main__":
    main()
