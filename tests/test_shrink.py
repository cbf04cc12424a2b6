"""``shrink_decoder``: a cheaper decoder that keeps the original's encoder, codebooks and tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from codec.api import Codec
from codec.training.shrink import shrink_decoder

RECIPES = Path(__file__).resolve().parent.parent / "recipes" / "codec"


@pytest.fixture(scope="module")
def codec() -> Codec:
    torch.manual_seed(0)
    config = yaml.safe_load((RECIPES / "tiny-vq.yaml").read_text())["model"]["codec"]
    config["decoder"].update(num_layers=3, intermediate_dim=48)
    return Codec.from_config(config).eval()


def test_keeping_everything_is_the_same_model(codec: Codec) -> None:
    same = shrink_decoder(codec, [0, 1, 2], 48).eval()
    assert same.config == codec.config
    audio = 0.1 * torch.randn(2, 1, 4 * codec.hop_length)
    with torch.no_grad():
        codes = codec.encode_codes(audio)
        assert torch.equal(same.encode_codes(audio), codes)
        assert torch.equal(same.decode_codes(codes), codec.decode_codes(codes))


def test_shrunk_decoder_reads_the_same_tokens(codec: Codec) -> None:
    """Fewer blocks and a narrower MLP: the config says so, the decoder is smaller, the encoder and
    codebooks are untouched (same codes), and decoding still gives audio of the right length."""
    shrunk = shrink_decoder(codec, [0, 2], 16).eval()
    assert shrunk.config["decoder"]["num_layers"] == 2 and shrunk.config["decoder"]["intermediate_dim"] == 16
    assert Codec.from_config(shrunk.config).load_state_dict(shrunk.state_dict())
    size = sum(p.numel() for p in shrunk.decoder.parameters())
    assert size < sum(p.numel() for p in codec.decoder.parameters())
    for part in ("encoder", "quantizer"):
        for (name, value), expected in zip(
            getattr(shrunk, part).state_dict().items(), getattr(codec, part).state_dict().values(), strict=True
        ):
            assert torch.equal(value, expected), f"{part}.{name}"
    audio = 0.1 * torch.randn(1, 1, 5 * codec.hop_length)
    with torch.no_grad():
        codes = codec.encode_codes(audio)
        assert torch.equal(shrunk.encode_codes(audio), codes)
        assert shrunk.decode_codes(codes).shape == (1, 1, 5 * codec.hop_length)
    assert torch.equal(shrunk.decoder.blocks[1].gamma, codec.decoder.blocks[2].gamma)


def test_narrowing_keeps_the_strongest_hidden_units(codec: Codec) -> None:
    """Units whose weights were zeroed go first; the kept ones are copied with their biases."""
    source = shrink_decoder(codec, [0, 1, 2], 48)
    block = source.decoder.blocks[1]
    weak = torch.arange(0, 48, 2)
    with torch.no_grad():
        block.pwconv1.weight[weak] *= 1e-3
    narrow = shrink_decoder(source, [1], 24).decoder.blocks[0]
    strong = torch.arange(1, 48, 2)
    assert torch.equal(narrow.pwconv1.weight, block.pwconv1.weight[strong])
    assert torch.equal(narrow.pwconv1.bias, block.pwconv1.bias[strong])
    assert torch.equal(narrow.pwconv2.weight, block.pwconv2.weight[:, strong])
    assert torch.equal(narrow.pwconv2.bias, block.pwconv2.bias)


@pytest.mark.parametrize(
    ("layers", "width", "message"),
    [
        ([], 16, "keep_layers"),
        ([1, 0], 16, "keep_layers"),
        ([0, 3], 16, "keep_layers"),
        ([0], 0, "intermediate_dim"),
        ([0], 49, "intermediate_dim"),
    ],
)
def test_bad_arguments_are_refused(codec: Codec, layers: list[int], width: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shrink_decoder(codec, layers, width)


def test_decoders_with_attention_are_refused(codec: Codec) -> None:
    config = {**codec.config, "decoder": {**codec.config["decoder"], "attention_layers": 1}}
    with pytest.raises(ValueError, match="without attention"):
        shrink_decoder(Codec.from_config(config), [0], 16)
