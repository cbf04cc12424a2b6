"""SpeechTokenizer (Zhang et al. 2024, ZhangXInFD/SpeechTokenizer) from its published folder.

The hub repo ``fnlp/SpeechTokenizer`` holds the model in a subfolder, ``speechtokenizer_hubert_avg/``:
``config.json`` (``n_filters``, ``strides``, ``dimension``, ``semantic_dimension``, ``bidirectional``, ...)
and ``SpeechTokenizer.pt``, a plain state dict. 16 kHz, strides [8, 5, 4, 2] (hop 320, 50 frames/s),
8 x 1024 residual codes; codebook 0 was distilled towards HuBERT ("semantic" tokens), and any prefix
of the codebooks decodes (the original ``decode`` takes fewer rows).

The network is EnCodec's SEANet encoder and decoder (non-causal, weight norm, reflect padding) with
one difference in the encoder: its 2-layer LSTM is bidirectional (``[forward, backward]`` outputs plus
the input repeated twice as the skip), so its last convolution reads twice the channels. They run as
``transformers``' ``EncodecEncoder`` / ``EncodecDecoder`` with that LSTM and convolution replaced; the
quantizer is a plain residual VQ. The distillation head ``transform.*`` is not used at inference.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from codec.errors import CodecError
from codec.external.base import ExternalCodec, Support, check_state, read_state
from codec.external.languagecodec_checkpoint import EXTRA_HINT, nearest_code

WEIGHTS_FILE = "SpeechTokenizer.pt"
SUBFOLDER = "speechtokenizer_hubert_avg"
REQUIRED = ("n_filters", "strides", "dimension", "semantic_dimension", "lstm_layers", "codebook_size", "n_q")
CONFIG_DEFAULTS = {
    "sample_rate": 16000,
    "bidirectional": True,
    "dilation_base": 2,
    "residual_kernel_size": 3,
    "n_residual_layers": 1,
    "activation": "ELU",
}
"""What the model code assumes when ``config.json`` does not say (its published values)."""


class BidirectionalLSTM(nn.Module):
    """Stacked bidirectional LSTM over ``(B, C, T)`` with a skip: ``lstm(x) + [x, x]`` -> ``(B, 2C, T)``."""

    def __init__(self, dim: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, layers, bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.permute(2, 0, 1)
        return (self.lstm(steps)[0] + steps.repeat(1, 1, 2)).permute(1, 2, 0)


class ResidualVQ(nn.Module):
    """``codebooks`` ``(Q, K, D)``: each quantizes what the previous ones left."""

    def __init__(self, n_codebooks: int, codebook_size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("codebooks", torch.zeros(n_codebooks, codebook_size, dim))

    def encode(self, latent: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        """``(B, D, T)`` -> ``(B, n_codebooks, T)`` codes."""
        batch, dim, frames = latent.shape
        residual, codes = latent.transpose(1, 2).reshape(-1, dim), []
        for codebook in self.codebooks[:n_codebooks]:
            index = nearest_code(residual, codebook)
            residual = residual - codebook[index]
            codes.append(index)
        return torch.stack(codes, 1).reshape(batch, frames, -1).transpose(1, 2)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, Q, T)`` -> ``(B, D, T)``: the sum of the codebooks' vectors, in order."""
        total = self.codebooks[0][codes[:, 0]]
        for i in range(1, codes.shape[1]):
            total = total + self.codebooks[i][codes[:, i]]
        return total.transpose(1, 2)


class SpeechTokenizerNetwork(nn.Module):
    """SEANet encoder (bidirectional LSTM), residual VQ, SEANet decoder."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        from transformers import EncodecConfig
        from transformers.models.encodec.modeling_encodec import EncodecConv1d, EncodecDecoder, EncodecEncoder

        seanet = EncodecConfig(
            audio_channels=1,
            num_filters=config["n_filters"],
            hidden_size=config["dimension"],
            upsampling_ratios=list(config["strides"]),
            num_residual_layers=config["n_residual_layers"],
            num_lstm_layers=config["lstm_layers"],
            dilation_growth_rate=config["dilation_base"],
            residual_kernel_size=config["residual_kernel_size"],
            use_causal_conv=False,
            norm_type="weight_norm",
            pad_mode="reflect",
            use_conv_shortcut=True,
            compress=2,
        )
        self.encoder = EncodecEncoder(seanet)
        if config["bidirectional"]:
            width = config["n_filters"] * 2 ** len(config["strides"])
            self.encoder.layers[-3] = BidirectionalLSTM(width, config["lstm_layers"])
            self.encoder.layers[-1] = EncodecConv1d(seanet, 2 * width, config["dimension"], seanet.last_kernel_size)
        self.quantizer = ResidualVQ(config["n_q"], config["codebook_size"], config["dimension"])
        self.decoder = EncodecDecoder(seanet)


class SpeechTokenizerCodec(ExternalCodec):
    """SpeechTokenizer: 16 kHz, 50 frames/s, 8 x 1024 codes (the first semantic), 0.5-4 kbit/s."""

    support = Support("speechtokenizer", "codec+transformers", causal=False, prefix_codes=True)
    network: SpeechTokenizerNetwork

    def _encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        return self.network.quantizer.encode(self.network.encoder(audio), n_codebooks)

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.network.decoder(self.network.quantizer.decode(codes))


def is_speechtokenizer_config(config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` is SpeechTokenizer's (a SEANet with a semantic distillation width)."""
    return "semantic_dimension" in config and "strides" in config and "n_q" in config


def speechtokenizer_folder(folder: Path) -> Path | None:
    """The model folder of a SpeechTokenizer download: ``folder`` itself, or its ``speechtokenizer_hubert_avg``
    subfolder (where the hub repo keeps it); ``None`` when neither holds ``config.json`` + weights."""
    for candidate in (folder, folder / SUBFOLDER):
        config = candidate / "config.json"
        if (candidate / WEIGHTS_FILE).is_file() and config.is_file():
            try:
                if is_speechtokenizer_config(json.loads(config.read_text())):
                    return candidate
            except (OSError, ValueError, AttributeError, TypeError):
                return candidate  # a damaged config beside the weights: reported by the loader
    return None


def check_config(config: Any, path: Path) -> dict[str, Any]:
    """``config.json`` with the defaults filled in; a ``CodecError`` for anything the model cannot run."""
    if not isinstance(config, dict) or any(key not in config for key in REQUIRED):
        missing = [key for key in REQUIRED if not isinstance(config, dict) or key not in config]
        raise CodecError(f"not a SpeechTokenizer config (no {missing[0]})", path)
    config = {**CONFIG_DEFAULTS, **config}
    if config["activation"] != "ELU":
        raise CodecError(f"SpeechTokenizer with activation {config['activation']!r} is not supported (ELU only)", path)
    sizes = ("n_filters", "dimension", "lstm_layers", "codebook_size", "n_q", "sample_rate", "residual_kernel_size")
    strides = config["strides"]
    if (
        any(isinstance(config[key], bool) or not isinstance(config[key], int) or config[key] <= 0 for key in sizes)
        or not isinstance(strides, list)
        or not strides
        or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in strides)
    ):
        raise CodecError("invalid SpeechTokenizer config: sizes and strides must be positive integers", path)
    return config


def convert_state(state: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """Original keys -> ours: SEANet ``model.N.conv.conv`` / ``convtr.convtr`` -> ``layers.N.conv``, weight
    norm in ``parametrizations`` names, codebooks stacked; EMA statistics and ``transform.*`` dropped."""
    converted: dict[str, torch.Tensor] = {}
    codebooks: dict[int, torch.Tensor] = {}
    layers = set()  # every codebook layer the file mentions, so that one without its embed is reported
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CodecError(f"damaged weights: {key} is not a tensor", path)
        if layer := re.match(r"quantizer\.vq\.layers\.(\d+)\.", key):
            layers.add(int(layer.group(1)))
        if key.startswith("transform.") or re.fullmatch(
            r"quantizer\.vq\.layers\.\d+\._codebook\.(inited|cluster_size|embed_avg)", key
        ):
            continue
        book = re.fullmatch(r"quantizer\.vq\.layers\.(\d+)\._codebook\.embed", key)
        if book:
            codebooks[int(book.group(1))] = value
            continue
        key = re.sub(r"^(encoder|decoder)\.model\.", r"\1.layers.", key)
        key = key.replace(".conv.conv.", ".conv.").replace(".convtr.convtr.", ".conv.")
        key = key.replace(".weight_g", ".parametrizations.weight.original0")
        converted[key.replace(".weight_v", ".parametrizations.weight.original1")] = value
    if layers:
        missing = set(range(max(layers) + 1)) - set(codebooks)
        if missing:
            raise CodecError(f"weights do not fit the SpeechTokenizer config (no codebook {min(missing)})", path)
        if len({book.shape for book in codebooks.values()}) != 1:
            raise CodecError("weights do not fit the SpeechTokenizer config (codebooks of different shapes)", path)
        converted["quantizer.codebooks"] = torch.stack([codebooks[i] for i in sorted(codebooks)])
    return converted


def load_speechtokenizer(folder: Path, name: str | None = None) -> SpeechTokenizerCodec:
    """A ``SpeechTokenizerCodec`` from a folder with ``config.json`` and ``SpeechTokenizer.pt`` (or the hub
    repo's root, whose ``speechtokenizer_hubert_avg`` subfolder holds them); no network access.

    Args:
        name: the model name its token files carry (default: the folder's name).

    Raises:
        CodecError: ``transformers`` is missing, no weights, a damaged or unsupported config, or
            weights that are damaged or do not fit it (any missing, unexpected or mis-shaped key).
    """
    model_folder = speechtokenizer_folder(folder) or folder
    weights, config_path = model_folder / WEIGHTS_FILE, model_folder / "config.json"
    if not weights.is_file():
        raise CodecError(f"no {WEIGHTS_FILE} (nor {SUBFOLDER}/{WEIGHTS_FILE})", folder)
    try:
        config = check_config(json.loads(config_path.read_text()), config_path)
    except (OSError, ValueError) as error:
        raise CodecError(f"cannot read the SpeechTokenizer config: {error}", config_path) from None
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise CodecError(f"SpeechTokenizer models need the transformers package: {EXTRA_HINT}", folder) from None
    state = convert_state(read_state(weights), weights)
    with torch.random.fork_rng(devices=[]):  # building draws initial weights; leave the caller's stream alone
        network = SpeechTokenizerNetwork(config)
    check_state(network, state, weights, "the SpeechTokenizer config")
    hop = int(torch.tensor(config["strides"]).prod())
    kept = {key: config[key] for key in (*REQUIRED, *CONFIG_DEFAULTS)}
    return SpeechTokenizerCodec(
        network.eval(),
        kept,
        name=name or folder.name,
        sample_rate=config["sample_rate"],
        hop_length=hop,
        codebook_size=config["codebook_size"],
        n_codebooks=config["n_q"],
        min_codebooks=1,
        token_parts=("encoder", "quantizer"),
    )
