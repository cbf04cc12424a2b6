#!/usr/bin/env python3
"""Build TTS training pairs at 16 kHz: text, flite phones with exact durations, audio, tokens.

English sentences from the Debian fortune files (the speech16k recipe's selection) are normalised
with ``tts.text`` and spoken by the flite voices slt, awb, kal16 and rms at varied speed and pitch;
``flite -psdur`` gives every phone's duration. Sentences are held out by a hash of their text
(speech16k's 90/5/5 split, so the codec never trained on them either): ``dev`` and ``test`` rows
speak only held-out sentences, as does the ``robust`` set (220 sentences, ``robustness.txt``).
Optionally the transcribed real English speech of a speech16k manifest joins (durations null,
``"align": "mas"``). ``pairs.jsonl`` lists every pair; ``codec tokenize`` then writes the tokens as
shards whose item keys are the pairs' ``key`` (= the audio path relative to OUT).

Every step is restartable: audio already synthesised (``cache/pairs.jsonl``) and tokens already
written are skipped; files are written to temporary names and renamed.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import functools
import hashlib
import importlib.util
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import soundfile as sf
from tqdm import tqdm

from codec.errors import CodecError
from tts.text import TextFrontend, normalize
from tts.text.g2p import require_binary

HERE = Path(__file__).resolve().parent


def load_module(name: str, path: Path) -> ModuleType:
    """Import a recipe file by path under a unique module name (``egs`` is no package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


speech16k = load_module("tts16k_speech16k", HERE.parent / "speech16k" / "prepare.py")
synth = load_module("tts16k_synth", HERE / "synth.py")
robustness = load_module("tts16k_robustness", HERE / "robustness.py")
reporting = load_module("tts16k_reporting", HERE / "reporting.py")

SPLITS = ("train", "dev", "test", "robust")
NOT_REAL = frozenset({"synthetic", "music"})
"""speech16k sources that are no real speech (its own TTS rows, music)."""
VOICES: dict[str, tuple[float, float | None]] = speech16k.FLITE_VOICES
"""flite voice -> (draw weight, mean F0 in Hz or None when the voice ignores the F0 target)."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--out",
        type=Path,
        default=Path("~/.cache/codec/tts16k").expanduser(),
        help="corpus folder (default %(default)s)",
    )
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--fortunes", type=Path, help="an unpacked Debian 'fortunes' package (default: apt-get download)")
    src.add_argument("--sentences", type=Path, help="a text file of English sentences, one a line, instead")
    ap.add_argument("--train-utterances", type=int, default=20000, help="training utterances (default %(default)s)")
    ap.add_argument("--eval-utterances", type=int, default=200, help="utterances each of dev and test (default 200)")
    ap.add_argument("--robust-limit", type=int, default=None, help="speak only the first N robust sentences")
    ap.add_argument("--real-manifest", type=Path, help="a speech16k manifest.jsonl: add its transcribed rows")
    ap.add_argument("--real-languages", default="en", help="languages of real rows to add (default %(default)s)")
    ap.add_argument("--real-limit", type=int, default=None, help="add at most N real rows")
    ap.add_argument("--seed", type=int, default=0, help="seed of the sentence, voice and style draws (default 0)")
    ap.add_argument("--jobs", type=int, default=2, help="synthesis processes (default %(default)s)")
    ap.add_argument("--nice", type=int, default=10, help="niceness added to the workers (default %(default)s)")
    ap.add_argument("--model", default="default", help="tokenizer for 'codec tokenize --model' (default %(default)s)")
    ap.add_argument("--tokens", type=Path, help="token shard folder (default OUT/tokens/<model>)")
    ap.add_argument("--token-workers", type=int, default=1, help="'codec tokenize --workers' (default 1)")
    ap.add_argument("--no-tokens", action="store_true", help="stop after pairs.jsonl")
    ap.add_argument("--no-apt", action="store_true", help="never call apt-get (use OUT/debs and --fortunes)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return ap.parse_args(argv)


def read_sentences(args: argparse.Namespace, out: Path) -> list[str]:
    """Raw English sentences from ``--sentences``, ``--fortunes`` or a downloaded fortunes package."""
    if args.sentences is not None:
        try:
            lines = args.sentences.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise CodecError(f"cannot read sentences: {error}", args.sentences) from None
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    root = args.fortunes
    if root is None:
        try:
            root = speech16k.PackageStore(out, use_apt=not args.no_apt).unpack("fortunes")
        except (speech16k.AptError, OSError) as error:
            raise CodecError(f"fortunes package unavailable ({error}); pass --fortunes or --sentences") from None
    if not (root / speech16k.FORTUNE_PACKAGES["en"][1]).is_dir():
        raise CodecError("not an unpacked fortunes package (no usr/share/games/fortunes)", root)
    return speech16k.load_sentences({"fortunes": root}).get("en", [])


def draw_style(rng: random.Random) -> tuple[str, float, float | None, dict[str, Any]]:
    """A voice, a duration stretch, an F0 target and their description, as speech16k draws them."""
    names = list(VOICES)
    voice = rng.choices(names, [VOICES[v][0] for v in names])[0]
    speed = round(rng.uniform(0.8, 1.25), 2)
    base = VOICES[voice][1]
    f0 = None if base is None else float(round(base * rng.uniform(0.8, 1.25)))
    return voice, 1.0 / speed, f0, {"voice": voice, "rate": speed, "pitch": f0}


def make_job(split: str, index: int, text: str, normalized: str, style: tuple, category: str | None = None) -> Any:
    """The ``PairJob`` of utterance ``index`` of ``split``; its key names voice, settings and text."""
    voice, stretch, f0, desc = style
    blob = json.dumps([voice, round(stretch, 4), f0, normalized]).encode("utf-8")
    key = f"audio/{split}/{voice}/{split}-{index:06d}-{hashlib.md5(blob).hexdigest()[:8]}.flac"
    return synth.PairJob(key, text, normalized, voice, stretch, f0, split, category, desc)


def normalized_pool(sentences: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """``(raw, normalised)`` sentences per split by speech16k's text hash; unreadable ones dropped."""
    pools: dict[str, list[tuple[str, str]]] = {"train": [], "dev": [], "test": []}
    for raw in dict.fromkeys(sentences):
        try:
            pools[speech16k.sentence_split(raw)].append((raw, normalize(raw, "en")))
        except CodecError:
            continue
    return pools


def held_out_pools(sentences: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """``normalized_pool`` with every dev or test sentence taken out of train."""
    pools = normalized_pool(sentences)
    heldout = {n for split in ("dev", "test") for _, n in pools[split]}
    pools["train"] = [(r, n) for r, n in pools["train"] if n not in heldout]
    return pools


def utterance_draws(
    args: argparse.Namespace,
    pools: dict[str, list[tuple[str, str]]],
    name: str,
    counts: Sequence[tuple[str, int]] | None = None,
) -> Iterator[tuple[str, int, str, str, random.Random]]:
    """``(split, index, raw, normalised, style generator)`` for ``counts`` utterances per split
    (default: the ``--train-utterances`` and ``--eval-utterances`` of each); sentences are reused in
    a seeded order when the count exceeds them, and ``name`` seeds the order and each utterance's
    generator."""
    order = random.Random(f"{name}-{args.seed}-order")
    if counts is None:
        counts = (("train", args.train_utterances), ("dev", args.eval_utterances), ("test", args.eval_utterances))
    for split, count in counts:
        pool = order.sample(pools[split], len(pools[split]))
        for i in range(count if pool else 0):
            raw, norm = pool[i % len(pool)]
            yield split, i, raw, norm, random.Random(f"{name}-{args.seed}-{split}-{i}")


def plan(args: argparse.Namespace, sentences: Sequence[str]) -> tuple[list[Any], list[tuple[str, str]]]:
    """Every utterance to speak, and the robust set as ``(category, sentence)``."""
    pools = held_out_pools(sentences)
    jobs = [
        make_job(split, i, raw, norm, draw_style(rng))
        for split, i, raw, norm, rng in utterance_draws(args, pools, "tts16k")
    ]
    robust = robustness.robust_sentences([r for s in ("dev", "test") for r, _ in pools[s]], args.seed)
    train_texts = {n for _, n in pools["train"]}
    names = list(VOICES)
    for i, (category, raw) in enumerate(robust[: args.robust_limit]):
        norm = normalize(raw, "en")
        if norm not in train_texts:
            neutral = (names[i % len(names)], 1.0, None, {"voice": names[i % len(names)], "rate": 1.0, "pitch": None})
            jobs.append(make_job("robust", i, raw, norm, neutral, category))
    return jobs, robust


class PairCache:
    """Append-only record of synthesised pairs (``OUT/cache/pairs.jsonl``); a record counts while its
    audio exists."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out / "cache" / "pairs.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, dict] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line torn by a kill
                self.records[record["key"]] = record

    def get(self, key: str) -> dict | None:
        """The valid record of ``key``, or None."""
        record = self.records.get(key)
        ok = record is not None and "error" not in record and (self.out / key).is_file()
        return record if ok else None

    def add(self, records: Sequence[dict]) -> None:
        """Append records, flushed at once."""
        with self.path.open("a", encoding="utf-8") as fh:
            for record in records:
                self.records[record["key"]] = record
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def synthesize_all(
    jobs: Sequence[Any], out: Path, workers: int, nice: int, quiet: bool, speak: Callable[..., dict] | None = None
) -> tuple[list[dict], dict]:
    """Records of all ``jobs`` in order (cached ones reused), and the timing of the new ones.

    ``speak(job, out_root)`` makes one record (default ``synth.synthesize_pair``)."""
    cache = PairCache(out)
    todo = [job for job in jobs if cache.get(job.key) is None]
    print(f"synthesis: {len(jobs)} utterances, {len(jobs) - len(todo)} already done, {len(todo)} to speak", flush=True)
    worker = functools.partial(speak or synth.synthesize_pair, out_root=str(out))
    start = time.monotonic()
    pending: list[dict] = []
    with tqdm(total=len(todo), desc="flite", unit="utt", disable=quiet or not todo) as bar:
        if workers > 1 and len(todo) > 1:
            pool = cf.ProcessPoolExecutor(workers, initializer=speech16k.init_worker, initargs=(nice,))
            results = pool.map(worker, todo, chunksize=4)
        else:
            pool, results = None, map(worker, todo)
        for record in results:
            pending.append(record)
            bar.update(1)
            if len(pending) >= 50:
                cache.add(pending)
                pending = []
        cache.add(pending)
        if pool is not None:
            pool.shutdown()
    wall = time.monotonic() - start
    records = [cache.records[job.key] for job in jobs]
    errors = [r for r in records if "error" in r]
    for record in errors[:3]:
        print(f"WARNING: {record['key']}: {record['error']}", file=sys.stderr)
    timing = {"new": len(todo), "wall_s": round(wall, 2), "errors": len(errors)}
    return [r for r in records if "error" not in r], timing


def real_rows(args: argparse.Namespace, out: Path, eval_texts: set[str]) -> list[dict]:
    """Transcribed rows of ``--real-manifest`` in ``--real-languages``, linked under OUT/audio/real."""
    if args.real_manifest is None:
        return []
    from codec.io.manifest import read_json_lines

    languages = {code.strip() for code in args.real_languages.split(",") if code.strip()}
    frontend = TextFrontend("flite")
    rows: list[dict] = []
    skipped = 0
    for _, row in read_json_lines(args.real_manifest):
        if not row.get("text") or row.get("language") not in languages or row.get("source") in NOT_REAL:
            continue
        if args.real_limit is not None and len(rows) >= args.real_limit:
            break
        source = args.real_manifest.parent / row["path"]
        key = "audio/real/" + row["path"].removeprefix("audio/")
        try:
            norm = frontend.normalize(row["text"], row["language"])
            phones = frontend.g2p.phonemize(norm, row["language"])
            if norm in eval_texts and row.get("split", "train") == "train":
                raise CodecError("a held-out sentence")
            link_atomic(source, out / key)
            seconds = row.get("duration") or sf.info(str(out / key)).duration
        except (CodecError, OSError, RuntimeError):
            skipped += 1
            continue
        rows.append(
            {
                "key": key,
                "path": key,
                "text": row["text"],
                "normalized": norm,
                "language": row["language"],
                "phones": phones,
                "durations": None,
                "duration": round(seconds, 5),
                "speaker": row.get("speaker"),
                "style": row.get("style"),
                "split": row.get("split") or "train",
                "category": None,
                "source": row.get("source"),
                "align": "mas",
            }
        )
    print(f"real speech: {len(rows)} transcribed rows added, {skipped} skipped", flush=True)
    return rows


def link_atomic(source: Path, target: Path) -> None:
    """Hard-link (or copy, across file systems) ``source`` to ``target`` via a temporary name."""
    if target.is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        os.link(source, tmp)
    except OSError:
        tmp.write_bytes(source.read_bytes())
    os.replace(tmp, target)


def tokenize(out: Path, args: argparse.Namespace, keys: Sequence[str]) -> dict:
    """Run ``codec tokenize OUT/pairs.jsonl --layout shards`` and check every key has its tokens."""
    from codec.corpus.token_dataset import TokenDataset

    folder = args.tokens or out / "tokens" / Path(args.model).name
    before = len(TokenDataset(folder)) if (folder / "index-r0.jsonl").exists() else 0
    cmd = [sys.executable, "-m", "codec.cli", "tokenize", str(out / "pairs.jsonl"), "-o", str(folder)]
    cmd += ["--layout", "shards", "--model", args.model, "--workers", str(args.token_workers)]
    print("tokens: " + " ".join(cmd[2:]), flush=True)
    start = time.monotonic()
    status = subprocess.run([*cmd, *(["-q"] if args.quiet else [])]).returncode
    wall = time.monotonic() - start
    have = set(TokenDataset(folder).keys) if (folder / "index-r0.jsonl").exists() else set()
    missing = [key for key in keys if key not in have]
    return {
        "folder": str(folder),
        "status": status,
        "new": len(have) - before,
        "wall_s": round(wall, 2),
        "missing": len(missing),
        "missing_keys": missing[:5],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the recipe; return the exit status."""
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    try:
        require_binary("flite", "flite")
        frontend = TextFrontend("flite")
        sentences = read_sentences(args, out)
        jobs, robust = plan(args, sentences)
        reporting.write_text_atomic(out / "robustness.txt", "".join(f"{c}\t{s}\n" for c, s in robust))
        rows, timing = synthesize_all(jobs, out, args.jobs, args.nice, args.quiet)
        eval_texts = {r["normalized"] for r in rows if r["split"] != "train"}
        rows += real_rows(args, out, eval_texts)
    except CodecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    reporting.write_manifests(out, rows, SPLITS)
    frontend.inventory.save(out / "inventory.json")
    tokens = None if args.no_tokens else tokenize(out, args, [r["key"] for r in rows])
    summary = reporting.summarize(rows, len(sentences), timing, tokens, time.monotonic() - start)
    reporting.write_summary(out, summary)
    return 0 if tokens is None or (tokens["status"] == 0 and tokens["missing"] == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
