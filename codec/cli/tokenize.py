"""``codec tokenize``: ``codec encode`` over Lightning processes on several devices or machines
(``codec.corpus.distributed``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from codec.cli.common import (
    EXIT_FAILED_FILES,
    add_batch_options,
    add_model_options,
    add_tokenize_options,
    check_n_codebooks,
    entropy_stats,
    load_model_from_args,
    output_arg,
    print_failures,
)
from codec.corpus.jobs import plan_jobs
from codec.corpus.writers import make_writer
from codec.errors import CodecError


def cmd_tokenize(args: argparse.Namespace) -> int:
    """``codec tokenize``: ``codec encode`` over Lightning processes; returns 1 if any rank had a failure."""
    from codec.corpus.distributed import tokenize_corpus

    jobs = plan_jobs(args.inputs, recursive=args.recursive)
    if not jobs:
        raise CodecError("no audio files found in the inputs")
    codec = load_model_from_args(args)
    check_n_codebooks(codec, args.n_codebooks)
    stats = entropy_stats(codec, args)
    output = output_arg(args)
    report, done, failed, world_size = tokenize_corpus(
        codec,
        jobs,
        lambda rank: make_writer(args.layout, output, jobs, stats, args.overwrite, args.shard_items, rank),
        args.batch_size,
        args.batch_seconds,
        args.workers,
        progress=not args.quiet,
        trainer_options={
            "accelerator": args.accelerator,
            "devices": args.devices,
            "num_nodes": args.num_nodes,
            "strategy": args.strategy,
        },
        n_codebooks=args.n_codebooks,
        chunk_seconds=args.chunk_seconds or None,
    )
    print_failures(report.failures)
    if world_size:
        print(f"{done} encoded, {failed} failed on {world_size} process(es)", file=sys.stderr)
    return EXIT_FAILED_FILES if failed else 0


def add_parser(commands: Any) -> None:
    """The ``codec tokenize`` sub-command."""
    parser = commands.add_parser(
        "tokenize",
        help="tokenize a corpus on several devices or machines (Lightning)",
        description="codec encode for corpora, through Lightning: every process (--trainer.devices per "
        "machine, --trainer.num_nodes machines) takes its share of the length-bucketed batches and "
        "writes its own outputs (.tok files, or shards + index-r<rank>.jsonl). The union equals a "
        "one-process 'codec encode'. Done items are skipped, so a stopped run restarts where it was.",
    )
    add_tokenize_options(parser)
    add_model_options(parser, device=False)  # Lightning places the model (--trainer.accelerator)
    parser.add_argument(
        "--trainer.accelerator", dest="accelerator", default="auto", help="cpu, gpu, ... (default: auto)"
    )
    parser.add_argument(
        "--trainer.devices", dest="devices", default="1", help="devices (processes) per machine (default: 1)"
    )
    parser.add_argument("--trainer.num_nodes", dest="num_nodes", type=int, default=1, help="machines (default: 1)")
    parser.add_argument(
        "--trainer.strategy", dest="strategy", default="auto", help="Lightning strategy, e.g. ddp (default: auto)"
    )
    add_batch_options(parser, batch_size=32)
    parser.set_defaults(run=cmd_tokenize)
