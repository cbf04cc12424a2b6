"""Streaming encode and decode that reproduce the offline ``encode_codes`` / ``decode_codes``.

Any codec whose encoder and decoder have a bounded receptive field (convolutions only: no LSTM, no
attention) streams exactly; causal models just stream with less delay. The method is windowed
recomputation: the streamers keep the last receptive field of samples (encoder) or frames
(decoder) and, when new output can be final, run the ordinary offline function on that short
window and keep only the new frames / samples. Outputs that later input could still change are
held back:

- ``StreamingEncoder`` emits frame ``t`` once ``(t + 1) * hop + encoder_lookahead`` samples have
  arrived;
- ``StreamingDecoder`` emits sample ``n`` once every frame that writes it has arrived, i.e. it holds
  back the last ``decoder_back`` samples (the inverse STFT's overlap-add tail, plus the backbone's
  lookahead for non-causal decoders) until the next frames or ``flush``.

Cost: causal spectral and SEANet encoders (``stateful_encoding``; SEANet without LSTM) and causal
Vocos decoders (``stateful_decoding``), e.g. ``speech16k-causal`` and ``tiny-causal``, run with
carried state instead: every causal convolution keeps its last ``kernel - stride`` input frames
(``codec.nn.layers.ConvStream``), the STFT front end the samples its next windows need, and the
inverse STFT its overlap-add tail, so a push costs exactly the frames it completes. Otherwise a
call that completes new output recomputes a window of history + new + lookahead (encoder:
``ceil(encoder_history / hop)`` frames of history; decoder: about ``(decoder_ahead +
decoder_back) / hop`` frames of context) instead of only the new part; calls that complete nothing
cost nothing. Pushing one frame at a time, a windowed encoder would do 9 frames of work per frame
for ``tiny-causal`` and 36 for ``speech16k-causal``, and a windowed decoder of that size 22 and
58; pushing n frames at once divides the overhead by n (``bench/streaming_speed.py``). Models with
LSTM or attention are refused (``CodecError``): their receptive field is unbounded, so no finite
window reproduces the offline result.

The algorithmic latency (``algorithmic_latency_seconds``) is the longest time between a sample
entering ``StreamingEncoder.push`` and its reconstruction leaving ``StreamingDecoder.push``, with
infinitely fast compute: one frame (``hop_length``) + encoder lookahead + decoder holdback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import torch
from torch import nn

from codec.errors import CodecError
from codec.inference.chunking import ReceptiveField, receptive_field
from codec.model import CodecNetwork
from codec.nn.layers import AttentionBlock, ConvStream, PaddedConv1d


def inference_context(codec: CodecNetwork) -> AbstractContextManager[None]:
    """``Codec._inference`` (eval mode, restored after) only when needed: switching modes costs more
    than a tiny window's forward pass."""
    return codec._inference() if codec.training else torch.inference_mode()


def bounded_field(codec: CodecNetwork) -> ReceptiveField:
    field = receptive_field(codec)
    support = getattr(codec, "support", None)
    if support is not None:
        raise CodecError(
            f"model {codec.name!r} is a published {support.family} model run by {support.implementation}: "
            "streaming through this package supports our own models only"
        )
    if not field.bounded:
        raise CodecError(
            f"model {codec.name!r} cannot be streamed exactly: its encoder or decoder has LSTM or attention "
            "layers (unbounded receptive field); use a convolutional model such as recipes/codec/tiny-causal.yaml"
        )
    return field


def algorithmic_latency_samples(codec: CodecNetwork) -> int | None:
    """One frame + encoder lookahead + decoder holdback, in samples; ``None`` if not streamable."""
    field = receptive_field(codec)
    if not field.bounded:
        return None
    assert field.encoder_lookahead is not None and field.decoder_back is not None
    return codec.hop_length + field.encoder_lookahead + field.decoder_back


def algorithmic_latency_seconds(codec: CodecNetwork) -> float | None:
    """Streaming delay from input sample to output sample with instant compute, in seconds.

    ``(hop_length + encoder_lookahead + decoder_back) / sample_rate``: a frame can be encoded once
    its last sample and the encoder's lookahead have arrived, and an output sample leaves the decoder
    once the last frame that overlap-adds into it has arrived. ``None`` for models that cannot be
    streamed (LSTM or attention layers).
    """
    samples = algorithmic_latency_samples(codec)
    return None if samples is None else samples / codec.sample_rate


def causal_convolutional(module: nn.Module) -> bool:
    """No attention, and every ``PaddedConv1d`` causal (so a ``ConvStream`` can carry each)."""
    return not any(isinstance(m, AttentionBlock) for m in module.modules()) and all(
        m.causal for m in module.modules() if isinstance(m, PaddedConv1d)
    )


class ConvStreams:
    """One ``ConvStream`` per ``PaddedConv1d`` of a module, installed only inside ``active()`` so
    that the model runs as usual between pushes."""

    def __init__(self, module: nn.Module) -> None:
        self.convs = [m for m in module.modules() if isinstance(m, PaddedConv1d)]
        self.streams = [ConvStream() for _ in self.convs]

    @contextmanager
    def active(self) -> Iterator[None]:
        for conv, stream in zip(self.convs, self.streams, strict=True):
            conv.stream = stream
        try:
            yield
        finally:
            for conv in self.convs:
                conv.stream = None


def no_codes(n_codebooks: int) -> torch.Tensor:
    """``(Q, 0)`` codes: nothing final yet."""
    return torch.zeros(n_codebooks, 0, dtype=torch.long)


def codes_of(codec: CodecNetwork, latent: torch.Tensor, n_codebooks: int) -> torch.Tensor:
    """``(1, D, T)`` latents -> ``(Q, T)`` CPU codes."""
    return codec.quantizer(latent, n_codebooks).codes[0].cpu()
