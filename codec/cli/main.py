"""The ``codec`` command line: parsing and printing only; the work lives in the package.

Errors a user can cause (``CodecError``) are printed as one line and give a non-zero exit status;
in a batch the good files are still processed and the failures are listed at the end.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from codec.cli import decode, demo, encode, evaluate, export, info, tokenize
from codec.cli.common import EXIT_ERROR
from codec.errors import CodecError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``codec`` and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="codec",
        description="Neural audio codec and speech tokenizer: audio <-> discrete tokens.",
        epilog="Run 'codec COMMAND --help' for the options of a command.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (encode, decode, info, export, demo, evaluate, tokenize):
        command.add_parser(commands)
    commands.add_parser(
        "train",
        add_help=False,
        help="train with a YAML recipe (LightningCLI; 'codec train --help')",
        description="LightningCLI: codec train fit --config recipes/codec/X.yaml [--trainer.max_steps N] "
        "[--ckpt_path last]",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``codec`` command; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "train":
        from codec.training.recipe_cli import run_training

        try:
            run_training(args_list[1:])
        except CodecError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    args = build_parser().parse_args(args_list)
    try:
        return args.run(args)
    except CodecError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
