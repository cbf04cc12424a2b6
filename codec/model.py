"""``Codec``: encoder + quantizer + Fourier decoder, built from a plain config dict.

Training (``forward``), ``encode_codes`` and ``decode_codes`` run through the same three
functions, so what is encoded at inference is what was trained.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from codec.audio import read_audio, write_audio
from codec.batching import decode_batch, encode_batch
from codec.chunking import DEFAULT_CHUNK_SECONDS
from codec.decoders import DECODERS, HarmonicVocosDecoder
from codec.encoders import ENCODERS
from codec.errors import CodecError
from codec.inputs import AudioLike, prepare_batch
from codec.quantizers import QUANTIZERS, Quantizer
from codec.tokens import Tokens, check_compatible

if TYPE_CHECKING:
    from codec.entropy import CodeStats


def _build(registry: dict[str, type[nn.Module]], spec: dict[str, Any], kind: str, **extra: Any) -> nn.Module:
    spec = dict(spec)
    name = spec.pop("name", None)
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(registry))}")
    return registry[name](**extra, **spec)


def weights_digest(config: dict[str, Any], state: dict[str, torch.Tensor]) -> str:
    """16 hex digits of SHA-256 over a config and its fp32 weights, in key order."""
    digest = hashlib.sha256(repr(sorted(config.items())).encode())
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


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


class Codec(nn.Module):
    """A neural audio codec.

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
            DECODERS, decoder, "decoder", input_dim=self.encoder.dim, hop_length=self.encoder.hop_length
        )
        self.code_stats: CodeStats | None = None
        self._fingerprint: str | None = None
        self._fingerprint_fixed = False
        self._fingerprint_versions: tuple[int, ...] = ()
        self.register_load_state_dict_post_hook(self._release_fingerprint)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Codec:
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
        n = self.quantizer.check_n_codebooks(n_codebooks)
        return self.frame_rate * n * math.log2(self.codebook_size)

    @property
    def causal(self) -> bool:
        """Whether encoder and decoder are causal (streamable)."""
        return bool(getattr(self.encoder, "causal", False) and getattr(self.decoder, "causal", False))

    def fingerprint(self) -> str:
        """Hex digest identifying the model's tokens; token files carry it to catch model mix-ups.

        A loaded pretrained model keeps the fingerprint stored with its weights, so casting it to
        another dtype or device does not change it, until it trains or loads other weights.
        Otherwise it is a digest of the config and the fp32 weights, recomputed whenever a weight
        has been modified in place since the last digest.
        """
        if self._fingerprint_fixed and self._fingerprint is not None:
            return self._fingerprint
        versions = tuple(t._version for t in self.state_dict().values())
        if self._fingerprint is None or versions != self._fingerprint_versions:
            self._fingerprint = weights_digest(self.config, self.state_dict())
            self._fingerprint_versions = versions
        return self._fingerprint

    def set_fingerprint(self, fingerprint: str) -> None:
        """Fix the fingerprint of loaded weights (done by the pretrained loader)."""
        self._fingerprint = fingerprint
        self._fingerprint_fixed = True

    def _release_fingerprint(self, *_: Any) -> None:
        self._fingerprint_fixed = False
        self._fingerprint = None

    def train(self, mode: bool = True) -> Codec:
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
        if isinstance(self.decoder, HarmonicVocosDecoder):
            decoded, log2_f0 = self.decoder.forward_with_pitch(quantized.quantized, driving_log2_f0)
            return CodecOutput(decoded, quantized.codes, quantized.loss, latent, quantized.quantized, log2_f0)
        return CodecOutput(
            self.decoder(quantized.quantized), quantized.codes, quantized.loss, latent, quantized.quantized
        )

    def encode_codes(self, audio: torch.Tensor, n_codebooks: int | None = None) -> torch.Tensor:
        """``(B, 1, N)`` audio at the model rate -> ``(B, Q, ceil(N / hop_length))`` codes."""
        return self.quantizer(self.encoder(self.pad_to_hop(audio)), n_codebooks).codes

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, Q, T)`` codes -> ``(B, 1, T * hop_length)`` audio."""
        return self.decoder(self.quantizer.decode(codes))

    def num_parameters(self) -> int:
        """Parameters of encoder, quantizer and decoder."""
        return sum(p.numel() for p in self.parameters())

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

    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of the weights."""
        return next(self.parameters()).dtype

    def encode(
        self,
        audio: AudioLike | Sequence[AudioLike],
        sample_rate: int,
        n_codebooks: int | None = None,
        chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
    ) -> Tokens:
        """Audio -> tokens, always in eval mode.

        Args:
            audio: ``(N,)`` or ``(C, N)`` for one clip, ``(B, C, N)`` for a batch, or a list of clips
                of different lengths (numpy or torch). Channels are averaged; any rate is resampled.
            sample_rate: rate of ``audio`` in Hz.
            n_codebooks: codebooks to keep (default all).
            chunk_seconds: longer inputs are encoded in chunks of this length with receptive-field
                context on both sides, in bounded memory and with the same tokens
                (``codec.chunking.encode_chunked``); ``None`` encodes everything at once.

        Returns:
            ``Tokens`` with codes ``(B, Q, T_max)`` and per-item frame and sample counts. Each
            item's codes equal those of encoding it alone (``codec.batching``).
        """
        batch, lengths = prepare_batch(audio, sample_rate, self.sample_rate)
        with self._inference():
            codes = encode_batch(self, batch, lengths, chunk_seconds, n_codebooks)
        frames = torch.clamp((lengths + self.hop_length - 1) // self.hop_length, min=1)
        return Tokens(
            codes=codes.cpu(),
            code_lengths=frames,
            audio_lengths=lengths,
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            codebook_size=self.codebook_size,
            model_name=self.name,
            fingerprint=self.fingerprint(),
        )

    def decode(
        self, tokens: Tokens, path: str | Path | None = None, chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS
    ) -> list[torch.Tensor]:
        """Tokens -> one ``(N_i,)`` float32 CPU tensor per item at ``sample_rate``, trimmed to the
        original length.

        Tokens longer than ``chunk_seconds`` are decoded in chunks with context, in bounded memory
        and without seams (``codec.chunking.decode_chunked``); ``None`` decodes everything at once.
        Each item's audio equals that of decoding it alone (``codec.batching``; a harmonic-plus-noise
        model's in a padded batch, on an accelerator, up to a slow drift of its waveform).

        Raises:
            CodecError: the tokens were made by another model (``path`` names their file).
        """
        self.check_tokens(tokens, path)
        if tokens.codes.shape[-1] == 0:
            return [torch.zeros(0) for _ in range(tokens.batch_size)]
        with self._inference():
            audio = decode_batch(self, tokens.codes, tokens.code_lengths, chunk_seconds)[:, 0]
        return [audio[i, : int(n)].clone() for i, n in enumerate(tokens.audio_lengths)]

    def check_tokens(self, tokens: Tokens, path: str | Path | None = None) -> None:
        """Raise ``CodecError`` unless ``tokens`` were made by this model."""
        check_compatible(
            tokens,
            fingerprint=self.fingerprint(),
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            codebook_size=self.codebook_size,
            model_name=self.name,
            path=path,
        )
        if tokens.n_codebooks > self.n_codebooks:
            raise CodecError(f"tokens have {tokens.n_codebooks} codebooks, the model only {self.n_codebooks}", path)

    def encode_file(self, path: str | Path, n_codebooks: int | None = None) -> Tokens:
        """Read an audio file (any format soundfile reads) and encode it."""
        audio, rate = read_audio(path)
        return self.encode(audio, rate, n_codebooks)

    def decode_file(self, token_path: str | Path, audio_path: str | Path) -> None:
        """Decode a ``.tok`` file and write the audio atomically (format from the extension)."""
        tokens = Tokens.load(token_path, code_stats=self.code_stats)
        write_audio(audio_path, self.decode(tokens, token_path)[0].numpy(), self.sample_rate)
