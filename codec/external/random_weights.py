"""Published codecs with random weights, saved in their published file layout.

Tests check the adapters against each family's own package on such models, and ``bench/`` times
them at their published sizes, without downloading anything. Codebooks are filled so that codes
vary (a freshly built model's are zeros, which makes every code 0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

PUBLISHED: dict[str, dict[str, Any]] = {
    "encodec": {},
    "dac": {"downsampling_ratios": [2, 4, 5, 8], "n_codebooks": 12, "sampling_rate": 16000},
    "mimi": {},
    "wavtokenizer": {},
    "snac": {
        "sampling_rate": 24000,
        "encoder_dim": 48,
        "encoder_rates": [2, 4, 8, 8],
        "decoder_dim": 1024,
        "decoder_rates": [8, 8, 4, 2],
        "attn_window_size": None,
        "codebook_size": 4096,
        "codebook_dim": 8,
        "vq_strides": [4, 2, 1],
        "noise": True,
        "depthwise": True,
    },
}
"""Configs of the published speech models: ``facebook/encodec_24khz``, ``descript/dac_16khz``,
``kyutai/mimi``, WavTokenizer 40 tokens/s and ``hubertsiuzdak/snac_24khz`` (``transformers``'
defaults are the published EnCodec 24 kHz, Mimi and WavTokenizer)."""

TRANSFORMERS_CLASSES = {"encodec": "Encodec", "dac": "Dac", "mimi": "Mimi", "wavtokenizer": "WavTokenizer"}


def _fill_codebooks(network: torch.nn.Module, family: str, generator: torch.Generator) -> None:
    with torch.no_grad():
        if family == "wavtokenizer":
            # Its latents are far from random vectors: codebook entries drawn from them are all used.
            rate = network.config.sampling_rate
            latents = network.encoder_model.encoder(0.1 * torch.randn(1, 1, rate * 4, generator=generator))[0].T
            embed = network.encoder_model.quantizer.codebook.embed
            embed.copy_(latents[torch.randint(0, latents.shape[0], (embed.shape[0],), generator=generator)])
            return
        for key, value in network.state_dict().items():
            if key.endswith(("embed", "embed_sum")):
                value.copy_(torch.randn(value.shape, generator=generator))
            elif key.endswith(("cluster_usage", "cluster_size")):
                value.fill_(1.0)


def save_random(family: str, folder: str | Path, seed: int = 0, **config: Any) -> torch.nn.Module:
    """Build ``family``'s model with random weights (``PUBLISHED`` config updated by ``config``),
    save it to ``folder`` as its hub repo holds it, and return the package's model (eval mode)."""
    folder = Path(folder)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family == "snac":
            from snac import SNAC

            options = {**PUBLISHED["snac"], **config}
            network = SNAC(**options).eval()
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "config.json").write_text(json.dumps(options))
            torch.save(network.state_dict(), folder / "pytorch_model.bin")
            return network
        import transformers

        prefix = TRANSFORMERS_CLASSES[family]
        options = {**PUBLISHED[family], **config}
        network = getattr(transformers, f"{prefix}Model")(getattr(transformers, f"{prefix}Config")(**options)).eval()
        _fill_codebooks(network, family, generator)
    network.save_pretrained(folder)
    return network
