"""The ``tts`` command line: parsing and printing only; the work lives in the package.

Errors a user can cause (``CodecError``) are printed as one line with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from codec.errors import CodecError

EXIT_ERROR = 2


def cmd_export(args: argparse.Namespace) -> int:
    from tts.pretrained import export_checkpoint

    folder = export_checkpoint(args.checkpoint, args.output, half=args.half)
    print(f"exported {args.checkpoint} to {folder}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from tts.pretrained import load_generator

    model, config = load_generator(Path(args.model))
    info = {
        "generator": config["generator"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "symbols": len(config["symbols"]),
        "frontend": config["frontend"],
        "codec": config["codec"],
        "trained_steps": config.get("trained_steps"),
    }
    print(json.dumps(info, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tts`` and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="tts",
        description="Token-based speech generation on the codec's tokens.",
        epilog="Run 'tts COMMAND --help' for the options of a command.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser(
        "train",
        add_help=False,
        help="train a generator with a YAML recipe (LightningCLI; 'tts train --help')",
        description="LightningCLI: tts train fit --config recipes/tts/X.yaml --data.pairs P --data.tokens T",
    )
    export = commands.add_parser("export", help="write a TTS model folder from a 'tts train' checkpoint")
    export.add_argument("checkpoint", help="a .ckpt written by 'tts train'")
    export.add_argument("-o", "--output", required=True, help="output folder")
    export.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    export.set_defaults(run=cmd_export)
    info = commands.add_parser("info", help="describe a TTS model folder")
    info.add_argument("model", help="TTS model folder")
    info.set_defaults(run=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tts`` command; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] == "train":
            from tts.training.cli import run_training

            run_training(args_list[1:])
            return 0
        args = build_parser().parse_args(args_list)
        return args.run(args)
    except CodecError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
