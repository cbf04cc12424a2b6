"""ONNX export of a ``Codec`` and an onnxruntime twin of its tensor-level API.

``export_onnx`` writes two graphs and a description into a folder:

- ``encoder.onnx``: ``audio`` float32 ``(B, 1, N)``, ``N`` a multiple of ``hop_length`` ->
  ``codes`` int64 ``(B, Q, N // hop_length)``;
- ``decoder.onnx``: ``codes`` int64 ``(B, Q, T)`` -> ``audio`` float32 ``(B, 1, T * hop_length)``;
- ``onnx.json``: sample rate, hop length, codebooks, codebook size, model name, model and token
  fingerprints.

Batch and length axes are dynamic; ``Q`` is fixed at export (``n_codebooks``). ``OnnxCodec`` runs the
two graphs with onnxruntime alone (no torch model is built or called).

The graphs come from the dynamo exporter (``torch.export`` + onnxscript). The TorchScript exporter
cannot export these models: it has no complex ``stft`` (spectral encoder), no ``col2im`` with a
dynamic output size (the iSTFT overlap-add). The dynamo exporter translates ``fold`` to ``Col2Im``
(opset 18) and would translate ``stft`` to ONNX ``STFT``; ``export_mode`` makes the codebook lookup
one block (``Codebook.lookup_rows = None``, no length-dependent loop) and, for speed in
onnxruntime, swaps in an STFT written as a convolution (``_RealCompressedSTFT``).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from codec.api import Codec
from codec.errors import CodecError
from codec.io.audio import atomic_write_bytes
from codec.quantizers.codebook import Codebook

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
META_FILE = "onnx.json"
FORMAT_VERSION = 1
DEFAULT_OPSET = 18
MIN_OPSET = 18  # Col2Im (the iSTFT overlap-add) first appears in opset 18
_NOISY_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "torch.fx.experimental.symbolic_shapes")


def _check_exportable(codebook: Codebook) -> None:
    """Refuse codebook options that ``Codebook.nearest`` does not reproduce."""
    vq = codebook.vq
    inner = vq._codebook
    unsupported = {
        "heads > 1": vq.heads != 1,
        "affine_param": bool(getattr(inner, "affine_param", False)),
        "vq_bridge": getattr(inner, "vq_bridge", None) is not None,
    }
    used = [name for name, on in unsupported.items() if on]
    if used:
        raise NotImplementedError(f"ONNX export does not support codebooks with {', '.join(used)}")


@contextmanager
def export_mode(codec: Codec) -> Iterator[Codec]:
    """Put ``codec`` in its exportable state for the duration, and restore it afterwards.

    Eval mode, every spectral module's ``use_fft = False`` (the encoder's STFT and a harmonic
    decoder's pulse-train STFT as strided convolutions, the inverse STFT as a real-valued matrix
    product: no complex tensors, the same values to float rounding), and codebook lookups in one
    block. The weights are not touched.
    """
    was_training = codec.training
    spectral = [m for m in codec.modules() if hasattr(m, "use_fft")]
    use_fft = [m.use_fft for m in spectral]
    codebooks = [m for m in codec.modules() if isinstance(m, Codebook)]
    lookup_rows = [m.lookup_rows for m in codebooks]
    for codebook in codebooks:
        _check_exportable(codebook)
    codec.eval()
    try:
        for m in spectral:
            m.use_fft = False
        for codebook in codebooks:
            codebook.lookup_rows = None
        yield codec
    finally:
        for codebook, rows in zip(codebooks, lookup_rows, strict=True):
            codebook.lookup_rows = rows
        for m, flag in zip(spectral, use_fft, strict=True):
            m.use_fft = flag
        if was_training:
            codec.train(True)


class _Encoder(nn.Module):
    """``(B, 1, T, hop)`` framed audio -> ``(B, Q, T)`` int64 codes.

    The exported graph takes framed audio so that the exporter sees the sample count as
    ``hop * T`` with ``T`` a plain symbol: every "same" padding then folds to a constant, and
    tracing is several times faster than from a free sample count, whose length expressions nest
    through each downsampling (a SEANet encoder took minutes). ``_prepend_framing`` puts the
    ``(B, 1, N) -> (B, 1, N // hop, hop)`` reshape in front of the ONNX graph afterwards.
    """

    def __init__(self, codec: Codec, n_codebooks: int) -> None:
        super().__init__()
        self.codec = codec
        self.n_codebooks = n_codebooks

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, 1, T, hop_length)`` -> ``(B, Q, T)``."""
        batch, _, n_frames, hop = frames.shape
        audio = frames.reshape(batch, 1, n_frames * hop)
        return self.codec.quantizer(self.codec.encoder(audio), self.n_codebooks).codes


def _prepend_framing(model: Any, hop_length: int, framed: str, audio: str) -> None:
    """Make the encoder graph take ``audio`` ``(B, 1, N)`` and reshape it to the traced input
    ``framed`` ``(B, 1, N // hop, hop)`` (onnxruntime rejects ``N`` that is not a multiple)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    (old,) = [v for v in graph.input if v.name == framed]
    shape = f"{audio}_frame_shape"
    graph.initializer.append(numpy_helper.from_array(np.array([0, 1, -1, hop_length], np.int64), shape))
    graph.node.insert(0, helper.make_node("Reshape", [audio, shape], [framed], name=f"{audio}_to_frames"))
    new = helper.make_tensor_value_info(audio, TensorProto.FLOAT, ["batch", 1, "samples"])
    graph.input.remove(old)
    graph.input.insert(0, new)


class _Decoder(nn.Module):
    """``(B, Q, T)`` int64 codes -> ``(B, 1, T * hop)`` audio."""

    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, Q, T)`` -> ``(B, 1, T * hop_length)``."""
        return self.codec.decode_codes(codes)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's progress lines and warnings (restored afterwards)."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _name_axes(model: Any, names: dict[str, Sequence[str | int]]) -> None:
    """Give the graph inputs/outputs readable axis names (``batch``, ``samples``, ``frames``)."""
    for value in [*model.graph.input, *model.graph.output]:
        if value.name not in names:
            continue
        for dim, name in zip(value.type.tensor_type.shape.dim, names[value.name], strict=True):
            if isinstance(name, str):
                dim.dim_param = name
            else:
                dim.dim_value = name


def _to_onnx(
    module: nn.Module, example: torch.Tensor, input_name: str, output_name: str, dynamic: dict[int, Any], opset: int
) -> Any:
    """Export ``module(example)`` with the dynamo exporter; returns the ``onnx.ModelProto``."""
    with _quiet(), torch.no_grad():
        program = torch.onnx.export(
            module,
            (example,),
            input_names=[input_name],
            output_names=[output_name],
            dynamic_shapes={input_name: dynamic},
            opset_version=opset,
            dynamo=True,
            optimize=True,
            verbose=False,
        )
    return program.model_proto


def export_onnx(
    codec: Codec, folder: str | Path, n_codebooks: int | None = None, opset: int = DEFAULT_OPSET
) -> list[Path]:
    """Export ``codec`` to ``folder/encoder.onnx``, ``folder/decoder.onnx`` and ``folder/onnx.json``.

    The model is traced in float32 on the CPU, in eval mode, with the real-valued inverse STFT;
    its mode and ``use_fft`` flags are restored afterwards (a model on another device or dtype is
    exported from a float32 CPU copy). Both graphs are built in memory first, then each file is
    written atomically (temporary file + ``os.replace``).

    Args:
        codec: the model.
        folder: output folder (created; other files in it are left alone).
        n_codebooks: codebooks ``Q`` the encoder emits and the decoder takes (default all).
        opset: ONNX opset, at least 18.

    Returns:
        The paths of the encoder, the decoder and ``onnx.json``.

    Raises:
        ValueError: invalid ``n_codebooks`` or ``opset``.
    """
    import onnx

    if opset < MIN_OPSET:
        raise ValueError(f"opset must be at least {MIN_OPSET} (Col2Im), got {opset}")
    n = codec.quantizer.check_n_codebooks(n_codebooks)
    digests = codec.fingerprints()
    model = codec
    if codec.device.type != "cpu" or codec.dtype != torch.float32:
        model = Codec.from_config(codec.config)
        model.load_state_dict({k: v.to("cpu", torch.float32) for k, v in codec.state_dict().items()})
    hop = codec.hop_length
    meta = {
        "format_version": FORMAT_VERSION,
        "model_name": codec.name,
        "fingerprint": digests.model,
        "token_fingerprint": digests.tokens,
        "sample_rate": codec.sample_rate,
        "hop_length": hop,
        "frame_rate": codec.frame_rate,
        "n_codebooks": n,
        "codebook_size": codec.codebook_size,
        "opset": opset,
        "encoder": {"input": "audio", "output": "codes"},
        "decoder": {"input": "codes", "output": "audio"},
    }
    batch = torch.export.Dim("batch", min=1)
    frames = torch.export.Dim("frames", min=1)
    generator = torch.Generator().manual_seed(0)
    # Examples with batch 2 and 3 frames: sizes 0 and 1 would be specialized by torch.export.
    audio = 0.1 * torch.randn(2, 1, 3, hop, generator=generator)
    with export_mode(model):
        with torch.no_grad():
            codes = model.encode_codes(audio.flatten(2), n)
        encoder = _to_onnx(_Encoder(model, n).eval(), audio, "frames", "codes", {0: batch, 2: frames}, opset)
        decoder = _to_onnx(_Decoder(model).eval(), codes, "codes", "audio", {0: batch, 2: frames}, opset)
    _prepend_framing(encoder, hop, "frames", "audio")
    _name_axes(encoder, {"audio": ["batch", 1, "samples"], "codes": ["batch", n, "frames"]})
    _name_axes(decoder, {"codes": ["batch", n, "frames"], "audio": ["batch", 1, "samples"]})
    for proto in (encoder, decoder):
        onnx.helper.set_model_props(proto, {k: str(v) for k, v in meta.items() if not isinstance(v, dict)})
        onnx.checker.check_model(proto)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CodecError(f"cannot create the output folder: {error.strerror or error}", folder) from None
    paths = [folder / ENCODER_FILE, folder / DECODER_FILE, folder / META_FILE]
    atomic_write_bytes(paths[0], encoder.SerializeToString())
    atomic_write_bytes(paths[1], decoder.SerializeToString())
    atomic_write_bytes(paths[2], (json.dumps(meta, indent=2) + "\n").encode())
    return paths


class OnnxCodec:
    """An exported codec run by onnxruntime: the numpy twin of ``Codec.encode_codes``/``decode_codes``.

    Args:
        folder: a folder written by ``export_onnx``.
        providers: onnxruntime execution providers (default: CPU).
        threads: intra-op threads per session (default: onnxruntime's choice).

    Attributes:
        sample_rate, hop_length, n_codebooks, codebook_size, name, fingerprint, token_fingerprint: from
            ``onnx.json`` (``token_fingerprint`` None in exports from before 0.2).

    Raises:
        CodecError: missing or damaged files.
    """

    def __init__(self, folder: str | Path, providers: Sequence[str] | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        folder = Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text())
        except FileNotFoundError:
            raise CodecError(f"no {META_FILE} (not an ONNX export folder)", folder) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CodecError(f"damaged {META_FILE}: {error}", folder / META_FILE) from None
        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
            raise CodecError(f"unsupported {META_FILE} format", folder / META_FILE)
        try:
            self.sample_rate = int(meta["sample_rate"])
            self.hop_length = int(meta["hop_length"])
            self.n_codebooks = int(meta["n_codebooks"])
            self.codebook_size = int(meta["codebook_size"])
            self.name = str(meta["model_name"])
            self.fingerprint = str(meta["fingerprint"])
            self.token_fingerprint = str(meta["token_fingerprint"]) if "token_fingerprint" in meta else None
        except (KeyError, TypeError, ValueError) as error:
            raise CodecError(f"damaged {META_FILE}: bad or missing {error}", folder / META_FILE) from None
        self.meta = meta
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        providers = list(providers) if providers is not None else ["CPUExecutionProvider"]
        self.encoder = self._session(ort, folder / ENCODER_FILE, options, providers)
        self.decoder = self._session(ort, folder / DECODER_FILE, options, providers)

    @staticmethod
    def _session(ort: Any, path: Path, options: Any, providers: list[str]) -> Any:
        if not path.is_file():
            raise CodecError(f"no {path.name}", path.parent)
        try:
            return ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own types for damaged graphs
            raise CodecError(f"cannot load: {str(error).splitlines()[0]}", path) from None

    @property
    def frame_rate(self) -> float:
        """Token frames per second."""
        return self.sample_rate / self.hop_length

    def pad_to_hop(self, audio: np.ndarray) -> np.ndarray:
        """Right-pad ``(B, 1, N)`` with zeros to a multiple of ``hop_length`` (at least one frame)."""
        frames = max(1, -(-audio.shape[-1] // self.hop_length))
        return np.pad(audio, [(0, 0), (0, 0), (0, frames * self.hop_length - audio.shape[-1])])

    def encode_codes(self, audio: np.ndarray) -> np.ndarray:
        """``(B, 1, N)`` audio at ``sample_rate`` -> ``(B, Q, ceil(N / hop_length))`` int64 codes."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 3 or audio.shape[1] != 1 or audio.shape[0] < 1:
            raise ValueError(f"audio must be (B, 1, N), got shape {audio.shape}")
        return self.encoder.run(None, {"audio": np.ascontiguousarray(self.pad_to_hop(audio))})[0]

    def decode_codes(self, codes: np.ndarray) -> np.ndarray:
        """``(B, Q, T)`` codes -> ``(B, 1, T * hop_length)`` float32 audio (``Q`` as exported)."""
        codes = np.asarray(codes)
        if codes.ndim != 3 or codes.shape[0] < 1 or codes.shape[2] < 1 or codes.shape[1] != self.n_codebooks:
            raise ValueError(f"codes must be (B, {self.n_codebooks}, T) with B, T >= 1, got shape {codes.shape}")
        if not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"codes must be integers, got {codes.dtype}")
        if codes.size and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise ValueError(f"codes must lie in 0..{self.codebook_size - 1}")
        return self.decoder.run(None, {"codes": np.ascontiguousarray(codes, dtype=np.int64)})[0]


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def export_onnx_folder(model_name_or_path: str, output: str, n_codebooks: int | None = None) -> str:
    """``codec export MODEL -o DIR --format onnx``: load a model, export it, summarize in one line.

    Args:
        model_name_or_path: anything ``load_codec`` takes (shipped name, folder, checkpoint, hub id).
        output: output folder.
        n_codebooks: codebooks to export (default all).

    Raises:
        CodecError: the model cannot be loaded, ``n_codebooks`` is invalid, or the ONNX packages
            are missing.
    """
    from codec.loading import load_codec

    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise CodecError(f"ONNX export needs the onnx extra (pip install 'codec-tokenizer[onnx]'): {error}") from None
    codec = load_codec(model_name_or_path)
    try:
        encoder, decoder, _ = export_onnx(codec, output, n_codebooks)
    except ValueError as error:
        raise CodecError(str(error), output) from None
    n = codec.quantizer.check_n_codebooks(n_codebooks)
    return (
        f"exported {codec.name} ({n} x {codec.codebook_size} codes, {codec.frame_rate:g} frames/s) to {output}: "
        f"{ENCODER_FILE} {_size(encoder)}, {DECODER_FILE} {_size(decoder)}"
    )
