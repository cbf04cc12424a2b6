"""Entropy-coded token files: code statistics, the range-coded format (version 2) and the CLI."""

from __future__ import annotations

import json
import math
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec.api import Codec
from codec.cli.main import main
from codec.errors import CodecError
from codec.formats.bitpack import pack_codes
from codec.formats.entropy import CODE_STATS_FILE, CodeStats, load_code_stats, range_encode, save_code_stats
from codec.formats.fit_stats import fit_code_stats
from codec.formats.tok_file import ENTROPY_FORMAT_VERSION, FORMAT_VERSION, MAGIC, read_header
from codec.formats.tokens import Tokens
from codec.io.audio import read_audio, write_audio
from codec.loading import load_folder, save_pretrained

pytest.importorskip("constriction")

RECIPES = Path(__file__).resolve().parent.parent / "recipes" / "codec"
FINGERPRINT = "0123456789abcdef"


def skewed(codebook_size: int) -> np.ndarray:
    """A Zipf-like distribution over ``K`` codes (a few codes dominate, as in a trained codec)."""
    weights = 1.0 / np.arange(1, codebook_size + 1) ** 1.3
    return weights / weights.sum()


def draw(rng: np.random.Generator, probabilities: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Codes drawn independently from ``probabilities`` (int64)."""
    return rng.choice(len(probabilities), size=shape, p=probabilities).astype(np.int64)


def make_tokens(codes: np.ndarray, codebook_size: int, hop_length: int = 320) -> Tokens:
    """A batch of one from ``(Q, T)`` codes."""
    frames = codes.shape[1]
    return Tokens(
        codes=torch.from_numpy(codes[None]),
        code_lengths=torch.tensor([frames]),
        audio_lengths=torch.tensor([frames * hop_length]),
        sample_rate=16000,
        hop_length=hop_length,
        codebook_size=codebook_size,
        model_name="test-model",
        fingerprint=FINGERPRINT,
    )


def skewed_stats(codebook_size: int, n_codebooks: int = 4, samples: int = 5000, seed: int = 0) -> CodeStats:
    """Statistics counted on a sample of skewed codes (rare codes may have count 0)."""
    rng = np.random.default_rng(seed)
    counts = np.stack(
        [np.bincount(draw(rng, skewed(codebook_size), (samples,)), minlength=codebook_size) for _ in range(n_codebooks)]
    )
    return CodeStats(counts, model_name="test-model", model_fingerprint=FINGERPRINT)


def header_length(data: bytes) -> int:
    return struct.unpack_from("<I", data, 6)[0]


def split(data: bytes) -> tuple[dict, bytes]:
    """Header and payload of ``.tok`` contents."""
    length = header_length(data)
    return json.loads(data[10 : 10 + length]), data[10 + length : -4]


def reseal(data: bytes) -> bytes:
    """Recompute the checksum of (modified) ``.tok`` contents."""
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


def empirical_entropy_bits(codes: np.ndarray, codebook_size: int) -> float:
    """Total plug-in entropy in bits of each codebook's codes, summed over codebooks."""
    total = 0.0
    for row in codes:
        counts = np.bincount(row, minlength=codebook_size)
        p = counts[counts > 0] / row.size
        total += -row.size * float((p * np.log2(p)).sum())
    return total


# ---------------------------------------------------------------------------------------------- code statistics


def test_code_stats_smoothing_and_fingerprint() -> None:
    counts = np.array([[5, 0, 3, 0], [0, 0, 0, 8]])
    stats = CodeStats(counts)
    probabilities = stats.probabilities()
    assert (probabilities > 0).all()
    np.testing.assert_allclose(probabilities[0], [6 / 12, 1 / 12, 4 / 12, 1 / 12])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert len(stats.fingerprint) == 16 and int(stats.fingerprint, 16) >= 0
    assert CodeStats(counts.copy(), model_name="other").fingerprint == stats.fingerprint  # metadata is not hashed
    assert CodeStats(counts + 1).fingerprint != stats.fingerprint
    assert CodeStats(counts - counts + 1, smoothing=6).fingerprint == CodeStats(counts - counts + 2, 5).fingerprint
    assert stats.bits_per_code()[1] == pytest.approx(-math.log2(9 / 12))
    assert CodeStats(np.zeros((1, 8), dtype=np.int64)).bits_per_code()[0] == 3.0
    with pytest.raises(ValueError):
        stats.counts[0, 0] = 1  # read-only
    for bad in (np.zeros(4, dtype=np.int64), -np.ones((1, 4), dtype=np.int64), np.ones((1, 4)), np.ones((0, 4), int)):
        with pytest.raises(ValueError):
            CodeStats(bad)
    with pytest.raises(ValueError, match="smoothing"):
        CodeStats(counts, smoothing=0)
    with pytest.raises(ValueError, match="up to"):
        CodeStats(np.zeros((1, 2**20 + 1), dtype=np.int64))


def test_code_stats_file_round_trip(tmp_path: Path) -> None:
    stats = skewed_stats(64, n_codebooks=2)
    path = save_code_stats(tmp_path, stats)
    assert path == tmp_path / CODE_STATS_FILE
    assert load_code_stats(tmp_path) == stats == load_code_stats(path)
    with pytest.raises(CodecError, match="no such file"):
        load_code_stats(tmp_path / "missing.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_code_stats(empty) is None
    data = json.loads(path.read_text())
    assert data["fingerprint"] == stats.fingerprint and data["n_codebooks"] == 2 and data["codebook_size"] == 64
    for change, message in [
        ({"format_version": 9}, "unsupported code statistics version 9"),
        ({"fingerprint": "ffff"}, "'fingerprint' is"),
        ({"counts": [[1, 2], [3]]}, "differ in length"),
        ({"counts": [[1, -2]]}, "non-negative"),
        ({"smoothing": 0}, "smoothing"),
    ]:
        path.write_text(json.dumps({**data, **change}))
        with pytest.raises(CodecError, match=message) as caught:
            load_code_stats(path)
        assert caught.value.path == str(path)
    path.write_text("{oops")
    with pytest.raises(CodecError, match="not valid JSON"):
        load_code_stats(tmp_path)


# ---------------------------------------------------------------------------------------------- round trip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    codebook_size=st.sampled_from([1, 2, 3, 64, 1000, 4096]),
    n_codebooks=st.integers(1, 4),
    frames=st.integers(0, 300),
    uniform=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip(codebook_size: int, n_codebooks: int, frames: int, uniform: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    probabilities = np.full(codebook_size, 1 / codebook_size) if uniform else skewed(codebook_size)
    codes = draw(rng, probabilities, (n_codebooks, frames))
    stats = skewed_stats(codebook_size, n_codebooks=4, samples=2000, seed=seed % 7)  # fitted elsewhere
    tokens = make_tokens(codes, codebook_size)
    data = tokens.to_bytes(meta={"source": "x.wav"}, code_stats=stats)
    assert Tokens.from_bytes(data, code_stats=stats) == tokens
    assert data[:4] == MAGIC and struct.unpack_from("<H", data, 4)[0] == ENTROPY_FORMAT_VERSION
    header, payload = split(data)
    assert header["format_version"] == 2 and header["coding"] == "range" and header["meta"] == {"source": "x.wav"}
    assert header["stats_fingerprint"] == stats.fingerprint and header["payload_bytes"] == len(payload)
    assert payload == range_encode(codes, stats) and len(payload) % 4 == 0
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])
    if frames == 0 or codebook_size == 1:
        assert payload == b""


def test_layout_is_codebook_major_constriction_words() -> None:
    """The documented payload: one RangeEncoder, codebook 0's codes then codebook 1's, LE uint32 words."""
    import constriction

    stats = CodeStats(np.array([[9, 1, 0, 0], [0, 0, 1, 9]]))
    codes = np.array([[0, 0, 1, 0, 2], [3, 3, 3, 0, 3]])
    encoder = constriction.stream.queue.RangeEncoder()
    for q in range(2):
        model = constriction.stream.model.Categorical(stats.probabilities()[q], perfect=False)
        encoder.encode(codes[q].astype(np.int32), model)
    expected = encoder.get_compressed().astype("<u4").tobytes()
    _, payload = split(make_tokens(codes, 4).to_bytes(code_stats=stats))
    assert payload == expected


def test_skewed_codes_compress_close_to_their_entropy() -> None:
    codebook_size, n_codebooks, frames = 1024, 2, 20000
    rng = np.random.default_rng(1)
    codes = draw(rng, skewed(codebook_size), (n_codebooks, frames))
    stats = skewed_stats(codebook_size, n_codebooks, samples=200_000, seed=2)
    tokens = make_tokens(codes, codebook_size)
    _, packed = split(tokens.to_bytes())
    _, ranged = split(tokens.to_bytes(code_stats=stats))
    assert len(packed) == math.ceil(n_codebooks * frames * 10 / 8)
    assert len(ranged) < 0.8 * len(packed)
    entropy_bytes = empirical_entropy_bits(codes, codebook_size) / 8
    assert entropy_bytes * 0.99 < len(ranged) <= 1.05 * entropy_bytes + 8


def test_coded_bits_predict_the_payload_and_bound_the_entropy() -> None:
    """``coded_bits`` is the cross-entropy the range coder reaches: its payload matches it, and it is
    never below the codes' own entropy (Gibbs); on the fitted counts it equals ``bits_per_code``."""
    codebook_size, frames = 256, 5000
    codes = draw(np.random.default_rng(4), skewed(codebook_size), (2, frames))
    stats = skewed_stats(codebook_size, 3, samples=50_000, seed=5)
    counts = np.stack([np.bincount(row, minlength=codebook_size) for row in codes])
    bits = stats.coded_bits(counts)
    assert bits.shape == (2,)
    _, ranged = split(make_tokens(codes, codebook_size).to_bytes(code_stats=stats))
    expected = bits.sum() * frames / 8
    assert 0.995 * expected <= len(ranged) <= 1.01 * expected + 8
    assert bits.sum() * frames >= empirical_entropy_bits(codes, codebook_size) - 1e-6
    np.testing.assert_allclose(stats.coded_bits(stats.counts), stats.bits_per_code())
    with pytest.raises(ValueError, match="codebooks"):
        stats.coded_bits(np.zeros((4, codebook_size)))


def test_uniform_codes_cost_no_more_than_log2_k() -> None:
    codebook_size = 1000  # packed: 10 bits per code, range-coded with uniform statistics: log2(1000) = 9.97
    codes = draw(np.random.default_rng(3), np.full(codebook_size, 1e-3), (2, 3000))
    stats = CodeStats(np.zeros((2, codebook_size), dtype=np.int64))
    _, ranged = split(make_tokens(codes, codebook_size).to_bytes(code_stats=stats))
    assert len(ranged) <= math.ceil(codes.size * math.log2(codebook_size) / 8) + 8


def test_fewer_codebooks_than_the_statistics_and_mismatched_shapes() -> None:
    stats = skewed_stats(64, n_codebooks=4)
    tokens = make_tokens(draw(np.random.default_rng(0), skewed(64), (2, 50)), 64)
    assert Tokens.from_bytes(tokens.to_bytes(code_stats=stats), code_stats=stats) == tokens
    with pytest.raises(ValueError, match="codebooks of 64 codes"):
        make_tokens(np.zeros((1, 5), dtype=np.int64), 128).to_bytes(code_stats=stats)
    with pytest.raises(ValueError, match="5 codebooks"):
        make_tokens(np.zeros((5, 5), dtype=np.int64), 64).to_bytes(code_stats=stats)


# ---------------------------------------------------------------------------------------------- files and errors


@pytest.fixture
def stats() -> CodeStats:
    return skewed_stats(1000, n_codebooks=3)


@pytest.fixture
def ranged_file(tmp_path: Path, stats: CodeStats) -> Path:
    path = tmp_path / "ranged.tok"
    make_tokens(draw(np.random.default_rng(5), skewed(1000), (3, 120)), 1000).save(path, code_stats=stats)
    return path


def assert_fails(path: Path, message: str, code_stats: CodeStats | None = None) -> None:
    with pytest.raises(CodecError, match=message) as caught:
        Tokens.load(path, code_stats=code_stats)
    assert str(caught.value).startswith(f"{path}: ")
    assert caught.value.path == str(path)


def test_load_range_coded_file(ranged_file: Path, stats: CodeStats) -> None:
    tokens = Tokens.load(ranged_file, code_stats=stats)
    assert tokens.codes.shape == (1, 3, 120)
    header = read_header(ranged_file)  # checked without decoding: no statistics needed
    assert header["coding"] == "range" and header["stats_fingerprint"] == stats.fingerprint
    assert read_header(ranged_file, code_stats=stats) == header


def test_version_1_files_still_load(tmp_path: Path, stats: CodeStats) -> None:
    tokens = make_tokens(draw(np.random.default_rng(6), skewed(1000), (3, 40)), 1000)
    path = tmp_path / "packed.tok"
    tokens.save(path)  # no statistics: the version-1 layout, byte for byte
    data = path.read_bytes()
    assert struct.unpack_from("<H", data, 4)[0] == FORMAT_VERSION == 1
    header, payload = split(data)
    assert "coding" not in header and payload == pack_codes(tokens.codes[0].numpy(), 10)
    assert Tokens.load(path) == tokens == Tokens.load(path, code_stats=stats)
    # A version-2 file may hold packed codes too.
    header.update(format_version=2, coding="packed")
    header_bytes = json.dumps(header).encode()
    body = MAGIC + struct.pack("<HI", 2, len(header_bytes)) + header_bytes + payload
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    assert Tokens.load(path) == tokens


def test_missing_or_wrong_statistics(ranged_file: Path, stats: CodeStats) -> None:
    assert_fails(ranged_file, "entropy-coded: needs the model's code statistics")
    other = skewed_stats(1000, n_codebooks=3, seed=9)
    assert_fails(ranged_file, f"entropy-coded with code statistics {stats.fingerprint}, not with the given", other)
    narrow = CodeStats(stats.counts[:2])
    data = ranged_file.read_bytes().replace(stats.fingerprint.encode(), narrow.fingerprint.encode())
    ranged_file.write_bytes(reseal(data))
    assert_fails(ranged_file, "2 x 1000 codes cannot decode 3 x 1000", narrow)


def test_damaged_range_coded_files(tmp_path: Path, ranged_file: Path, stats: CodeStats) -> None:
    good = ranged_file.read_bytes()
    header, payload = split(good)
    start = 10 + header_length(good)
    path = tmp_path / "bad.tok"
    flipped = bytearray(good)
    flipped[start + 3] ^= 0x10
    path.write_bytes(bytes(flipped))
    assert_fails(path, "checksum mismatch", stats)
    path.write_bytes(reseal(bytes(flipped)))  # a valid checksum over damaged words
    assert_fails(path, "damaged payload", stats)
    path.write_bytes(good[: start + len(payload) - 4])
    assert_fails(path, f"truncated: expected {len(payload)} bytes of codes", stats)

    def with_header(**changes: object) -> bytes:
        new = json.dumps({**header, **changes}).encode()
        body = good[:6] + struct.pack("<I", len(new)) + new + payload
        return body + struct.pack("<I", zlib.crc32(body))

    for changes, message in [
        ({"coding": "zstd"}, "unknown coding 'zstd'"),
        ({"coding": None}, "'coding' must be str"),
        ({"stats_fingerprint": "XY"}, "not lower-case hex"),
        ({"payload_bytes": 6}, "not a multiple of 4"),
        ({"payload_bytes": len(payload) + 4}, "truncated"),
        ({"payload_bytes": len(payload) - 4}, "unexpected byte"),
    ]:
        path.write_bytes(with_header(**changes))
        assert_fails(path, message, stats)
    missing = dict(header)
    del missing["coding"]
    new = json.dumps(missing).encode()
    body = good[:6] + struct.pack("<I", len(new)) + new + payload
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    assert_fails(path, "missing field 'coding'", stats)
    # An extra word with a valid checksum: the payload no longer re-encodes to itself.
    new = json.dumps({**header, "payload_bytes": len(payload) + 4}).encode()
    body = good[:6] + struct.pack("<I", len(new)) + new + payload + b"\x01\x02\x03\x04"
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    assert_fails(path, "damaged payload", stats)


def test_without_constriction(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ranged_file: Path, stats: CodeStats
) -> None:
    monkeypatch.setitem(sys.modules, "constriction", None)  # import fails as if not installed
    tokens = make_tokens(np.zeros((1, 4), dtype=np.int64), 1000)
    with pytest.raises(CodecError, match="optional package constriction"):
        tokens.save(tmp_path / "x.tok", code_stats=stats)
    assert not (tmp_path / "x.tok").exists()
    assert_fails(ranged_file, "entropy-coded: entropy coding needs the optional package constriction", stats)
    tokens.save(tmp_path / "packed.tok")  # packed files do not need it
    assert Tokens.load(tmp_path / "packed.tok") == tokens
    assert read_header(ranged_file)["coding"] == "range"


# ---------------------------------------------------------------------------------------------- with a model


def tiny_vq() -> Codec:
    config = yaml.safe_load((RECIPES / "tiny-vq.yaml").read_text())["model"]["codec"]
    torch.manual_seed(0)
    return Codec.from_config(config).eval()


def write_clips(folder: Path, sample_rate: int = 16000) -> list[Path]:
    """Two short generated clips: a chirp-like tone mix and noise bursts (one at another rate)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(0.7 * sample_rate)) / sample_rate
    tone = 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t) + 0.05 * rng.standard_normal(t.size)
    noise = 0.2 * rng.standard_normal(int(0.45 * 22050)) * (np.arange(int(0.45 * 22050)) % 3000 < 1500)
    paths = [folder / "tone.wav", folder / "noise.wav"]
    write_audio(paths[0], tone.astype(np.float32), sample_rate)
    write_audio(paths[1], noise.astype(np.float32), 22050)
    return paths


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], CodeStats]:
    """A tiny random model saved with its code statistics, and the clips they were fitted on."""
    root = tmp_path_factory.mktemp("entropy-model")
    clips = write_clips(root)
    model = tiny_vq()
    stats = fit_code_stats(model, clips)
    folder = save_pretrained(model, root / "model")
    save_code_stats(folder, stats)
    return folder, clips, stats


def test_fit_code_stats(model_folder: tuple[Path, list[Path], CodeStats]) -> None:
    folder, clips, stats = model_folder
    model = tiny_vq()
    assert (stats.n_codebooks, stats.codebook_size) == (model.n_codebooks, model.codebook_size) == (1, 64)
    assert stats.model_name == "tiny-vq" and stats.model_fingerprint == model.fingerprints().model
    tokens = [model.encode_file(clip) for clip in clips]
    assert int(stats.counts.sum()) == sum(int(t.code_lengths.sum()) for t in tokens)
    # One clip per batch codes each clip as encode_file does (in a padded batch the last frames of
    # a shorter clip may differ), so counting those tokens gives the same statistics.
    alone = fit_code_stats(model, clips, batch_size=1)
    assert fit_code_stats(model, tokens) == alone == fit_code_stats(model, [clips[0], tokens[1]])
    with pytest.raises(ValueError, match="no codes"):
        fit_code_stats(model, [])
    with pytest.raises(CodecError, match="no such file"):
        fit_code_stats(model, [folder / "missing.wav"])


def test_model_folder_carries_code_stats(tmp_path: Path, model_folder: tuple[Path, list[Path], CodeStats]) -> None:
    folder, _, stats = model_folder
    model = load_folder(folder)
    assert model.code_stats == stats
    resaved = save_pretrained(model, tmp_path / "copy")
    assert (resaved / CODE_STATS_FILE).is_file() and load_folder(resaved).code_stats == stats
    plain = save_pretrained(tiny_vq(), tmp_path / "plain")
    assert load_folder(plain).code_stats is None
    save_code_stats(plain, skewed_stats(32, n_codebooks=1))
    with pytest.raises(CodecError, match="do not fit the model"):
        load_folder(plain)


def encode_both(tmp_path: Path, folder: Path, clip: Path) -> tuple[Path, Path]:
    """``codec encode`` of one clip, range-coded and packed."""
    ranged, packed = tmp_path / "tone.range.tok", tmp_path / "tone.tok"
    assert main(["encode", str(clip), "-o", str(ranged), "--model", str(folder), "--entropy", "-q"]) == 0
    assert main(["encode", str(clip), "-o", str(packed), "--model", str(folder), "-q"]) == 0
    return ranged, packed


def test_cli_entropy_encode_and_info(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model_folder: tuple[Path, list[Path], CodeStats]
) -> None:
    folder, clips, stats = model_folder
    ranged, packed = encode_both(tmp_path, folder, clips[0])
    assert read_header(ranged)["coding"] == "range" and "coding" not in read_header(packed)
    assert Tokens.load(ranged, code_stats=stats) == Tokens.load(packed)

    capsys.readouterr()
    assert main(["info", str(ranged), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["coding"] == "range" and info["format_version"] == 2
    assert info["payload_bitrate"] == pytest.approx(info["payload_bytes"] * 8 / info["seconds"])
    assert info["bitrate"] == pytest.approx(50 * 6)
    assert main(["info", str(packed)]) == 0
    shown = capsys.readouterr().out
    assert "coding: packed" in shown and "payload_bitrate:" in shown


def test_cli_entropy_decode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model_folder: tuple[Path, list[Path], CodeStats]
) -> None:
    folder, clips, _ = model_folder
    ranged, packed = encode_both(tmp_path, folder, clips[0])
    assert main(["decode", str(packed), "-o", str(tmp_path / "packed.wav"), "--model", str(folder), "-q"]) == 0
    assert main(["decode", str(ranged), "-o", str(tmp_path / "range.wav"), "--model", str(folder), "-q"]) == 0
    from_range, rate = read_audio(tmp_path / "range.wav")
    from_packed, _ = read_audio(tmp_path / "packed.wav")
    assert rate == 16000 and from_range.shape == from_packed.shape == (1, int(0.7 * 16000))
    np.testing.assert_array_equal(from_range, from_packed)


def test_cli_entropy_needs_code_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = save_pretrained(tiny_vq(), tmp_path / "plain")
    clip = write_clips(tmp_path)[0]
    assert main(["encode", str(clip), "-o", str(tmp_path / "x.tok"), "--model", str(folder), "--entropy"]) == 2
    assert "--entropy needs the model's code statistics" in capsys.readouterr().err
    assert not (tmp_path / "x.tok").exists()
