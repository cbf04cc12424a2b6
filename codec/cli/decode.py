"""``codec decode``: ``.tok`` files, folders of them or shard folders -> audio files."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

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
from codec.corpus.jobs import existing_input, output_paths
from codec.corpus.token_dataset import TokenDataset
from codec.corpus.writers import INDEX_PATTERN
from codec.errors import CodecError
from codec.formats.entropy import CodeStats
from codec.formats.tok_file import TOKEN_SUFFIX, read_header
from codec.formats.tokens import Tokens
from codec.io.audio import write_audio
from codec.loading import shipped_models


@dataclass(frozen=True)
class _Source:
    """One item to decode: a ``.tok`` file, or a record of a shard folder (``dataset`` and ``index``)."""

    key: str
    path: Path
    dataset: TokenDataset | None = None
    index: int = 0

    def model_name(self) -> str:
        return self.dataset.model["model_name"] if self.dataset is not None else read_header(self.path)["model_name"]

    def load(self, code_stats: CodeStats | None) -> Tokens:
        if self.dataset is None:
            return Tokens.load(self.path, code_stats=code_stats)
        item, model = self.dataset[self.index], self.dataset.model
        return Tokens(
            codes=item.codes[None],
            code_lengths=torch.tensor([item.codes.shape[-1]]),
            audio_lengths=torch.tensor([item.audio_length]),
            sample_rate=model["sample_rate"],
            hop_length=model["hop_length"],
            codebook_size=model["codebook_size"],
            model_name=model["model_name"],
            fingerprint=model["fingerprint"],
            token_fingerprint=model["token_fingerprint"],
            min_codebooks=model["min_codebooks"],
        )


def _sources(inputs: Sequence[str], code_stats: CodeStats | None = None) -> list[_Source]:
    """The items of ``.tok`` files, folders of them and shard folders, keyed by their output names."""
    sources: list[_Source] = []
    for raw in inputs:
        path = existing_input(raw)
        if path.is_dir() and any(path.glob(INDEX_PATTERN)):
            dataset = TokenDataset(path, code_stats=code_stats)
            sources += [_Source(key, dataset.entry_file(i), dataset, i) for i, key in enumerate(dataset.keys)]
            continue
        for file, root in expand_inputs([raw], lambda folder: sorted(folder.rglob(f"*{TOKEN_SUFFIX}"))):
            key = (file.relative_to(root) if root is not None else Path(file.name)).as_posix()
            sources.append(_Source(key, file))
    return sources


def _model_named_by(sources: Sequence[_Source]) -> tuple[str, Path]:
    """The model named by the first readable source (damaged ones are reported when decoded)."""
    first_error: CodecError | None = None
    for source in sources:
        try:
            return source.model_name(), source.path
        except CodecError as error:
            first_error = first_error or error
    assert first_error is not None
    raise first_error


def cmd_decode(args: argparse.Namespace) -> int:
    """``codec decode``: ``.tok`` files, folders of them or shard folders -> audio files."""
    sources = _sources(args.inputs)
    if not sources:
        raise CodecError("no token files found in the inputs")
    if args.model is None:
        args.model, named_by = _model_named_by(sources)
        if args.model not in shipped_models():
            raise CodecError(f"made by model {args.model!r}, which is not shipped: pass --model", named_by)
    model = load_model_from_args(args)
    model.check_pitch_shift(args.pitch_shift)
    if model.code_stats is not None and any(source.dataset is not None for source in sources):
        sources = _sources(args.inputs, model.code_stats)  # range-coded shards need the statistics to read
    paths = output_paths([source.key for source in sources], output_arg(args), f".{args.format}")
    jobs = [(source, paths[source.key]) for source in sources if args.overwrite or not paths[source.key].exists()]
    skipped = len(sources) - len(jobs)
    failures: list[tuple[Path, str]] = []
    done = 0
    with progress(len(jobs), "file", args.quiet) as bar:
        for batch in batches(jobs, args.batch_size):
            groups: dict[int, list[tuple[_Source, Path, Tokens]]] = {}
            for source, dst in batch:
                try:
                    tokens = source.load(model.code_stats)
                    model.check_tokens(tokens, source.path)
                    groups.setdefault(tokens.n_codebooks, []).append((source, dst, tokens))
                except CodecError as error:
                    failures.append((source.path, error.reason))
            for group in groups.values():
                decoded = model.decode(
                    Tokens.cat([tokens for _, _, tokens in group]),
                    chunk_seconds=args.chunk_seconds or None,
                    pitch_shift=args.pitch_shift,
                )
                for (source, dst, _), audio in zip(group, decoded, strict=True):
                    try:
                        write_audio(dst, audio.numpy(), model.sample_rate)
                        done += 1
                    except CodecError as error:
                        failures.append((source.path, error.reason))
            bar.update(len(batch))
    detail = f" ({skipped} skipped: their outputs exist; --overwrite redoes them)" if skipped else ""
    return report(failures, done, "decoded", detail)


def add_parser(commands: Any) -> None:
    """The ``decode`` sub-command."""
    decode = commands.add_parser(
        "decode",
        help="token files or folders -> audio files",
        description="Decode .tok files (or the records of shard folders, named by their keys) into audio at the "
        "model's sample rate, trimmed to the original length.",
    )
    decode.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help=".tok files, folders of them, and/or shard folders (codec encode --layout shards)",
    )
    decode.add_argument("-o", "--output", required=True, help="output folder, or an audio path for a single input")
    decode.add_argument(
        "--format", default="wav", choices=["wav", "flac"], help="audio format in folders (default: wav)"
    )
    decode.add_argument(
        "--pitch-shift",
        type=float,
        metavar="SEMITONES",
        help="move the pitch by this many semitones, the voice's envelope kept (harmonic-plus-noise decoders: "
        "speech16k-hn)",
    )
    add_model_options(decode, default=None)
    add_batch_options(decode)
    decode.set_defaults(run=cmd_decode)
