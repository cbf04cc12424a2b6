"""Tests for the in-memory token batch and the ``.tok`` file format."""

from __future__ import annotations

import json
import math
import struct
import tempfile
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec.errors import CodecError
from codec.fingerprints import Fingerprints
from codec.formats.bitpack import pack_codes, unpack_codes
from codec.formats.tok_file import FORMAT_VERSION, MAGIC, read_header
from codec.formats.tokens import Tokens, check_compatible

FINGERPRINT = "0123456789abcdef0123456789abcdef"
CODEBOOK_SIZES = [2, 3, 1000, 1024, 4096, 65536]


def make_tokens(
    lengths: list[int],
    n_codebooks: int = 2,
    codebook_size: int = 1024,
    seed: int = 0,
    frames: int | None = None,
    fingerprint: str = FINGERPRINT,
    model_name: str = "test-model",
    sample_rate: int = 16000,
    hop_length: int = 320,
) -> Tokens:
    """Random tokens, zero past each item's length."""
    rng = np.random.default_rng(seed)
    frames = max(lengths, default=0) if frames is None else frames
    codes = rng.integers(0, codebook_size, size=(len(lengths), n_codebooks, frames))
    for item, length in enumerate(lengths):
        codes[item, :, length:] = 0
    return Tokens(
        codes=torch.from_numpy(codes),
        code_lengths=torch.tensor(lengths, dtype=torch.int64),
        audio_lengths=torch.tensor([length * hop_length - 7 if length else 0 for length in lengths], dtype=torch.int64),
        sample_rate=sample_rate,
        hop_length=hop_length,
        codebook_size=codebook_size,
        model_name=model_name,
        fingerprint=fingerprint,
    )


def craft(header: dict, payload: bytes, version: int = FORMAT_VERSION, crc: bool = True) -> bytes:
    """A hand-made token file with a valid checksum (unless ``crc`` is False)."""
    header_bytes = json.dumps(header).encode()
    body = MAGIC + struct.pack("<HI", version, len(header_bytes)) + header_bytes + payload
    return body + struct.pack("<I", zlib.crc32(body) if crc else 0)


def base_header(**changes: object) -> dict:
    header = {
        "format_version": 1,
        "model_name": "test-model",
        "fingerprint": FINGERPRINT,
        "sample_rate": 16000,
        "hop_length": 320,
        "frame_rate": 50.0,
        "n_codebooks": 1,
        "codebook_size": 1000,
        "bits_per_code": 10,
        "num_frames": 2,
        "num_samples": 640,
    }
    header.update(changes)
    return header


def header_length(data: bytes) -> int:
    return struct.unpack_from("<I", data, 6)[0]


# ---------------------------------------------------------------------------------------------- round trip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    codebook_size=st.sampled_from(CODEBOOK_SIZES),
    n_codebooks=st.integers(1, 8),
    lengths=st.lists(st.integers(0, 300), min_size=1, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip(codebook_size: int, n_codebooks: int, lengths: list[int], seed: int) -> None:
    tokens = make_tokens(lengths, n_codebooks, codebook_size, seed)
    with tempfile.TemporaryDirectory() as folder:
        loaded = []
        for index, item in enumerate(tokens.items()):
            path = Path(folder, f"item{index}.tok")
            item.save(path, meta={"source": f"clip {index}.wav"})
            back = Tokens.load(path)
            assert back == item
            assert back.codes.shape == (1, n_codebooks, lengths[index])
            # The codes take exactly ceil(Q * T * bits / 8) bytes: magic+version+length, header, codes, CRC.
            data = path.read_bytes()
            payload = math.ceil(n_codebooks * lengths[index] * item.bits_per_code / 8)
            assert len(data) == 10 + header_length(data) + payload + 4
            assert read_header(path)["meta"] == {"source": f"clip {index}.wav"}
            loaded.append(back)
    assert Tokens.cat(loaded) == tokens


@settings(max_examples=30, deadline=None)
@given(bits=st.integers(1, 32), count=st.integers(0, 50), seed=st.integers(0, 2**32 - 1))
def test_packing_matches_a_plain_bit_string(bits: int, count: int, seed: int) -> None:
    codes = np.random.default_rng(seed).integers(0, 2**bits, size=count, dtype=np.int64)
    packed = pack_codes(codes, bits)
    expected_bits = "".join(format(int(code), f"0{bits}b") for code in codes)
    expected_bits += "0" * (-len(expected_bits) % 8)
    expected = bytes(int(expected_bits[i : i + 8], 2) for i in range(0, len(expected_bits), 8))
    assert packed == expected
    assert np.array_equal(unpack_codes(packed, count, bits), codes)


def test_documented_layout_example() -> None:
    assert pack_codes(np.array([[1, 2], [7, 0]]), 3) == bytes([0x2B, 0x80])


def test_file_layout(tmp_path: Path) -> None:
    tokens = make_tokens([3], n_codebooks=2, codebook_size=8)
    path = tmp_path / "x.tok"
    tokens.save(path)
    data = path.read_bytes()
    assert data[:4] == b"CTOK"
    assert struct.unpack_from("<H", data, 4)[0] == FORMAT_VERSION
    length = header_length(data)
    header = json.loads(data[10 : 10 + length])
    assert header["bits_per_code"] == 3 and header["num_frames"] == 3 and header["n_codebooks"] == 2
    assert header["frame_rate"] == 50.0 and header["num_samples"] == 3 * 320 - 7
    assert "meta" not in header
    payload = data[10 + length : -4]
    assert payload == pack_codes(tokens.codes[0].numpy(), 3)
    assert len(payload) == math.ceil(2 * 3 * 3 / 8)
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])


def test_large_packing_is_vectorised() -> None:
    codes = np.random.default_rng(1).integers(0, 4096, size=3_000_001)
    packed = pack_codes(codes, 12)
    assert len(packed) == math.ceil(3_000_001 * 12 / 8)
    assert np.array_equal(unpack_codes(packed, codes.size, 12), codes)


# ---------------------------------------------------------------------------------------------- in memory


def test_properties() -> None:
    tokens = make_tokens([5, 3], n_codebooks=4, codebook_size=1000, sample_rate=24000, hop_length=320)
    assert len(tokens) == tokens.batch_size == 2
    assert tokens.n_codebooks == 4
    assert tokens.frame_rate == 75.0
    assert tokens.bits_per_code == 10
    assert tokens.bitrate == pytest.approx(75.0 * 4 * math.log2(1000))
    assert make_tokens([1], codebook_size=2).bits_per_code == 1
    assert make_tokens([1], codebook_size=1).bits_per_code == 1
    assert make_tokens([1], codebook_size=4096).bits_per_code == 12
    assert make_tokens([1], codebook_size=4097).bits_per_code == 13


def test_getitem_items_and_cat() -> None:
    tokens = make_tokens([5, 0, 3])
    assert tokens[-1] == tokens[2]
    assert tokens[1].codes.shape == (1, 2, 0)
    assert tokens[2].codes.shape == (1, 2, 3)
    assert torch.equal(tokens[2].codes[0], tokens.codes[2, :, :3])
    with pytest.raises(IndexError):
        tokens[3]
    assert Tokens.cat(list(tokens.items())) == tokens
    assert Tokens.cat([tokens, tokens]).batch_size == 6
    assert tokens.to("cpu") == tokens


def test_padding_is_zeroed() -> None:
    codes = torch.full((2, 1, 4), 7, dtype=torch.int64)
    tokens = Tokens(codes, torch.tensor([4, 2]), torch.tensor([4, 2]), 16000, 1, 8, "m", "ab")
    assert tokens.codes[1, 0].tolist() == [7, 7, 0, 0]
    assert codes[1, 0].tolist() == [7, 7, 7, 7]  # the caller's tensor is not modified


def test_cat_refuses_mixed_models() -> None:
    with pytest.raises(ValueError, match="cannot mix"):
        Tokens.cat([make_tokens([2]), make_tokens([2], fingerprint="ff")])
    with pytest.raises(ValueError, match="cannot mix"):
        Tokens.cat([make_tokens([2]), make_tokens([2], hop_length=160)])
    with pytest.raises(ValueError, match="cannot mix"):
        Tokens.cat([make_tokens([2]), make_tokens([2], n_codebooks=3)])
    with pytest.raises(ValueError):
        Tokens.cat([])


def test_save_requires_batch_of_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch of one"):
        make_tokens([2, 2]).save(tmp_path / "x.tok")
    with pytest.raises(ValueError, match="JSON"):
        make_tokens([2]).save(tmp_path / "x.tok", meta={"bad": object()})
    assert not (tmp_path / "x.tok").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"codes": torch.zeros(2, 3, dtype=torch.int64)}, "shape"),
        ({"codes": torch.zeros(1, 1, 3, dtype=torch.int32)}, "int64"),
        ({"codes": torch.full((1, 1, 3), 1024)}, r"\[0, 1024\)"),
        ({"codes": torch.full((1, 1, 3), -1)}, r"\[0, 1024\)"),
        ({"codes": torch.zeros(1, 0, 3, dtype=torch.int64)}, "codebook"),
        ({"code_lengths": torch.tensor([4])}, "code_lengths"),
        ({"code_lengths": torch.tensor([1, 1])}, "code_lengths"),
        ({"audio_lengths": torch.tensor([-1])}, "audio_lengths"),
        ({"codebook_size": 0}, "codebook_size"),
        ({"codebook_size": 2**32 + 1}, "codebook_size"),
        ({"sample_rate": 16000.0}, "sample_rate"),
        ({"hop_length": True}, "hop_length"),
        ({"fingerprint": "XYZ"}, "fingerprint"),
        ({"model_name": ""}, "model_name"),
    ],
)
def test_validation(changes: dict, message: str) -> None:
    fields = {
        "codes": torch.zeros(1, 1, 3, dtype=torch.int64),
        "code_lengths": torch.tensor([3]),
        "audio_lengths": torch.tensor([960]),
        "sample_rate": 16000,
        "hop_length": 320,
        "codebook_size": 1024,
        "model_name": "m",
        "fingerprint": "abc",
    }
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        Tokens(**fields)


# ---------------------------------------------------------------------------------------------- damaged files


def assert_fails(path: Path, message: str) -> None:
    with pytest.raises(CodecError, match=message) as caught:
        Tokens.load(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert caught.value.path == str(path)


@pytest.fixture
def good_file(tmp_path: Path) -> bytes:
    path = tmp_path / "good.tok"
    make_tokens([40], n_codebooks=3, codebook_size=1000).save(path)
    return path.read_bytes()


def test_missing_and_folder(tmp_path: Path) -> None:
    assert_fails(tmp_path / "missing.tok", "no such file")
    assert_fails(tmp_path, "not a file")


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (b"", "empty file"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "bad magic"),
        (b"ctok" + bytes(40), "bad magic"),
        (b"CT", "truncated"),
        (b"CTOK\x01\x00\x10", "truncated"),
    ],
)
def test_not_a_token_file(tmp_path: Path, contents: bytes, message: str) -> None:
    path = tmp_path / "x.tok"
    path.write_bytes(contents)
    assert_fails(path, message)


def test_truncated_everywhere(tmp_path: Path, good_file: bytes) -> None:
    length = header_length(good_file)
    payload = math.ceil(3 * 40 * 10 / 8)
    cases = {
        8: "truncated: file is only 8 bytes",
        10 + length // 2: f"truncated: expected {length} bytes of header, found {length // 2}",
        10 + length: f"truncated: expected {payload} bytes of codes, found 0",
        10 + length + 17: f"truncated: expected {payload} bytes of codes, found 17",
        len(good_file) - 4: "truncated: expected a 4-byte checksum, found 0",
        len(good_file) - 1: "truncated: expected a 4-byte checksum, found 3",
    }
    path = tmp_path / "cut.tok"
    for size, message in cases.items():
        path.write_bytes(good_file[:size])
        assert_fails(path, message)


def test_trailing_bytes(tmp_path: Path, good_file: bytes) -> None:
    path = tmp_path / "long.tok"
    path.write_bytes(good_file + b"\x00")
    assert_fails(path, "1 unexpected byte")


@pytest.mark.parametrize("where", ["payload", "header_value", "crc"])
def test_flipped_byte(tmp_path: Path, good_file: bytes, where: str) -> None:
    data = bytearray(good_file)
    length = header_length(good_file)
    if where == "payload":
        position = 10 + length + 20
    elif where == "header_value":
        position = 10 + good_file[10 : 10 + length].index(b"test-model")  # stays valid JSON
    else:
        position = len(data) - 2
    data[position] ^= 0x01
    path = tmp_path / "flip.tok"
    path.write_bytes(bytes(data))
    assert_fails(path, "checksum mismatch")


def test_unsupported_version(tmp_path: Path, good_file: bytes) -> None:
    path = tmp_path / "v7.tok"
    path.write_bytes(good_file[:4] + struct.pack("<H", 7) + good_file[6:])
    assert_fails(path, "unsupported format version 7")


def test_header_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.tok"
    body = MAGIC + struct.pack("<HI", 1, 6) + b"{nope!"
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    assert_fails(path, "damaged header: not valid UTF-8 JSON")
    body = MAGIC + struct.pack("<HI", 1, 3) + b"\xff\xfe\x00"
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    assert_fails(path, "damaged header: not valid UTF-8 JSON")
    path.write_bytes(craft([1, 2], b""))  # type: ignore[arg-type]
    assert_fails(path, "not a JSON object")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sample_rate": "16000"}, "'sample_rate' must be int"),
        ({"hop_length": 0}, "'hop_length' must be >= 1"),
        ({"n_codebooks": True}, "'n_codebooks' must be int"),
        ({"num_frames": 2.0}, "'num_frames' must be int"),
        ({"codebook_size": 2**40}, "'codebook_size' must be in"),
        ({"bits_per_code": 12}, "bits_per_code 12 does not match"),
        ({"frame_rate": 49.0}, "frame_rate 49.0 does not match"),
        ({"frame_rate": "50"}, "'frame_rate' must be number"),
        ({"fingerprint": "not hex"}, "not lower-case hex"),
        ({"model_name": ""}, "'model_name' is empty"),
        ({"format_version": 2}, "format_version 2 differs"),
        ({"meta": [1]}, "'meta' must be an object"),
        ({"num_samples": None}, "'num_samples' must be int"),
    ],
)
def test_bad_header_fields(tmp_path: Path, changes: dict, message: str) -> None:
    path = tmp_path / "fields.tok"
    path.write_bytes(craft(base_header(**changes), pack_codes(np.array([1, 2]), 10)))
    assert_fails(path, message)


def test_missing_header_field(tmp_path: Path) -> None:
    header = base_header()
    del header["hop_length"]
    path = tmp_path / "missing-field.tok"
    path.write_bytes(craft(header, pack_codes(np.array([1, 2]), 10)))
    assert_fails(path, "missing field 'hop_length'")


def test_code_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "range.tok"
    path.write_bytes(craft(base_header(), pack_codes(np.array([999, 1023]), 10)))
    assert_fails(path, "code 1023 at codebook 0, frame 1 is not below codebook_size 1000")
    path.write_bytes(craft(base_header(), pack_codes(np.array([999, 5]), 10)))
    assert Tokens.load(path).codes.tolist() == [[[999, 5]]]


def test_crafted_checksum_zero_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "crc.tok"
    path.write_bytes(craft(base_header(), pack_codes(np.array([1, 2]), 10), crc=False))
    assert_fails(path, "checksum mismatch")


def test_unknown_header_keys_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "extra.tok"
    path.write_bytes(craft(base_header(future_field=[1, 2, 3]), pack_codes(np.array([1, 2]), 10)))
    assert Tokens.load(path).audio_lengths.tolist() == [640]


def test_save_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "x.tok"
    make_tokens([4]).save(path)
    make_tokens([6], seed=3).save(path)
    assert Tokens.load(path) == make_tokens([6], seed=3)
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.tok"]


# ---------------------------------------------------------------------------------------------- compatibility


def test_check_compatible_matches_legacy_files_by_the_legacy_digest() -> None:
    """Tokens without a token fingerprint (files of versions before 0.2) are matched by their
    ``fingerprint`` against the model's legacy digest."""
    tokens = make_tokens([3])
    assert tokens.token_fingerprint is None
    digests = Fingerprints(model="aaaa", tokens="bbbb", legacy=FINGERPRINT)
    model = {"fingerprints": digests, "sample_rate": 16000, "hop_length": 320, "codebook_size": 1024}
    check_compatible(tokens, model_name="test-model", **model)
    check_compatible(tokens, model_name="renamed-copy", **model)
    with pytest.raises(
        CodecError, match=r"made by model test-model \(fingerprint 0123456789ab…\), not by other"
    ) as caught:
        check_compatible(
            tokens, model_name="other", path="a.tok", **{**model, "fingerprints": replace(digests, legacy="ff")}
        )
    assert str(caught.value).startswith("a.tok: ")
    with pytest.raises(CodecError, match="hop_length 320 but model test-model has 160"):
        check_compatible(tokens, model_name="test-model", **{**model, "hop_length": 160})


def test_check_compatible_decides_by_the_token_fingerprint() -> None:
    """With a token fingerprint, the model's token digest decides: another model digest (a renamed
    or decoder-fine-tuned model) still reads the tokens, another token digest does not."""
    tokens = replace(make_tokens([3]), token_fingerprint="beef")
    model = {"sample_rate": 16000, "hop_length": 320, "codebook_size": 1024, "model_name": "m"}
    check_compatible(tokens, fingerprints=Fingerprints(model="1234", tokens="beef", legacy="5678"), **model)
    with pytest.raises(CodecError, match=r"fingerprint beef\), not by m \(fingerprint cafe"):
        check_compatible(
            tokens, fingerprints=Fingerprints(model=FINGERPRINT, tokens="cafe", legacy=FINGERPRINT), **model
        )
