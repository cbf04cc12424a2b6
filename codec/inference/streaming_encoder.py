"""``StreamingEncoder``: audio pushed in pieces -> the codes an offline ``encode_codes`` gives
(``codec.inference.streaming`` explains the method and the latency)."""

from __future__ import annotations

import numpy as np
import torch

from codec.encoders import SEANetEncoder, SpectralEncoder
from codec.inference.streaming import (
    ConvStreams,
    bounded_field,
    causal_convolutional,
    codes_of,
    inference_context,
    no_codes,
)
from codec.model import CodecNetwork
from codec.nn.spectral import compress_spectrum, stft


def stateful_encoding(codec: CodecNetwork) -> bool:
    """Whether ``StreamingEncoder`` runs ``codec``'s encoder with carried state: a causal
    ``SpectralEncoder``, or a causal ``SEANetEncoder`` without LSTM, with no attention and every
    convolution causal."""
    encoder = codec.encoder
    kinds = isinstance(encoder, SpectralEncoder) or (isinstance(encoder, SEANetEncoder) and encoder.lstm is None)
    return kinds and encoder.causal and causal_convolutional(encoder)


class _StatefulEncoder:
    """Runs a causal ``SpectralEncoder`` on new frames only: STFT frames are computed from a short
    sample buffer as soon as their window has arrived, every causal convolution carries its left
    context (``ConvStream``), and whole output frames are emitted. STFT frame ``j`` is centred at
    ``j * stft_hop`` (zeros before the stream), so output frame ``f`` is final once
    ``(f + 1) * hop + n_fft // 2 - stft_hop`` samples have arrived."""

    def __init__(self, codec: CodecNetwork, n_codebooks: int) -> None:
        self.codec = codec
        encoder = codec.encoder
        assert isinstance(encoder, SpectralEncoder)
        self.encoder = encoder
        self.n_codebooks = n_codebooks
        self.per_frame = encoder.hop_length // encoder.stft_hop  # STFT frames per output frame
        self.half = encoder.n_fft // 2
        self.streams = ConvStreams(encoder)
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
            return no_codes(self.n_codebooks)
        count = outputs * self.per_frame
        segment = self.buffer[: (count - 1) * hop + self.encoder.n_fft].to(self.codec.device, self.codec.dtype)
        spec = stft(segment[None], self.encoder.n_fft, hop, center=False)
        with self.streams.active(), inference_context(self.codec):
            spectrum = compress_spectrum(spec).to(self.codec.dtype)
            codes = codes_of(self.codec, self.encoder.encode_spectrum(spectrum), self.n_codebooks)
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

    def __init__(self, codec: CodecNetwork, n_codebooks: int) -> None:
        self.codec = codec
        self.n_codebooks = n_codebooks
        self.hop = codec.hop_length
        self.streams = ConvStreams(codec.encoder)
        self.buffer = torch.zeros(0)  # samples after the last encoded frame
        self.frames = 0  # frames encoded

    def push(self, samples: torch.Tensor) -> torch.Tensor:
        """Add samples; encode every whole hop. Returns ``(Q, T_new)`` codes."""
        self.buffer = torch.cat([self.buffer, samples])
        count = self.buffer.shape[0] // self.hop
        if count == 0:
            return no_codes(self.n_codebooks)
        segment = self.buffer[: count * self.hop].to(self.codec.device, self.codec.dtype)[None, None]
        with self.streams.active(), inference_context(self.codec):
            codes = codes_of(self.codec, self.codec.encoder(segment), self.n_codebooks)
        self.buffer = self.buffer[count * self.hop :]
        self.frames += count
        return codes

    def flush(self, frames: int) -> torch.Tensor:
        """Encode up to ``frames`` frames in all, the last partial hop zero-padded as ``encode_codes`` pads."""
        missing = (frames - self.frames) * self.hop - self.buffer.shape[0]
        return self.push(torch.zeros(max(0, missing)))


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

    def __init__(self, codec: CodecNetwork, n_codebooks: int | None = None) -> None:
        field = bounded_field(codec)
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
            return no_codes(self.n_codebooks)
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
            codes = self._encode(total, total) if total > self.frames_out else no_codes(self.n_codebooks)
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
        with inference_context(self.codec):
            codes = self.codec.encode_codes(window, self.n_codebooks)
        out = codes[0, :, self.frames_out - start : stop - start].cpu()
        self.frames_out = stop
        keep = max(0, stop - self.history_frames) * self.hop
        self._buffer = self._buffer[keep - self._buffer_start :]
        self._buffer_start = keep
        return out
