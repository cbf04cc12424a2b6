"""What limits a Vocos-decoder codec: its magnitudes or its phases?

    python egs/speech16k/oracle_spectrum.py --model default DATA/test.jsonl [--limit 10]

The decoder predicts a magnitude and a phase per STFT bin. This swaps in the original audio's
magnitude or phase (same STFT as the decoder's inverse STFT) and scores each mix against the
original with PESQ-WB, STOI and log-mel distance (``codec.metrics.quality``):

- ``model``: the decoder's own output;
- ``model magnitude + true phase`` and ``true magnitude + model phase``;
- ``true magnitude + Griffin-Lim phase`` (32 iterations from the model's phase): how far a
  magnitude alone can go.

If ``model magnitude + true phase`` stays near ``model``, the magnitudes are the limit (more
information through the codes, or a better-trained decoder), not the phase.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from codec.corpus import plan_jobs, read_clip
from codec.decoders import VocosDecoder
from codec.metrics import quality
from codec.model import Codec
from codec.pretrained import load_codec


def spectrum(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``(1, N)`` -> complex ``(1, n_fft // 2 + 1, N // hop)`` framed like ``InverseSTFT``'s "same" output."""
    pad = (n_fft - hop) // 2
    padded = torch.nn.functional.pad(audio, (pad, pad))
    return torch.stft(padded, n_fft, hop, window=torch.hann_window(n_fft), center=False, return_complex=True)


def mixes(model: Codec, audio: torch.Tensor, griffin_lim: int) -> dict[str, torch.Tensor]:
    """The decoder's output and the oracle mixes for ``(1, N)`` audio (N a multiple of the hop)."""
    head = model.decoder.head
    n_fft, hop = head.istft.n_fft, head.istft.hop_length

    def synth(spec: torch.Tensor) -> torch.Tensor:
        return head.istft(spec.real, spec.imag)

    with torch.inference_mode():
        codes = model.encode_codes(audio[:, None])
        real, imag = head.spectrum(model.decoder.features(model.quantizer.decode(codes)))
        predicted = torch.complex(real, imag)
        true = spectrum(audio, n_fft, hop)[..., : predicted.shape[-1]]
        spec = torch.polar(true.abs(), predicted.angle())
        for _ in range(griffin_lim):
            rebuilt = spectrum(synth(spec), n_fft, hop)[..., : predicted.shape[-1]]
            spec = torch.polar(true.abs(), rebuilt.angle())
        return {
            "model": synth(predicted),
            "model magnitude + true phase": synth(torch.polar(predicted.abs(), true.angle())),
            "true magnitude + model phase": synth(torch.polar(true.abs(), predicted.angle())),
            f"true magnitude + Griffin-Lim {griffin_lim}": synth(spec),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="+", help="audio files, folders or JSONL manifests")
    parser.add_argument("--model", default="default", help="model name, folder or checkpoint (default: default)")
    parser.add_argument("--limit", type=int, default=10, help="files, evenly spread (default 10)")
    parser.add_argument("--griffin-lim", type=int, default=32, help="Griffin-Lim iterations (default 32)")
    args = parser.parse_args()
    model = load_codec(args.model)
    if not isinstance(model.decoder, VocosDecoder):
        parser.error(f"{args.model} has no Vocos (magnitude + phase) decoder")
    jobs = plan_jobs([Path(p) for p in args.data])
    jobs = [jobs[i] for i in np.linspace(0, len(jobs) - 1, min(args.limit, len(jobs))).round().astype(int)]
    scores: dict[str, list[list[float]]] = {}
    for job in jobs:
        audio = torch.from_numpy(read_clip(job.source, model.sample_rate))[None]
        audio = audio[:, : audio.shape[-1] // model.hop_length * model.hop_length]
        for name, output in mixes(model, audio, args.griffin_lim).items():
            q = quality(audio[0].numpy(), output[0].numpy(), model.sample_rate)
            scores.setdefault(name, []).append([q["pesq_wb"] or np.nan, q["stoi"] or np.nan, q["mel_distance"]])
    print(f"{args.model}: mean over {len(jobs)} files")
    print(f"{'spectrum':40s} PESQ-WB   STOI    mel")
    for name, rows in scores.items():
        pesq, stoi, mel = np.nanmean(rows, axis=0)
        print(f"{name:40s} {pesq:7.3f} {stoi:6.3f} {mel:6.3f}")


if __name__ == "__main__":
    main()
