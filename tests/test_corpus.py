"""Corpus-scale tokenization: length buckets, files and shards, restart after a kill, the token
``Dataset``, and a two-process ``codec tokenize`` whose union equals one ``codec encode``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from codec.api import Codec
from codec.cli.main import main
from codec.corpus.jobs import Job, length_batches, output_paths, plan_jobs, read_clip
from codec.corpus.run import encode_corpus
from codec.corpus.token_dataset import TokenDataset, TokenItem, collate_tokens
from codec.corpus.writers import TokenFiles, TokenShards, make_writer, read_index
from codec.errors import CodecError
from codec.formats.tokens import Tokens
from codec.loading import load_codec, save_pretrained

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000
# relative path: (seconds, sample rate, channels)
CORPUS = {
    "a/one.wav": (0.25, 16000, 1),
    "a/two.flac": (1.3, 16000, 1),
    "a/two.wav": (0.9, 22050, 2),
    "b/three.wav": (2.6, 16000, 1),
    "b/c/four.flac": (0.02, 8000, 1),
    "five.wav": (1.31, 44100, 2),
    "six.wav": (3.1, 16000, 1),
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = yaml.safe_load((ROOT / "recipes" / "codec" / "tiny-rvq.yaml").read_text())["model"]["codec"]
    return save_pretrained(Codec(**config).eval(), tmp_path_factory.mktemp("model") / "tiny-rvq")


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Codec:
    return load_codec(model_dir)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for name, (seconds, rate, channels) in CORPUS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * rng.standard_normal((int(seconds * rate), channels)).astype(np.float32), rate)
    return root


def alone(model: Codec, path: Path) -> torch.Tensor:
    """``(Q, T)`` codes of one file encoded by itself."""
    tokens = model.encode_file(path)
    return tokens.codes[0, :, : int(tokens.code_lengths[0])]


# ------------------------------------------------------------------------------------- planning


@settings(max_examples=60, deadline=None)
@given(
    seconds=st.lists(st.floats(0, 100, allow_nan=False, allow_subnormal=False), max_size=40),
    max_items=st.integers(1, 8),
    max_seconds=st.floats(1, 200, allow_subnormal=False),
)
def test_length_batches_cover_every_item_once_within_limits(
    seconds: list[float], max_items: int, max_seconds: float
) -> None:
    batches = length_batches(seconds, max_items, max_seconds)
    assert sorted(i for b in batches for i in b) == list(range(len(seconds)))
    for batch in batches:
        lengths = [seconds[i] for i in batch]
        assert lengths == sorted(lengths)
        assert len(batch) <= max_items
        assert len(batch) == 1 or len(batch) * max(lengths) <= max_seconds
    flat = [seconds[i] for b in batches for i in b]
    assert flat == sorted(flat)  # buckets follow length


def test_plan_jobs_reads_folders_manifests_and_files(corpus: Path, tmp_path: Path) -> None:
    jobs = plan_jobs([corpus])
    assert sorted(j.key for j in jobs) == sorted(CORPUS)
    assert {j.key: round(j.seconds, 2) for j in jobs} == {k: round(v[0], 2) for k, v in CORPUS.items()}
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"path": str(corpus / k), "duration": 9.0}) + "\n" for k in ["six.wav"]))
    (job,) = plan_jobs([manifest])
    assert job.source == corpus / "six.wav" and job.seconds == 9.0
    assert [j.key for j in plan_jobs([corpus / "five.wav"])] == ["five.wav"]
    with pytest.raises(CodecError, match=r"would both be written as 'five\.wav'"):
        plan_jobs([corpus / "five.wav", tmp_path / "m.jsonl", *_copy(corpus / "five.wav", tmp_path / "x")])
    with pytest.raises(CodecError, match="no such file or folder"):
        plan_jobs([tmp_path / "missing"])


def _copy(source: Path, folder: Path) -> list[Path]:
    folder.mkdir()
    (folder / source.name).write_bytes(source.read_bytes())
    return [folder / source.name]


def test_output_paths_mirror_keys_and_keep_extensions_that_collide(tmp_path: Path) -> None:
    paths = output_paths(list(CORPUS), tmp_path, ".tok")
    assert paths["a/one.wav"] == tmp_path / "a/one.tok"
    assert paths["a/two.flac"] == tmp_path / "a/two.flac.tok"
    assert paths["a/two.wav"] == tmp_path / "a/two.wav.tok"
    assert output_paths(["a/one.wav"], tmp_path / "x.tok", ".tok") == {"a/one.wav": tmp_path / "x.tok"}
    assert output_paths(["a/one.tok"], tmp_path, ".wav") == {"a/one.tok": tmp_path / "a/one.wav"}


# ---------------------------------------------------------------------------- files and shards


@pytest.mark.parametrize("workers", [0, 2])
def test_files_and_shards_hold_the_tokens_of_each_file_alone(
    model: Codec, corpus: Path, tmp_path: Path, workers: int
) -> None:
    jobs = plan_jobs([corpus])
    files = TokenFiles(output_paths([job.key for job in jobs], tmp_path / "files", ".tok"))
    shards = TokenShards(tmp_path / "shards", items_per_shard=3)
    for writer in (files, shards):
        report = encode_corpus(model, jobs, writer, batch_size=4, batch_seconds=5.0, workers=workers, progress=False)
        assert report.done == len(CORPUS) and not report.failures
        assert report.audio_seconds == pytest.approx(sum(round(s * RATE) / RATE for s, _, _ in CORPUS.values()), 1e-3)
    assert len(list((tmp_path / "shards").glob("shard-r0-*.toks"))) == 3  # 7 items, 3 per shard
    by_files = {item.key: item for item in TokenDataset(tmp_path / "files")}
    by_shards = {item.key: item for item in TokenDataset(tmp_path / "shards")}
    file_keys = {
        key: path.relative_to(tmp_path / "files").with_suffix("").as_posix() for key, path in files.paths.items()
    }
    assert sorted(by_shards) == sorted(CORPUS) and sorted(by_files) == sorted(file_keys.values())
    for key in CORPUS:
        expected = alone(model, corpus / key)
        assert torch.equal(by_shards[key].codes, expected), key
        assert torch.equal(by_files[file_keys[key]].codes, expected), key


class KilledError(Exception):
    pass


class KillAfter(TokenShards):
    """A shard writer whose process is 'killed' (an exception) after ``limit`` writes."""

    limit = 4

    def write(self, job: Job, tokens: Tokens) -> None:
        if self.limit == 0:
            raise KilledError
        self.limit -= 1
        super().write(job, tokens)


def test_shards_restart_after_a_kill_without_loss_or_duplicates(model: Codec, corpus: Path, tmp_path: Path) -> None:
    jobs = plan_jobs([corpus])
    out = tmp_path / "shards"
    with pytest.raises(KilledError):
        encode_corpus(model, jobs, KillAfter(out, items_per_shard=3), batch_size=2, batch_seconds=99, progress=False)
    first = read_index(out)
    assert 3 <= len(first) < len(CORPUS)  # what was flushed is kept
    # A torn index line and a shard without index lines, as a kill mid-write leaves them.
    with (out / "index-r0.jsonl").open("a") as handle:
        handle.write('{"key": "torn", "sha')
    (out / "shard-r0-000099.toks").write_bytes(b"partial")
    report = encode_corpus(model, jobs, TokenShards(out, items_per_shard=3), batch_size=2, progress=False)
    assert report.done == len(CORPUS) - len(first)
    lines = (out / "index-r0.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["key"] for line in lines) == sorted(CORPUS)  # each key once
    assert not (out / "shard-r0-000099.toks").exists()
    dataset = TokenDataset(out)
    for item in dataset:
        assert torch.equal(item.codes, alone(model, corpus / item.key)), item.key


def test_token_dataset_collates_and_reports_damage(model: Codec, corpus: Path, tmp_path: Path) -> None:
    jobs = plan_jobs([corpus])
    out = tmp_path / "shards"
    encode_corpus(model, jobs, TokenShards(out, items_per_shard=100), progress=False)
    dataset = TokenDataset(out, n_codebooks=2)
    assert dataset.keys == sorted(CORPUS)
    assert dataset.frames == [-(-round(CORPUS[k][0] * RATE) // model.hop_length) for k in dataset.keys]
    batch = collate_tokens([dataset[0], dataset[1]], pad_value=-1)
    assert batch.codes.shape == (2, 2, max(dataset.frames[:2]))
    assert batch.lengths.tolist() == dataset.frames[:2]
    short = int(batch.lengths.argmin())
    assert (batch.codes[short, :, batch.lengths[short] :] == -1).all()
    shard = next(out.glob("*.toks"))
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(CodecError, match=r"shard-r0-000000\.toks record"):
        [dataset[i] for i in range(len(dataset))]
    (tmp_path / "empty").mkdir()
    with pytest.raises(CodecError, match="no token files"):
        TokenDataset(tmp_path / "empty")


def test_codec_encode_shards_and_skips_done(
    model_dir: Path, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["encode", str(corpus), "-o", str(out), "--model", str(model_dir), "--layout", "shards", "--workers", "2"]
    assert main([*args, "--shard-items", "2", "-q"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"{len(CORPUS)} encoded, 0 failed (") and "h/min)" in err
    assert len(read_index(out)) == len(CORPUS)
    assert main([*args, "-q"]) == 0
    assert capsys.readouterr().err.startswith("0 encoded, 0 failed")
    assert len((out / "index-r0.jsonl").read_text().splitlines()) == len(CORPUS)
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["items"] == len(CORPUS) and info["shards"] == 4 and info["index_files"] == 1
    assert info["bytes"] == sum(p.stat().st_size for p in out.glob("*.toks"))
    assert info["hours"] * 3600 == pytest.approx(sum(v[0] for v in CORPUS.values()), abs=0.01)
    model = load_codec(model_dir)
    assert info["model"]["token_fingerprint"] == model.fingerprints().tokens
    assert (info["model"]["n_codebooks"], info["model"]["codebook_size"]) == (model.n_codebooks, model.codebook_size)
    # codec decode reads the shard folder: each record decodes as its own .tok file would
    assert main(["decode", str(out), "-o", str(tmp_path / "wav"), "--model", str(model_dir), "-q"]) == 0
    assert capsys.readouterr().err.strip() == f"{len(CORPUS)} decoded, 0 failed"
    for key, path in output_paths(list(CORPUS), tmp_path / "wav", ".wav").items():
        audio, rate = sf.read(path, dtype="float32")
        tokens = model.encode(read_clip(corpus / key, RATE), RATE)
        expected = model.decode(tokens)[0].numpy()
        assert rate == RATE and np.allclose(audio, expected, atol=1e-4), key


# ------------------------------------------------------------------------------- two processes


def run_codec(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    env.pop("MASTER_PORT", None)
    return subprocess.run(
        [sys.executable, "-m", "codec.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("layout", ["files", "shards"])
def test_two_process_tokenize_equals_one_process_encode(
    model_dir: Path, corpus: Path, tmp_path: Path, layout: str
) -> None:
    common = ["--model", str(model_dir), "--layout", layout, "--shard-items", "2", "--batch-size", "2", "-q"]
    single = run_codec(["encode", str(corpus), "-o", str(tmp_path / "one"), *common], tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = ["--trainer.devices", "2", "--trainer.accelerator", "cpu", "--trainer.strategy", "ddp"]
    double = run_codec(["tokenize", str(corpus), "-o", str(tmp_path / "two"), *common, *ddp], tmp_path)
    assert double.returncode == 0, double.stderr[-3000:]
    assert f"{len(CORPUS)} encoded, 0 failed on 2 process(es)" in double.stderr
    if layout == "shards":
        assert {p.name for p in (tmp_path / "two").glob("index-r*.jsonl")} == {"index-r0.jsonl", "index-r1.jsonl"}
    one = {item.key: item.codes for item in TokenDataset(tmp_path / "one")}
    two = {item.key: item.codes for item in TokenDataset(tmp_path / "two")}
    assert one.keys() == two.keys() and len(one) == len(CORPUS)
    assert all(torch.equal(one[k], two[k]) for k in one)
    if layout == "files":
        for path in (tmp_path / "one").rglob("*.tok"):
            assert path.read_bytes() == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()


@pytest.mark.parametrize("layout", ["files", "shards"])
def test_token_dataset_describes_its_model_and_checks_n_codebooks(
    model: Codec, corpus: Path, tmp_path: Path, layout: str
) -> None:
    jobs = plan_jobs([corpus])
    out = tmp_path / layout
    encode_corpus(model, jobs, make_writer(layout, out, jobs), progress=False)
    dataset = TokenDataset(out)
    digests = model.fingerprints()
    assert dataset.model == {
        "model_name": model.name,
        "fingerprint": digests.model,
        "token_fingerprint": digests.tokens,
        "min_codebooks": 1,
        "sample_rate": RATE,
        "hop_length": model.hop_length,
        "frame_rate": RATE / model.hop_length,
        "codebook_size": model.codebook_size,
        "n_codebooks": model.n_codebooks,
    }
    for bad in (0, model.n_codebooks + 1, True):
        with pytest.raises(CodecError, match=r"n_codebooks must be in 1\.\.4"):
            TokenDataset(out, n_codebooks=bad)
    assert TokenDataset(out, n_codebooks=1)[0].codes.shape[0] == 1


def test_token_dataset_refuses_a_prefix_that_is_no_code(model: Codec, corpus: Path, tmp_path: Path) -> None:
    """Tokens whose quantizer needs all its codebooks (min_codebooks = Q) refuse a shorter prefix."""
    jobs = plan_jobs([corpus])[:1]
    tokens = model.encode(read_clip(jobs[0].source, RATE), RATE)
    (tmp_path / "t").mkdir()
    replace(tokens, min_codebooks=4).save(tmp_path / "t" / "a.tok")
    with pytest.raises(CodecError, match=r"n_codebooks must be in 4\.\.4"):
        TokenDataset(tmp_path / "t", n_codebooks=2)


def test_token_folders_skip_leftover_temporary_files(
    model: Codec, model_dir: Path, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A half-written ``.name.tmp-*.tok`` left by a killed writer is neither an item nor a decode input."""
    jobs = plan_jobs([corpus])
    out = tmp_path / "files"
    encode_corpus(model, jobs, make_writer("files", out, jobs), progress=False)
    (out / "a" / ".one.tmp-0123456789ab.tok").write_bytes(b"CTOK\x01")
    assert len(TokenDataset(out)) == len(CORPUS)
    assert main(["decode", str(out), "-o", str(tmp_path / "wav"), "--model", str(model_dir), "-q"]) == 0
    assert capsys.readouterr().err.strip() == f"{len(CORPUS)} decoded, 0 failed"
    assert len(list((tmp_path / "wav").rglob("*.wav"))) == len(CORPUS)


def test_collate_refuses_items_with_different_codebook_counts() -> None:
    items = [
        TokenItem("a", torch.zeros(1, 3, dtype=torch.long), 960),
        TokenItem("b", torch.zeros(4, 3, dtype=torch.long), 960),
    ]
    with pytest.raises(ValueError, match=r"\[1, 4\] codebooks"):
        collate_tokens(items)
