"""``CodecNetwork``: encoder + quantizer + Fourier decoder, built from a plain config dict.

Training (``forward``), ``encode_codes`` and ``decode_codes`` run through the same three
functions, so what is encoded at inference is what was trained.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from codec.decoders import DECODERS
from codec.encoders import ENCODERS
from codec.fingerprints import Fingerprints, fingerprints
from codec.formats.bitpack import nominal_bitrate
from codec.quantizers import QUANTIZERS, Quantizer


def _build(
    registry: dict[str, type[nn.Module]],
    spec: dict[str, Any],
    kind: str,
    shared: dict[str, Any] | None = None,
    **extra: Any,
) -> nn.Module:
    """A module from ``spec``; ``extra`` always goes to it, ``shared`` codec-wide settings (the
    sample rate) only when it takes them, and a spec that gives one must agree with the codec's."""
    spec = dict(spec)
    name = spec.pop("name", None)
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(registry))}")
    accepted = inspect.signature(registry[name]).parameters
    for key, value in (shared or {}).items():
        if key in accepted:
            if spec.setdefault(key, value) != value:
                raise ValueError(f"{kind} {key} {spec[key]} differs from the codec's {value}")
        elif key in spec:
            raise ValueError(f"{kind} {name!r} takes no {key}")
    return registry[name](**extra, **spec)


@dataclass
class CodecOutput:
    """What ``Codec.forward`` returns.

    Attributes:
        audio: ``(B, 1, N)`` reconstruction.
        codes: ``(B, Q, T)`` codes.
        commit_loss: scalar commitment loss of the quantizer.
        latent: ``(B, D, T)`` encoder output before quantization.
        quantized: ``(B, D, T)`` the quantizer's output, what the decoder reads.
        log2_f0: ``(B, K)`` the decoder's predicted log2 F0 per pitch frame, for decoders with a
            pitch head (``HarmonicVocosDecoder``); None otherwise.
    """

    audio: torch.Tensor
    codes: torch.Tensor
    commit_loss: torch.Tensor
    latent: torch.Tensor
    quantized: torch.Tensor
    log2_f0: torch.Tensor | None = None


class CodecNetwork(nn.Module):
    """A neural audio codec as a network: encoder, quantizer and decoder, and their rates.

    ``codec.api.Codec`` adds the user-level ``encode`` / ``decode`` over ``Tokens``; training uses
    ``forward``, which runs through the same ``encode_codes`` / ``decode_codes`` path.

    Args:
        sample_rate: audio rate of the model in Hz.
        encoder: ``{"name": "seanet" | "spectral", ...options}``.
        quantizer: ``{"name": "vq" | "rvq" | "grvq" | "mcrvq", ...options}``; its ``dim`` is the
            encoder's.
        decoder: ``{"name": "vocos", ...options}``; its ``input_dim`` and ``hop_length`` come from the
            encoder.
        name: model name written into token files.
    """

    def __init__(
        self,
        sample_rate: int,
        encoder: dict[str, Any],
        quantizer: dict[str, Any],
        decoder: dict[str, Any],
        name: str = "codec",
    ) -> None:
        super().__init__()
        self.config = copy.deepcopy(
            {"sample_rate": sample_rate, "encoder": encoder, "quantizer": quantizer, "decoder": decoder, "name": name}
        )
        self.sample_rate = int(sample_rate)
        self.name = name
        self.encoder = _build(ENCODERS, encoder, "encoder")
        self.quantizer: Quantizer = _build(QUANTIZERS, quantizer, "quantizer", dim=self.encoder.dim)
        self.decoder = _build(
            DECODERS,
            decoder,
            "decoder",
            {"sample_rate": self.sample_rate},
            input_dim=self.encoder.dim,
            hop_length=self.encoder.hop_length,
        )
        self._track_fingerprints()

    def _track_fingerprints(self) -> None:
        """Start with no fingerprint cached; loading other weights releases a cached one."""
        self._fingerprint: Fingerprints | None = None
        self._fingerprint_fixed = False
        self._fingerprint_versions: tuple[int, ...] = ()
        self.register_load_state_dict_post_hook(self._release_fingerprint)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CodecNetwork:
        """Rebuild a (randomly initialized) codec from ``Codec.config``."""
        return cls(**config)

    @property
    def hop_length(self) -> int:
        """Samples per token frame."""
        return self.encoder.hop_length

    @property
    def frame_rate(self) -> float:
        """Token frames per second."""
        return self.sample_rate / self.hop_length

    @property
    def n_codebooks(self) -> int:
        """Maximum codebooks per frame."""
        return self.quantizer.n_codebooks

    @property
    def codebook_size(self) -> int:
        """Codes per codebook."""
        return self.quantizer.codebook_size

    def bitrate(self, n_codebooks: int | None = None) -> float:
        """Nominal bits per second with ``n_codebooks`` (default all)."""
        return nominal_bitrate(self.frame_rate, self.quantizer.check_n_codebooks(n_codebooks), self.codebook_size)

    @property
    def causal(self) -> bool:
        """Whether encoder and decoder are causal (streamable)."""
        return bool(getattr(self.encoder, "causal", False) and getattr(self.decoder, "causal", False))

    def fingerprints(self) -> Fingerprints:
        """Digests of the model and of its tokens (``codec.fingerprints``); token files carry them
        to catch model mix-ups.

        A loaded pretrained model keeps the fingerprints of the weights it was stored with, so
        casting it to another dtype or device does not change them, until it trains or loads other
        weights. Otherwise they are recomputed whenever a weight has changed since the last digest.
        """
        if self._fingerprint_fixed and self._fingerprint is not None:
            return self._fingerprint
        versions = tuple(t._version for t in self.state_dict().values())
        if self._fingerprint is None or versions != self._fingerprint_versions:
            self._fingerprint = fingerprints(self.config, self.state_dict())
            self._fingerprint_versions = versions
        return self._fingerprint

    def set_fingerprints(self, value: Fingerprints) -> None:
        """Fix the fingerprints of loaded weights (done by the pretrained loader)."""
        self._fingerprint = value
        self._fingerprint_fixed = True

    def _release_fingerprint(self, *_: Any) -> None:
        self._fingerprint_fixed = False
        self._fingerprint = None

    def train(self, mode: bool = True) -> CodecNetwork:
        """Switch mode; entering training releases a fixed fingerprint (the weights will change)."""
        if mode:
            self._release_fingerprint()
        return super().train(mode)

    def pad_to_hop(self, audio: torch.Tensor) -> torch.Tensor:
        """Right-pad ``(B, 1, N)`` with zeros to a multiple of ``hop_length`` (at least one frame)."""
        frames = max(1, -(-audio.shape[-1] // self.hop_length))
        return torch.nn.functional.pad(audio, (0, frames * self.hop_length - audio.shape[-1]))

    def forward(
        self, audio: torch.Tensor, n_codebooks: int | None = None, driving_log2_f0: torch.Tensor | None = None
    ) -> CodecOutput:
        """Encode, quantize and decode ``(B, 1, N)`` audio (``N`` a multiple of ``hop_length``).

        ``driving_log2_f0`` ``(B, K)``: the F0 a harmonic decoder's pulse train follows instead of its
        own prediction (teacher forcing); ignored by other decoders.
        """
        latent = self.encoder(audio)
        quantized = self.quantizer(latent, n_codebooks)
        decoded, log2_f0 = self.decoder.forward_with_pitch(quantized.quantized, driving_log2_f0)
        return CodecOutput(decoded, quantized.codes, quantized.loss, latent, quantized.quantized, log2_f0)

    def encode_codes(self, audio: torch.Tensor, n_codebooks: int | None = None) -> torch.Tensor:
        """``(B, 1, N)`` audio at the model rate -> ``(B, Q, ceil(N / hop_length))`` codes.

        The quantizer looks codes up as in eval mode whatever the model's mode: no quantizer dropout,
        no codebook update (training learns through ``forward``).
        """
        latent = self.encoder(self.pad_to_hop(audio))
        training = self.quantizer.training
        self.quantizer.train(False)
        try:
            return self.quantizer(latent, n_codebooks).codes
        finally:
            self.quantizer.train(training)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, Q, T)`` codes -> ``(B, 1, T * hop_length)`` audio."""
        return self.decoder(self.quantizer.decode(codes))

    def num_parameters(self) -> int:
        """Parameters of encoder, quantizer and decoder."""
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of the weights."""
        return next(self.parameters()).dtype

    @contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode (no quantizer dropout, no codebook updates) and no autograd, restored after."""
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.train(was_training)
