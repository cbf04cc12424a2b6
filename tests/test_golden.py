"""Token files written by every released format version stay readable: a packed and a range-coded
``.tok`` file and a shard folder of each version in ``tests/golden/`` (0.1: before token
fingerprints; 0.2: with them), read back to the codes they were written from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from codec.corpus.token_dataset import TokenDataset
from codec.formats.entropy import load_code_stats
from codec.formats.tok_file import read_header
from codec.formats.tokens import Tokens

GOLDEN = Path(__file__).resolve().parent / "golden"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())
VERSIONS = ["0.1", "0.2"]


def expected_tokens(index: int) -> tuple[torch.Tensor, int]:
    item = EXPECTED["items"][index]
    return torch.tensor(item["codes"]), item["samples"]


@pytest.mark.parametrize("version", VERSIONS)
def test_packed_and_range_coded_files_read_back(version: str) -> None:
    pytest.importorskip("constriction")
    for name, index, stats in (("packed", 0, None), ("range", 2, load_code_stats(GOLDEN))):
        tokens = Tokens.load(GOLDEN / f"{name}-{version}.tok", code_stats=stats)
        codes, samples = expected_tokens(index)
        assert torch.equal(tokens.codes[0], codes)
        assert int(tokens.audio_lengths[0]) == samples
        assert (tokens.sample_rate, tokens.hop_length, tokens.codebook_size) == (16000, 320, 64)
        assert (tokens.model_name, tokens.fingerprint) == ("golden", EXPECTED["fingerprint"])
        if version == "0.1":
            assert tokens.token_fingerprint is None and tokens.min_codebooks is None
        else:
            assert (tokens.token_fingerprint, tokens.min_codebooks) == ("fedcba9876543210", 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_shard_folders_read_back(version: str) -> None:
    dataset = TokenDataset(GOLDEN / f"shards-{version}")
    assert dataset.keys == [item["key"] for item in EXPECTED["items"]]
    for index, item in enumerate(dataset):
        codes, samples = expected_tokens(index)
        assert torch.equal(item.codes, codes) and item.audio_length == samples


def test_version_0_2_headers_add_only_optional_keys() -> None:
    """0.2 writers add keys 0.1 readers ignore; every other header field is unchanged."""
    old, new = read_header(GOLDEN / "packed-0.1.tok"), read_header(GOLDEN / "packed-0.2.tok")
    assert set(new) - set(old) == {"token_fingerprint", "min_codebooks"}
    assert {k: v for k, v in new.items() if k in old} == old
