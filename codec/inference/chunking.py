"""Receptive fields of a codec and chunked encode / decode of long audio with bounded memory.

A convolutional encoder or decoder only connects nearby samples and frames, so a long input can be
processed in windows: each window holds one chunk plus enough context on both sides, and only the
chunk's own frames (or samples) are kept. With the context at least the receptive field the result
equals a whole-file pass (to float rounding), while memory depends on the chunk size only.

The receptive field is measured on a freshly built copy of the architecture (float64, so that tiny
contributions at the window edges are not rounded away; CPU; random weights, which do not change
which samples connect):

- encoder: the gradient of one frame with respect to the input samples is non-zero exactly on the
  samples it reads;
- decoder: the forward-mode derivative along one latent frame is non-zero exactly on the output
  samples it writes (the overlap-add normalisation is data-independent but covers a subset of
  those samples, because the Hann window is zero where the derivative does not reach). Derivatives
  are used rather than perturbations: in a deep stack the far contributions are below float
  rounding of the output values and a perturbation test misses them.

LSTM and attention layers connect everything (unbounded history, and unbounded lookahead when not
causal). Those sides are reported as ``None`` (both decoder sides for a decoder with attention, whose
forward-mode derivative torch does not implement); chunking then uses ``FALLBACK_CONTEXT_SECONDS`` of
context per side and a short crossfade, which is close to, but not exactly, the whole-file result.
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.autograd import forward_ad

from codec.nn.layers import AttentionBlock

if TYPE_CHECKING:
    from codec.model import CodecNetwork

DEFAULT_CHUNK_SECONDS = 30.0
"""Chunk length of ``Codec.encode`` / ``Codec.decode`` for long inputs."""

FALLBACK_CONTEXT_SECONDS = 2.0
"""Context per side for encoders / decoders with LSTM or attention (unbounded receptive field)."""

_PROBE_FRAMES = 64
_MAX_PROBE_FRAMES = 1 << 14


@dataclass(frozen=True)
class ReceptiveField:
    """Which samples the frames of a codec read (encoder) and write (decoder), in samples.

    With ``hop = hop_length``:

    - encoder frame ``t`` reads samples ``[t * hop - encoder_history, (t + 1) * hop + encoder_lookahead)``;
    - decoder frame ``t`` writes samples ``[t * hop - decoder_back, (t + 1) * hop + decoder_ahead)``.
      A streaming decoder must hold back ``decoder_back`` samples until the next frames arrive.

    ``None`` marks an unbounded side (LSTM, attention).
    """

    hop_length: int
    encoder_history: int | None
    encoder_lookahead: int | None
    decoder_back: int | None
    decoder_ahead: int | None

    @property
    def bounded(self) -> bool:
        """Whether every side is finite (the codec can be chunked and streamed exactly)."""
        return None not in (self.encoder_history, self.encoder_lookahead, self.decoder_back, self.decoder_ahead)


def _unbounded_sides(module: nn.Module) -> tuple[bool, bool]:
    """``(past, future)``: whether recurrent or attention layers make either side unbounded."""
    past = future = False
    for layer in module.modules():
        if isinstance(layer, nn.RNNBase):
            past = True
            future |= layer.bidirectional
        elif isinstance(layer, AttentionBlock):
            past = True
            future |= not layer.causal
        elif isinstance(layer, nn.MultiheadAttention):
            past = future = True
    return past, future


def _support(mask: torch.Tensor) -> tuple[int, int]:
    """First and last index where the 1-D boolean ``mask`` is true."""
    index = mask.nonzero()[:, 0]
    return int(index[0]), int(index[-1])


Probe = Callable[[int], tuple[int, int, int, int]]


def _measure(probe: Probe, hop: int, past_unbounded: bool, future_unbounded: bool) -> tuple[int | None, int | None]:
    """Grow the probe until the measured span fits inside it; ``(before, after)`` in samples.

    ``probe(frames)`` returns ``(lo, hi, n, t)``: the span ``[lo, hi]`` found for frame ``t`` in a
    probe of ``n`` samples. ``before = t * hop - lo`` and ``after = hi + 1 - (t + 1) * hop``.
    """
    frames = _PROBE_FRAMES
    while True:
        lo, hi, n, t = probe(frames)
        open_left = lo == 0 and not past_unbounded
        open_right = hi == n - 1 and not future_unbounded
        if not (open_left or open_right):
            before = None if past_unbounded else max(0, t * hop - lo)
            after = None if future_unbounded else max(0, hi + 1 - (t + 1) * hop)
            return before, after
        if frames >= _MAX_PROBE_FRAMES:
            raise RuntimeError(f"receptive field wider than {frames} frames")
        frames *= 2


_CACHE: weakref.WeakKeyDictionary[nn.Module, ReceptiveField] = weakref.WeakKeyDictionary()


def receptive_field(codec: CodecNetwork) -> ReceptiveField:
    """Measure (once per codec object, then cached) the receptive fields of encoder and decoder.

    Runs on a fresh float64 CPU copy built from ``codec.config`` with random weights; the global
    random state is left untouched. Costs a few forward passes over 64+ frames. A model that
    declares its field instead (``declared_receptive_field``: published models run by their own
    packages, ``codec.external``) is taken at its word.
    """
    declared = getattr(codec, "declared_receptive_field", None)
    if isinstance(declared, ReceptiveField):
        return declared
    cached = _CACHE.get(codec)
    if cached is not None:
        return cached

    hop = codec.hop_length
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode(False), torch.enable_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        copy = type(codec).from_config(codec.config).double().eval()
        encoder, decoder = copy.encoder, copy.decoder

        def encoder_probe(frames: int) -> tuple[int, int, int, int]:
            audio = (0.1 * torch.randn(1, 1, frames * hop, generator=generator, dtype=torch.float64)).requires_grad_()
            latent = encoder(audio)
            t = frames // 2
            weights = torch.randn(latent.shape[1], generator=generator, dtype=torch.float64)
            (grad,) = torch.autograd.grad((latent[0, :, t] * weights).sum(), audio)
            lo, hi = _support(grad[0, 0] != 0)
            return lo, hi, audio.shape[-1], t

        def decoder_probe(frames: int) -> tuple[int, int, int, int]:
            latent = torch.randn(1, encoder.dim, frames, generator=generator, dtype=torch.float64)
            t = frames // 2
            direction = torch.zeros_like(latent)
            direction[0, :, t] = torch.randn(encoder.dim, generator=generator, dtype=torch.float64)
            with torch.no_grad(), forward_ad.dual_level():
                out = decoder(forward_ad.make_dual(latent, direction))
                tangent = forward_ad.unpack_dual(out).tangent[0, 0]
            lo, hi = _support(tangent != 0)
            return lo, hi, tangent.shape[-1], t

        history, lookahead = _measure(encoder_probe, hop, *_unbounded_sides(encoder))
        if any(_unbounded_sides(decoder)):
            back = ahead = None
        else:
            back, ahead = _measure(decoder_probe, hop, False, False)
            margin = decoder.window_margin_frames * hop
            back, ahead = back + margin, ahead + margin
    field = ReceptiveField(hop, history, lookahead, back, ahead)
    _CACHE[codec] = field
    return field


def _frames(samples: int | None, hop: int, fallback: int) -> int:
    """Whole frames covering ``samples`` (``fallback`` frames when unbounded)."""
    return fallback if samples is None else -(-samples // hop)


def chunk_frames_for(codec: CodecNetwork, chunk_seconds: float) -> int:
    """Frames per chunk for ``chunk_seconds`` (at least one)."""
    if chunk_seconds <= 0:
        raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
    return max(1, round(chunk_seconds * codec.frame_rate))


def encode_chunked(
    codec: CodecNetwork,
    audio: torch.Tensor,
    chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
    n_codebooks: int | None = None,
) -> torch.Tensor:
    """``Codec.encode_codes`` over windows of ``chunk_seconds`` plus receptive-field context.

    Call it in eval mode without autograd (``Codec.encode`` does). Each window holds one chunk of
    frames plus whole frames of context covering the encoder's history and lookahead; only the
    chunk's frames are kept. Windows are moved to the codec's device and dtype one at a time, so
    ``audio`` may stay on the CPU and peak memory follows the chunk size.

    Args:
        audio: ``(B, 1, N)`` at the model rate.
        chunk_seconds: chunk length; ``None`` (or an input no longer than one chunk) encodes the
            whole input at once.

    Returns:
        ``(B, Q, ceil(N / hop_length))`` int64 codes on the CPU, equal to ``encode_codes(audio)``
        for encoders with a bounded receptive field (to float rounding in the argmin; LSTM or
        attention encoders get ``FALLBACK_CONTEXT_SECONDS`` of context and match nearly).
    """
    length = audio.shape[-1]
    return encode_windows(codec, length, lambda start, stop: audio[..., start:stop], chunk_seconds, n_codebooks)


def encode_windows(
    codec: CodecNetwork,
    length: int,
    read: Callable[[int, int], torch.Tensor],
    chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
    n_codebooks: int | None = None,
) -> torch.Tensor:
    """``encode_chunked`` over audio that ``read(start, stop)`` hands out window by window, as
    ``(B, 1, stop - start)`` samples at the model rate (``stop <= length``), in order of ``start``:
    memory then follows the chunk, not the input (``codec.io.stream`` reads files this way)."""
    hop = codec.hop_length
    total = max(1, -(-length // hop))
    # A model whose codes depend on the whole item (``encodes_whole``, e.g. a clip-wide GroupNorm) is never chunked.
    whole = chunk_seconds is None or getattr(codec, "encodes_whole", False)
    chunk = total if whole else chunk_frames_for(codec, chunk_seconds)
    if total <= chunk:
        return codec.encode_codes(read(0, length).to(codec.device, codec.dtype), n_codebooks).cpu()
    field = receptive_field(codec)
    fallback = math.ceil(FALLBACK_CONTEXT_SECONDS * codec.frame_rate)
    before = _frames(field.encoder_history, hop, fallback)
    after = _frames(field.encoder_lookahead, hop, fallback)
    codes: torch.Tensor | None = None
    for first in range(0, total, chunk):
        last = min(first + chunk, total)
        start, stop = max(0, first - before), min(total, last + after)
        # ``encode_codes`` zero-pads the last window to whole frames, as it pads the whole input.
        window = read(start * hop, min(stop * hop, length)).to(codec.device, codec.dtype)
        part = codec.encode_codes(window, n_codebooks)[..., first - start : last - start].cpu()
        if codes is None:
            codes = torch.empty(part.shape[0], part.shape[1], total, dtype=part.dtype)
        codes[..., first:last] = part
    assert codes is not None
    return codes


def decode_chunked(
    codec: CodecNetwork,
    codes: torch.Tensor,
    chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
) -> torch.Tensor:
    """``Codec.decode_codes`` over windows of ``chunk_seconds`` of frames plus context.

    Call it in eval mode without autograd (``Codec.decode`` does). For decoders with a bounded
    receptive field each window's context covers it and the chunk's samples are cropped exactly:
    the result equals a whole decode to float rounding. Decoders with attention get
    ``FALLBACK_CONTEXT_SECONDS`` of context and a linear crossfade of two frames at every border.

    Args:
        codes: ``(B, Q, T)`` codes (any device).
        chunk_seconds: chunk length; ``None`` (or codes no longer than one chunk) decodes at once.

    Returns:
        ``(B, 1, T * hop_length)`` float32 audio on the CPU.
    """
    hop = codec.hop_length
    total = codes.shape[-1]
    chunk = total if chunk_seconds is None else chunk_frames_for(codec, chunk_seconds)
    if total <= chunk:
        return codec.decode_codes(codes.to(codec.device)).float().cpu()
    if codec.decoder.stateful_phase:
        return decode_harmonic_chunked(codec, codes, chunk_seconds)[0]
    field = receptive_field(codec)
    exact = field.decoder_back is not None and field.decoder_ahead is not None
    fade = 0 if exact else min(2 * hop, chunk * hop)
    half = fade // 2
    fallback = math.ceil(FALLBACK_CONTEXT_SECONDS * codec.frame_rate)
    # Frames before a chunk reach into it through ``decoder_ahead``; frames after it through ``decoder_back``.
    before = _frames(field.decoder_ahead, hop, fallback) + _frames(half, hop, 0)
    after = _frames(field.decoder_back, hop, fallback) + _frames(half, hop, 0)
    n = total * hop
    audio = torch.zeros(codes.shape[0], 1, n)
    for first in range(0, total, chunk):
        last = min(first + chunk, total)
        start, stop = max(0, first - before), min(total, last + after)
        part = codec.decode_codes(codes[..., start:stop].to(codec.device)).float().cpu()
        lo = first * hop - (half if first > 0 else 0)
        hi = last * hop + (half if last < total else 0)
        piece = part[..., lo - start * hop : hi - start * hop]
        if fade:
            weight = torch.ones(hi - lo)
            ramp = (torch.arange(fade) + 0.5) / fade
            if first > 0:
                weight[:fade] = ramp
            if last < total:
                weight[-fade:] = 1 - ramp
            piece = piece * weight
        audio[..., lo:hi] += piece
    return audio


def decode_harmonic_chunked(
    codec: CodecNetwork,
    codes: torch.Tensor,
    chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
    anchor: tuple[int, torch.Tensor] | None = None,
    capture: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``decode_chunked`` for a ``HarmonicVocosDecoder``: windows in order, each continuing the pulse
    train's phase from the one before.

    The phase at a sample is a running sum over the whole stream, so every window is anchored at
    the start of its chunk to the phase the previous window computed there (exactly: both windows
    read the F0 of the frames around it with full context).

    Args:
        codes: ``(B, Q, T)`` codes (any device).
        chunk_seconds: as ``decode_chunked``.
        anchor: ``(j, cycles (B,))``: the phase of the codes' pulse train at its sample ``j`` (output
            sample ``j - pad``, ``HarmonicVocosDecoder.forward_window``) when the codes continue a
            longer stream; None starts it as a whole decode does. The first chunk stretches to
            sample ``j``, and only the output after it continues the stream.
        capture: ``(B,)`` CPU tensor of the pulse-train sample (in ``[0, T * hop_length)``) per
            item whose phase to return, or None.

    Returns:
        ``(B, 1, T * hop_length)`` float32 audio on the CPU, and the phase ``(B,)`` in cycles
        (float64) at the ``capture`` samples (None without ``capture``).
    """
    hop = codec.hop_length
    total = codes.shape[-1]
    chunk = total if chunk_seconds is None else chunk_frames_for(codec, chunk_seconds)
    # Chunk borders; the first chunk must reach the anchor to start from it.
    edges = [0, min(total, max(chunk, 0 if anchor is None else -(-anchor[0] // hop)))]
    while edges[-1] < total:
        edges.append(min(edges[-1] + chunk, total))
    field = receptive_field(codec) if len(edges) > 2 else None
    before = 0 if field is None else _frames(field.decoder_ahead, hop, 0)
    after = 0 if field is None else _frames(field.decoder_back, hop, 0)
    audio = torch.zeros(codes.shape[0], 1, total * hop)
    captured = None if capture is None else torch.zeros(codes.shape[0], dtype=torch.float64)
    for first, last in itertools.pairwise(edges):
        start, stop = max(0, first - before), min(total, last + after)
        latent = codec.quantizer.decode(codes[..., start:stop].to(codec.device))
        window_anchor = None if anchor is None else (anchor[0] - start * hop, anchor[1])
        part, cycles = codec.decoder.forward_window(latent, window_anchor)
        audio[..., first * hop : last * hop] = part[..., (first - start) * hop : (last - start) * hop].float().cpu()
        if capture is not None:
            inside = (capture >= first * hop) & (capture < last * hop)
            rows = inside.nonzero()[:, 0]
            at = (capture[rows] - start * hop).to(cycles.device)
            captured[rows] = cycles[rows.to(cycles.device), at].double().cpu()
        anchor = (last * hop, cycles[:, (last - start) * hop])
    return audio, captured
