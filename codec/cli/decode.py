"""``codec decode``: ``.tok`` files or folders -> audio files."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codec.cli.common import (
    add_batch_options,
    add_model_options,
    batches,
    expand_inputs,
    load_model_from_args,
    output_arg,
    progress,
    report,
)
from codec.corpus.jobs import output_paths
from codec.errors import CodecError
from codec.formats.tok_file import TOKEN_SUFFIX
from codec.formats.tokens import Tokens, read_header
from codec.io.audio import write_audio
from codec.loading import shipped_models


def _token_model_name(token_files: Sequence[Path]) -> tuple[str, Path]:
    """The model named by the first readable token file (damaged ones are reported when decoded)."""
    first_error: CodecError | None = None
    for path in token_files:
        try:
            return read_header(path)["model_name"], path
        except CodecError as error:
            first_error = first_error or error
    assert first_error is not None
    raise first_error


def cmd_decode(args: argparse.Namespace) -> int:
    """``codec decode``: ``.tok`` files or folders -> audio files."""
    files = expand_inputs(args.inputs, lambda folder: sorted(folder.rglob(f"*{TOKEN_SUFFIX}")))
    if not files:
        raise CodecError("no token files found in the inputs")
    if args.model is None:
        args.model, named_by = _token_model_name([path for path, _ in files])
        if args.model not in shipped_models():
            raise CodecError(f"made by model {args.model!r}, which is not shipped: pass --model", named_by)
    model = load_model_from_args(args)
    keys = [(src.relative_to(root) if root is not None else Path(src.name)).as_posix() for src, root in files]
    paths = output_paths(keys, output_arg(args), f".{args.format}")
    planned = [(src, paths[key]) for (src, _), key in zip(files, keys, strict=True)]
    jobs = [(src, dst) for src, dst in planned if args.overwrite or not dst.exists()]
    skipped = len(planned) - len(jobs)
    failures: list[tuple[Path, str]] = []
    done = 0
    with progress(len(jobs), "file", args.quiet) as bar:
        for batch in batches(jobs, args.batch_size):
            groups: dict[int, list[tuple[Path, Path, Tokens]]] = {}
            for src, dst in batch:
                try:
                    tokens = Tokens.load(src, code_stats=model.code_stats)
                    model.check_tokens(tokens, src)
                    groups.setdefault(tokens.n_codebooks, []).append((src, dst, tokens))
                except CodecError as error:
                    failures.append((src, error.reason))
            for group in groups.values():
                decoded = model.decode(
                    Tokens.cat([tokens for _, _, tokens in group]), chunk_seconds=args.chunk_seconds or None
                )
                for (src, dst, _), audio in zip(group, decoded, strict=True):
                    try:
                        write_audio(dst, audio.numpy(), model.sample_rate)
                        done += 1
                    except CodecError as error:
                        failures.append((src, error.reason))
            bar.update(len(batch))
    detail = f" ({skipped} skipped: their outputs exist; --overwrite redoes them)" if skipped else ""
    return report(failures, done, "decoded", detail)


def add_parser(commands: Any) -> None:
    """The ``decode`` sub-command."""
    decode = commands.add_parser(
        "decode",
        help="token files or folders -> audio files",
        description="Decode .tok files into audio at the model's sample rate, trimmed to the original length.",
    )
    decode.add_argument("inputs", nargs="+", metavar="INPUT", help=".tok files and/or folders")
    decode.add_argument("-o", "--output", required=True, help="output folder, or an audio path for a single input")
    decode.add_argument(
        "--format", default="wav", choices=["wav", "flac"], help="audio format in folders (default: wav)"
    )
    add_model_options(decode, default=None)
    add_batch_options(decode)
    decode.set_defaults(run=cmd_decode)
