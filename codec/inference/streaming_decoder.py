"""``StreamingDecoder``: codes pushed in pieces -> the audio an offline ``decode_codes`` gives
(``codec.inference.streaming`` explains the method and the latency)."""

from __future__ import annotations

import torch

from codec.decoders import VocosDecoder
from codec.inference.streaming import ConvStreams, bounded_field, causal_convolutional, inference_context
from codec.model import CodecNetwork
from codec.nn.layers import PaddedConv1d


def stateful_decoding(codec: CodecNetwork) -> bool:
    """Whether ``StreamingDecoder`` runs ``codec``'s decoder frame by frame with carried state: a
    causal convolutional ``VocosDecoder`` (no attention), whose every convolution is causal."""
    decoder = codec.decoder
    return (
        isinstance(decoder, VocosDecoder)
        and not decoder.stateful_phase
        and decoder.causal
        and causal_convolutional(decoder)
        and all(m.stride == 1 for m in decoder.modules() if isinstance(m, PaddedConv1d))
    )


class _StatefulDecoder:
    """Runs a causal ``VocosDecoder`` on new frames only: each causal convolution carries its left
    context (``ConvStream``) and the inverse STFT carries its overlap-add tail, so every frame
    costs one frame of compute. Returns the (untrimmed) samples that no later frame can change:
    those before the next frame's start, plus the ones where its window is exactly zero."""

    def __init__(self, codec: CodecNetwork) -> None:
        self.codec = codec
        decoder = codec.decoder
        assert isinstance(decoder, VocosDecoder)
        self.decoder = decoder
        self.istft = decoder.head.istft
        self.lead = int((self.istft.window == 0).int().cumprod(0).sum())
        self.streams = ConvStreams(decoder)
        self.frames = 0  # frames decoded; the tail starts at untrimmed sample frames * hop
        self.emitted = 0  # untrimmed samples returned
        self.tail = torch.zeros(1, 0)  # overlap-added samples and window envelope not yet complete
        self.envelope_tail = torch.zeros(1, 0)

    def push(self, codes: torch.Tensor) -> torch.Tensor:
        """``(Q, T_new)`` codes -> the untrimmed overlap-add samples that became final."""
        if codes.shape[-1] == 0:
            return torch.zeros(0)
        with self.streams.active(), inference_context(self.codec):
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

    def __init__(self, codec: CodecNetwork) -> None:
        field = bounded_field(codec)
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
        with inference_context(self.codec):
            if decoder.stateful_phase:
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
