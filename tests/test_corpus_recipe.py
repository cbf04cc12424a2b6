"""Offline end-to-end test of the speech16k corpus recipe (``egs/speech16k/prepare.py``).

The Debian packages are replaced by a tiny generated package root with the real
packages' layouts: festvox-ru wavs plus ``etc/txt.done.data``, a hand-built FOTAQ
``queen.1c`` archive, raw unsigned 8-bit Drascula ``*.ALS`` files with their 64-byte
trailer, Fish Fillets Ogg Vorbis files and Asterisk wavs plus their transcript file.
Every package gets a placeholder ``.deb`` and the ``.unpacked-<deb>`` marker the recipe
writes after unpacking, so ``--no-apt`` runs straight on the unpacked trees. ``apt-get``
and ``dpkg-deb`` are shadowed by failing stubs on PATH to prove that nothing reaches
them, and synthetic speech is off (``--synthetic-minutes 0``), so neither network nor
TTS engines are needed.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "egs" / "speech16k" / "prepare.py"
SOURCES = ("festvox-ru", "fotaq", "drascula-en", "fillets-cs", "asterisk-en")
PACKAGES = (
    "festvox-ru",
    "flight-of-the-amazon-queen",
    "drascula",
    "fillets-ng-data-cs",
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-en",
)
MAX_SECONDS = 8.0
SCHEMA = {"path", "source", "speaker", "language", "duration", "text", "split", "orig_sr", "style"}
SR = 16000


def load_recipe():
    """Import prepare.py (egs/ is not a package) as a module."""
    spec = importlib.util.spec_from_file_location("speech16k_prepare", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


prep = load_recipe()


# --------------------------------------------------------------------------
# Fake package root
# --------------------------------------------------------------------------


@dataclass
class Expect:
    """What the manifest row of one output FLAC should hold."""

    source: str
    speaker: str
    language: str
    duration: float
    text: str | None
    split: str
    orig_sr: int
    tol: float = 2e-3


class Signals:
    """Distinct test signals: every call gives other bytes, so no input is a duplicate."""

    def __init__(self) -> None:
        self.n = 0

    def tone(self, seconds: float, sr: int, channels: int = 1, gap: tuple[float, float] | None = None) -> np.ndarray:
        """A 0.3-amplitude tone plus a little noise; ``gap`` (start, end) in seconds is zeroed."""
        self.n += 1
        rng = np.random.default_rng(self.n)
        t = np.arange(round(seconds * sr)) / sr
        x = 0.3 * np.sin(2 * np.pi * (150 + 17 * self.n) * t) + 0.01 * rng.standard_normal(t.size)
        if gap is not None:
            x[round(gap[0] * sr) : round(gap[1] * sr)] = 0.0
        x = x.astype(np.float32)
        return np.stack([x, 0.5 * x], axis=1) if channels == 2 else x


def write_wav(path: Path, audio: np.ndarray, sr: int, **kw) -> None:
    """Write an audio file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, sr, **kw)


def encode(audio: np.ndarray, sr: int, fmt: str) -> bytes:
    """Encode audio in memory (MP3 when libsndfile can, else WAV)."""
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format=fmt)
    return buf.getvalue()


def mp3_supported() -> bool:
    """True when this libsndfile (>= 1.1) can write MP3."""
    if "MP3" not in sf.available_formats():
        return False
    try:
        encode(np.zeros(1152, dtype=np.float32), 22050, "MP3")
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return False
    return True


def queen_archive(entries: list[tuple[str, bytes]]) -> bytes:
    """Build a FOTAQ ``queen.1c``: 15-byte header (``QTBL``, version, >H count), 21-byte entries, data."""
    header = b"QTBL" + b"1.0test\0\0" + struct.pack(">H", len(entries))
    assert len(header) == 15
    offset = len(header) + 21 * len(entries)
    table, blobs = b"", b""
    for name, blob in entries:
        table += name.encode("latin-1").ljust(12, b"\0") + b"\0" + struct.pack(">II", offset, len(blob))
        blobs += blob
        offset += len(blob)
    return header + table + blobs


def dog_file(talk_key: int) -> bytes:
    """A minimal FOTAQ ``*.DOG``: 20-byte header, then >h level count, unique key, talk key."""
    return b"\0" * 20 + struct.pack(">hhh", 1, 1, talk_key) + b"\0" * 4


def als_bytes(audio: np.ndarray, trailer: bytes = b"\xff" * 64) -> bytes:
    """Drascula ``*.ALS``: raw unsigned 8-bit PCM, then a 64-byte trailer (full-scale here, to be noticed)."""
    return np.clip(np.round(audio * 128 + 128), 0, 255).astype(np.uint8).tobytes() + trailer


def build_pkgroot(out: Path) -> dict[str, Expect]:
    """Lay out the fake packages under ``out/pkgroot`` and return the expected manifest rows by path."""
    sig = Signals()
    exp: dict[str, Expect] = {}
    pkgroot = out / "pkgroot"
    (out / "debs").mkdir(parents=True)
    for pkg in PACKAGES:
        deb = f"{pkg}_0.test_all.deb"
        (out / "debs" / deb).write_bytes(b"placeholder: never unpacked, the marker says it is")
        (pkgroot / pkg).mkdir(parents=True)
        (pkgroot / pkg / f".unpacked-{deb}").touch()

    # festvox-ru: one speaker; >= 561 alternate dev/test; '+' stress marks removed from the text.
    voice = pkgroot / "festvox-ru/usr/share/festival/voices/russian/msu_ru_nsh_clunits"
    ru = "festvox-ru/msu_ru_nsh"
    for utt, secs, sr, ch, split, text in [
        ("ru_0001", 1.2, 16000, 1, "train", "Здравствуй, мир."),
        ("ru_0002", 0.9, 22050, 2, "train", "Вторая фраза."),
        ("ru_0561", 1.0, 16000, 1, "dev", "Третья."),
        ("ru_0562", 1.1, 16000, 1, "test", "Четвёртая фраза."),
        ("ru_0563", 1.0, 44100, 1, "dev", None),  # no transcript line
    ]:
        write_wav(voice / "wav" / f"{utt}.wav", sig.tone(secs, sr, ch), sr)
        exp[f"audio/festvox-ru/{utt}.flac"] = Expect("festvox-ru", ru, "ru", secs, text, split, sr)
    (voice / "etc").mkdir()
    (voice / "etc/txt.done.data").write_text(
        '( ru_0001 "Здр+авствуй,   м+ир." )\n'
        '(ru_0002 "Втор+ая \t фр+аза.")\n'
        '( ru_0561 "Тр+етья." )\n'
        '( ru_0562 "Четв+ёртая фр+аза." )\n',
        encoding="utf-8",
    )

    # FOTAQ: *.SB speech entries in queen.1c; the talk key of SPARKY1.DOG names the speaker.
    fmt = "MP3" if mp3_supported() else "WAV"
    joe = encode(sig.tone(1.5, 22050), 22050, fmt)
    entries = [("SPARKY1.DOG", dog_file(5))]
    for stem, secs, speaker in [
        ("050001P1", 1.0, "sparky"),
        ("050002J1", 0.8, "joe"),
        ("070001P1", 0.6, "npc07"),
        ("C10001", 0.7, "mixed-cutaway100"),
    ]:
        entries.append((f"{stem}.SB", encode(sig.tone(secs, 22050), 22050, fmt)))
        exp[f"audio/fotaq/{stem}.flac"] = Expect("fotaq", f"fotaq/{speaker}", "en", secs, None, "train", 22050)
    entries += [("JOE12.SB", joe), ("JOE13.SB", joe)]  # JOE13 repeats JOE12's bytes: dropped
    exp["audio/fotaq/JOE12.flac"] = Expect("fotaq", "fotaq/joe", "en", 1.5, None, "train", 22050)
    archive = pkgroot / "flight-of-the-amazon-queen/usr/share/scummvm/flight-of-the-amazon-queen/queen.1c"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(queen_archive(entries))

    # Drascula: raw u8 11025 Hz + 64-byte trailer. Durations total 8.5 s, so the held-out
    # target is 0.425 s per split: igor (0.5 s) -> dev, pianist (0.4 s) -> test; werewolf
    # (0.6 s) does not fit, john (protagonist) and mixed-d (never held out) stay in train.
    als_dir = pkgroot / "drascula/usr/share/scummvm/drascula/en"
    als_dir.mkdir(parents=True)
    igor = als_bytes(sig.tone(0.5, 11025))
    for name, blob, speaker, split, secs in [
        ("1", als_bytes(sig.tone(1.0, 11025)), "john", "train", 1.0),  # 11025 samples -> exactly 1.0 s
        ("2", als_bytes(sig.tone(60638 / 11025, 11025)), "john", "train", 5.5),
        ("I1", igor, "igor", "dev", 0.5),
        ("I2", igor, None, None, None),  # duplicate of I1
        ("P3", als_bytes(sig.tone(0.4, 11025)), "pianist", "test", 0.4),
        ("L4", als_bytes(sig.tone(0.6, 11025)), "werewolf", "train", 0.6),
        ("D5", als_bytes(sig.tone(0.5, 11025)), "mixed-d", "train", 0.5),
        ("S1", als_bytes(sig.tone(1.0, 11025)), None, None, None),  # sound effect: never a job
        ("12", als_bytes(sig.tone(0.1, 11025)), None, None, None),  # shorter than 0.3 s
        ("13", als_bytes(np.zeros(5512, dtype=np.float32)), None, None, None),  # silent once the trailer is gone
    ]:
        (als_dir / f"{name}.ALS").write_bytes(blob)
        if speaker is not None:
            exp[f"audio/drascula-en/{name}.flac"] = Expect(
                "drascula-en", f"drascula-en/{speaker}", "en", secs, None, split, 11025
            )

    # Fish Fillets (Ogg Vorbis): sound/LEVEL/LANG/*.ogg; other languages are ignored.
    snd = pkgroot / "fillets-ng-data-cs/usr/share/games/fillets-ng/sound/bathroom"
    for stem, secs, sr, ch, speaker in [
        ("bathroom-m-ahoj", 1.0, 22050, 1, "fish-m"),
        ("bathroom-v-nazdar", 1.2, 44100, 2, "fish-v"),
        ("bathroom-x-bla", 0.5, 22050, 1, "npc-x"),
        ("bathroom-1", 0.6, 22050, 1, "mixed-bathroom"),
    ]:
        write_wav(snd / "cs" / f"{stem}.ogg", sig.tone(secs, sr, ch), sr, format="OGG", subtype="VORBIS")
        exp[f"audio/fillets-cs/bathroom/cs/{stem}.flac"] = Expect(
            "fillets-cs", f"fillets-cs/{speaker}", "cs", secs, None, "train", sr, tol=0.01
        )
    write_wav(snd / "nl/bathroom-m-hallo.ogg", sig.tone(1.0, 22050), 22050, format="OGG", subtype="VORBIS")

    # Asterisk: 8 kHz wavs under sounds/<voice>/, transcripts "prompt: text" in a gzipped file
    # of the companion package. vm-intro (12 s, quiet at 5 s) is cut at the quiet point into two
    # pieces, which lose the transcript.
    sounds = pkgroot / "asterisk-core-sounds-en-wav/usr/share/asterisk/sounds/en"
    spk = "asterisk-en/en"
    for prompt, secs, text in [
        ("hello-world", 1.2, "Hello world."),
        ("digits/1", 0.6, "one"),
        ("custom-tone", 0.5, None),
    ]:
        write_wav(sounds / f"{prompt}.wav", sig.tone(secs, 8000), 8000, subtype="PCM_16")
        exp[f"audio/asterisk-en/en/{prompt}.flac"] = Expect("asterisk-en", spk, "en", secs, text, "train", 8000)
    write_wav(sounds / "vm-intro.wav", sig.tone(12.0, 8000, gap=(4.9, 5.1)), 8000, subtype="PCM_16")
    for piece, secs in [("p00", 5.0), ("p01", 7.0)]:
        exp[f"audio/asterisk-en/en/vm-intro-{piece}.flac"] = Expect(
            "asterisk-en", spk, "en", secs, None, "train", 8000, tol=0.11
        )
    write_wav(sounds / "digits/2.wav", sig.tone(0.2, 8000), 8000, subtype="PCM_16")  # too short
    write_wav(sounds / "silence/1.wav", np.zeros(8000, dtype=np.float32), 8000, subtype="PCM_16")  # silent
    doc = pkgroot / "asterisk-core-sounds-en/usr/share/doc/asterisk-core-sounds-en"
    doc.mkdir(parents=True)
    transcript = (
        "; Asterisk core sounds: comment lines start with ';'\n"
        "hello-world:Hello   world.\n"
        "digits/1: one\n"
        "digits/2: two\n"
        "vm-intro: Please leave your message after the tone.\n"
        "silence/1:\n"
    )
    (doc / "core-sounds-en.txt.gz").write_bytes(gzip.compress(transcript.encode("utf-8")))
    return exp


# --------------------------------------------------------------------------
# Running the recipe
# --------------------------------------------------------------------------


@dataclass
class Corpus:
    """A finished first run: its root, output, expected rows and a snapshot for the rerun."""

    out: Path
    stdout: str
    stderr: str
    expected: dict[str, Expect]
    snapshot: dict[str, bytes | int]
    tool_log: Path


def run_recipe(out: Path, fakebin: Path) -> subprocess.CompletedProcess[str]:
    """Run prepare.py offline on ``out`` with apt-get/dpkg-deb stubs first on PATH."""
    env = dict(os.environ, PATH=f"{fakebin}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--sources", ",".join(SOURCES)]
    cmd += ["--synthetic-minutes", "0", "--no-apt", "--jobs", "2", "--nice", "0", "--max-seconds", str(MAX_SECONDS)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, f"prepare.py failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def snapshot(out: Path) -> dict[str, bytes | int]:
    """Manifests and caches by content, FLACs by modification time."""
    snap: dict[str, bytes | int] = {}
    for name in ("manifest.jsonl", "train.jsonl", "dev.jsonl", "test.jsonl"):
        snap[name] = (out / name).read_bytes()
    for f in sorted((out / "cache").iterdir()):
        snap[f"cache/{f.name}"] = f.read_bytes()
    for f in sorted((out / "audio").rglob("*.flac")):
        snap[str(f.relative_to(out))] = f.stat().st_mtime_ns
    return snap


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Build the fake package root and run the recipe on it once."""
    base = tmp_path_factory.mktemp("speech16k")
    out = base / "corpus"
    fakebin = base / "bin"
    fakebin.mkdir()
    tool_log = base / "tools.log"
    for tool in ("apt-get", "dpkg-deb"):
        stub = fakebin / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{tool_log}"\nexit 1\n')
        stub.chmod(0o755)
    expected = build_pkgroot(out)
    proc = run_recipe(out, fakebin)
    return Corpus(out, proc.stdout, proc.stderr, expected, snapshot(out), tool_log)


# --------------------------------------------------------------------------
# End-to-end checks
# --------------------------------------------------------------------------


def test_runs_offline_without_skipping_a_source(corpus: Corpus) -> None:
    assert not corpus.tool_log.exists(), corpus.tool_log.read_text()
    assert "WARNING" not in corpus.stderr, corpus.stderr
    summary = (corpus.out / "summary.txt").read_text(encoding="utf-8")
    assert "skipped" not in summary
    for source in SOURCES:
        assert any(line.startswith(source) for line in summary.splitlines()), summary
    assert not list(corpus.out.rglob("*.tmp")), "temporary files left behind"


def test_manifest_schema(corpus: Corpus) -> None:
    rows = read_jsonl(corpus.out / "manifest.jsonl")
    assert rows
    for row in rows:
        assert set(row) == SCHEMA, row
        assert isinstance(row["path"], str) and row["path"].startswith(f"audio/{row['source']}/")
        assert row["path"].endswith(".flac") and (corpus.out / row["path"]).is_file()
        assert row["source"] in SOURCES
        assert row["speaker"].startswith(f"{row['source']}/")
        assert isinstance(row["language"], str)
        assert isinstance(row["duration"], float) and row["duration"] >= 0.3
        assert row["text"] is None or (isinstance(row["text"], str) and row["text"])
        assert row["split"] in ("train", "dev", "test")
        assert isinstance(row["orig_sr"], int)
        assert row["style"] is None  # synthetic only
    assert len({r["path"] for r in rows}) == len(rows)


def test_manifest_rows_match_inputs(corpus: Corpus) -> None:
    """Exactly the expected clips; duplicates, effects, other languages, short and silent files are absent."""
    rows = {r["path"]: r for r in read_jsonl(corpus.out / "manifest.jsonl")}
    assert sorted(rows) == sorted(corpus.expected)
    for path, e in corpus.expected.items():
        row = rows[path]
        got = {k: row[k] for k in ("source", "speaker", "language", "text", "split", "orig_sr")}
        want = {
            "source": e.source,
            "speaker": e.speaker,
            "language": e.language,
            "text": e.text,
            "split": e.split,
            "orig_sr": e.orig_sr,
        }
        assert got == want, path
        assert row["duration"] == pytest.approx(e.duration, abs=e.tol), path
    audio = corpus.out / "audio"
    for gone in ("drascula-en/I2", "drascula-en/S1", "drascula-en/12", "drascula-en/13", "fotaq/JOE13"):
        assert not (audio / f"{gone}.flac").exists()
    assert not (audio / "fillets-cs/bathroom/nl").exists()
    assert not (audio / "asterisk-en/en/digits/2.flac").exists()
    assert not (audio / "asterisk-en/en/silence").exists()
    assert not (audio / "asterisk-en/en/vm-intro.flac").exists()


def test_flac_files_are_16k_mono_pcm16_with_manifest_duration(corpus: Corpus) -> None:
    for row in read_jsonl(corpus.out / "manifest.jsonl"):
        info = sf.info(str(corpus.out / row["path"]))
        assert (info.samplerate, info.channels, info.format, info.subtype) == (SR, 1, "FLAC", "PCM_16"), row["path"]
        assert info.frames / SR == pytest.approx(row["duration"], abs=1e-4), row["path"]


def test_drascula_trailer_dropped(corpus: Corpus) -> None:
    """11025 u8 samples + 64-byte full-scale trailer -> exactly 16000 samples, no full-scale tail."""
    audio, sr = sf.read(str(corpus.out / "audio/drascula-en/1.flac"), dtype="float32")
    assert sr == SR and audio.shape == (SR,)
    assert np.abs(audio[-200:]).max() < 0.45  # the tone is 0.3; a 0xFF trailer would be ~1.0


def test_stereo_downmixed_by_mean(corpus: Corpus) -> None:
    """ru_0002 is 22.05 kHz stereo (x, x/2): the FLAC holds their mean, resampled, at the same level."""
    src, _ = sf.read(str(next(corpus.out.glob("pkgroot/festvox-ru/**/wav/ru_0002.wav"))), dtype="float32")
    out, _ = sf.read(str(corpus.out / "audio/festvox-ru/ru_0002.flac"), dtype="float32")
    assert src.ndim == 2
    rms = np.sqrt(np.mean(np.square(src.mean(axis=1))))
    assert np.sqrt(np.mean(np.square(out))) == pytest.approx(rms, rel=0.02)


def test_long_file_cut_at_quiet_point(corpus: Corpus) -> None:
    """vm-intro (12 s, quiet 4.9-5.1 s) is cut inside the gap; the pieces add up to the whole."""
    rows = {r["path"]: r for r in read_jsonl(corpus.out / "manifest.jsonl")}
    first = rows["audio/asterisk-en/en/vm-intro-p00.flac"]["duration"]
    second = rows["audio/asterisk-en/en/vm-intro-p01.flac"]["duration"]
    assert 4.9 <= first <= 5.1
    assert first + second == pytest.approx(12.0, abs=1e-3)
    assert max(first, second) <= MAX_SECONDS


def test_skips_are_recorded(corpus: Corpus) -> None:
    records: dict[str, dict] = {}
    for f in (corpus.out / "cache").glob("*.jsonl"):
        source = f.name.split(".")[0]
        for rec in read_jsonl(f):
            records[f"{source}/{rec['key']}"] = rec
    assert records["drascula-en/12"]["skip"] == "short"
    assert records["drascula-en/13"]["skip"] == "silent"
    assert records["asterisk-en/en/digits/2"]["skip"] == "short"
    assert records["asterisk-en/en/silence/1"]["skip"] == "silent"
    assert not any(rec.get("error") for rec in records.values()), records
    for key in ("drascula-en/I2", "drascula-en/S1", "fotaq/JOE13", "fotaq/SPARKY1"):
        assert key not in records  # never converted: duplicate, sound effect, not speech
    assert "drascula-en: 8 inputs (0 cached, 1 duplicates dropped), 6 ok, 1 short, 1 silent, 0 errors" in corpus.stdout


def test_splits_are_by_speaker(corpus: Corpus) -> None:
    rows = read_jsonl(corpus.out / "manifest.jsonl")
    splits_of: dict[str, set[str]] = {}
    for row in rows:
        splits_of.setdefault(row["speaker"], set()).add(row["split"])
    shared = {spk for spk, s in splits_of.items() if len(s) > 1}
    assert shared == {"festvox-ru/msu_ru_nsh"}  # the one documented exception
    assert splits_of["festvox-ru/msu_ru_nsh"] == {"train", "dev", "test"}
    held = {spk: s.pop() for spk, s in splits_of.items() if spk not in shared and s != {"train"}}
    assert held == {"drascula-en/igor": "dev", "drascula-en/pianist": "test"}
    by_split = {s: read_jsonl(corpus.out / f"{s}.jsonl") for s in ("train", "dev", "test")}
    assert sum(len(v) for v in by_split.values()) == len(rows)
    for split, split_rows in by_split.items():
        assert all(r["split"] == split for r in split_rows)
        assert [r for r in rows if r["split"] == split] == split_rows


def test_rerun_is_idempotent(corpus: Corpus) -> None:
    """A second run converts nothing: caches, FLAC mtimes and manifests are unchanged."""
    proc = run_recipe(corpus.out, corpus.out.parent / "bin")
    assert snapshot(corpus.out) == corpus.snapshot
    for source in SOURCES:
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(f"{source}: "))
        inputs = int(line.split()[1])
        assert f"{inputs} inputs ({inputs} cached" in line, line
    assert not corpus.tool_log.exists()


# --------------------------------------------------------------------------
# Parsers and decoders, in-process
# --------------------------------------------------------------------------


def test_queen_entries_parses_table(tmp_path: Path) -> None:
    blobs = [("A.SB", b"first payload"), ("LONGNAME1.SB", b"x" * 7), ("SPARKY1.DOG", dog_file(9))]
    path = tmp_path / "queen.1c"
    path.write_bytes(queen_archive(blobs))
    entries = prep.queen_entries(path)
    assert [e[0] for e in entries] == ["A.SB", "LONGNAME1.SB", "SPARKY1.DOG"]
    data = path.read_bytes()
    for (name, offset, size), (_, blob) in zip(entries, blobs, strict=True):
        assert data[offset : offset + size] == blob, name
    assert prep.fotaq_people(path, entries) == {9: "sparky"}
    assert prep.fotaq_speaker("090001P2", {9: "sparky"}) == "sparky"
    assert prep.fotaq_speaker("090001J2", {9: "sparky"}) == "joe"
    path.write_bytes(b"XXXX" + data[4:])
    with pytest.raises(ValueError, match="bad magic"):
        prep.queen_entries(path)


def test_u8raw_decoder_drops_trailer(tmp_path: Path) -> None:
    path = tmp_path / "X1.ALS"
    path.write_bytes(bytes([0, 128, 255, 192]) + b"\x07" * 64)
    job = prep.Job("drascula-en", "X1", "u8raw", "x", "s", "en", path=str(path), params={"rate": 11025, "trailer": 64})
    audio, sr = prep.load_audio(job, str(tmp_path))
    assert sr == 11025
    np.testing.assert_allclose(audio, [-1.0, 0.0, 127 / 128, 0.5])


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")
def test_package_store_unpacks_predownloaded_deb(tmp_path: Path) -> None:
    """--no-apt path: a .deb already in DIR/debs is unpacked once, then reused by its marker."""
    src = tmp_path / "build"
    (src / "DEBIAN").mkdir(parents=True)
    (src / "DEBIAN/control").write_text(
        "Package: fake-voice\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n"
    )
    (src / "usr/share/fake").mkdir(parents=True)
    (src / "usr/share/fake/a.txt").write_text("hello")
    store = prep.PackageStore(tmp_path / "out", use_apt=False)
    deb = store.debs / "fake-voice_1.0_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", str(src), str(deb)], check=True, capture_output=True
    )
    root = store.unpack("fake-voice")
    assert (root / "usr/share/fake/a.txt").read_text() == "hello"
    assert (root / ".unpacked-fake-voice_1.0_all.deb").exists()
    deb.write_bytes(b"corrupt")  # a second call must not unpack again
    assert store.unpack("fake-voice") == root
    with pytest.raises(prep.AptError, match="--no-apt"):
        store.download("not-downloaded")


@pytest.mark.skipif(shutil.which("flite") is None or shutil.which("espeak-ng") is None, reason="no flite/espeak-ng")
def test_synthetic_speech_reads_fortune_sentences(tmp_path: Path) -> None:
    """Synthetic speech: flite and espeak-ng voices read clean sentences of a fortunes file; every
    row is 16 kHz mono with its sentence as exact transcript, the speaker names engine and voice,
    flite's held-out voice goes to dev/test only, and a rerun reuses every file."""
    import concurrent.futures as cf
    import functools

    fortunes = tmp_path / "fortunes" / "usr/share/games/fortunes"
    fortunes.mkdir(parents=True)
    sentences = [
        f"The {noun} on the {place} was {colour} and quiet."
        for noun in ("cat", "lamp", "boat", "letter")
        for place, colour in (("table", "green"), ("river", "grey"), ("hill", "bright"))
    ]
    (fortunes / "food").write_text("\n%\n".join([*sentences, "Too short.", "not capitalised at all, so dropped."]))
    out = tmp_path / "out"
    worker = functools.partial(prep.convert, out_root=str(out), min_s=0.5, max_s=20.0)

    def run() -> list[dict]:
        with cf.ThreadPoolExecutor(max_workers=2) as pool:
            chosen = prep.run_synthetic(
                pool, worker, out, {"fortunes": tmp_path / "fortunes"}, {"flite", "espeak-ng"}, 0.2, 0, "t"
            )
        return [row for job, rec in chosen for row in prep.make_rows(job, rec)]

    rows = run()
    assert sum(row["duration"] for row in rows) >= 12
    engines = {row["style"]["engine"] for row in rows}
    assert engines == {"flite", "espeak-ng"}
    for row in rows:
        assert row["source"] == "synthetic" and row["language"] == "en" and row["text"] in sentences
        assert row["speaker"].startswith(f"synthetic/{row['style']['engine'].split('-')[0]}")
        if row["speaker"] == f"synthetic/flite-{prep.FLITE_HELDOUT}":
            assert row["split"] in ("dev", "test")
        info = sf.info(out / row["path"])
        assert info.samplerate == SR and info.channels == 1
        assert info.frames / SR == pytest.approx(row["duration"], abs=1e-3)
    written = {row["path"]: (out / row["path"]).stat().st_mtime_ns for row in rows}
    assert run() == rows
    assert {path: (out / path).stat().st_mtime_ns for path in written} == written


def test_music_pieces_keep_a_songs_stems_together(tmp_path: Path) -> None:
    """Music: 10 s pieces spread over every track, 16 kHz mono, no language or text; the stems of a
    fretsonfire song share one "speaker", so a song is never split between train and held-out."""
    import concurrent.futures as cf
    import functools

    rng = np.random.default_rng(3)
    roots = {"warzone2100-music": tmp_path / "wz", "fretsonfire-songs-sectoid": tmp_path / "fof"}
    tracks = [roots["warzone2100-music"] / prep.MUSIC_SOURCES["warzone2100-music"] / f"track{k}.wav" for k in range(4)]
    songs = roots["fretsonfire-songs-sectoid"] / prep.MUSIC_SOURCES["fretsonfire-songs-sectoid"] / "sectoid"
    tracks += [songs / song / f"{stem}.wav" for song in ("Escape", "Feelings") for stem in ("song", "guitar")]
    for path in tracks:
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * rng.standard_normal((35 * 22050, 2)).astype(np.float32), 22050)
    worker = functools.partial(prep.convert, out_root=str(tmp_path / "out"), min_s=0.5, max_s=20.0)
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        rows = prep.process_music(pool, worker, tmp_path / "out", roots, list(roots), 4.0, "t")
    assert 4 * 60 <= sum(row["duration"] for row in rows) <= 4 * 60 + 10
    assert all(row["duration"] == 10.0 and row["language"] is None and row["text"] is None for row in rows)
    speakers = {row["speaker"] for row in rows}
    assert "music/fretsonfire-songs-sectoid/sectoid/Escape" in speakers
    assert len(speakers) == 4 + 2 and len({row["path"] for row in rows}) == len(rows)
    for song in ("Escape", "Feelings"):
        splits = {row["split"] for row in rows if row["speaker"].endswith(song)}
        assert len(splits) == 1
    info = sf.info(tmp_path / "out" / rows[0]["path"])
    assert info.samplerate == SR and info.channels == 1
