"""HiFi-Codec (Yang et al. 2023, AcademiCodec) from its published files.

``Dongchao/AcademiCodec`` holds extensionless files ``HiFi-Codec-16k-320d``, ``HiFi-Codec-24k-320d`` and
``HiFi-Codec-24k-240d``, each ``torch.save({"generator": ..., "encoder": ..., "quantizer": ...})`` of
plain state dicts (weight norm stored as ``weight_g`` / ``weight_v``). Their configurations live only in
the repository (``egs/HiFi-Codec-*/config_*.json``), so the sample rate and strides are picked by file
name (``PUBLISHED``); widths and residual-block kernels are read from the weights' shapes.

The network is a HiFi-GAN-style encoder (strided convolutions, multi-kernel residual blocks, each sum
of blocks followed by a GroupNorm), a group-residual VQ (2 residual steps, the 512 latent channels
split into 2 groups of 256, 1024 codes each) and a HiFi-GAN generator. Code rows are ordered
``[step 1 group 0, step 1 group 1, step 2 group 0, step 2 group 1]``, all four needed to decode.

Two things differ from calling the original ``VQVAE.encode``:

- Frames: the original gives ``floor(N / hop)`` frames and drops a partial last one; here the input is
  right-padded with zeros to whole frames first, giving ``ceil(N / hop)`` frames as every model here does
  (for ``N`` a multiple of ``hop`` the codes are the original's).
- The encoder's GroupNorms take their statistics over the whole clip, so every code depends on the
  whole item (its level, its length, what it is padded with). Items are therefore encoded whole and
  alone (``encodes_whole``): ``encode`` does not split long audio into chunks for this family, and a
  batch runs item by item as for every external model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

from codec.errors import CodecError
from codec.external.base import ExternalCodec, Support, check_state

PUBLISHED: dict[str, dict[str, Any]] = {
    "HiFi-Codec-16k-320d": {"sample_rate": 16000, "upsample_rates": [8, 5, 4, 2], "upsample_kernels": [16, 11, 8, 4]},
    "HiFi-Codec-24k-320d": {"sample_rate": 24000, "upsample_rates": [8, 5, 4, 2], "upsample_kernels": [16, 11, 8, 4]},
    "HiFi-Codec-24k-240d": {"sample_rate": 24000, "upsample_rates": [8, 5, 3, 2], "upsample_kernels": [16, 11, 7, 4]},
}
"""File name -> configuration (``egs/HiFi-Codec-*/config_*.json``: resblock "1", dilations (1, 3, 5),
2 code groups of 1024)."""
DILATIONS = (1, 3, 5)
SLOPE = 0.1
PARTS = ("encoder", "quantizer", "generator")


def _conv(cls: type[nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
    return weight_norm(cls(*args, **kwargs))


class ResBlock(nn.Module):
    """HiFi-GAN residual block "1": three (dilated conv, conv) pairs with leaky ReLU, each residual."""

    def __init__(self, channels: int, kernel: int, dilations: Sequence[int] = DILATIONS) -> None:
        super().__init__()
        pad = [(kernel - 1) * d // 2 for d in dilations]
        self.convs1 = nn.ModuleList(
            _conv(nn.Conv1d, channels, channels, kernel, dilation=d, padding=p)
            for d, p in zip(dilations, pad, strict=True)
        )
        self.convs2 = nn.ModuleList(
            _conv(nn.Conv1d, channels, channels, kernel, padding=(kernel - 1) // 2) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, L)`` -> ``(B, C, L)``."""
        for first, second in zip(self.convs1, self.convs2, strict=True):
            x = x + second(F.leaky_relu(first(F.leaky_relu(x, SLOPE)), SLOPE))
        return x


class Encoder(nn.Module):
    """Audio ``(B, 1, N)`` -> latent ``(B, 16 * width, N / hop)`` (``width`` 32 in the published models)."""

    def __init__(self, width: int, rates: Sequence[int], kernels: Sequence[int], block_kernels: Sequence[int]) -> None:
        super().__init__()
        self.conv_pre = _conv(nn.Conv1d, 1, width, 7, padding=3)
        self.ups, self.resblocks, self.normalize = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        # the encoder mirrors the generator: strides and residual kernels in reverse order
        for i, (rate, kernel) in enumerate(reversed(list(zip(rates, kernels, strict=True)))):
            channels = width * 2 ** (i + 1)
            self.ups.append(_conv(nn.Conv1d, channels // 2, channels, kernel, rate, padding=(kernel - rate) // 2))
            for block_kernel in reversed(block_kernels):
                self.resblocks.append(ResBlock(channels, block_kernel))
                self.normalize.append(nn.GroupNorm(channels // 16, channels, eps=1e-6))
        self.conv_post = nn.Conv1d(width * 2 ** len(rates), width * 2 ** len(rates), 3, padding=1)
        self.n_blocks = len(block_kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, SLOPE))
            total = None
            for j in range(i * self.n_blocks, (i + 1) * self.n_blocks):
                block = self.resblocks[j](x)
                # each partial sum is normalised over the whole clip, then the next block added to it
                total = self.normalize[j](block if total is None else total + block)
            x = total / self.n_blocks
        # the original's last activation uses torch's default slope 0.01, not the 0.1 used elsewhere
        return self.conv_post(F.leaky_relu(x))


class Generator(nn.Module):
    """HiFi-GAN: latent ``(B, C, T)`` -> audio ``(B, 1, T * hop)`` in ``[-1, 1]``."""

    def __init__(
        self, latent: int, width: int, rates: Sequence[int], kernels: Sequence[int], block_kernels: Sequence[int]
    ) -> None:
        super().__init__()
        self.conv_pre = _conv(nn.Conv1d, latent, width, 7, padding=3)
        self.ups, self.resblocks = nn.ModuleList(), nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(rates, kernels, strict=True)):
            channels = width // 2 ** (i + 1)
            self.ups.append(
                _conv(nn.ConvTranspose1d, channels * 2, channels, kernel, rate, padding=(kernel - rate) // 2)
            )
            self.resblocks.extend(ResBlock(channels, block_kernel) for block_kernel in block_kernels)
        self.conv_post = _conv(nn.Conv1d, width // 2 ** len(rates), 1, 7, padding=3)
        self.n_blocks = len(block_kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, SLOPE))
            blocks = self.resblocks[i * self.n_blocks : (i + 1) * self.n_blocks]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / self.n_blocks
        return torch.tanh(self.conv_post(F.leaky_relu(x, SLOPE)))


class Codebook(nn.Module):
    """One group's codebook, under the original's key ``embedding.weight``."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(size, dim)

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """``(M, D)`` -> ``(M,)`` nearest entry, with the original's expansion of the squared distance
        (``|x|^2 + |e|^2 - 2 x.e``, minimised) so that near-ties resolve as there."""
        weight = self.embedding.weight
        distance = torch.sum(x**2, 1, keepdim=True) + torch.sum(weight**2, 1) - 2 * torch.matmul(x, weight.T)
        return torch.argmin(distance, 1)


class GroupResidualVQ(nn.Module):
    """Two residual steps (``quantizer_modules``, ``quantizer_modules2``), each over channel groups."""

    def __init__(self, groups: int, size: int, latent: int) -> None:
        super().__init__()
        self.quantizer_modules = nn.ModuleList(Codebook(size, latent // groups) for _ in range(groups))
        self.quantizer_modules2 = nn.ModuleList(Codebook(size, latent // groups) for _ in range(groups))

    def encode(self, latent: torch.Tensor) -> torch.Tensor:
        """``(B, C, T)`` -> ``(B, 2 * groups, T)`` codes, rows step by step, group by group."""
        batch, channels, frames = latent.shape
        residual, codes = latent, []
        for step in (self.quantizer_modules, self.quantizer_modules2):
            x = residual.transpose(1, 2)
            parts = x.reshape(-1, channels).split(channels // len(step), dim=-1)
            indices = [book.nearest(part) for book, part in zip(step, parts, strict=True)]
            chosen = torch.cat([book.embedding(i) for book, i in zip(step, indices, strict=True)], -1).reshape(x.shape)
            # the original's straight-through ``x + (q - x)`` is kept: it rounds differently from ``q``
            # and the second step's codes are only equal bit for bit with the same residual
            residual = residual - (x + (chosen - x)).transpose(1, 2)
            codes += [i.reshape(batch, frames) for i in indices]
        return torch.stack(codes, 1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, 2 * groups, T)`` codes -> ``(B, C, T)``: each step's group vectors side by side, summed."""
        groups = len(self.quantizer_modules)
        first = torch.cat([book.embedding(codes[:, j]) for j, book in enumerate(self.quantizer_modules)], -1)
        second = torch.cat([book.embedding(codes[:, groups + j]) for j, book in enumerate(self.quantizer_modules2)], -1)
        return (first + second).transpose(1, 2)


class HiFiCodecNetwork(nn.Module):
    """``encoder``, ``quantizer``, ``generator`` as in the published files."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        rates, kernels, blocks = config["upsample_rates"], config["upsample_kernels"], config["resblock_kernels"]
        latent = config["encoder_width"] * 2 ** len(rates)
        self.encoder = Encoder(config["encoder_width"], rates, kernels, blocks)
        self.quantizer = GroupResidualVQ(config["n_code_groups"], config["n_codes"], latent)
        self.generator = Generator(latent, config["generator_width"], rates, kernels, blocks)


class HiFiCodecCodec(ExternalCodec):
    """HiFi-Codec: 16 or 24 kHz, 4 x 1024 codes per frame (all needed), 50 / 75 / 100 frames/s."""

    support = Support("hificodec", "codec", causal=False, prefix_codes=False)
    network: HiFiCodecNetwork
    encodes_whole = True
    """Codes depend on the whole item (clip-wide GroupNorm): never encode it in chunks
    (``codec.inference.chunking.encode_windows``)."""

    def _encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        frames = -(-audio.shape[-1] // self.hop_length)
        audio = F.pad(audio, (0, frames * self.hop_length - audio.shape[-1]))
        return self.network.quantizer.encode(self.network.encoder(audio))

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.network.generator(self.network.quantizer.decode(codes))


def is_hificodec_checkpoint(checkpoint: Any) -> bool:
    """Whether a loaded file is a HiFi-Codec one: state dicts ``generator``, ``encoder`` and ``quantizer``."""
    return (
        isinstance(checkpoint, dict)
        and all(isinstance(checkpoint.get(part), dict) for part in PARTS)
        and "quantizer_modules.0.embedding.weight" in checkpoint["quantizer"]
    )


def published_config(path: Path) -> dict[str, Any]:
    """The configuration named by the file name (any extension and letter case)."""
    names = {name.lower(): name for name in PUBLISHED}
    name = names.get(path.name.lower()) or names.get(path.stem.lower())
    if name is None:
        raise CodecError(
            f"HiFi-Codec configs are known by file name only; rename it to one of {', '.join(PUBLISHED)}", path
        )
    return PUBLISHED[name]


def convert_state(checkpoint: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """``{part: state}`` -> ``part.key`` with weight norm in ``torch.nn.utils.parametrizations`` names."""
    state = {}
    for part in PARTS:
        for key, value in checkpoint[part].items():
            if not isinstance(value, torch.Tensor):
                raise CodecError(f"damaged checkpoint: {part} {key} is not a tensor", path)
            key = key.replace(".weight_g", ".parametrizations.weight.original0")
            state[f"{part}.{key.replace('.weight_v', '.parametrizations.weight.original1')}"] = value
    return state


def config_from_state(state: dict[str, torch.Tensor], named: dict[str, Any], path: Path) -> dict[str, Any]:
    """``named`` completed with the widths, codebooks and residual kernels that the shapes record."""
    weight = ".parametrizations.weight.original1"
    try:
        encoder_width = state[f"encoder.conv_pre{weight}"].shape[0]
        generator_width = state[f"generator.conv_pre{weight}"].shape[0]
        n_codes = state["quantizer.quantizer_modules.0.embedding.weight"].shape[0]
        # residual blocks per stage: the kernels of the first stage's, the same in every stage
        blocks = {key.split(".")[2] for key in state if key.startswith("generator.resblocks.")}
        per_stage = max(1, len(blocks) // len(named["upsample_rates"]))
        kernels = [state[f"generator.resblocks.{j}.convs1.0{weight}"].shape[-1] for j in range(per_stage)]
    except KeyError as error:
        raise CodecError(f"not a complete HiFi-Codec checkpoint (no {error.args[0]})", path) from None
    groups = sum(1 for key in state if key.startswith("quantizer.quantizer_modules.") and key.endswith(".weight"))
    if groups < 1 or (encoder_width * 2 ** len(named["upsample_rates"])) % groups:
        raise CodecError(f"not a HiFi-Codec quantizer ({groups} code groups)", path)
    return {
        **named,
        "encoder_width": encoder_width,
        "generator_width": generator_width,
        "resblock_kernels": kernels,
        "n_code_groups": groups,
        "n_codes": n_codes,
    }


def load_hificodec(path: Path, checkpoint: dict[str, Any]) -> HiFiCodecCodec:
    """A ``HiFiCodecCodec`` from a published file (already loaded with ``weights_only``).

    Raises:
        CodecError: a file name that is not a published one (naming those), or weights that are
            incomplete or do not fit the named configuration (any missing, unexpected or mis-shaped key).
    """
    named = published_config(path)
    state = convert_state(checkpoint, path)
    config = config_from_state(state, named, path)
    with torch.random.fork_rng(devices=[]):  # building draws initial weights; leave the caller's stream alone
        network = HiFiCodecNetwork(config)
    check_state(network, state, path, "HiFi-Codec")
    return HiFiCodecCodec(
        network.eval(),
        config,
        name=path.name,
        sample_rate=config["sample_rate"],
        hop_length=int(torch.tensor(config["upsample_rates"]).prod()),
        codebook_size=config["n_codes"],
        n_codebooks=2 * config["n_code_groups"],
        min_codebooks=2 * config["n_code_groups"],
        token_parts=("encoder", "quantizer"),
    )
