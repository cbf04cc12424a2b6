"""``Codec``: the user-level model. Audio in any form -> ``Tokens`` -> audio, in eval mode, batched,
chunked and checked for compatibility, over the network of ``codec.model``."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from codec.errors import CodecError
from codec.formats.tokens import Tokens, check_compatible
from codec.inference.batching import decode_batch, encode_batch
from codec.inference.chunking import DEFAULT_CHUNK_SECONDS, encode_windows
from codec.io.audio import probe_seconds, read_audio, write_audio
from codec.io.inputs import AudioLike, prepare_batch
from codec.io.stream import STREAM_SECONDS, AudioStream
from codec.model import CodecNetwork

if TYPE_CHECKING:
    from codec.formats.entropy import CodeStats


@contextmanager
def exact_arithmetic() -> Iterator[None]:
    """Full float32 matrix products and convolutions for the duration (no TF32, deterministic cuDNN
    algorithms), restored after: what lets an item's tokens not depend on its batch-mates on a GPU.

    What it buys there: the same batch gives the same bits every time, and a padded batch gives each
    item the tokens it gets alone except where cuDNN picks another convolution algorithm for another
    batch shape, whose float32 rounding differs in the last bits; that can flip a code whose two
    nearest entries are within that rounding (rare). On a CPU batches run item by item, so tokens
    equal those of each item alone, bit for bit (``codec.inference.batching``).
    """
    saved = (
        torch.get_float32_matmul_precision(),
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cuda.matmul.allow_tf32 = saved[1]
        (torch.backends.cudnn.allow_tf32, torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) = saved[
            2:
        ]


class Codec(CodecNetwork):
    """A neural audio codec with the user-level API (``encode``, ``decode``, files).

    Args: as ``CodecNetwork``.

    Attributes:
        code_stats: the code statistics that range-coded token files need (``codec.formats.entropy``),
            when the model has them.
    """

    code_stats: CodeStats | None = None

    def encode(
        self,
        audio: AudioLike | Sequence[AudioLike],
        sample_rate: int,
        n_codebooks: int | None = None,
        chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
    ) -> Tokens:
        """Audio -> tokens, always in eval mode.

        Args:
            audio: ``(N,)`` or ``(C, N)`` for one clip, ``(B, C, N)`` for a batch, or a list of clips
                of different lengths (numpy or torch). Channels are averaged; any rate is resampled.
            sample_rate: rate of ``audio`` in Hz.
            n_codebooks: codebooks to keep (default all; at least ``quantizer.min_codebooks``).
            chunk_seconds: longer inputs are encoded in chunks of this length with receptive-field
                context on both sides, in bounded memory and with the same tokens
                (``codec.inference.chunking.encode_chunked``); ``None`` encodes everything at once.

        Returns:
            ``Tokens`` with codes ``(B, Q, T_max)`` and per-item frame and sample counts. Each
            item's codes equal those of encoding it alone (``codec.inference.batching``).

        Raises:
            CodecError: ``n_codebooks`` is not a valid code of this model (``check_n_codebooks``).
        """
        self.check_n_codebooks(n_codebooks)
        batch, lengths = prepare_batch(audio, sample_rate, self.sample_rate)
        with self._inference(), exact_arithmetic():
            codes = encode_batch(self, batch, lengths, chunk_seconds, n_codebooks)
        return self._tokens(codes, lengths)

    def tokens(self, codes: torch.Tensor, frames: torch.Tensor) -> Tokens:
        """``Tokens`` of this model for generated ``(B, Q, T)`` codes with ``(B,)`` frames per item
        (at least one each; each decodes to ``frames * hop_length`` samples), e.g. a speech
        generator's output."""
        frames = frames.clamp(min=1).cpu()
        return self._tokens(codes, frames * self.hop_length)

    def _tokens(self, codes: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        """``Tokens`` of ``(B, Q, T)`` codes for audio of ``(B,)`` samples at the model rate."""
        frames = torch.clamp((lengths + self.hop_length - 1) // self.hop_length, min=1)
        return Tokens(
            codes=codes.cpu(),
            code_lengths=frames,
            audio_lengths=lengths,
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            codebook_size=self.codebook_size,
            model_name=self.name,
            fingerprint=self.fingerprints().model,
            token_fingerprint=self.fingerprints().tokens,
            min_codebooks=self.quantizer.min_codebooks,
        )

    def decode(
        self,
        tokens: Tokens,
        path: str | Path | None = None,
        chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
        pitch_shift: float | Sequence[float] | None = None,
    ) -> list[torch.Tensor]:
        """Tokens -> one ``(N_i,)`` float32 CPU tensor per item at ``sample_rate``, trimmed to the
        original length.

        Tokens longer than ``chunk_seconds`` are decoded in chunks with context, in bounded memory
        and without seams (``codec.inference.chunking.decode_chunked``); ``None`` decodes everything at once.
        Each item's audio equals that of decoding it alone (``codec.inference.batching``; a harmonic-plus-noise
        model's in a padded batch, on an accelerator, up to a slow drift of its waveform).

        ``pitch_shift`` (semitones, one for all items or one per item) moves the pitch of a
        harmonic-plus-noise decoder (``HarmonicVocosDecoder.shifted_pitch``); items with a shift are
        decoded one by one.

        Raises:
            CodecError: the tokens were made by another model (``path`` names their file), or a pitch
                shift for a decoder without a pitch track or of the wrong count.
        """
        self.check_tokens(tokens, path)
        shifts = self._pitch_shifts(pitch_shift, tokens.batch_size)
        if tokens.codes.shape[-1] == 0:
            return [torch.zeros(0) for _ in range(tokens.batch_size)]
        codes, lengths = tokens.codes, tokens.code_lengths
        plain = [i for i, semitones in enumerate(shifts) if not semitones]
        audio = torch.zeros(tokens.batch_size, codes.shape[-1] * self.hop_length)
        with self._inference(), exact_arithmetic():
            if plain:
                audio[plain] = decode_batch(self, codes[plain], lengths[plain], chunk_seconds)[:, 0]
            for i, semitones in enumerate(shifts):
                if semitones:
                    item_codes = codes[i : i + 1, :, : int(lengths[i])]
                    with self.decoder.shifted_pitch(semitones):
                        item = decode_batch(self, item_codes, lengths[i : i + 1], chunk_seconds)
                    audio[i, : item.shape[-1]] = item[0, 0]
        return [audio[i, : int(n)].clone() for i, n in enumerate(tokens.audio_lengths)]

    def check_pitch_shift(self, pitch_shift: float | Sequence[float] | None) -> None:
        """Raise ``CodecError`` for a pitch shift this model cannot make: a non-zero or non-finite
        shift for a decoder without a pitch track."""
        shifts = [] if pitch_shift is None else [pitch_shift] if isinstance(pitch_shift, (int, float)) else pitch_shift
        if not all(math.isfinite(float(semitones)) for semitones in shifts):
            raise CodecError(f"pitch shift must be a finite number of semitones, got {pitch_shift!r}")
        if any(shifts) and not hasattr(self.decoder, "shifted_pitch"):
            raise CodecError(f"model {self.name} has no pitch track to shift (a harmonic-plus-noise decoder has)")

    def _pitch_shifts(self, pitch_shift: float | Sequence[float] | None, batch: int) -> list[float]:
        """Semitones per item (zeros without a shift)."""
        self.check_pitch_shift(pitch_shift)
        if pitch_shift is None:
            return [0.0] * batch
        if isinstance(pitch_shift, (int, float)):
            pitch_shift = [pitch_shift] * batch
        shifts = [float(semitones) for semitones in pitch_shift]
        if len(shifts) != batch:
            raise CodecError(f"{len(shifts)} pitch shifts for {batch} items")
        return shifts

    def check_n_codebooks(self, n_codebooks: int | None) -> int:
        """The codebooks to use (default all), which must be a valid code: ``min_codebooks`` to all.

        Raises:
            CodecError: fewer than the quantizer's ``min_codebooks`` (no code it was trained to decode
                on its own), or more than it has.
        """
        low, high = self.quantizer.min_codebooks, self.n_codebooks
        n = high if n_codebooks is None else n_codebooks
        if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= high:
            valid = f"in {low}..{high}" if low < high else f"all {high} (no prefix is a valid code)"
            raise CodecError(f"n_codebooks must be {valid} for model {self.name}, got {n_codebooks!r}")
        return n

    def check_tokens(self, tokens: Tokens, path: str | Path | None = None) -> None:
        """Raise ``CodecError`` unless ``tokens`` were made by this model."""
        check_compatible(
            tokens,
            fingerprints=self.fingerprints(),
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            codebook_size=self.codebook_size,
            model_name=self.name,
            path=path,
        )
        if tokens.n_codebooks > self.n_codebooks:
            raise CodecError(f"tokens have {tokens.n_codebooks} codebooks, the model only {self.n_codebooks}", path)
        if tokens.n_codebooks < self.quantizer.min_codebooks:
            raise CodecError(
                f"tokens have {tokens.n_codebooks} codebooks, fewer than the {self.quantizer.min_codebooks} that make "
                f"a valid code of model {self.name}",
                path,
            )

    def encode_file(
        self, path: str | Path, n_codebooks: int | None = None, chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS
    ) -> Tokens:
        """Read an audio file (any format soundfile reads) and encode it.

        A file longer than ``STREAM_SECONDS`` is read in blocks and encoded window by window
        (``codec.io.stream``), so memory follows ``chunk_seconds`` rather than the file; its tokens
        equal a whole read's up to the resampler's rounding at window edges (exactly at the model's
        rate).

        Raises:
            CodecError: the file cannot be read (``codec.io.audio.read_audio``'s reasons).
        """
        seconds = probe_seconds(path)
        if chunk_seconds is None or seconds is None or seconds <= STREAM_SECONDS:
            audio, rate = read_audio(path)
            return self.encode(audio, rate, n_codebooks, chunk_seconds)
        self.check_n_codebooks(n_codebooks)
        with AudioStream(path, self.sample_rate) as stream, self._inference(), exact_arithmetic():
            codes = encode_windows(
                self,
                stream.length,
                lambda start, stop: torch.from_numpy(stream.read(start, stop))[None, None],
                chunk_seconds,
                n_codebooks,
            )
        return self._tokens(codes, torch.tensor([stream.length]))

    def decode_file(self, token_path: str | Path, audio_path: str | Path) -> None:
        """Decode a ``.tok`` file and write the audio atomically (format from the extension)."""
        tokens = Tokens.load(token_path, code_stats=self.code_stats)
        write_audio(audio_path, self.decode(tokens, token_path)[0].numpy(), self.sample_rate)
