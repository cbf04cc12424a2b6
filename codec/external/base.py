"""``ExternalCodec``: a published codec's own network behind the ``Codec`` API.

The network (a ``transformers`` model, a ``snac.SNAC``, ...) keeps its own code; a family adapter
only says how audio becomes ``(B, Q, T)`` codes and back, and what the model supports. Everything
above ``encode_codes`` / ``decode_codes`` is ours: batching with items run alone on a CPU, chunked
long audio, ``Tokens`` and token files with fingerprints, evaluation, corpus tokenization.

What an external model does not support is refused with a ``CodecError``: training, ONNX export
and streaming (their receptive fields are not measured: chunked long audio uses
``FALLBACK_CONTEXT_SECONDS`` of context and a short crossfade at decode, as for our attention
models).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from codec.api import Codec
from codec.errors import CodecError
from codec.fingerprints import Fingerprints, fingerprints
from codec.inference.chunking import ReceptiveField
from codec.io.torch_files import load_torch_file


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict saved with ``torch.save`` (tensors and plain data only); ``CodecError`` when damaged."""
    state = load_torch_file(path, "damaged weights")
    if not isinstance(state, dict):
        raise CodecError("damaged weights: not a state dict", path)
    return state


def check_state(network: nn.Module, state: dict[str, torch.Tensor], path: Path, family: str) -> None:
    """Load ``state`` into ``network`` after checking every key; one ``CodecError`` naming the file
    and the first problem for any missing, unexpected or mis-shaped weight (published loaders often
    fill a missing weight with random values and only warn)."""
    expected = network.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    mismatched = sorted(key for key in set(state) & set(expected) if state[key].shape != expected[key].shape)
    if missing or unexpected or mismatched:
        example = (missing + unexpected + mismatched)[0]
        raise CodecError(
            f"weights do not fit {family} ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(mismatched)} mis-shaped, e.g. {example})",
            path,
        )
    network.load_state_dict({key: value.to(expected[key].dtype) for key, value in state.items()})


@dataclass(frozen=True)
class Support:
    """What a published model supports through our API.

    Attributes:
        family: e.g. ``"encodec"``.
        implementation: the package whose code runs it (``"transformers"``, ``"snac"``).
        causal: whether its encoder and decoder are causal (it streams with low delay in its own
            package; our streaming API does not run external models yet).
        prefix_codes: whether the first ``min_codebooks`` or more codebooks form a valid code
            (residual quantizers trained with quantizer dropout).
        deterministic_decode: False when decoding draws noise (seeded here per decode call).
    """

    family: str
    implementation: str
    causal: bool
    prefix_codes: bool
    deterministic_decode: bool = True


class CodeSpace:
    """The code layout of an external model, in the shape our quantizers describe it."""

    def __init__(self, n_codebooks: int, codebook_size: int, min_codebooks: int) -> None:
        self.n_codebooks = n_codebooks
        self.codebook_size = codebook_size
        self.min_codebooks = min_codebooks

    def check_n_codebooks(self, n_codebooks: int | None) -> int:
        """Resolve the codebooks to run with (default all), as ``Quantizer.check_n_codebooks``."""
        n = self.n_codebooks if n_codebooks is None else int(n_codebooks)
        if not self.min_codebooks <= n <= self.n_codebooks:
            raise ValueError(f"n_codebooks must be in {self.min_codebooks}..{self.n_codebooks}, got {n}")
        return n


class _PlainDecoder:
    """What the chunked decode asks of a decoder: no pulse-train phase to carry across windows."""

    stateful_phase = False


class ExternalCodec(Codec):
    """A published codec run by its own package, with our ``encode`` / ``decode`` / files on top.

    Subclasses set ``support`` and implement ``_encode`` and ``_decode``.

    Args:
        network: the package's model, in eval mode.
        config: the model's own configuration (JSON-able), hashed into its fingerprints.
        name: model name written into token files.
        sample_rate: audio rate in Hz.
        hop_length: samples per token frame.
        codebook_size: codes per codebook.
        n_codebooks: codebooks per frame.
        min_codebooks: fewest leading codebooks that form a valid code.
        token_parts: top-level submodules of ``network`` whose weights decide the codes.
    """

    support: Support

    def __init__(
        self,
        network: nn.Module,
        config: dict[str, Any],
        *,
        name: str,
        sample_rate: int,
        hop_length: int,
        codebook_size: int,
        n_codebooks: int,
        min_codebooks: int,
        token_parts: tuple[str, ...],
    ) -> None:
        nn.Module.__init__(self)
        self.network = network.eval()
        self.name = name
        self.sample_rate = int(sample_rate)
        self.config = {
            "family": self.support.family,
            "sample_rate": self.sample_rate,
            "network": config,
            "name": name,
        }
        self._hop_length = int(hop_length)
        self.quantizer = CodeSpace(n_codebooks, codebook_size, min_codebooks)
        self.decoder = _PlainDecoder()
        self.token_parts = token_parts
        self.declared_receptive_field = ReceptiveField(self._hop_length, None, None, None, None)
        self._track_fingerprints()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ExternalCodec:
        raise CodecError(f"{config.get('family', 'this')} models are loaded from their own files, not rebuilt")

    @property
    def hop_length(self) -> int:
        """Samples per token frame."""
        return self._hop_length

    @property
    def causal(self) -> bool:
        """Whether our streaming API can run it: not yet for external models."""
        return False

    def fingerprints(self) -> Fingerprints:
        """Digests of the model and of its tokens: the token one covers the configuration and the
        weights of ``token_parts`` (encoder and quantizer)."""
        if self._fingerprint is None:
            state = {key.removeprefix("network."): value for key, value in self.state_dict().items()}
            self._fingerprint = fingerprints(
                self.config, state, token_parts=self.token_parts, token_config=("family", "network")
            )
        return self._fingerprint

    def train(self, mode: bool = True) -> ExternalCodec:
        """External models run in eval mode only (they are not trained here)."""
        return nn.Module.train(self, False)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise CodecError(
            f"{self.name} is a published {self.support.family} model: it encodes and decodes here, it does not train"
        )

    def encode_codes(self, audio: torch.Tensor, n_codebooks: int | None = None) -> torch.Tensor:
        """``(B, 1, N)`` audio at the model rate -> ``(B, Q, ceil(N / hop_length))`` codes."""
        n = self.quantizer.check_n_codebooks(n_codebooks)
        frames = max(1, -(-audio.shape[-1] // self.hop_length))
        if audio.shape[-1] == 0:
            audio = audio.new_zeros(*audio.shape[:-1], self.hop_length)
        codes = self._encode(audio, n)
        if codes.shape[-1] != frames or codes.shape[1] < n:
            raise RuntimeError(f"{self.support.family} gave codes {tuple(codes.shape)} for {audio.shape[-1]} samples")
        return codes[:, :n].long()

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, Q, T)`` codes -> ``(B, 1, T * hop_length)`` float audio."""
        audio = self._decode(codes)
        audio = audio.reshape(codes.shape[0], 1, -1)
        want = codes.shape[-1] * self.hop_length
        if audio.shape[-1] < want:
            audio = torch.nn.functional.pad(audio, (0, want - audio.shape[-1]))
        return audio[..., :want]

    def _encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        raise NotImplementedError

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
