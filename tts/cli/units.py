"""``tts units fit`` / ``tts units apply``: discrete speech units (k-means of Whisper tiny.en encoder
states, or of a local HuBERT / WavLM layer) for semantic-token generators."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence

import numpy as np
from tqdm import tqdm

from codec.errors import CodecError
from codec.io.manifest import AudioItem, load_items
from codec.training.segments import decode
from codec.training.semantic import save_units
from codec.units import UnitModel, fit_unit_model, load_features
from codec.units.features import SAMPLE_RATE, WINDOW

CLIPS_PER_CALL = 32


def _items(sources: Sequence[str], split: str | None) -> list[AudioItem]:
    items = [item for source in sources for item in load_items(source)]
    if split is not None:
        items = [item for item in items if item.split in (None, split)]
    if not items:
        raise CodecError(f"no audio{'' if split is None else f' of split {split}'} in {', '.join(sources)}")
    return items


def _features(items: list[AudioItem], spec: str, threads: int, desc: str) -> Iterator[tuple[str, np.ndarray, int]]:
    """``(key, states (T, D), first position)`` per item, read and featurised in groups."""
    features = load_features(spec, threads)
    with tqdm(total=len(items), desc=desc, unit="clip", file=sys.stderr) as bar:
        for start in range(0, len(items), CLIPS_PER_CALL):
            group = items[start : start + CLIPS_PER_CALL]
            clips = [decode(item.path, SAMPLE_RATE)[:WINDOW] for item in group]
            for item, (states, first) in zip(group, features(clips), strict=True):
                yield item.key, states, first
            bar.update(len(group))


def cmd_fit(args: argparse.Namespace) -> int:
    items = _items(args.inputs, args.split)
    pairs = [(states, first) for _, states, first in _features(items, args.features, args.threads, "features")]
    model = fit_unit_model(pairs, args.clusters, args.features, args.max_frames, seed=args.seed)
    model.save(args.output)
    print(f"{args.output}: {model.clusters} units of {args.features} from {len(items)} clips")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    model = UnitModel.load(args.model)
    items = _items(args.inputs, args.split)
    threads = args.threads
    units = {
        key: model.assign(states, first)
        for key, states, first in _features(items, model.meta["features"], threads, "units")
    }
    save_units(args.output, units, model.clusters, float(model.meta["frame_rate"]))
    print(f"{args.output}: units of {len(units)} clips")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``tts units`` under ``commands``."""
    units = commands.add_parser(
        "units",
        help="fit and apply discrete speech units (k-means of speech-model features)",
        description="Semantic tokens without HuBERT: k-means units of Whisper tiny.en encoder states (the "
        "[eval-extra] extra), or of one layer of a local HuBERT / WavLM / wav2vec 2.0 folder (FOLDER#LAYER).",
    )
    actions = units.add_subparsers(dest="action", metavar="ACTION", required=True)
    fit = actions.add_parser("fit", help="fit a unit model on audio folders or manifests (pairs.jsonl)")
    fit.add_argument("inputs", nargs="+", help="audio folders, files' folders or .jsonl manifests")
    fit.add_argument("-o", "--output", required=True, help="unit model file to write (.npz)")
    fit.add_argument("--features", default="whisper-tiny.en", help="whisper-tiny.en (default) or FOLDER#LAYER")
    fit.add_argument("--clusters", type=int, default=500, help="units (default 500)")
    fit.add_argument("--max-frames", type=int, default=200_000, help="frames k-means is fitted on (default 200000)")
    fit.add_argument("--split", default="train", help="manifest rows of this split (default train)")
    fit.add_argument("--threads", type=int, default=1, help="feature threads (default 1)")
    fit.add_argument("--seed", type=int, default=0, help="k-means seed (default 0)")
    fit.set_defaults(run=cmd_fit)
    apply = actions.add_parser("apply", help="write the units of audio folders or manifests (.npz per key)")
    apply.add_argument("inputs", nargs="+", help="audio folders or .jsonl manifests")
    apply.add_argument("--model", required=True, help="a unit model ('tts units fit')")
    apply.add_argument("-o", "--output", required=True, help="units file to write (.npz: one id array per key)")
    apply.add_argument("--split", default=None, help="manifest rows of this split only (default all)")
    apply.add_argument("--threads", type=int, default=1, help="feature threads (default 1)")
    apply.set_defaults(run=cmd_apply)
