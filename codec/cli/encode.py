"""``codec encode``: audio files, folders or manifests -> ``.tok`` files or token shards."""

from __future__ import annotations

import argparse
from typing import Any

from codec.cli.common import (
    add_batch_options,
    add_model_options,
    add_tokenize_options,
    check_n_codebooks,
    entropy_stats,
    load_model_from_args,
    output_arg,
    report,
)
from codec.corpus.jobs import plan_jobs
from codec.corpus.run import encode_corpus
from codec.corpus.writers import make_writer
from codec.errors import CodecError


def cmd_encode(args: argparse.Namespace) -> int:
    """``codec encode``: audio files, folders or manifests -> ``.tok`` files or token shards."""

    jobs = plan_jobs(args.inputs, recursive=args.recursive)
    if not jobs:
        raise CodecError("no audio files found in the inputs")
    model = load_model_from_args(args)
    check_n_codebooks(model, args.n_codebooks)
    stats = entropy_stats(model, args)
    writer = make_writer(args.layout, output_arg(args), jobs, stats, args.overwrite, args.shard_items)
    result = encode_corpus(
        model,
        jobs,
        writer,
        batch_size=args.batch_size,
        batch_seconds=args.batch_seconds,
        workers=args.workers,
        progress=not args.quiet and len(jobs) > 1,
        n_codebooks=args.n_codebooks,
        chunk_seconds=args.chunk_seconds or None,
    )
    detail = (
        f" ({result.audio_seconds / 3600:.3f} h of audio in {result.wall_seconds / 60:.2f} min, "
        f"{result.hours_per_minute:.2f} h/min)"
    )
    return report(result.failures, result.done, "encoded", detail if result.done > 1 else "")


def add_parser(commands: Any) -> None:
    """The ``encode`` sub-command."""
    encode = commands.add_parser(
        "encode",
        help="audio files, folders or manifests -> token files (.tok) or token shards",
        description="Encode audio (any format soundfile reads, any rate, any channel count) into .tok files. "
        "A folder is searched recursively and its layout is mirrored under OUTPUT; a .jsonl manifest "
        '(one {"path": ...} per line) is read like a folder. Files are read by worker processes and '
        "batched by length. Outputs that exist are skipped, so a killed run restarts where it stopped. "
        "For many devices or machines see 'codec tokenize'.",
    )
    add_tokenize_options(encode)
    add_model_options(encode)
    add_batch_options(encode, batch_size=32)
    encode.set_defaults(run=cmd_encode)
