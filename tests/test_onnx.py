"""ONNX export: the tiny recipes export, and onnxruntime reproduces the torch model.

Each recipe is exported once (module-scoped fixture) and then run on two batches of different
sizes and lengths, so the dynamic axes are exercised. The dynamo exporter spends 9-17 CPU seconds
per recipe (symbolic shape tracing), about 70 s for all tiny recipes; ``CODEC_ONNX_RECIPES`` set to
a comma-separated list of recipe names (``tiny-vq,tiny-rvq`` covers both encoder families in about
30 s) narrows the run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

from codec.api import Codec  # noqa: E402
from codec.cli.main import main  # noqa: E402
from codec.errors import CodecError  # noqa: E402
from codec.export.onnx import (  # noqa: E402
    DECODER_FILE,
    ENCODER_FILE,
    META_FILE,
    OnnxCodec,
    export_mode,
    export_onnx,
    export_onnx_folder,
)
from codec.loading import save_pretrained  # noqa: E402
from codec.nn.spectral import InverseSTFT  # noqa: E402
from codec.quantizers.codebook import LOOKUP_ROWS, Codebook  # noqa: E402

RECIPES = Path(__file__).resolve().parent.parent / "recipes" / "codec"
TINY = sorted(p.stem for p in RECIPES.glob("tiny-*.yaml"))
_SELECTED = os.environ.get("CODEC_ONNX_RECIPES", "all")
EXPORTED = TINY if _SELECTED == "all" else [n for n in _SELECTED.split(",") if n in TINY]
# (batch, samples): lengths that are not multiples of the hop, so padding is exercised too.
SHAPES = [(1, 16000 + 17), (3, 4 * 320 + 5)]


def tiny_codec(name: str) -> Codec:
    """A randomly initialized tiny recipe model (fixed seed)."""
    torch.manual_seed(0)
    config = yaml.safe_load((RECIPES / f"{name}.yaml").read_text())["model"]["codec"]
    return Codec.from_config(config).eval()


@pytest.fixture(scope="module", params=EXPORTED)
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One export per recipe; tiny-rvq goes through ``save_pretrained`` and ``codec export MODEL -o
    DIR --format onnx``, the others through ``export_onnx``."""
    name = request.param
    codec = tiny_codec(name)
    folder = tmp_path_factory.mktemp(name) / "onnx"
    summary = None
    if name == "tiny-rvq":
        pretrained = save_pretrained(codec, tmp_path_factory.mktemp(name) / "model")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["export", str(pretrained), "-o", str(folder), "--format", "onnx"]) == 0
        summary = printed.getvalue().strip()
        paths = [folder / ENCODER_FILE, folder / DECODER_FILE, folder / META_FILE]
    else:
        paths = export_onnx(codec, folder)
    return {"name": name, "codec": codec, "folder": folder, "paths": paths, "summary": summary}


def test_files_and_checker(exported: dict[str, Any]) -> None:
    codec, folder = exported["codec"], exported["folder"]
    assert [p.name for p in exported["paths"]] == [ENCODER_FILE, DECODER_FILE, META_FILE]
    assert all(p.is_file() for p in exported["paths"])
    assert not list(folder.glob(".*.tmp")), "temporary files left behind"
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["sample_rate"] == codec.sample_rate
    assert meta["hop_length"] == codec.hop_length
    assert meta["n_codebooks"] == codec.n_codebooks
    assert meta["codebook_size"] == codec.codebook_size
    assert meta["model_name"] == codec.name
    assert meta["fingerprint"] == codec.fingerprints().model
    for file, inputs, outputs in [
        (ENCODER_FILE, ["batch", 1, "samples"], ["batch", codec.n_codebooks, "frames"]),
        (DECODER_FILE, ["batch", codec.n_codebooks, "frames"], ["batch", 1, "samples"]),
    ]:
        model = onnx.load(str(folder / file))
        onnx.checker.check_model(model, full_check=True)
        dims = [
            [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in (model.graph.input[0], model.graph.output[0])
        ]
        assert dims == [inputs, outputs]
    if exported["summary"] is not None:
        assert "\n" not in exported["summary"]
        assert ENCODER_FILE in exported["summary"] and "MB" in exported["summary"]


def test_onnxruntime_matches_torch(exported: dict[str, Any]) -> None:
    """Codes equal torch's, decoded audio within 1e-4, for two batch sizes and lengths.

    The encoder graph runs the same ops as torch (the codebook search included), so codes agree
    exactly in practice. onnxruntime's kernels round differently from torch's (about 1e-7
    relative), which could flip an argmax whose top two similarities tie to that precision: up to
    1% of frames may differ for that reason (none did when this was written).
    """
    codec, runtime = exported["codec"], OnnxCodec(exported["folder"], threads=1)
    generator = torch.Generator().manual_seed(1)
    for batch, samples in SHAPES:
        audio = 0.3 * torch.randn(batch, 1, samples, generator=generator)
        with torch.inference_mode():
            codes = codec.encode_codes(audio)
            decoded = codec.decode_codes(codes)
        onnx_codes = runtime.encode_codes(audio.numpy())
        assert onnx_codes.dtype == np.int64
        assert onnx_codes.shape == tuple(codes.shape) == (batch, codec.n_codebooks, -(-samples // codec.hop_length))
        frames_differ = (onnx_codes != codes.numpy()).any(axis=1)
        assert frames_differ.sum() <= max(1, int(0.01 * frames_differ.size)), f"{frames_differ.sum()} frames differ"
        onnx_audio = runtime.decode_codes(codes.numpy())
        assert onnx_audio.dtype == np.float32
        assert onnx_audio.shape == tuple(decoded.shape)
        assert np.abs(onnx_audio - decoded.numpy()).max() < 1e-4


def test_onnx_codec_rejects_bad_input(exported: dict[str, Any]) -> None:
    if exported["name"] != EXPORTED[0]:
        pytest.skip("input checks do not depend on the recipe")
    runtime = OnnxCodec(exported["folder"])
    q, k = runtime.n_codebooks, runtime.codebook_size
    with pytest.raises(ValueError, match="audio must be"):
        runtime.encode_codes(np.zeros((1, 2, 320), np.float32))
    with pytest.raises(ValueError, match="codes must be"):
        runtime.decode_codes(np.zeros((1, q + 1, 3), np.int64))
    with pytest.raises(ValueError, match="codes must lie"):
        runtime.decode_codes(np.full((1, q, 3), k, np.int64))
    assert runtime.encode_codes(np.zeros((2, 1, 0), np.float32)).shape == (2, q, 1)


def test_export_restores_the_model() -> None:
    codec = tiny_codec("tiny-vq").train()
    istfts = [m for m in codec.modules() if isinstance(m, InverseSTFT)]
    codebooks = [m for m in codec.modules() if isinstance(m, Codebook)]
    audio = 0.3 * torch.randn(2, 1, 3200, generator=torch.Generator().manual_seed(2))
    fft = codec.encoder.stft(audio)
    with export_mode(codec):
        assert not codec.training
        assert not any(m.use_fft for m in [*istfts, codec.encoder.stft])
        assert all(m.lookup_rows is None for m in codebooks)
        torch.testing.assert_close(codec.encoder.stft(audio), fft, rtol=1e-4, atol=1e-4)
    assert codec.training
    assert all(m.use_fft for m in [*istfts, codec.encoder.stft])
    assert all(m.lookup_rows == LOOKUP_ROWS for m in codebooks)


def test_export_argument_errors(tmp_path: Path) -> None:
    codec = tiny_codec("tiny-grvq")
    with pytest.raises(ValueError, match="n_codebooks"):
        export_onnx(codec, tmp_path / "a", n_codebooks=5)
    with pytest.raises(ValueError, match="multiple of groups"):
        export_onnx(codec, tmp_path / "a", n_codebooks=3)
    with pytest.raises(ValueError, match="opset"):
        export_onnx(codec, tmp_path / "b", opset=17)
    with pytest.raises(CodecError):
        export_onnx_folder(str(tmp_path / "missing"), str(tmp_path / "c"), None)
    with pytest.raises(CodecError, match=META_FILE):
        OnnxCodec(tmp_path)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
