"""The token shard format: the model described once, records round-trip, damage is named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from codec.corpus.jobs import Job
from codec.corpus.token_dataset import TokenDataset
from codec.corpus.writers import TokenShards, read_index
from codec.errors import CodecError
from codec.formats.entropy import CodeStats, constriction_available
from codec.formats.shards import SHARD_MAGIC, read_record, read_shard_header
from codec.formats.tokens import Tokens

K, HOP, RATE = 1024, 320, 16000


def tokens(frames: int, seed: int, n_codebooks: int = 2, fingerprint: str = "ab12") -> Tokens:
    codes = torch.randint(0, K, (1, n_codebooks, frames), generator=torch.Generator().manual_seed(seed))
    return Tokens(
        codes=codes,
        code_lengths=torch.tensor([frames]),
        audio_lengths=torch.tensor([max(0, frames * HOP - 7)]),
        sample_rate=RATE,
        hop_length=HOP,
        codebook_size=K,
        model_name="m",
        fingerprint=fingerprint,
    )


ITEMS = {f"clip{i}": tokens(frames, i) for i, frames in enumerate([100, 1, 0, 37, 250])}


def write(folder: Path, items: dict[str, Tokens], code_stats: CodeStats | None = None, per_shard: int = 10) -> None:
    writer = TokenShards(folder, items_per_shard=per_shard, code_stats=code_stats)
    for key, item in items.items():
        writer.write(Job(Path(key), key, int(item.audio_lengths[0]) / RATE), item)
    writer.close()


def test_records_round_trip_and_store_only_codes(tmp_path: Path) -> None:
    write(tmp_path, ITEMS)
    dataset = TokenDataset(tmp_path)
    for item in dataset:
        assert torch.equal(item.codes, ITEMS[item.key].codes[0]), item.key
        assert item.audio_length == int(ITEMS[item.key].audio_lengths[0])
    (shard,) = tmp_path.glob("*.toks")
    header = read_shard_header(shard)
    assert header["fingerprint"] == "ab12" and header["coding"] == "packed"
    payload = sum((2 * int(t.code_lengths[0]) * 10 + 7) // 8 + 4 for t in ITEMS.values())  # 10 bits, + CRC
    overhead = shard.stat().st_size - payload
    assert overhead == 14 + len(json.dumps(header, separators=(",", ":")))  # the header, once
    assert overhead < min(len(t.to_bytes()) for t in ITEMS.values())


@pytest.mark.skipif(not constriction_available(), reason="constriction not installed")
def test_range_coded_records_need_their_statistics(tmp_path: Path) -> None:
    counts = np.ones((2, K), dtype=np.int64)
    counts[:, :10] = 1000
    stats = CodeStats(counts)
    write(tmp_path, ITEMS, stats)
    for item in TokenDataset(tmp_path, code_stats=stats):
        assert torch.equal(item.codes, ITEMS[item.key].codes[0]), item.key
    assert read_shard_header(next(tmp_path.glob("*.toks")))["stats_fingerprint"] == stats.fingerprint
    with pytest.raises(CodecError, match="needs the model's code statistics"):
        [TokenDataset(tmp_path)[i] for i in range(len(ITEMS))]


def test_a_shard_folder_holds_one_models_tokens(tmp_path: Path) -> None:
    """Another model's tokens are refused, in the same run and in a later one, before anything of
    theirs is written; a folder that mixes models anyway (written by hand) is refused on reading."""
    write(tmp_path, ITEMS)
    for writer in (TokenShards(tmp_path), TokenShards(tmp_path, rank=1)):
        with pytest.raises(CodecError, match=r"holds tokens of model .*ab12.*not of .*cd34"):
            writer.write(Job(Path("o.wav"), "other", 0.5), tokens(20, 9, fingerprint="cd34"))
        writer.close()
    assert len(read_index(tmp_path)) == len(ITEMS)
    other = tmp_path / "other"
    writer = TokenShards(other, rank=1)
    writer.write(Job(Path("o.wav"), "other", 0.5), tokens(20, 9, fingerprint="cd34"))
    writer.close()
    for name in ("shard-r1-000000.toks", "index-r1.jsonl"):
        (other / name).rename(tmp_path / name)
    with pytest.raises(CodecError, match="another model"):
        TokenDataset(tmp_path)


def test_damage_is_named(tmp_path: Path) -> None:
    write(tmp_path, ITEMS)
    (shard,) = tmp_path.glob("*.toks")
    entries = read_index(tmp_path)
    header = read_shard_header(shard)
    clean = shard.read_bytes()

    def damaged(position: int) -> None:
        data = bytearray(clean)
        data[position] ^= 0x01
        shard.write_bytes(bytes(data))

    damaged(entries["clip3"]["offset"] + 2)
    with pytest.raises(CodecError, match=r"clip3.*record is damaged"):
        read_record(shard, header, entries["clip3"])
    damaged(20)
    with pytest.raises(CodecError, match="shard header is damaged"):
        read_shard_header(shard)
    shard.write_bytes(b"RIFF" + clean[4:])
    with pytest.raises(CodecError, match="not a token shard"):
        read_shard_header(shard)
    shard.write_bytes(clean[:8])
    with pytest.raises(CodecError, match="truncated"):
        read_shard_header(shard)
    shard.write_bytes(clean[:-3])
    with pytest.raises(CodecError, match="shorter than its index"):
        read_record(shard, header, entries["clip4"])
    shard.write_bytes(clean)
    with pytest.raises(CodecError, match="index says"):
        read_record(shard, header, entries["clip0"] | {"frames": 99, "samples": 99 * HOP})
    with pytest.raises(CodecError, match="num_samples 31993 does not fit num_frames 99"):
        read_record(shard, header, entries["clip0"] | {"frames": 99})
    with pytest.raises(CodecError, match="n_codebooks"):
        read_record(shard, header, {k: v for k, v in entries["clip0"].items() if k != "n_codebooks"})
    assert clean.startswith(SHARD_MAGIC)


def test_malformed_index_and_headers_are_named(tmp_path: Path) -> None:
    write(tmp_path, ITEMS)
    (shard,) = tmp_path.glob("*.toks")
    header, entry = read_shard_header(shard), read_index(tmp_path)["clip0"]
    for key, bad in [("offset", -1), ("offset", "14"), ("bytes", None), ("frames", 1.5), ("n_codebooks", True)]:
        with pytest.raises(CodecError, match=rf"clip0.*damaged index entry: '{key}'"):
            read_record(shard, header, entry | {key: bad})
    with pytest.raises(CodecError, match="damaged index entry: 'samples'"):
        read_record(shard, header, {k: v for k, v in entry.items() if k != "samples"})
    with pytest.raises(CodecError, match="missing field 'fingerprint'"):
        read_record(shard, {k: v for k, v in header.items() if k != "fingerprint"}, entry)
    index = tmp_path / "index-r0.jsonl"
    lines = index.read_text()
    index.write_text("[1, 2]\n" + lines)
    with pytest.raises(CodecError, match="line 1: not an index entry"):
        TokenDataset(tmp_path)
    index.write_text(lines)
    shard.write_bytes(b"")
    with pytest.raises(CodecError, match="empty file"):
        read_shard_header(shard)


def test_a_folder_of_the_older_layout_is_refused(tmp_path: Path) -> None:
    write(tmp_path, ITEMS)
    (shard,) = tmp_path.glob("*.toks")
    shard.write_bytes(b"".join(item.to_bytes() for item in ITEMS.values()))  # .tok records back to back
    with pytest.raises(CodecError, match="older layout"):
        TokenShards(tmp_path)
    with pytest.raises(CodecError, match="older layout"):
        TokenDataset(tmp_path)[0]


def test_overwrite_replaces_the_folder_instead_of_indexing_keys_twice(tmp_path: Path) -> None:
    write(tmp_path, ITEMS)
    writer = TokenShards(tmp_path, items_per_shard=10, overwrite=True)
    assert not any(writer.is_done(key) for key in ITEMS)
    for key, item in ITEMS.items():
        writer.write(Job(Path(key), key, 0.1), item)
    writer.close()
    assert sorted(read_index(tmp_path)) == sorted(ITEMS)
    dataset = TokenDataset(tmp_path)
    assert all(torch.equal(dataset[dataset.keys.index(k)].codes, ITEMS[k].codes[0]) for k in ITEMS)


def test_two_writers_of_one_rank_are_refused_while_the_first_is_open(tmp_path: Path) -> None:
    first = TokenShards(tmp_path)
    with pytest.raises(CodecError, match="another process is writing rank 0"):
        TokenShards(tmp_path)
    TokenShards(tmp_path, rank=1).close()  # another rank's part is free
    first.close()
    TokenShards(tmp_path).close()  # released on close


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_a_restart_notices_an_indexed_shard_that_was_lost(tmp_path: Path, damage: str) -> None:
    write(tmp_path, ITEMS, per_shard=2)
    shard = sorted(tmp_path.glob("*.toks"))[1]
    if damage == "delete":
        shard.unlink()
    else:
        shard.write_bytes(shard.read_bytes()[:-3])
    with pytest.raises(
        CodecError, match=f"indexed shard {shard.name} is {'missing' if damage == 'delete' else 'truncated'}"
    ):
        TokenShards(tmp_path)
