"""Make a trained codec's decoder cheaper: keep some ConvNeXt blocks and narrow their MLPs.

The result is a warm start for fine-tuning the decoder alone (``codec train ... --model.init_from
SHRUNK --model.freeze_modules [encoder,quantizer]``): the encoder and codebooks are copied
unchanged, so it turns audio into the same codes as the original. It is a new model all the same
(its fingerprint covers the decoder), so token files written by the original are not accepted.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from codec.api import Codec
from codec.decoders import VocosDecoder
from codec.nn.layers import ConvNeXtBlock


def _narrow_mlp(block: ConvNeXtBlock, width: int) -> None:
    """Keep the ``width`` hidden units of ``block``'s MLP with the largest in-norm x out-norm."""
    importance = block.pwconv1.weight.norm(dim=1) * block.pwconv2.weight.norm(dim=0)
    keep = importance.topk(width).indices.sort().values
    first = nn.Linear(block.pwconv1.in_features, width)
    second = nn.Linear(width, block.pwconv2.out_features)
    with torch.no_grad():
        first.weight.copy_(block.pwconv1.weight[keep])
        first.bias.copy_(block.pwconv1.bias[keep])
        second.weight.copy_(block.pwconv2.weight[:, keep])
        second.bias.copy_(block.pwconv2.bias)
    block.pwconv1, block.pwconv2 = first, second


def shrink_decoder(codec: Codec, keep_layers: Sequence[int], intermediate_dim: int) -> Codec:
    """A copy of ``codec`` whose Vocos decoder keeps only ``keep_layers`` (ConvNeXt block indices,
    in order) with MLPs narrowed to ``intermediate_dim`` hidden units (those with the largest
    weights). Encoder, quantizer, embedding, norms and head are copied unchanged.

    Raises:
        ValueError: not a ConvNeXt-only Vocos decoder, bad layer indices, or a width that is not
            in 1..the current width.
    """
    decoder = codec.decoder
    if not isinstance(decoder, VocosDecoder) or not all(isinstance(b, ConvNeXtBlock) for b in decoder.blocks):
        raise ValueError("only a Vocos decoder without attention blocks can be shrunk")
    layers = [int(i) for i in keep_layers]
    count = len(decoder.blocks)
    if not layers or sorted(set(layers)) != layers or not 0 <= layers[0] <= layers[-1] < count:
        raise ValueError(f"keep_layers must be increasing indices in 0..{count - 1}, got {list(keep_layers)}")
    current = decoder.blocks[0].pwconv1.out_features
    if not 1 <= intermediate_dim <= current:
        raise ValueError(f"intermediate_dim must be in 1..{current}, got {intermediate_dim}")

    config = copy.deepcopy(codec.config)
    config["decoder"].update(num_layers=len(layers), intermediate_dim=intermediate_dim)
    source = copy.deepcopy(decoder)
    for index in layers:
        _narrow_mlp(source.blocks[index], intermediate_dim)
    source.blocks = nn.Sequential(*(source.blocks[i] for i in layers))

    shrunk = Codec.from_config(config)
    shrunk.encoder.load_state_dict(codec.encoder.state_dict())
    shrunk.quantizer.load_state_dict(codec.quantizer.state_dict())
    shrunk.decoder.load_state_dict(source.state_dict())
    shrunk.code_stats = copy.deepcopy(codec.code_stats)
    return shrunk.train(codec.training)
