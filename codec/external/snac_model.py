"""SNAC (Siuzdak et al. 2024, multi-scale neural audio codec) run by the ``snac`` package.

A folder as the hub repos ``hubertsiuzdak/snac_24khz`` (speech), ``_32khz`` and ``_44khz`` (music)
hold it: ``config.json`` (with ``vq_strides``) and ``pytorch_model.bin`` (a plain state dict).

SNAC's codebooks run at different rates: level ``i`` codes every ``hop * vq_strides[i]`` samples.
A token frame here is the smallest span that holds whole frames of every level, ``hop * L`` samples
with ``L = lcm(vq_strides[0], attn_window_size or 1)`` (the package pads its input to that), and
its rows are each level's codes in that span, level by level in time order: 24 kHz gives
7 rows (1 + 2 + 4) every 2048 samples (11.7 frames/s, 0.98 kbit/s). Every row is needed to decode.

The decoder adds noise drawn at every call (``NoiseBlock``). Here it is drawn from a generator
seeded per decode call, so decoding the same tokens twice gives the same audio, equal to the
package's own decode after ``torch.manual_seed(NOISE_SEED)``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from codec.errors import CodecError
from codec.external.base import ExternalCodec, Support, check_state, read_state

NOISE_SEED = 0
WEIGHTS_FILE = "pytorch_model.bin"


class _SeededNoise(nn.Module):
    """``snac.layers.NoiseBlock`` with its noise drawn from the adapter's generator."""

    def __init__(self, block: nn.Module, owner: SnacCodec) -> None:
        super().__init__()
        self.linear = block.linear
        self.owner = [owner]  # a list, so that the owner is not registered as a submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, length = x.shape
        generator = self.owner[0].noise_generator
        noise = torch.randn((batch, 1, length), generator=generator, device=generator.device, dtype=x.dtype)
        return x + noise.to(x.device) * self.linear(x)


class SnacCodec(ExternalCodec):
    """SNAC: 24 kHz speech (3 levels of 4096 codes) or 32 / 44.1 kHz music (4 levels)."""

    support = Support("snac", "snac", causal=False, prefix_codes=False, deterministic_decode=False)

    @classmethod
    def wrap(cls, network: Any, config: dict[str, Any], name: str) -> SnacCodec:
        strides = list(network.vq_strides)
        span = math.lcm(strides[0], network.attn_window_size or 1)
        if any(span % stride for stride in strides):
            raise CodecError(f"SNAC vq_strides {strides} do not divide the frame span {span}")
        rows = [span // stride for stride in strides]
        codec = cls(
            network,
            config,
            name=name,
            sample_rate=network.sampling_rate,
            hop_length=int(network.hop_length) * span,
            codebook_size=network.codebook_size,
            n_codebooks=sum(rows),
            min_codebooks=sum(rows),
            token_parts=("encoder", "quantizer"),
        )
        codec.level_rows = rows
        codec.noise_generator = torch.Generator()
        for parent in list(network.modules()):
            for child_name, child in parent.named_children():
                if type(child).__name__ == "NoiseBlock":
                    setattr(parent, child_name, _SeededNoise(child, codec))
        return codec

    def _encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        levels = self.network.encode(audio)
        frames = levels[0].shape[-1] // self.level_rows[0]
        # (B, T * r) per level -> (B, r, T): row j of a level holds its codes j, j + r, ...
        parts = [
            level.reshape(level.shape[0], frames, rows).transpose(1, 2)
            for level, rows in zip(levels, self.level_rows, strict=True)
        ]
        return torch.cat(parts, dim=1)

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        levels, first = [], 0
        for rows in self.level_rows:
            part = codes[:, first : first + rows]
            levels.append(part.transpose(1, 2).reshape(codes.shape[0], -1))
            first += rows
        device = next(self.network.parameters()).device
        self.noise_generator = torch.Generator(device).manual_seed(NOISE_SEED)
        return self.network.decode(levels)


def load_snac_folder(folder: Path, config: dict[str, Any], name: str) -> SnacCodec:
    """Load a SNAC folder (``config.json`` + ``pytorch_model.bin``); no network access.

    Raises:
        CodecError: the ``snac`` package is missing, no weights, damaged weights, or weights that do
            not fit the config.
    """
    try:
        from snac import SNAC
    except ImportError:
        raise CodecError("SNAC models need the snac package: pip install 'codec[published]'", folder) from None
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CodecError(f"no {WEIGHTS_FILE} beside config.json", folder)
    try:
        network = SNAC(**config)
    except (TypeError, ValueError) as error:
        raise CodecError(f"invalid SNAC config: {error}", folder / "config.json") from None
    check_state(network, read_state(weights), weights, "the SNAC config")
    return SnacCodec.wrap(network.eval(), json.loads(json.dumps(config)), name)
