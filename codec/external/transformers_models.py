"""EnCodec, DAC, Mimi and WavTokenizer run by Hugging Face ``transformers`` (the ``published`` extra).

A folder in the ``transformers`` layout (``config.json`` with a ``model_type``, and
``model.safetensors`` or ``pytorch_model.bin``), as the hub repos ``facebook/encodec_24khz``,
``descript/dac_16khz``, ``kyutai/mimi`` or ``swiss-ai/wavtokenizer-*`` hold it, loads with every
weight checked: ``transformers`` fills a missing weight with random values and only warns, so a
missing or unexpected key is an error here.

Per family, what differs from the package's own call:

- EnCodec: all codebooks by default (``transformers`` picks the lowest bandwidth); fewer are a
  prefix of them, encoded at the smallest bandwidth that covers them. The 48 kHz model (stereo,
  per-chunk scales outside the codes) is refused.
- DAC: the input is right-padded to whole frames, as the original ``dac`` package does (``transformers``
  drops a partial last frame), and the decoder's output, 8 samples short, is padded back.
- Mimi and WavTokenizer: the package's call as is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from codec.errors import CodecError
from codec.external.base import ExternalCodec, Support

EXTRA_HINT = "pip install 'codec[published]' (transformers>=5.24)"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class EncodecCodec(ExternalCodec):
    """EnCodec (Défossez et al. 2022), 24 kHz: 75 frames/s, up to 32 x 1024 codes (1.5-24 kbit/s)."""

    support = Support("encodec", "transformers", causal=True, prefix_codes=True)

    @classmethod
    def wrap(cls, network: Any, name: str) -> EncodecCodec:
        config = network.config
        if config.chunk_length is not None or config.normalize or config.audio_channels != 1:
            raise CodecError(
                "EnCodec with chunked, normalised or stereo coding (the 48 kHz model) is not supported: its "
                "tokens need a per-chunk scale that a token file does not hold"
            )
        per_bandwidth = {bw: network.quantizer.get_num_quantizers_for_bandwidth(bw) for bw in config.target_bandwidths}
        codec = cls(
            network,
            config.to_dict(),
            name=name,
            sample_rate=config.sampling_rate,
            hop_length=config.hop_length,
            codebook_size=config.codebook_size,
            n_codebooks=max(per_bandwidth.values()),
            min_codebooks=min(per_bandwidth.values()),
            token_parts=("encoder", "quantizer"),
        )
        codec.per_bandwidth = per_bandwidth
        return codec

    def _encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        bandwidth = min(bw for bw, n in self.per_bandwidth.items() if n >= n_codebooks)
        return self.network.encode(audio, bandwidth=bandwidth).audio_codes[0]

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.network.decode(codes[None], [None]).audio_values


class DacCodec(ExternalCodec):
    """Descript Audio Codec (Kumar et al. 2023): 16, 24 or 44.1 kHz, 12 / 32 / 9 x 1024 codes."""

    support = Support("dac", "transformers", causal=False, prefix_codes=True)

    @classmethod
    def wrap(cls, network: Any, name: str) -> DacCodec:
        config = network.config
        return cls(
            network,
            config.to_dict(),
            name=name,
            sample_rate=config.sampling_rate,
            hop_length=config.hop_length,
            codebook_size=config.codebook_size,
            n_codebooks=config.n_codebooks,
            min_codebooks=1,
            token_parts=("encoder", "quantizer"),
        )

    def _encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        frames = -(-audio.shape[-1] // self.hop_length)
        audio = torch.nn.functional.pad(audio, (0, frames * self.hop_length - audio.shape[-1]))
        return self.network.encode(audio, n_quantizers=n_codebooks).audio_codes

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.network.decode(audio_codes=codes).audio_values


class MimiCodec(ExternalCodec):
    """Mimi (Kyutai, Moshi 2024): 24 kHz, 12.5 frames/s, up to 32 x 2048 codes, the first one semantic."""

    support = Support("mimi", "transformers", causal=True, prefix_codes=True)

    @classmethod
    def wrap(cls, network: Any, name: str) -> MimiCodec:
        config = network.config
        hop = config.sampling_rate / config.frame_rate
        if hop != int(hop):
            raise CodecError(f"Mimi frame rate {config.frame_rate} does not divide the sample rate")
        return cls(
            network,
            config.to_dict(),
            name=name,
            sample_rate=config.sampling_rate,
            hop_length=int(hop),
            codebook_size=config.codebook_size,
            n_codebooks=config.num_quantizers,
            min_codebooks=1,
            token_parts=("encoder", "quantizer"),
        )

    def _encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        return self.network.encode(audio, num_quantizers=n_codebooks).audio_codes

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.network.decode(codes).audio_values


class WavTokenizerCodec(ExternalCodec):
    """WavTokenizer (Ji et al. 2024): 24 kHz, one codebook of 4096 at 40 or 75 frames/s."""

    support = Support("wavtokenizer", "transformers", causal=False, prefix_codes=False)

    @classmethod
    def wrap(cls, network: Any, name: str) -> WavTokenizerCodec:
        config = network.config
        return cls(
            network,
            config.to_dict(),
            name=name,
            sample_rate=config.sampling_rate,
            hop_length=config.hop_length,
            codebook_size=config.codebook_size,
            n_codebooks=1,
            min_codebooks=1,
            token_parts=("encoder_model",),
        )

    def _encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        return self.network.encode(audio).audio_codes

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.network.decode(codes).audio_values


FAMILIES: dict[str, type[ExternalCodec]] = {
    "encodec": EncodecCodec,
    "dac": DacCodec,
    "mimi": MimiCodec,
    "wavtokenizer": WavTokenizerCodec,
}
"""``config.json`` ``model_type`` -> adapter."""


@contextlib.contextmanager
def _quiet(transformers: Any) -> Iterator[None]:
    """No loading reports or progress bars: a problem becomes one ``CodecError`` instead."""
    logging = transformers.utils.logging
    level = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        logging.enable_progress_bar()


def load_transformers_folder(folder: Path, model_type: str, name: str) -> ExternalCodec:
    """Load a ``transformers`` model folder of one of ``FAMILIES`` (no network access).

    Raises:
        CodecError: the extra is not installed, no weights file, weights that are damaged or do not
            fit the config (any missing, unexpected or mis-shaped key), or a variant not supported.
    """
    adapter = FAMILIES[model_type]
    try:
        import transformers
    except ImportError:
        raise CodecError(f"{model_type} models need the transformers package: {EXTRA_HINT}", folder) from None
    network_class = getattr(transformers, f"{adapter.__name__.removesuffix('Codec')}Model", None)
    if network_class is None:
        raise CodecError(f"transformers {transformers.__version__} has no {model_type} model: {EXTRA_HINT}", folder)
    if not any((folder / file).is_file() for file in WEIGHT_FILES):
        raise CodecError(f"no weights ({' or '.join(WEIGHT_FILES)}) beside config.json", folder)
    try:
        with _quiet(transformers):
            network, info = network_class.from_pretrained(
                folder, local_files_only=True, output_loading_info=True, dtype=torch.float32
            )
    except Exception as error:  # transformers raises many types for damaged files and configs
        detail = str(error).strip().splitlines()
        reason = detail[0] if detail else type(error).__name__
        raise CodecError(f"cannot load the {model_type} model: {reason}", folder) from None
    problems = [(kind, key) for kind in ("missing_keys", "unexpected_keys", "mismatched_keys") for key in info[kind]]
    if problems:
        kind, key = problems[0]
        raise CodecError(
            f"weights do not fit the {model_type} config ({len(problems)} problems, e.g. {kind.split('_')[0]} {key})",
            folder,
        )
    return adapter.wrap(network.eval(), name)
