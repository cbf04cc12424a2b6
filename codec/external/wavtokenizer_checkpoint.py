"""WavTokenizer's original Lightning checkpoints (``novateur/WavTokenizer*`` ``.ckpt`` files) loaded
into ``transformers``' ``WavTokenizerModel`` by renaming their keys.

The original repository (jishengpeng/WavTokenizer) keeps only the ``feature_extractor.``,
``backbone.`` and ``head.`` weights of a checkpoint (discriminators, losses and the unused SEANet
decoder are dropped) and runs EnCodec's SEANet encoder with one EMA codebook, then a Vocos
backbone with attention and an ISTFT head. ``transformers`` implements the same computation under
other names; with the renames below, codes equal the original code's and audio agrees to 2e-8 (checked
against the repository's own classes with random weights). The configuration is read from the
weights' shapes; the frame rate from the ISTFT head (40 or 75 frames/s at 24 kHz).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from codec.errors import CodecError
from codec.external.base import check_state
from codec.external.transformers_models import EXTRA_HINT, WavTokenizerCodec

ENCODER = "feature_extractor.encodec.encoder.model."
CODEBOOK = "feature_extractor.encodec.quantizer.vq.layers.0._codebook."
RENAMES = {
    ENCODER: "encoder_model.encoder.layers.",
    CODEBOOK: "encoder_model.quantizer.codebook.",
    "head.out.": "head.linear.",
}
UPSAMPLING = {600: [6, 5, 5, 4], 320: [8, 5, 4, 2]}
"""SEANet ratios of the published configs, by hop length (40 and 75 frames/s at 24 kHz)."""


def is_wavtokenizer_checkpoint(checkpoint: Any) -> bool:
    """Whether a loaded ``.ckpt`` is an original WavTokenizer one (a single-codebook quantizer)."""
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    return isinstance(state, dict) and f"{CODEBOOK}embed" in state


def convert_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original keys -> ``transformers`` keys, dropping what inference does not use."""
    converted = {}
    for key, value in state.items():
        target = next((new + key[len(old) :] for old, new in RENAMES.items() if key.startswith(old)), None)
        if target is None and key.startswith("backbone."):
            target = key
        if target is None:
            continue
        target = target.replace(".conv.conv.", ".conv.")
        target = target.replace(".weight_g", ".parametrizations.weight.original0")
        target = target.replace(".weight_v", ".parametrizations.weight.original1")
        converted[target] = value
    return converted


def config_from_state(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """``WavTokenizerConfig`` arguments read from the converted weights' shapes."""
    try:
        n_fft = state["head.linear.weight"].shape[0] - 2
        codebook_size, codebook_dim = state["encoder_model.quantizer.codebook.embed"].shape
        hidden, intermediate = state["backbone.convnext.0.pwconv1.weight"].shape[::-1]
        filters = state["encoder_model.encoder.layers.0.conv.parametrizations.weight.original1"].shape[0]
        embeddings = state["backbone.norm.scale.weight"].shape[0]
    except KeyError as error:
        raise CodecError(f"not a complete WavTokenizer checkpoint (no {error.args[0]})", path) from None
    hop = n_fft // 4
    if hop not in UPSAMPLING:
        raise CodecError(f"WavTokenizer with hop length {hop} is not a published config (known: 600, 320)", path)
    layers = sum(1 for key in state if key.startswith("backbone.convnext.") and key.endswith(".dwconv.weight"))
    lstm_layers = sum(1 for key in state if ".lstm.weight_ih_l" in key and not key.endswith("_reverse"))
    return {
        "upsampling_ratios": UPSAMPLING[hop],
        "num_filters": filters,
        "hidden_size": codebook_dim,
        "codebook_dim": codebook_dim,
        "codebook_size": codebook_size,
        "decoder_hidden_size": hidden,
        "decoder_intermediate_size": intermediate,
        "decoder_num_layers": layers,
        "num_lstm_layers": lstm_layers,
        "adanorm_num_embeddings": embeddings,
    }


def load_wavtokenizer_checkpoint(path: Path, checkpoint: dict[str, Any]) -> WavTokenizerCodec:
    """A ``WavTokenizerCodec`` from an original checkpoint (already loaded with ``weights_only``).

    Raises:
        CodecError: ``transformers`` is missing, a config that is not a published one, or weights
            that do not fit it.
    """
    try:
        from transformers import WavTokenizerConfig, WavTokenizerModel
    except ImportError:
        raise CodecError(f"WavTokenizer checkpoints need the transformers package: {EXTRA_HINT}", path) from None
    state = convert_state(checkpoint["state_dict"])
    network = WavTokenizerModel(WavTokenizerConfig(**config_from_state(state, path)))
    check_state(network, {key: value.float() for key, value in state.items()}, path, "WavTokenizer")
    return WavTokenizerCodec.wrap(network.eval(), path.stem)
