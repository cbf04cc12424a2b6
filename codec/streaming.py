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
(``codec.layers.ConvStream``), the STFT front end the samples its next windows need, and the
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

import numpy as np
import torch
from torch import nn

from codec.chunking import ReceptiveField, receptive_field
from codec.decoders import HarmonicVocosDecoder, VocosDecoder
from codec.encoders import SEANetEncoder, SpectralEncoder
from codec.errors import CodecError
from codec.layers import AttentionBlock, ConvStream, PaddedConv1d
from codec.model import Codec
from codec.spectral import compress_spectrum


def _inference(codec: Codec) -> AbstractContextManager[None]:
    """``Codec._inference`` (eval mode, restored after) only when needed: switching modes costs more
    than a tiny window's forward pass."""
    return codec._inference() if codec.training else torch.inference_mode()


def _bounded_field(codec: Codec) -> ReceptiveField:
    field = receptive_field(codec)
    if not field.bounded:
        raise CodecError(
            f"model {codec.name!r} cannot be streamed exactly: its encoder or decoder has LSTM or attention "
            "layers (unbounded receptive field); use a convolutional model such as recipes/tiny-causal.yaml"
        )
    return field


def algorithmic_latency_samples(codec: Codec) -> int | None:
    """One frame + encoder lookahead + decoder holdback, in samples; ``None`` if not streamable."""
    field = receptive_field(codec)
    if not field.bounded:
        return None
    assert field.encoder_lookahead is not None and field.decoder_back is not None
    return codec.hop_length + field.encoder_lookahead + field.decoder_back


def algorithmic_latency_seconds(codec: Codec) -> float | None:
    """Streaming delay from input sample to output sample with instant compute, in seconds.

    ``(hop_length + encoder_lookahead + decoder_back) / sample_rate``: a frame can be encoded once
    its last sample and the encoder's lookahead have arrived, and an output sample leaves the decoder
    once the last frame that overlap-adds into it has arrived. ``None`` for models that cannot be
    streamed (LSTM or attention layers).
    """
    samples = algorithmic_latency_samples(codec)
    return None if samples is None else samples / codec.sample_rate


def _causal_convolutional(module: nn.Module) -> bool:
    """No attention, and every ``PaddedConv1d`` causal (so a ``ConvStream`` can carry each)."""
    return not any(isinstance(m, AttentionBlock) for m in module.modules()) and all(
        m.causal for m in module.modules() if isinstance(m, PaddedConv1d)
    )


class _ConvStreams:
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


def stateful_encoding(codec: Codec) -> bool:
    """Whether ``StreamingEncoder`` runs ``codec``'s encoder with carried state: a causal
    ``SpectralEncoder``, or a causal ``SEANetEncoder`` without LSTM, with no attention and every
    convolution causal."""
    encoder = codec.encoder
    kinds = isinstance(encoder, SpectralEncoder) or (isinstance(encoder, SEANetEncoder) and encoder.lstm is None)
    return kinds and encoder.causal and _causal_convolutional(encoder)


class _StatefulEncoder:
    """Runs a causal ``SpectralEncoder`` on new frames only: STFT frames are computed from a short
    sample buffer as soon as their window has arrived, every causal convolution carries its left
    context (``ConvStream``), and whole output frames are emitted. STFT frame ``j`` is centred at
    ``j * stft_hop`` (zeros before the stream), so output frame ``f`` is final once
    ``(f + 1) * hop + n_fft // 2 - stft_hop`` samples have arrived."""

    def __init__(self, codec: Codec, n_codebooks: int) -> None:
        self.codec = codec
        encoder = codec.encoder
        assert isinstance(encoder, SpectralEncoder)
        self.encoder = encoder
        self.n_codebooks = n_codebooks
        self.per_frame = encoder.hop_length // encoder.stft_hop  # STFT frames per output frame
        self.half = encoder.n_fft // 2
        self.streams = _ConvStreams(encoder)
        self.window = torch.hann_window(encoder.n_fft)
        self.buffer = torch.zeros(self.half)  # samples from STFT frame ``stft_frames`` minus n_fft // 2
        self.stft_frames = 0  # STFT frames done
        self.received = 0  # samples pushed

    def push(self, samples: torch.Tensor, limit: int | None = None) -> torch.Tensor:
        """Add samples; encode the output frames they complete (at most ``limit`` STFT frames in
        all). Returns ``(Q, T_new)`` codes."""
        self.buffer = torch.cat([self.buffer, samples])
        self.received += samples.shape[0]
        hop = self.encoder.stft_hop
        # STFT frame j needs samples up to j * hop + half; take whole output frames only.
        ready = (self.received - self.half) // hop + 1 if self.received >= self.half else 0
        if limit is not None:
            ready = min(ready, limit)
        outputs = (ready - self.stft_frames) // self.per_frame
        if outputs <= 0:
            return _no_codes(self.n_codebooks)
        count = outputs * self.per_frame
        segment = self.buffer[: (count - 1) * hop + self.encoder.n_fft].to(self.codec.device, self.codec.dtype)
        window = self.window.to(segment.device, segment.dtype)
        spec = torch.stft(segment[None], self.encoder.n_fft, hop, window=window, center=False, return_complex=True)
        with self.streams.active(), _inference(self.codec):
            codes = _codes(self.codec, self.encoder.encode_spectrum(compress_spectrum(spec)), self.n_codebooks)
        self.stft_frames += count
        self.buffer = self.buffer[count * hop :]
        return codes

    def flush(self, frames: int) -> torch.Tensor:
        """Encode up to ``frames`` output frames in all, the stream's end zero-padded."""
        end = frames * self.encoder.hop_length + self.half
        return self.push(torch.zeros(max(0, end - self.received)), limit=frames * self.per_frame)


class _StatefulSEANetEncoder:
    """Runs a causal ``SEANetEncoder`` (no LSTM or attention) on whole new hops of samples only:
    every causal convolution carries its left context (``ConvStream``), and with every input a
    multiple of the hop, each strided convolution gets a multiple of its stride. Output frame ``f``
    depends on samples ``< (f + 1) * hop`` only, so it is final once they have arrived."""

    def __init__(self, codec: Codec, n_codebooks: int) -> None:
        self.codec = codec
        self.n_codebooks = n_codebooks
        self.hop = codec.hop_length
        self.streams = _ConvStreams(codec.encoder)
        self.buffer = torch.zeros(0)  # samples after the last encoded frame
        self.frames = 0  # frames encoded

    def push(self, samples: torch.Tensor) -> torch.Tensor:
        """Add samples; encode every whole hop. Returns ``(Q, T_new)`` codes."""
        self.buffer = torch.cat([self.buffer, samples])
        count = self.buffer.shape[0] // self.hop
        if count == 0:
            return _no_codes(self.n_codebooks)
        segment = self.buffer[: count * self.hop].to(self.codec.device, self.codec.dtype)[None, None]
        with self.streams.active(), _inference(self.codec):
            codes = _codes(self.codec, self.codec.encoder(segment), self.n_codebooks)
        self.buffer = self.buffer[count * self.hop :]
        self.frames += count
        return codes

    def flush(self, frames: int) -> torch.Tensor:
        """Encode up to ``frames`` frames in all, the last partial hop zero-padded as ``encode_codes`` pads."""
        missing = (frames - self.frames) * self.hop - self.buffer.shape[0]
        return self.push(torch.zeros(max(0, missing)))


def _no_codes(n_codebooks: int) -> torch.Tensor:
    """``(Q, 0)`` codes: nothing final yet."""
    return torch.zeros(n_codebooks, 0, dtype=torch.long)


def _codes(codec: Codec, latent: torch.Tensor, n_codebooks: int) -> torch.Tensor:
    """``(1, D, T)`` latents -> ``(Q, T)`` CPU codes."""
    return codec.quantizer(latent, n_codebooks).codes[0].cpu()


class StreamingEncoder:
    """Push audio in pieces of any size, get the codes ``encode_codes`` gives for the whole signal.

    Causal spectral and SEANet encoders (``stateful_encoding``) run with carried state, one frame of
    work per frame; other encoders recompute a window of history on each push.

    Args:
        codec: a model with a bounded receptive field (no LSTM or attention).
        n_codebooks: codebooks to emit (default all).

    Raises:
        CodecError: the model has an unbounded receptive field.
    """

    def __init__(self, codec: Codec, n_codebooks: int | None = None) -> None:
        field = _bounded_field(codec)
        assert field.encoder_history is not None and field.encoder_lookahead is not None
        self.codec = codec
        self.hop = codec.hop_length
        self.n_codebooks = codec.quantizer.check_n_codebooks(n_codebooks)
        self.history_frames = -(-field.encoder_history // self.hop)
        self.lookahead = field.encoder_lookahead
        self.stateful = stateful_encoding(codec)
        self.reset()

    def reset(self) -> None:
        """Forget the stream (``flush`` does this too)."""
        self._state: _StatefulEncoder | _StatefulSEANetEncoder | None = None
        if self.stateful:
            kind = _StatefulEncoder if isinstance(self.codec.encoder, SpectralEncoder) else _StatefulSEANetEncoder
            self._state = kind(self.codec, self.n_codebooks)
        self._buffer = torch.zeros(0)
        self._pending: list[torch.Tensor] = []
        self._buffer_start = 0
        self.samples_in = 0
        self.frames_out = 0

    def push(self, audio: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Add ``(N,)`` samples at the model rate (any ``N`` >= 0).

        Returns:
            ``(Q, T_new)`` int64 CPU codes of the frames that became final (possibly none).
        """
        chunk = torch.as_tensor(np.asarray(audio, dtype=np.float32) if isinstance(audio, np.ndarray) else audio)
        if chunk.ndim != 1:
            raise ValueError(f"push takes (N,) mono samples, got shape {tuple(chunk.shape)}")
        chunk = chunk.detach().to("cpu", torch.float32)
        self.samples_in += chunk.shape[0]
        if self._state is not None:
            codes = self._state.push(chunk)
            self.frames_out += codes.shape[-1]
            return codes
        self._pending.append(chunk)
        ready = (self.samples_in - self.lookahead) // self.hop
        if ready <= self.frames_out:
            return _no_codes(self.n_codebooks)
        end = min(-(-self.samples_in // self.hop), ready + -(-self.lookahead // self.hop))
        return self._encode(ready, end)

    def flush(self) -> torch.Tensor:
        """Encode the remaining frames (the last one zero-padded, as ``encode_codes`` pads) and reset.

        Returns:
            ``(Q, T_rest)`` codes; over the stream ``ceil(N / hop_length)`` frames in all.
        """
        total = -(-self.samples_in // self.hop)
        if self._state is not None:
            codes = self._state.flush(total)
        else:
            codes = self._encode(total, total) if total > self.frames_out else _no_codes(self.n_codebooks)
        self.reset()
        return codes

    def _encode(self, stop: int, end: int) -> torch.Tensor:
        """Frames ``[frames_out, stop)`` from a window of whole frames ending at frame ``end``."""
        if self._pending:
            self._buffer = torch.cat([self._buffer, *self._pending])
            self._pending = []
        start = max(0, self.frames_out - self.history_frames)
        offset = start * self.hop - self._buffer_start
        window = self._buffer[offset : offset + (end - start) * self.hop]
        window = torch.nn.functional.pad(window, (0, (end - start) * self.hop - window.shape[0]))
        window = window.to(self.codec.device, self.codec.dtype)[None, None]
        with _inference(self.codec):
            codes = self.codec.encode_codes(window, self.n_codebooks)
        out = codes[0, :, self.frames_out - start : stop - start].cpu()
        self.frames_out = stop
        keep = max(0, stop - self.history_frames) * self.hop
        self._buffer = self._buffer[keep - self._buffer_start :]
        self._buffer_start = keep
        return out


def stateful_decoding(codec: Codec) -> bool:
    """Whether ``StreamingDecoder`` runs ``codec``'s decoder frame by frame with carried state: a
    causal convolutional ``VocosDecoder`` (no attention), whose every convolution is causal."""
    decoder = codec.decoder
    return (
        isinstance(decoder, VocosDecoder)
        and not isinstance(decoder, HarmonicVocosDecoder)
        and decoder.causal
        and _causal_convolutional(decoder)
        and all(m.stride == 1 for m in decoder.modules() if isinstance(m, PaddedConv1d))
    )


class _StatefulDecoder:
    """Runs a causal ``VocosDecoder`` on new frames only: each causal convolution carries its left
    context (``ConvStream``) and the inverse STFT carries its overlap-add tail, so every frame
    costs one frame of compute. Returns the (untrimmed) samples that no later frame can change:
    those before the next frame's start, plus the ones where its window is exactly zero."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        decoder = codec.decoder
        assert isinstance(decoder, VocosDecoder)
        self.decoder = decoder
        self.istft = decoder.head.istft
        self.lead = int((self.istft.window == 0).int().cumprod(0).sum())
        self.streams = _ConvStreams(decoder)
        self.frames = 0  # frames decoded; the tail starts at untrimmed sample frames * hop
        self.emitted = 0  # untrimmed samples returned
        self.tail = torch.zeros(1, 0)  # overlap-added samples and window envelope not yet complete
        self.envelope_tail = torch.zeros(1, 0)

    def push(self, codes: torch.Tensor) -> torch.Tensor:
        """``(Q, T_new)`` codes -> the untrimmed overlap-add samples that became final."""
        if codes.shape[-1] == 0:
            return torch.zeros(0)
        with self.streams.active(), _inference(self.codec):
            latent = self.codec.quantizer.decode(codes.to(self.codec.device)[None])
            frames = self.istft.frames(*self.decoder.head.spectrum(self.decoder.features(latent)))
            audio, envelope = (x.float().cpu() for x in self.istft.overlap_add(frames))
        audio, envelope = audio.clone(), envelope.clone()  # ordinary tensors, updated in place below
        audio[:, : self.tail.shape[-1]] += self.tail
        envelope[:, : self.tail.shape[-1]] += self.envelope_tail
        base = self.frames * self.istft.hop_length
        done = codes.shape[-1] * self.istft.hop_length
        self.frames += codes.shape[-1]
        self.tail, self.envelope_tail = audio[:, done:], envelope[:, done:]
        return self._take(audio, envelope, base, done + self.lead)

    def _take(self, audio: torch.Tensor, envelope: torch.Tensor, base: int, end: int) -> torch.Tensor:
        """Normalized samples ``[emitted, base + end)`` of buffers that start at sample ``base``."""
        start = self.emitted - base
        self.emitted = base + end
        return (audio[:, start:end] / envelope[:, start:end].clamp(min=1e-11))[0]

    def finish(self) -> torch.Tensor:
        """The rest of the overlap-add tail after the last frame (untrimmed); ``self`` is spent."""
        base = self.frames * self.istft.hop_length
        return self._take(self.tail, self.envelope_tail, base, self.tail.shape[-1])


class StreamingDecoder:
    """Push codes in pieces of any size, get the audio ``decode_codes`` gives for all of them.

    The last ``decoder_back`` samples stay held back until more frames arrive or ``flush``; over a
    stream of ``T`` frames exactly ``T * hop_length`` samples come out. Causal convolutional Vocos
    decoders (``stateful_decoding``) run frame by frame with carried state, one frame of compute per
    frame; other decoders recompute a window of context on each push.

    Args:
        codec: a model with a bounded receptive field (no LSTM or attention).

    Raises:
        CodecError: the model has an unbounded receptive field.
    """

    def __init__(self, codec: Codec) -> None:
        field = _bounded_field(codec)
        assert field.decoder_back is not None and field.decoder_ahead is not None
        self.codec = codec
        self.hop = codec.hop_length
        self.back = field.decoder_back
        self.ahead = field.decoder_ahead
        self.stateful = stateful_decoding(codec)
        self.reset()

    def reset(self) -> None:
        """Forget the stream (``flush`` does this too)."""
        self._codes: torch.Tensor | None = None
        self._codes_start = 0
        self._state = _StatefulDecoder(self.codec) if self.stateful else None
        self._pending = torch.zeros(0)  # stateful: untrimmed samples not yet emitted
        self._trim = self.codec.decoder.head.istft.pad if self.stateful else 0
        self._anchor: tuple[int, torch.Tensor] | None = None  # harmonic decoders: (pulse train sample, phase)
        self.frames_in = 0
        self.samples_out = 0

    def push(self, codes: torch.Tensor) -> torch.Tensor:
        """Add ``(Q, T_new)`` codes (``Q`` fixed over the stream, any ``T_new`` >= 0).

        Returns:
            ``(N_new,)`` float32 CPU samples that became final (possibly none).
        """
        codes = torch.as_tensor(codes)
        if codes.ndim != 2:
            raise ValueError(f"push takes (Q, T) codes, got shape {tuple(codes.shape)}")
        codes = codes.detach().to("cpu", torch.long)
        if self._codes is None:
            self.codec.quantizer.check_n_codebooks(codes.shape[0])
            self._codes = codes
        elif codes.shape[0] != self._codes.shape[0]:
            raise ValueError(f"codes have {codes.shape[0]} codebooks, the stream {self._codes.shape[0]}")
        else:
            self._codes = torch.cat([self._codes, codes], dim=1)
        self.frames_in += codes.shape[1]
        if self._state is not None:
            return self._emit(self._state.push(codes), self.frames_in * self.hop - self.back)
        final = self.frames_in * self.hop - self.back
        if final <= self.samples_out:
            return torch.zeros(0)
        return self._decode(final)

    def flush(self) -> torch.Tensor:
        """Emit the held-back samples and reset.

        Returns:
            ``(N_rest,)`` samples; over the stream ``T * hop_length`` in all.
        """
        total = self.frames_in * self.hop
        if self._state is not None:
            audio = self._emit(self._state.finish(), total)
        else:
            audio = self._decode(total) if total > self.samples_out else torch.zeros(0)
        self.reset()
        return audio

    def _emit(self, untrimmed: torch.Tensor, stop: int) -> torch.Tensor:
        """Stateful path: take new untrimmed samples, drop the inverse STFT's leading trim, and
        return the trimmed samples ``[samples_out, stop)`` (as far as they are available)."""
        pending = torch.cat([self._pending, untrimmed])
        drop = min(self._trim, pending.shape[0])
        pending, self._trim = pending[drop:], self._trim - drop
        count = max(0, min(stop - self.samples_out, pending.shape[0]))
        self._pending = pending[count:]
        self.samples_out += count
        return pending[:count].clone()

    def _decode(self, stop: int) -> torch.Tensor:
        """Samples ``[samples_out, stop)`` from frames ``[start, frames_in)``."""
        assert self._codes is not None
        start = max(0, (self.samples_out - self.ahead) // self.hop)
        window = self._codes[:, start - self._codes_start :].to(self.codec.device)[None]
        decoder = self.codec.decoder
        with _inference(self.codec):
            if isinstance(decoder, HarmonicVocosDecoder):
                # Continue the pulse train's phase at a sample both windows read with full context.
                anchor = None if self._anchor is None else (self._anchor[0] - start * self.hop, self._anchor[1])
                part, cycles = decoder.forward_window(self.codec.quantizer.decode(window), anchor)
                self._anchor = (stop, cycles[:, stop - start * self.hop].cpu())
            else:
                part = self.codec.decode_codes(window)
            audio = part.float().cpu()[0, 0]
        out = audio[self.samples_out - start * self.hop : stop - start * self.hop].clone()
        self.samples_out = stop
        keep = max(0, (stop - self.ahead) // self.hop)
        self._codes = self._codes[:, keep - self._codes_start :]
        self._codes_start = keep
        return out
