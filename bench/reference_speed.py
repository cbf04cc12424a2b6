"""Our tokenizers against EnCodec, DAC and the Vocos decoder, side by side in one process.

    python bench/reference_speed.py [--seconds 10] [--threads 1 2] [--batch 16]

Needs the ``published`` extra (``transformers``), whose EnCodec 24 kHz (at 1.5 and 6 kbps) and DAC 16
kHz (the published configuration) are built with random weights (speed does not depend on the
weights; ``codec.external.random_weights``) and run through ``transformers``' own calls; the Vocos mel
decoder (``vocos``, its published 24 kHz configuration; decode only) joins when its package imports.
Ours: the shipped default model, the default model in onnxruntime, and every recipe's model (random
weights; not the tiny test recipes).
Prints, per thread count, x real time (audio seconds per wall-clock second, best of
``--repeats``) for encode, decode and both on one clip (batch 1), our default's ratio to each
model, the default's throughput on a batch of ``--batch`` clips, and each model's peak resident
memory above its starting point.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch
from recipe_speed import best_time, recipe_codec, recipe_names  # the sibling script in bench/

from codec.api import Codec
from codec.external.random_weights import save_random
from codec.loading import load_codec

Step = Callable[[], object]


@dataclass
class Subject:
    """A model under test: ``encode`` / ``decode`` closures over a clip prepared for it."""

    name: str
    params: float  # millions
    kbps: float
    encode: Step | None
    decode: Step


class PeakMemory:
    """Peak resident memory (MB) above the level at entry, sampled every millisecond."""

    def __enter__(self) -> PeakMemory:
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.001)

    def __exit__(self, *_: object) -> None:
        self.running = False
        self.thread.join()

    @property
    def megabytes(self) -> float:
        return (self.peak - self.start) / 2**20


def params(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def ours(name: str, model: Codec, seconds: float, batch: int = 1) -> Subject:
    """Encode / decode of a ``Codec`` on ``batch`` clips in one padded call (as ``codec encode`` /
    ``decode`` run a batch on a GPU)."""
    model.eval()
    audio = 0.1 * torch.randn(batch, 1, int(seconds * model.sample_rate))
    with torch.inference_mode():
        codes = model.encode_codes(audio)

    def encode() -> object:
        with torch.inference_mode():
            return model.encode_codes(audio)

    def decode() -> object:
        with torch.inference_mode():
            return model.decode_codes(codes)

    return Subject(name, params(model), model.bitrate() / 1000, encode, decode)


def onnx_default(seconds: float, threads: int) -> Subject:
    """The default model through onnxruntime (``codec export --format onnx``)."""
    import numpy as np
    import onnxruntime as ort

    from codec.export.onnx import export_onnx

    model = load_codec("default")
    folder = Path(tempfile.mkdtemp()) / "onnx"
    export_onnx(model, folder)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    encoder = ort.InferenceSession(str(folder / "encoder.onnx"), options, providers=["CPUExecutionProvider"])
    decoder = ort.InferenceSession(str(folder / "decoder.onnx"), options, providers=["CPUExecutionProvider"])
    audio = (0.1 * np.random.default_rng(0).standard_normal((1, 1, int(seconds * 16000)))).astype(np.float32)
    encoder_input, decoder_input = encoder.get_inputs()[0].name, decoder.get_inputs()[0].name
    codes = encoder.run(None, {encoder_input: audio})[0]
    return Subject(
        "default (onnxruntime)",
        params(model),
        model.bitrate() / 1000,
        lambda: encoder.run(None, {encoder_input: audio}),
        lambda: decoder.run(None, {decoder_input: codes}),
    )


def _published(family: str, folder: Path) -> torch.nn.Module:
    """The published configuration of ``family`` with random weights, as its package runs it."""
    return save_random(family, folder / family)


def encodec_24k(kbps: float, seconds: float, folder: Path) -> Subject:
    model = _published("encodec", folder)
    audio = 0.1 * torch.randn(1, 1, int(seconds * 24000))
    with torch.inference_mode():
        encoded = model.encode(audio, bandwidth=kbps)

    def encode() -> object:
        with torch.inference_mode():
            return model.encode(audio, bandwidth=kbps)

    def decode() -> object:
        with torch.inference_mode():
            return model.decode(encoded.audio_codes, encoded.audio_scales)

    return Subject(f"EnCodec 24 kHz {kbps:g} kbps", params(model), kbps, encode, decode)


def dac_16k(seconds: float, folder: Path) -> Subject:
    model = _published("dac", folder)
    audio = 0.1 * torch.randn(1, 1, int(seconds * 16000))
    with torch.inference_mode():
        codes = model.encode(audio).audio_codes

    def encode() -> object:
        with torch.inference_mode():
            return model.encode(audio)

    def decode() -> object:
        with torch.inference_mode():
            return model.decode(audio_codes=codes)

    return Subject("DAC 16 kHz 6 kbps", params(model), 6.0, encode, decode)


def vocos_decoder(seconds: float) -> Subject | None:
    """The Vocos mel decoder (decode only), when the ``vocos`` package imports here."""
    try:
        from vocos import Vocos
    except (ImportError, OSError):  # not installed, or its torchaudio does not match torch
        return None
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    torch.manual_seed(0)
    model = Vocos(
        MelSpectrogramFeatures(sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100),
        VocosBackbone(input_channels=100, dim=512, intermediate_dim=1536, num_layers=8),
        ISTFTHead(dim=512, n_fft=1024, hop_length=256),
    ).eval()
    mel = torch.randn(1, 100, int(seconds * 24000 / 256))

    def decode() -> object:
        with torch.inference_mode():
            return model.decode(mel)

    return Subject("Vocos mel decoder 24 kHz", params(model), float("nan"), None, decode)


def recipe_codecs(default: str) -> dict[str, Codec]:
    """Every recipe's codec but the tiny test ones and the default's own recipe, with random weights."""
    torch.manual_seed(0)
    return {f"recipe {name}": recipe_codec(name) for name in recipe_names() if name != default}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads (default 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default 3)")
    parser.add_argument("--batch", type=int, default=16, help="clips in the batch throughput run (default 16)")
    args = parser.parse_args()
    seconds = args.seconds
    print(
        f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
        f"{psutil.cpu_count()} CPUs, torch {torch.__version__}, clip {seconds:g} s, batch 1"
    )
    folder = Path(tempfile.mkdtemp(prefix="reference-speed-"))
    default = load_codec("default")
    for threads in args.threads:
        torch.set_num_threads(threads)
        subjects = [
            ours(f"default ({default.name})", default, seconds),
            onnx_default(seconds, threads),
            *(ours(name, model, seconds) for name, model in recipe_codecs(default.name).items()),
            encodec_24k(1.5, seconds, folder),
            encodec_24k(6.0, seconds, folder),
            dac_16k(seconds, folder),
            vocos_decoder(seconds),
        ]
        subjects = [subject for subject in subjects if subject is not None]
        print(f"\n## {threads} thread(s)")
        header = "| model | params (M) | kbps | encode x RT | decode x RT | enc+dec x RT | default x faster | peak MB |"
        print(header)
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        rows = []
        for subject in subjects:
            with PeakMemory() as memory:
                encode = best_time(subject.encode, args.repeats) if subject.encode else float("nan")
                decode = best_time(subject.decode, args.repeats)
            both = encode + decode if subject.encode else decode
            rows.append((subject, encode, decode, both, memory.megabytes))
        reference_decode, reference_both = rows[0][2], rows[0][3]
        for subject, encode, decode, both, peak in rows:
            # Decode-only models (Vocos) are compared with our decoder alone.
            ratio = both / reference_both if subject.encode else decode / reference_decode
            enc = f"{seconds / encode:.0f}" if subject.encode else "-"
            dec, both_rt = seconds / decode, seconds / both
            kbps = "-" if subject.kbps != subject.kbps else f"{subject.kbps:g}"
            print(
                f"| {subject.name} | {subject.params:.1f} | {kbps} | {enc} | {dec:.0f} | {both_rt:.0f} | "
                f"{ratio:.1f} | {peak:.0f} |"
            )
        batch = ours(f"default, batch {args.batch}", load_codec("default"), seconds, args.batch)
        with PeakMemory() as memory:
            total = best_time(batch.encode, args.repeats) + best_time(batch.decode, args.repeats)
        print(
            f"\ndefault, batch of {args.batch} x {seconds:g} s: encode+decode {args.batch * seconds / total:.0f}x "
            f"real time, peak {memory.megabytes:.0f} MB"
        )


if __name__ == "__main__":
    main()
