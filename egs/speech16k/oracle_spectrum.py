"""What limits a Vocos-decoder codec: its magnitudes or its phases?

    python egs/speech16k/oracle_spectrum.py --model default DATA/test.jsonl [--limit 10]

The decoder predicts a magnitude and a phase per STFT bin. This swaps in the original audio's
magnitude or phase (same STFT as the decoder's inverse STFT) and scores each mix against the
original with PESQ-WB, STOI and log-mel distance (``codec.evaluation.metrics.quality``):

- ``model``: the decoder's own output;
- ``model magnitude + true phase`` and ``true magnitude + model phase``;
- ``true magnitude + Griffin-Lim phase`` (32 iterations from the model's phase): how far a
  magnitude alone can go;
- ``true 64-mel envelope + model phase``: the original's magnitude smoothed to 64 mel bands (its
  projection onto a 64-band mel filterbank and back), with the model's phase: what a decoder
  whose envelope were right at mel resolution would score with its own phase.

If ``model magnitude + true phase`` stays near ``model``, the magnitudes are the limit (more
information through the codes, or a better-trained decoder), not the phase.

It then prints where the model's log-mel error lies (100 bands, 1024-point STFT): by frame
loudness (quartiles of the original's frame energy) and by band (ten groups of ten, low to high).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import librosa
import numpy as np
import torch

from codec.api import Codec
from codec.corpus.jobs import plan_jobs, read_clip
from codec.decoders import VocosDecoder
from codec.evaluation.metrics import quality
from codec.loading import load_codec
from codec.nn.spectral import MelSpectrogram


def spectrum(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``(1, N)`` -> complex ``(1, n_fft // 2 + 1, N // hop)`` framed like ``InverseSTFT``'s "same" output."""
    pad = (n_fft - hop) // 2
    padded = torch.nn.functional.pad(audio, (pad, pad))
    return torch.stft(padded, n_fft, hop, window=torch.hann_window(n_fft), center=False, return_complex=True)


def mel_smoother(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """``(F, F)`` projection of a linear magnitude spectrum onto ``n_mels`` mel bands and back."""
    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
    return torch.from_numpy(np.linalg.pinv(basis) @ basis).float()


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
        envelope = (mel_smoother(model.sample_rate, n_fft, 64) @ true.abs()).clamp(min=0)
        spec = torch.polar(true.abs(), predicted.angle())
        for _ in range(griffin_lim):
            rebuilt = spectrum(synth(spec), n_fft, hop)[..., : predicted.shape[-1]]
            spec = torch.polar(true.abs(), rebuilt.angle())
        return {
            "model": synth(predicted),
            "model magnitude + true phase": synth(torch.polar(predicted.abs(), true.angle())),
            "true magnitude + model phase": synth(torch.polar(true.abs(), predicted.angle())),
            f"true magnitude + Griffin-Lim {griffin_lim}": synth(spec),
            "true 64-mel envelope + model phase": synth(torch.polar(envelope, predicted.angle())),
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
    log_mel = MelSpectrogram(model.sample_rate, 1024, 256, 100)
    errors, loudness = [], []
    for job in jobs:
        audio = torch.from_numpy(read_clip(job.source, model.sample_rate))[None]
        audio = audio[:, : audio.shape[-1] // model.hop_length * model.hop_length]
        outputs = mixes(model, audio, args.griffin_lim)
        for name, output in outputs.items():
            q = quality(audio[0].numpy(), output[0].numpy(), model.sample_rate)
            scores.setdefault(name, []).append([q["pesq_wb"] or np.nan, q["stoi"] or np.nan, q["mel_distance"]])
        reference = log_mel(audio)[0]  # (100, T)
        errors.append((log_mel(outputs["model"])[0] - reference).abs())
        loudness.append(reference.exp().sum(0))
    print(f"{args.model}: mean over {len(jobs)} files")
    print(f"{'spectrum':40s} PESQ-WB   STOI    mel")
    for name, rows in scores.items():
        pesq, stoi, mel = np.nanmean(rows, axis=0)
        print(f"{name:40s} {pesq:7.3f} {stoi:6.3f} {mel:6.3f}")
    error, energy = torch.cat(errors, dim=1), torch.cat(loudness)  # (100, T), (T,)
    edges = torch.quantile(energy, torch.tensor([0.25, 0.5, 0.75])).tolist()
    quartile = torch.bucketize(energy, torch.tensor(edges))
    by_loudness = [f"{error[:, quartile == q].mean().item():.2f}" for q in range(4)]
    by_band = [f"{e:.2f}" for e in error.mean(1).reshape(10, 10).mean(1).tolist()]
    print(f"model log-mel L1 by frame loudness, quietest to loudest quarter: {' '.join(by_loudness)}")
    print(f"model log-mel L1 by band, ten groups of ten from low to high: {' '.join(by_band)}")


if __name__ == "__main__":
    main()
