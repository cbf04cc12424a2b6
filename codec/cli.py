"""The ``codec`` command line: parsing and printing only; the work lives in the package.

Errors a user can cause (``CodecError``) are printed as one line and give a non-zero exit status;
in a batch the good files are still processed and the failures are listed at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from codec.errors import CodecError

EXIT_FAILED_FILES = 1
EXIT_ERROR = 2
TOKEN_SUFFIX = ".tok"
SAMPLES_DIR = Path(__file__).parent / "samples"
T = TypeVar("T")


def _batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _output_path(source: Path, root: Path | None, output: Path, suffix: str, single: bool) -> Path:
    """Where the result for ``source`` goes: ``output`` itself for one file named like a result,
    else ``output / <path relative to its input folder>`` with ``suffix``."""
    if single and output.suffix and not output.is_dir():
        return output
    relative = source.relative_to(root) if root is not None else Path(source.name)
    return output / relative.with_suffix(suffix)


def _plan(
    files: Sequence[tuple[Path, Path | None]], output: Path, suffix: str, overwrite: bool
) -> list[tuple[Path, Path]]:
    """``(input, output)`` pairs. Inputs that would share an output (``a.wav`` and ``a.flac``) keep
    their extension in the output name (``a.wav.tok``, ``a.flac.tok``); done outputs are skipped
    unless ``overwrite``."""
    single = len(files) == 1
    jobs = [(src, _output_path(src, root, output, suffix, single)) for src, root in files]
    counts: dict[Path, int] = {}
    for _, dst in jobs:
        counts[dst] = counts.get(dst, 0) + 1
    jobs = [(src, dst.with_name(src.name + suffix) if counts[dst] > 1 else dst) for src, dst in jobs]
    return jobs if overwrite else [(src, dst) for src, dst in jobs if not dst.exists()]


def _expand(inputs: Sequence[str], find: Callable[[Path], list[Path]]) -> list[tuple[Path, Path | None]]:
    """``(file, folder it came from or None)`` for every input; raises ``CodecError`` for a missing one."""
    from codec.corpus import existing_input

    found: list[tuple[Path, Path | None]] = []
    for raw in inputs:
        path = existing_input(raw)
        found += [(f, path) for f in find(path)] if path.is_dir() else [(path, None)]
    return found


def _progress(total: int, unit: str, quiet: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, disable=quiet or total <= 1, file=sys.stderr)


def print_failures(failures: list[tuple[Path, str]]) -> None:
    """One ``  failed: FILE: REASON`` line per failure on stderr, sorted by file."""
    for path, reason in sorted(failures, key=lambda failure: str(failure[0])):
        print(f"  failed: {path}: {reason}", file=sys.stderr)


def _report(failures: list[tuple[Path, str]], done: int, what: str, detail: str = "") -> int:
    print(f"{done} {what}, {len(failures)} failed{detail}", file=sys.stderr)
    print_failures(failures)
    return EXIT_FAILED_FILES if failures else 0


def load_model_from_args(args: argparse.Namespace) -> Any:
    """The model named by ``--model``, ``--device`` (CPU when the command has none) and ``--dtype``."""
    import torch

    from codec.pretrained import load_codec

    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[args.dtype]
    try:
        device = torch.device(getattr(args, "device", "cpu"))
    except (RuntimeError, ValueError):
        raise CodecError(f"--device {args.device!r} is not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CodecError(f"--device {args.device}: no CUDA GPU is available here; use --device cpu")
    if device.type == "cpu" and dtype != torch.float32:
        raise CodecError(f"--dtype {args.dtype} needs a GPU (--device cuda); on the CPU use float32")
    return load_codec(args.model, device=device, dtype=dtype)


def code_stats_for(model: Any, args: argparse.Namespace) -> Any:
    """The model's code statistics when ``--entropy`` asks for range coding, else None."""
    from codec.entropy import CODE_STATS_FILE, require_constriction

    if not args.entropy:
        return None
    require_constriction()
    code_stats = getattr(model, "code_stats", None)
    if code_stats is None:
        raise CodecError(
            f"--entropy needs the model's code statistics, and model {model.name} has none "
            f"(no {CODE_STATS_FILE}; make one with codec.entropy.fit_code_stats and save_code_stats)",
            args.model,
        )
    return code_stats


def token_writer(args: argparse.Namespace, jobs: Sequence[Any], code_stats: Any, rank: int = 0) -> Any:
    """The ``--layout`` writer of ``codec encode`` / ``codec tokenize`` for ``jobs``."""
    from codec.corpus import TokenFiles, TokenShards, token_file_paths

    output = _output_arg(args)
    if args.layout == "shards":
        if output.exists() and not output.is_dir():
            raise CodecError("--layout shards needs an output folder", output)
        return TokenShards(output, rank, args.shard_items, code_stats, args.overwrite)
    paths = token_file_paths(jobs, output)
    for job in jobs:
        if paths[job.key].resolve() == job.source.resolve():
            raise CodecError("the output path is this input file; choose another output", job.source)
    return TokenFiles(paths, code_stats, args.overwrite)


def _output_arg(args: argparse.Namespace) -> Path:
    if not args.output:
        raise CodecError("-o/--output is empty")
    return Path(args.output)


def check_n_codebooks(model: Any, n_codebooks: int | None) -> None:
    if n_codebooks is not None and not 1 <= n_codebooks <= model.n_codebooks:
        raise CodecError(f"--n-codebooks must be in 1..{model.n_codebooks} for this model, got {n_codebooks}")


def cmd_encode(args: argparse.Namespace) -> int:
    """``codec encode``: audio files, folders or manifests -> ``.tok`` files or token shards."""
    from codec.corpus import encode_corpus, plan_jobs

    jobs = plan_jobs(args.inputs, recursive=args.recursive)
    if not jobs:
        raise CodecError("no audio files found in the inputs")
    model = load_model_from_args(args)
    check_n_codebooks(model, args.n_codebooks)
    writer = token_writer(args, jobs, code_stats_for(model, args))
    report = encode_corpus(
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
        f" ({report.audio_seconds / 3600:.3f} h of audio in {report.wall_seconds / 60:.2f} min, "
        f"{report.hours_per_minute:.2f} h/min)"
    )
    return _report(report.failures, report.done, "encoded", detail if report.done > 1 else "")


def _token_model_name(token_files: Sequence[Path]) -> tuple[str, Path]:
    """The model named by the first readable token file (damaged ones are reported when decoded)."""
    from codec.tokens import read_header

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
    from codec.audio import write_audio
    from codec.tokens import Tokens

    files = _expand(args.inputs, lambda folder: sorted(folder.rglob(f"*{TOKEN_SUFFIX}")))
    if not files:
        raise CodecError("no token files found in the inputs")
    if args.model is None:
        from codec.pretrained import shipped_models

        args.model, named_by = _token_model_name([path for path, _ in files])
        if args.model not in shipped_models():
            raise CodecError(f"made by model {args.model!r}, which is not shipped: pass --model", named_by)
    model = load_model_from_args(args)
    jobs = _plan(files, _output_arg(args), f".{args.format}", args.overwrite)
    failures: list[tuple[Path, str]] = []
    done = 0
    with _progress(len(jobs), "file", args.quiet) as bar:
        for batch in _batches(jobs, args.batch_size):
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
    return _report(failures, done, "decoded")


def _is_token_file(path: Path) -> bool:
    from codec.tokens import MAGIC

    if path.suffix == TOKEN_SUFFIX:
        return True  # reading it as one names what is wrong with it
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _latency_ms(model: Any) -> float | str:
    from codec.streaming import algorithmic_latency_seconds

    seconds = algorithmic_latency_seconds(model)
    return "not streamable (LSTM or attention)" if seconds is None else round(seconds * 1000, 1)


def model_info(model: Any) -> dict[str, Any]:
    """Rates, sizes and parameter counts of a loaded codec."""
    return {
        "name": model.name,
        "sample_rate": model.sample_rate,
        "hop_length": model.hop_length,
        "frame_rate": model.frame_rate,
        "n_codebooks": model.n_codebooks,
        "codebook_size": model.codebook_size,
        "bitrate": {n: model.bitrate(n) for n in range(1, model.n_codebooks + 1)},
        "causal": model.causal,
        "streaming_latency_ms": _latency_ms(model),
        "parameters": {
            "encoder": sum(p.numel() for p in model.encoder.parameters()),
            "quantizer": sum(p.numel() for p in model.quantizer.parameters()),
            "decoder": sum(p.numel() for p in model.decoder.parameters()),
            "total": model.num_parameters(),
        },
        "fingerprint": model.fingerprint(),
    }


def token_info(path: Path) -> dict[str, Any]:
    """What a ``.tok`` file says about itself (a range-coded one is checked but not decoded).

    ``bitrate`` is the nominal rate ``frame_rate * Q * log2(K)``; ``payload_bitrate`` is the
    measured one, payload bits per second of audio (``None`` for an empty clip).
    """
    import math

    from codec.tokens import payload_length, read_header

    header = read_header(path)
    frame_rate = header["sample_rate"] / header["hop_length"]
    seconds = header["num_samples"] / header["sample_rate"]
    payload_bits = 8 * payload_length(header)
    return {
        "file": str(path),
        "model_name": header["model_name"],
        "fingerprint": header["fingerprint"],
        "format_version": header["format_version"],
        "coding": header.get("coding", "packed"),
        "sample_rate": header["sample_rate"],
        "frame_rate": frame_rate,
        "n_codebooks": header["n_codebooks"],
        "codebook_size": header["codebook_size"],
        "frames": header["num_frames"],
        "seconds": seconds,
        "bitrate": frame_rate * header["n_codebooks"] * math.log2(header["codebook_size"]),
        "payload_bitrate": payload_bits / seconds if seconds else None,
        "payload_bytes": payload_bits // 8,
        "file_bytes": path.stat().st_size,
    }


def shard_info(folder: Path) -> dict[str, Any]:
    """Totals of a shard folder written by ``codec encode --layout shards`` / ``codec tokenize``."""
    from codec.corpus import INDEX_PATTERN, read_index
    from codec.shards import read_shard_header

    entries = list(read_index(folder).values())
    seconds = sum(e["seconds"] for e in entries)
    shards = {e["shard"] for e in entries}
    for name in sorted(shards):
        read_shard_header(folder / name)  # each shard named by the index exists and is sound
    shard_bytes = sum((folder / name).stat().st_size for name in shards)
    indexes = list(folder.glob(INDEX_PATTERN))
    return {
        "folder": str(folder),
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


def cmd_info(args: argparse.Namespace) -> int:
    """``codec info``: a token file or a model."""
    from codec.corpus import INDEX_PATTERN

    target = Path(args.target)
    if _is_token_file(target):
        info = token_info(target)
    elif target.is_dir() and any(target.glob(INDEX_PATTERN)):
        info = shard_info(target)
    else:
        args.model = args.target
        info = model_info(load_model_from_args(args))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_info(info)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``codec export``: training checkpoint -> pretrained folder, or any model -> ONNX."""
    if args.format == "onnx":
        from codec.onnx_export import export_onnx_folder

        print(export_onnx_folder(args.checkpoint, args.output, args.n_codebooks))
        return 0
    from codec.pretrained import load_checkpoint, save_pretrained

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
    from codec.data import load_items, spread
    from codec.entropy import fit_code_stats, save_code_stats
    from codec.pretrained import load_codec

    items = spread(load_items(data), files)
    model = load_codec(folder)
    stats = fit_code_stats(model, [item.path for item in items], batch_size=16)
    save_code_stats(folder, stats)
    print(f"code statistics from {len(items)} files of {data}: {stats.bitrate(model.frame_rate):.0f} bit/s expected")


def cmd_demo(args: argparse.Namespace) -> int:
    """``codec demo``: round-trip the shipped speech samples and print rate, tokens and quality."""
    import time

    import numpy as np

    from codec.audio import read_audio, resample, to_mono, write_audio
    from codec.metrics import missing_packages, quality

    model = load_model_from_args(args)
    samples = [Path(p) for p in args.samples] if args.samples else sorted(SAMPLES_DIR.glob("*.flac"))
    if not samples:
        raise CodecError("no samples given and none shipped", SAMPLES_DIR)
    output = Path(args.output)
    model.decode(model.encode(np.zeros(model.sample_rate, dtype=np.float32), model.sample_rate))
    print(
        f"model {model.name}: {model.sample_rate} Hz, {model.frame_rate:g} frames/s, "
        f"{model.n_codebooks} x {model.codebook_size} codes, {model.bitrate():g} bit/s"
    )
    for sample in samples:
        audio, rate = read_audio(sample)
        reference = resample(to_mono(audio), rate, model.sample_rate)
        seconds = len(reference) / model.sample_rate
        start = time.perf_counter()
        tokens = model.encode(reference, model.sample_rate)
        encoded = time.perf_counter()
        reconstruction = model.decode(tokens)[0].numpy()
        decoded = time.perf_counter()
        token_path = output / f"{sample.stem}.tok"
        tokens.save(token_path)
        write_audio(output / f"{sample.stem}.wav", reconstruction, model.sample_rate)
        scores = quality(reference, reconstruction, model.sample_rate)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if v is not None)
        print(
            f"{sample.name}: {seconds:.2f} s -> {int(tokens.code_lengths[0]) * tokens.n_codebooks} tokens, "
            f"{token_path.stat().st_size} bytes ({token_path.stat().st_size * 8 / seconds:.0f} bit/s with header); "
            f"encode {seconds / (encoded - start):.0f}x, decode {seconds / (decoded - encoded):.0f}x real time"
        )
        print(f"  {shown}")
    if missing_packages():
        print(f"(install {', '.join(missing_packages())} for PESQ/STOI: pip install '.[eval]')")
    print(f"tokens and reconstructions written to {output}/")
    return 0


def _at_least(low: float, kind: type = int) -> Callable[[str], Any]:
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


def add_model_options(parser: argparse.ArgumentParser, default: str | None = "default", device: bool = True) -> None:
    """``--model``, ``--device`` (unless ``device`` is False) and ``--dtype`` options."""
    parser.add_argument(
        "--model",
        default=default,
        help="shipped model name, pretrained folder, training checkpoint or cached hub id"
        + (f" (default: {default})" if default else " (default: the model named in the token file)"),
    )
    if device:
        parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default: cpu)")
    parser.add_argument(
        "--dtype", default="float32", choices=["float32", "float16", "bfloat16"], help="weight type (default: float32)"
    )


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
        "records plus index-r*.jsonl (read them with codec.token_dataset.TokenDataset) (default: files)",
    )
    parser.add_argument("--shard-items", type=_at_least(1), default=1000, help="records per shard (default: 1000)")
    parser.add_argument("--n-codebooks", type=int, default=None, help="codebooks to keep (default: all)")
    parser.add_argument("--no-recursive", dest="recursive", action="store_false", help="do not descend into folders")
    parser.add_argument(
        "--entropy",
        action="store_true",
        help="range-code the tokens with the model's code statistics (code_stats.json; needs constriction)",
    )
    parser.add_argument(
        "--workers", type=_at_least(0), default=1, help="processes reading and resampling audio (default: 1; 0 = none)"
    )
    parser.add_argument(
        "--batch-seconds",
        type=_at_least(0.001, float),
        default=320.0,
        help="most padded audio seconds per batch; files are batched by length (default: 320)",
    )


def add_batch_options(parser: argparse.ArgumentParser, batch_size: int = 8) -> None:
    parser.add_argument(
        "--chunk-seconds",
        type=_at_least(0.0, float),
        default=30.0,
        help="process long files in overlapping chunks of this length, bounding memory (default: 30; 0 = whole)",
    )
    parser.add_argument(
        "--batch-size", type=_at_least(1), default=batch_size, help=f"most files per model call (default: {batch_size})"
    )
    parser.add_argument("--overwrite", action="store_true", help="redo outputs that already exist (default: skip)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_tokenize_parser(commands: Any) -> None:
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


def cmd_tokenize(args: argparse.Namespace) -> int:
    """``codec tokenize``: ``codec encode`` over Lightning processes (``codec.tokenize``)."""
    from codec.tokenize import run_tokenize

    return run_tokenize(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``codec`` and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="codec",
        description="Neural audio codec and speech tokenizer: audio <-> discrete tokens.",
        epilog="Run 'codec COMMAND --help' for the options of a command.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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

    info = commands.add_parser(
        "info",
        help="describe a model or a token file",
        description="Print rates, bitrate, codebooks and parameter counts of a model, the header of a .tok file, "
        "or the totals of a shard folder (items, hours, bytes, stored bit/s).",
    )
    info.add_argument(
        "target", nargs="?", default="default", help="model (name, folder, checkpoint), .tok file or shard folder"
    )
    info.add_argument("--json", action="store_true", help="print JSON")
    add_model_options(info)
    info.set_defaults(run=cmd_info)

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

    demo = commands.add_parser(
        "demo",
        help="encode + decode the shipped speech samples and print bitrate, tokens and PESQ/STOI",
        description="Round-trip the speech samples shipped with the package (or --samples) through a model, "
        "write the .tok files and reconstructions, and print bitrate, token count, speed and quality.",
    )
    demo.add_argument("--samples", nargs="+", default=None, help="audio files to use instead of the shipped ones")
    demo.add_argument(
        "-o", "--output", default="demo_output", help="folder for tokens and audio (default: demo_output)"
    )
    add_model_options(demo)
    demo.set_defaults(run=cmd_demo)

    from codec.eval_cli import add_eval_parser

    add_eval_parser(commands)
    add_tokenize_parser(commands)

    commands.add_parser(
        "train",
        add_help=False,
        help="train with a YAML recipe (LightningCLI; 'codec train --help')",
        description="LightningCLI: codec train fit --config recipes/X.yaml [--trainer.max_steps N] [--ckpt_path last]",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``codec`` command; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "train":
        from codec.recipe_cli import run_training

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
