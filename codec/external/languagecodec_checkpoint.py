"""Language-Codec (Ji et al. 2024, jishengpeng/Languagecodec) from its original Lightning checkpoint.

The published file is a ``.ckpt`` whose ``state_dict`` holds ``feature_extractor.encodec.*`` (EnCodec's
SEANet encoder, an unused SEANet decoder and 8 EMA codebooks ``quantizer.vq.layers.{0..7}``),
``backbone.*`` (Vocos: ConvNeXt blocks with adaptive LayerNorm, no attention) and ``head.*`` (ISTFT);
the original loader keeps only those three prefixes, so discriminator and loss weights are dropped here
too. 24 kHz, hop 320 (75 frames/s), 8 x 1024 codes.

Encoding is the original ``encode_infer`` (masked-channel RVQ), not its plain-RVQ ``.encode()``:
codebooks 0, 1 and 2 each quantize one third of the channels of the encoder latent (channels
``[0, D//3)``, ``[D//3, 2D//3)``, ``[2D//3, D)``, the others zeroed), codebook 3 the latent minus those
three, and codebooks 4.. the plain residual. Training drew 3..8 codebooks, so any prefix of 3 or more
is a code. Decoding sums the looked-up codebook vectors and runs the backbone with the condition
``bandwidth_id = 0`` (all four of its embeddings were trained for the same 6.6 kbit/s).

The encoder is ``transformers``' ``EncodecEncoder`` (the same SEANet computation under other key
names); the quantizer, backbone and head are the small modules below. The configuration is read from
the weights' shapes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from codec.errors import CodecError
from codec.external.base import ExternalCodec, Support, check_state

SAMPLE_RATE = 24000
ENCODER = "feature_extractor.encodec.encoder.model."
CODEBOOKS = "feature_extractor.encodec.quantizer.vq.layers."
KEPT_PREFIXES = ("feature_extractor.", "backbone.", "head.")
IGNORED = re.compile(
    r"feature_extractor\.encodec\.decoder\..*"  # SEANet decoder: trained, never used to synthesise
    r"|feature_extractor\.encodec\.quantizer\.vq\.layers\.\d+\._codebook\.(inited|cluster_size|embed_avg)"
    r"|head\.istft\.window"  # a Hann window, rebuilt here
)
"""Keys of the inference prefixes that inference does not read (EMA statistics and the like)."""
EXTRA_HINT = "pip install 'codec[published]' (transformers>=5.24)"


def nearest_code(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """``(M, D)`` vectors, ``(K, D)`` codebook -> ``(M,)`` index of the nearest entry (Euclidean).

    The squared distance is expanded as ``|x|^2 - 2 x.e + |e|^2`` with the original's operations and
    layouts (a transposed codebook, the negated distance maximised), so that near-ties resolve as
    there and codes are equal bit for bit."""
    embed = codebook.T
    score = -(x.pow(2).sum(1, keepdim=True) - 2 * x @ embed + embed.pow(2).sum(0, keepdim=True))
    return score.argmax(dim=-1)


class MaskedChannelRVQ(nn.Module):
    """Language-Codec's quantizer: ``codebooks`` ``(Q, K, D)``, the first three on channel thirds."""

    def __init__(self, n_codebooks: int, codebook_size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("codebooks", torch.zeros(n_codebooks, codebook_size, dim))

    def encode(self, latent: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        """``(B, D, T)`` latent -> ``(B, n_codebooks, T)`` codes (all codebooks run, as in the original)."""
        batch, dim, frames = latent.shape
        x = latent.transpose(1, 2).reshape(-1, dim)
        edges = [0, dim // 3, 2 * dim // 3, dim]
        codes, thirds = [], []
        for i in range(3):
            third = torch.zeros_like(x)
            third[:, edges[i] : edges[i + 1]] = x[:, edges[i] : edges[i + 1]]
            index = nearest_code(third, self.codebooks[i])
            codes.append(index)
            thirds.append(self.codebooks[i][index])
        residual = x - thirds[0] - thirds[1] - thirds[2]
        for codebook in self.codebooks[3:]:
            index = nearest_code(residual, codebook)
            codes.append(index)
            residual = residual - codebook[index]
        return torch.stack(codes, 1).reshape(batch, frames, -1).transpose(1, 2)[:, :n_codebooks]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, Q, T)`` codes -> ``(B, D, T)``: the sum of each codebook's vector."""
        vectors = torch.stack([self.codebooks[i][codes[:, i]] for i in range(codes.shape[1])])
        return vectors.sum(0).transpose(1, 2)


class AdaLayerNorm(nn.Module):
    """LayerNorm whose scale and shift are rows of embeddings (row 0 at inference)."""

    def __init__(self, n_conditions: int, dim: int) -> None:
        super().__init__()
        self.scale = nn.Embedding(n_conditions, dim)
        self.shift = nn.Embedding(n_conditions, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C)`` -> ``(B, T, C)``."""
        normed = F.layer_norm(x, x.shape[-1:], eps=1e-6)
        return normed * self.scale.weight[0] + self.shift.weight[0]


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (kernel 7), AdaLN, pointwise MLP with GELU, per-channel scale, residual."""

    def __init__(self, dim: int, intermediate: int, n_conditions: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = AdaLayerNorm(n_conditions, dim)
        self.pwconv1 = nn.Linear(dim, intermediate)
        self.pwconv2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T)`` -> ``(B, C, T)``."""
        y = self.norm(self.dwconv(x).transpose(1, 2))
        y = self.gamma * self.pwconv2(F.gelu(self.pwconv1(y)))
        return x + y.transpose(1, 2)


class VocosBackbone(nn.Module):
    """Input conv (kernel 7), AdaLN, ConvNeXt blocks, final LayerNorm; no attention."""

    def __init__(self, channels: int, dim: int, intermediate: int, n_layers: int, n_conditions: int) -> None:
        super().__init__()
        self.embed = nn.Conv1d(channels, dim, 7, padding=3)
        self.norm = AdaLayerNorm(n_conditions, dim)
        self.convnext = nn.ModuleList(ConvNeXtBlock(dim, intermediate, n_conditions) for _ in range(n_layers))
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, channels, T)`` features -> ``(B, T, dim)``."""
        x = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


class ISTFTHead(nn.Module):
    """Linear to log-magnitude and phase, then an inverse STFT with "same" padding: frame ``t`` is
    centred on sample ``t * hop + hop / 2``, so ``T`` frames give exactly ``T * hop`` samples."""

    def __init__(self, dim: int, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.out = nn.Linear(dim, n_fft + 2)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, dim)`` -> ``(B, T * hop)`` audio."""
        log_magnitude, phase = self.out(x).transpose(1, 2).float().chunk(2, dim=1)
        # the original caps the magnitude at 100 so that an untrained bin cannot blow up the output
        spectrum = torch.polar(log_magnitude.exp().clamp(max=1e2), phase)
        return self.istft(spectrum).to(x.dtype)

    def istft(self, spectrum: torch.Tensor) -> torch.Tensor:
        """``(B, n_fft / 2 + 1, T)`` complex -> ``(B, T * hop)``: windowed overlap-add divided by the
        summed squared window, trimmed by ``(n_fft - hop) / 2`` on each side (``torch.istft`` only
        trims ``n_fft / 2``, centred padding)."""
        frames = spectrum.shape[-1]
        window = self.window.float()
        pieces = torch.fft.irfft(spectrum, self.n_fft, dim=1) * window[:, None]
        length = (frames - 1) * self.hop_length + self.n_fft
        fold = {"output_size": (1, length), "kernel_size": (1, self.n_fft), "stride": (1, self.hop_length)}
        audio = F.fold(pieces, **fold)[:, 0, 0]
        envelope = F.fold(window.square()[None, :, None].expand(1, -1, frames), **fold)[0, 0, 0]
        trim = (self.n_fft - self.hop_length) // 2
        return (audio / envelope)[:, trim : length - trim]


class LanguageCodecNetwork(nn.Module):
    """SEANet encoder (``transformers``), masked-channel RVQ, Vocos backbone and ISTFT head."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        from transformers import EncodecConfig
        from transformers.models.encodec.modeling_encodec import EncodecEncoder

        self.encoder = EncodecEncoder(EncodecConfig(**encoder_config(config)))
        self.quantizer = MaskedChannelRVQ(config["n_codebooks"], config["codebook_size"], config["dim"])
        self.backbone = VocosBackbone(
            config["dim"], config["backbone_dim"], config["intermediate"], config["n_layers"], config["n_conditions"]
        )
        self.head = ISTFTHead(config["backbone_dim"], config["n_fft"], config["hop_length"])


def encoder_config(config: dict[str, Any]) -> dict[str, Any]:
    """``EncodecConfig`` arguments of Language-Codec's SEANet encoder (non-causal, weight norm,
    reflect padding, convolutional shortcuts, a 2-layer LSTM in the published model)."""
    return {
        "audio_channels": 1,
        "num_filters": config["num_filters"],
        "hidden_size": config["dim"],
        "upsampling_ratios": config["upsampling_ratios"],
        "num_residual_layers": config["num_residual_layers"],
        "num_lstm_layers": config["num_lstm_layers"],
        "use_causal_conv": False,
        "norm_type": "weight_norm",
        "pad_mode": "reflect",
        "use_conv_shortcut": True,
        "kernel_size": 7,
        "last_kernel_size": 7,
        "residual_kernel_size": 3,
        "dilation_growth_rate": 2,
        "compress": 2,
    }


class LanguageCodecCodec(ExternalCodec):
    """Language-Codec: 24 kHz, 75 frames/s, 8 x 1024 codes (3 to 8 codebooks, 2.25-6 kbit/s)."""

    support = Support("languagecodec", "codec+transformers", causal=False, prefix_codes=True)
    network: LanguageCodecNetwork

    def _encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        return self.network.quantizer.encode(self.network.encoder(audio), n_codebooks)

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        network = self.network
        return network.head(network.backbone(network.quantizer.decode(codes)))


def is_languagecodec_checkpoint(checkpoint: Any) -> bool:
    """Whether a loaded ``.ckpt`` is an original Language-Codec one (EnCodec features with more than one
    codebook; WavTokenizer's, which share the prefixes, have one)."""
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    return isinstance(state, dict) and f"{CODEBOOKS}1._codebook.embed" in state


def convert_state(state: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """Original keys -> ours (``LanguageCodecNetwork``), dropping what inference does not read; the
    codebooks ``layers.{i}._codebook.embed`` are stacked in order into ``quantizer.codebooks``."""
    converted: dict[str, torch.Tensor] = {}
    codebooks: dict[int, torch.Tensor] = {}
    layers = set()  # every codebook layer the file mentions, so that one without its embed is reported
    for key, value in state.items():
        if layer := re.match(re.escape(CODEBOOKS) + r"(\d+)\.", key):
            layers.add(int(layer.group(1)))
        if not key.startswith(KEPT_PREFIXES) or IGNORED.fullmatch(key):
            continue
        if not isinstance(value, torch.Tensor):
            raise CodecError(f"damaged checkpoint: {key} is not a tensor", path)
        book = re.fullmatch(re.escape(CODEBOOKS) + r"(\d+)\._codebook\.embed", key)
        if book:
            codebooks[int(book.group(1))] = value
            continue
        if key.startswith(ENCODER):
            key = "encoder.layers." + key[len(ENCODER) :].replace(".conv.conv.", ".conv.")
            key = key.replace(".weight_g", ".parametrizations.weight.original0")
            key = key.replace(".weight_v", ".parametrizations.weight.original1")
        converted[key] = value
    if layers:
        missing = set(range(max(layers) + 1)) - set(codebooks)
        if missing:
            raise CodecError(f"not a complete Language-Codec checkpoint (no codebook {min(missing)})", path)
        shapes = {tuple(book.shape) for book in codebooks.values()}
        if len(shapes) != 1:
            raise CodecError(f"codebooks of different shapes {sorted(shapes)} in a Language-Codec checkpoint", path)
        converted["quantizer.codebooks"] = torch.stack([codebooks[i] for i in sorted(codebooks)])
    return converted


def config_from_state(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """Our configuration read from the converted weights' shapes (the published one: 32 filters,
    ratios [8, 5, 4, 2], latent 128, 8 x 1024 codes, backbone 384 / 1152 x 12, n_fft 1280)."""
    # the encoder's top-level convolutions: the input one, one per downsampling, the output one
    convs = sorted(
        int(match.group(1))
        for key in state
        if (match := re.fullmatch(r"encoder\.layers\.(\d+)\.conv\.parametrizations\.weight\.original1", key))
    )
    try:
        n_codebooks, codebook_size, dim = state["quantizer.codebooks"].shape
        backbone_dim, channels = state["backbone.embed.weight"].shape[:2]
        intermediate = state["backbone.convnext.0.pwconv1.weight"].shape[0]
        n_conditions = state["backbone.norm.scale.weight"].shape[0]
        n_fft = state["head.out.weight"].shape[0] - 2
        if len(convs) < 3:
            raise KeyError(f"{ENCODER}*.conv.conv.weight_v")
        num_filters = state[f"encoder.layers.{convs[0]}.conv.parametrizations.weight.original1"].shape[0]
        kernels = [state[f"encoder.layers.{i}.conv.parametrizations.weight.original1"].shape[-1] for i in convs[1:-1]]
    except KeyError as error:
        raise CodecError(f"not a complete Language-Codec checkpoint (no {error.args[0]})", path) from None
    ratios = [kernel // 2 for kernel in kernels]  # a downsampling conv's kernel is twice its stride
    hop = int(torch.tensor(ratios).prod())
    if channels != dim or n_codebooks < 3 or n_fft <= hop or (n_fft - hop) % 2:
        raise CodecError(
            f"not a Language-Codec configuration (latent {dim}, backbone input {channels}, {n_codebooks} codebooks, "
            f"n_fft {n_fft}, hop {hop})",
            path,
        )
    resnet_blocks = {key.split(".")[2] for key in state if re.match(r"encoder\.layers\.\d+\.block\.", key)}
    return {
        "num_filters": num_filters,
        "dim": dim,
        "upsampling_ratios": ratios[::-1],  # EncodecConfig lists them in decoder order
        "num_residual_layers": max(1, len(resnet_blocks) // len(ratios)),
        "num_lstm_layers": sum(1 for key in state if re.fullmatch(r"encoder\.layers\.\d+\.lstm\.weight_ih_l\d+", key)),
        "n_codebooks": n_codebooks,
        "codebook_size": codebook_size,
        "backbone_dim": backbone_dim,
        "intermediate": intermediate,
        "n_layers": sum(1 for key in state if re.fullmatch(r"backbone\.convnext\.\d+\.gamma", key)),
        "n_conditions": n_conditions,
        "n_fft": n_fft,
        "hop_length": hop,
    }


def load_languagecodec(path: Path, checkpoint: dict[str, Any]) -> LanguageCodecCodec:
    """A ``LanguageCodecCodec`` from an original checkpoint (already loaded with ``weights_only``).

    Raises:
        CodecError: ``transformers`` is missing, or weights that are incomplete, of an unknown
            configuration, or do not fit it (any missing, unexpected or mis-shaped key).
    """
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise CodecError(f"Language-Codec checkpoints need the transformers package: {EXTRA_HINT}", path) from None
    state = convert_state(checkpoint["state_dict"], path)
    config = config_from_state(state, path)
    with torch.random.fork_rng(devices=[]):  # building draws initial weights; leave the caller's stream alone
        network = LanguageCodecNetwork(config)
    check_state(network, state, path, "Language-Codec")
    return LanguageCodecCodec(
        network.eval(),
        config,
        name=path.stem,
        sample_rate=SAMPLE_RATE,
        hop_length=config["hop_length"],
        codebook_size=config["codebook_size"],
        n_codebooks=config["n_codebooks"],
        min_codebooks=min(3, config["n_codebooks"]),
        token_parts=("encoder", "quantizer"),
    )
