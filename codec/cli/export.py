"""``codec export``: a training checkpoint -> pretrained folder, or any model -> ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_export(args: argparse.Namespace) -> int:
    """``codec export``: training checkpoint -> pretrained folder, or any model -> ONNX."""
    if args.format == "onnx":
        from codec.export.onnx import export_onnx_folder

        print(export_onnx_folder(args.checkpoint, args.output, args.n_codebooks))
        return 0
    from codec.loading import load_checkpoint, save_pretrained

    codec = load_checkpoint(Path(args.checkpoint))
    if args.name:
        codec.name = codec.config["name"] = args.name
    folder = save_pretrained(codec, args.output, half=args.half)
    if args.code_stats:
        _fit_code_stats(folder, args.code_stats, args.code_stats_files)
    size = sum(f.stat().st_size for f in folder.iterdir())
    print(f"exported {codec.name} ({codec.num_parameters():,} parameters, {size / 1e6:.1f} MB) to {folder}")
    return 0


def _fit_code_stats(folder: Path, data: str, files: int) -> None:
    """Write ``folder/code_stats.json`` from the codes of the saved model on ``files`` files of ``data``."""
    from codec.formats.entropy import save_code_stats
    from codec.formats.fit_stats import fit_code_stats
    from codec.io.manifest import load_items, spread
    from codec.loading import load_codec

    items = spread(load_items(data), files)
    model = load_codec(folder)
    stats = fit_code_stats(model, [item.path for item in items], batch_size=16)
    save_code_stats(folder, stats)
    print(f"code statistics from {len(items)} files of {data}: {stats.bitrate(model.frame_rate):.0f} bit/s expected")


def add_parser(commands: Any) -> None:
    """The ``export`` sub-command."""
    export = commands.add_parser(
        "export",
        help="training checkpoint -> pretrained folder, or a model -> ONNX",
        description="Write the generator of a 'codec train' checkpoint as config.json + model.safetensors, or "
        "(--format onnx) any model as encoder.onnx + decoder.onnx.",
    )
    export.add_argument(
        "checkpoint", help="a .ckpt written by 'codec train' (with --format onnx: any model name, folder or .ckpt)"
    )
    export.add_argument(
        "--format",
        default="pretrained",
        choices=["pretrained", "onnx"],
        help="pretrained: config.json + model.safetensors; onnx: encoder.onnx + decoder.onnx (dynamic batch and "
        "length) for onnxruntime, needs pip install '.[onnx]' (default: pretrained)",
    )
    export.add_argument("--n-codebooks", type=int, default=None, help="codebooks in the ONNX encoder (default: all)")
    export.add_argument("-o", "--output", required=True, help="output folder")
    export.add_argument("--name", default=None, help="model name written into token files (default: the recipe's)")
    export.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    export.add_argument(
        "--code-stats",
        metavar="DATA",
        default=None,
        help="also fit the code statistics that 'codec encode --entropy' needs on DATA (folder or .jsonl manifest)",
    )
    export.add_argument(
        "--code-stats-files", type=int, default=2000, help="files of DATA used, spread evenly (default: 2000)"
    )
    export.set_defaults(run=cmd_export)
