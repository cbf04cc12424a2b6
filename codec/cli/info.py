"""``codec info``: what a model, a ``.tok`` file or a shard folder says about itself."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from codec.cli.common import add_model_options, load_model_from_args
from codec.formats.tok_file import TOKEN_SUFFIX


def _is_token_file(path: Path) -> bool:
    from codec.formats.tok_file import MAGIC

    if path.suffix == TOKEN_SUFFIX:
        return True  # reading it as one names what is wrong with it
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _latency_ms(model: Any) -> float | str:
    from codec.inference.streaming import algorithmic_latency_seconds

    seconds = algorithmic_latency_seconds(model)
    if getattr(model, "support", None) is not None:
        return "not streamable here (a published model run by its own package)"
    return "not streamable (LSTM or attention)" if seconds is None else round(seconds * 1000, 1)


def model_info(model: Any) -> dict[str, Any]:
    """Rates, sizes and parameter counts of a loaded codec."""
    support = getattr(model, "support", None)
    if support is not None:
        parameters: dict[str, int] = {"total": model.num_parameters()}
        origin = {"family": support.family, "implementation": support.implementation}
    else:
        parameters = {
            "encoder": sum(p.numel() for p in model.encoder.parameters()),
            "quantizer": sum(p.numel() for p in model.quantizer.parameters()),
            "decoder": sum(p.numel() for p in model.decoder.parameters()),
            "total": model.num_parameters(),
        }
        origin = {}
    return {
        "name": model.name,
        "sample_rate": model.sample_rate,
        "hop_length": model.hop_length,
        "frame_rate": model.frame_rate,
        "n_codebooks": model.n_codebooks,
        "codebook_size": model.codebook_size,
        "bitrate": {n: model.bitrate(n) for n in range(model.quantizer.min_codebooks, model.n_codebooks + 1)},
        "causal": model.causal,
        "streaming_latency_ms": _latency_ms(model),
        "parameters": parameters,
        **origin,
        "model_fingerprint": model.fingerprints().model,
        "token_fingerprint": model.fingerprints().tokens,
        "min_codebooks": model.quantizer.min_codebooks,
    }


def token_info(path: Path) -> dict[str, Any]:
    """What a ``.tok`` file says about itself (a range-coded one is checked but not decoded).

    ``bitrate`` is the nominal rate ``frame_rate * Q * log2(K)``; ``payload_bitrate`` is the
    measured one, payload bits per second of audio (``None`` for an empty clip).
    """
    from codec.formats.bitpack import nominal_bitrate
    from codec.formats.tok_file import payload_length, read_header

    header = read_header(path)
    frame_rate = header["sample_rate"] / header["hop_length"]
    seconds = header["num_samples"] / header["sample_rate"]
    payload_bits = 8 * payload_length(header)
    return {
        "file": str(path),
        "model_name": header["model_name"],
        "fingerprint": header["fingerprint"],
        "token_fingerprint": header.get("token_fingerprint"),
        "min_codebooks": header.get("min_codebooks"),
        "format_version": header["format_version"],
        "coding": header.get("coding", "packed"),
        "sample_rate": header["sample_rate"],
        "frame_rate": frame_rate,
        "n_codebooks": header["n_codebooks"],
        "codebook_size": header["codebook_size"],
        "frames": header["num_frames"],
        "seconds": seconds,
        "bitrate": nominal_bitrate(frame_rate, header["n_codebooks"], header["codebook_size"]),
        "payload_bitrate": payload_bits / seconds if seconds else None,
        "payload_bytes": payload_bits // 8,
        "file_bytes": path.stat().st_size,
    }


def shard_info(folder: Path) -> dict[str, Any]:
    """The model and totals of a shard folder written by ``codec encode --layout shards`` / ``codec tokenize``."""
    from codec.corpus.token_dataset import TokenDataset
    from codec.corpus.writers import INDEX_PATTERN, check_indexed_shards, read_index

    entries = list(read_index(folder).values())
    check_indexed_shards(folder, entries)
    model = TokenDataset(folder).model  # every shard's header is read: one model, sound headers
    seconds = sum(e["seconds"] for e in entries)
    shards = {e["shard"] for e in entries}
    shard_bytes = sum((folder / name).stat().st_size for name in shards)
    indexes = list(folder.glob(INDEX_PATTERN))
    return {
        "folder": str(folder),
        "model": model,
        "items": len(entries),
        "shards": len(shards),
        "index_files": len(indexes),
        "hours": seconds / 3600,
        "frames": sum(e["frames"] for e in entries),
        "bytes": shard_bytes,
        "index_bytes": sum(path.stat().st_size for path in indexes),
        "stored_bitrate": 8 * shard_bytes / seconds if seconds else None,
    }


def _print_info(info: dict[str, Any], indent: str = "") -> None:
    for key, value in info.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_info(value, indent + "  ")
        elif isinstance(value, float):
            print(f"{indent}{key}: {value:g}")
        else:
            print(f"{indent}{key}: {value}")


def token_folder_info(folder: Path) -> dict[str, Any]:
    """The model and totals of a folder of ``.tok`` files (``codec encode`` with the files layout)."""
    from codec.corpus.token_dataset import TokenDataset

    dataset = TokenDataset(folder)
    frames = sum(dataset.frames)
    files = [dataset.entry_file(i) for i in range(len(dataset))]
    size = sum(path.stat().st_size for path in files)
    seconds = frames / dataset.model["frame_rate"]
    return {
        "folder": str(folder),
        "model": dataset.model,
        "items": len(dataset),
        "hours": seconds / 3600,
        "frames": frames,
        "bytes": size,
        "stored_bitrate": 8 * size / seconds if seconds else None,
    }


def cmd_info(args: argparse.Namespace) -> int:
    """``codec info``: a model, a token file, a folder of them or a shard folder."""
    from codec.corpus.writers import INDEX_PATTERN
    from codec.loading import CONFIG_FILE

    args.target = args.target or args.model or "default"
    target = Path(args.target)
    if _is_token_file(target):
        info = token_info(target)
    elif target.is_dir() and any(target.glob(INDEX_PATTERN)):
        info = shard_info(target)
    elif target.is_dir() and not (target / CONFIG_FILE).exists() and any(target.rglob(f"*{TOKEN_SUFFIX}")):
        info = token_folder_info(target)
    else:
        args.model = args.target
        info = model_info(load_model_from_args(args))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_info(info)
    return 0


def add_parser(commands: Any) -> None:
    """The ``info`` sub-command."""
    info = commands.add_parser(
        "info",
        help="describe a model, a token file, a folder of them or a shard folder",
        description="Print rates, bitrate, codebooks and parameter counts of a model, the header of a .tok file, "
        "or the model and totals of a folder of .tok files or of a shard folder (items, hours, bytes, stored bit/s).",
    )
    info.add_argument(
        "target",
        nargs="?",
        help="model (name, folder, checkpoint, cached hub id), .tok file, folder of .tok files or shard folder "
        "(default: --model, else the default model)",
    )
    info.add_argument("--json", action="store_true", help="print JSON")
    add_model_options(info, default=None, unset="the default model")
    info.set_defaults(run=cmd_info)
