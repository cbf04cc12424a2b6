"""What every command of the ``codec`` command line shares: exit codes, model and batch options,
progress bars and the failure report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from codec.corpus.jobs import existing_input
from codec.errors import CodecError

EXIT_FAILED_FILES = 1
"""Some files of a batch failed (the good ones were written)."""
EXIT_ERROR = 2
"""An error stopped the command."""
T = TypeVar("T")


def batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def expand_inputs(inputs: Sequence[str], find: Callable[[Path], list[Path]]) -> list[tuple[Path, Path | None]]:
    """``(file, folder it came from or None)`` for every input; raises ``CodecError`` for a missing one.

    In folders, hidden files and folders (``.name``: a killed writer's temporary file) are skipped.
    """
    found: list[tuple[Path, Path | None]] = []
    for raw in inputs:
        path = existing_input(raw)
        if path.is_dir():
            found += [(f, path) for f in find(path) if not any(p.startswith(".") for p in f.relative_to(path).parts)]
        else:
            found.append((path, None))
    return found


def progress(total: int, unit: str, quiet: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, disable=quiet or total <= 1, file=sys.stderr)


def print_failures(failures: list[tuple[Path, str]]) -> None:
    """One ``  failed: FILE: REASON`` line per failure on stderr, sorted by file."""
    for path, reason in sorted(failures, key=lambda failure: str(failure[0])):
        print(f"  failed: {path}: {reason}", file=sys.stderr)


def report(failures: list[tuple[Path, str]], done: int, what: str, detail: str = "") -> int:
    print(f"{done} {what}, {len(failures)} failed{detail}", file=sys.stderr)
    print_failures(failures)
    return EXIT_FAILED_FILES if failures else 0


def load_model_from_args(args: argparse.Namespace) -> Any:
    """The model named by ``--model``, ``--device`` (CPU when the command has none) and ``--dtype``."""
    import torch

    from codec.loading import available_device, load_codec

    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[args.dtype]
    try:
        device = available_device(getattr(args, "device", "cpu"))
    except CodecError as error:
        raise CodecError(f"--{error.reason}") from None
    return load_codec(args.model, device=device, dtype=dtype)


def output_arg(args: argparse.Namespace) -> Path:
    if not args.output:
        raise CodecError("-o/--output is empty")
    return Path(args.output)


def check_n_codebooks(model: Any, n_codebooks: int | None) -> None:
    """``--n-codebooks`` must name 1 to all of the model's codebooks.

    Raises:
        CodecError: it does not.
    """
    try:
        model.check_n_codebooks(n_codebooks)
    except CodecError as error:
        raise CodecError(f"--n-codebooks: {error.reason}") from None


def at_least(low: float, kind: type = int) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` that is at least ``low``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}") from None
        if not value >= low:  # also rejects NaN
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {text}")
        return value

    return parse


def add_model_options(
    parser: argparse.ArgumentParser,
    default: str | None = "default",
    device: bool = True,
    unset: str = "the model named in the token file",
) -> None:
    """``--model``, ``--device`` (unless ``device`` is False) and ``--dtype`` options; ``unset`` says
    what a command uses when ``default`` is None."""
    parser.add_argument(
        "--model",
        default=default,
        help="shipped model name, pretrained folder (ours, or a published codec's: EnCodec, DAC, Mimi, "
        f"WavTokenizer, SNAC), training checkpoint or cached hub id (default: {default or unset})",
    )
    if device:
        parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default: cpu)")
    parser.add_argument(
        "--dtype", default="float32", choices=["float32", "float16", "bfloat16"], help="weight type (default: float32)"
    )


def add_batch_options(parser: argparse.ArgumentParser, batch_size: int = 8) -> None:
    parser.add_argument(
        "--chunk-seconds",
        type=at_least(0.0, float),
        default=30.0,
        help="process long files in overlapping chunks of this length, bounding memory (default: 30; 0 = whole)",
    )
    parser.add_argument(
        "--batch-size", type=at_least(1), default=batch_size, help=f"most files per model call (default: {batch_size})"
    )
    parser.add_argument("--overwrite", action="store_true", help="redo outputs that already exist (default: skip)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def entropy_stats(model: Any, args: argparse.Namespace) -> Any:
    """The model's code statistics when ``--entropy`` asks for range coding, else None."""
    from codec.formats.entropy import CODE_STATS_FILE, require_constriction

    if not args.entropy:
        return None
    require_constriction()
    code_stats = getattr(model, "code_stats", None)
    if code_stats is None:
        raise CodecError(
            f"--entropy needs the model's code statistics, and model {model.name} has none "
            f"(no {CODE_STATS_FILE}; make one with codec export --code-stats DATA)",
            args.model,
        )
    return code_stats


def add_tokenize_options(parser: argparse.ArgumentParser) -> None:
    """Inputs, output layout and reading options of ``codec encode`` and ``codec tokenize``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders and/or .jsonl manifests")
    parser.add_argument(
        "-o", "--output", required=True, help="output folder, or a .tok path for a single input (files layout)"
    )
    parser.add_argument(
        "--layout",
        default="files",
        choices=["files", "shards"],
        help="files: one .tok per input, mirroring the folders; shards: shard-*.toks files of --shard-items "
        "records plus index-r*.jsonl (read them with codec.corpus.token_dataset.TokenDataset) (default: files)",
    )
    parser.add_argument("--shard-items", type=at_least(1), default=1000, help="records per shard (default: 1000)")
    parser.add_argument("--n-codebooks", type=int, default=None, help="codebooks to keep (default: all)")
    parser.add_argument("--no-recursive", dest="recursive", action="store_false", help="do not descend into folders")
    parser.add_argument(
        "--entropy",
        action="store_true",
        help="range-code the tokens with the model's code statistics (code_stats.json; needs constriction)",
    )
    parser.add_argument(
        "--workers", type=at_least(0), default=1, help="processes reading and resampling audio (default: 1; 0 = none)"
    )
    parser.add_argument(
        "--batch-seconds",
        type=at_least(0.001, float),
        default=320.0,
        help="most padded audio seconds per batch; files are batched by length (default: 320)",
    )
