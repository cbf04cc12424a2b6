"""Pretrained folders (``save_pretrained`` / ``load_codec``), checkpoint export, and every way a
model source can be broken: each must raise ``CodecError`` naming the offending path."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning
import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from safetensors.torch import load_file, save_file

from codec.api import Codec
from codec.cli.main import main
from codec.errors import CodecError
from codec.formats.entropy import CODE_STATS_FILE
from codec.loading import CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE, load_checkpoint, load_codec, save_pretrained
from codec.training.data import AudioDataModule
from codec.training.module import CodecModule

RECIPES = Path(__file__).resolve().parent.parent / "recipes" / "codec"
RATE = 16000


def recipe(name: str) -> dict[str, Any]:
    return yaml.safe_load((RECIPES / f"{name}.yaml").read_text())


def build(name: str = "tiny-vq", seed: int = 0) -> Codec:
    torch.manual_seed(seed)
    return Codec.from_config(recipe(name)["model"]["codec"]).eval()


def speechlike(seconds: float = 0.7, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (tone + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


@pytest.fixture(scope="module")
def codec() -> Codec:
    return build("tiny-vq")


@pytest.fixture(scope="module")
def saved(codec: Codec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pretrained(codec, tmp_path_factory.mktemp("pretrained") / "tiny-vq")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CodecModule]:
    """A real ``codec train``-style checkpoint of tiny-vq after 2 training steps (GAN active)."""
    root = tmp_path_factory.mktemp("train")
    lightning.seed_everything(0, verbose=False)
    model_cfg = dict(recipe("tiny-vq")["model"], gan_start_step=0)
    module = CodecModule(**model_cfg)
    data = AudioDataModule(
        train="synthetic", sample_rate=RATE, segment_seconds=0.4, batch_size=2, synthetic_items=4, max_val_items=2
    )
    trainer = lightning.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        default_root_dir=root,
    )
    trainer.fit(module, data)
    path = root / "last.ckpt"
    trainer.save_checkpoint(path)
    return path, module


# --------------------------------------------------------------------------- round trips


def test_save_then_load_gives_identical_codes_and_audio(codec: Codec, saved: Path) -> None:
    assert sorted(p.name for p in saved.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    config = json.loads((saved / CONFIG_FILE).read_text())
    assert config["format_version"] == FORMAT_VERSION
    assert config["name"] == "tiny-vq"

    loaded = load_codec(saved)
    assert not loaded.training
    assert loaded.dtype == torch.float32
    assert states_equal(codec, loaded)
    assert loaded.config == codec.config
    assert loaded.fingerprints().model == codec.fingerprints().model == config["model_fingerprint"]

    audio = speechlike()
    tokens = codec.encode(audio, RATE)
    again = loaded.encode(audio, RATE)
    assert again == tokens
    assert int(tokens.code_lengths[0]) == -(-audio.size // codec.hop_length)
    original, restored = codec.decode(tokens)[0], loaded.decode(again)[0]
    assert restored.shape == (audio.size,)
    assert torch.equal(original, restored)
    # Tokens of the in-memory model decode with the loaded one (same fingerprint).
    assert torch.equal(loaded.decode(tokens)[0], original)


def test_every_quantizer_family_round_trips(tmp_path: Path) -> None:
    audio = speechlike(0.5, seed=3)
    for name in ("tiny-rvq", "tiny-grvq", "tiny-mcrvq"):
        model = build(name, seed=1)
        loaded = load_codec(save_pretrained(model, tmp_path / name))
        assert states_equal(model, loaded), name
        tokens = model.encode(audio, RATE)
        assert loaded.encode(audio, RATE) == tokens, name
        assert torch.equal(loaded.decode(tokens)[0], model.decode(tokens)[0]), name


def test_save_over_an_existing_folder_replaces_it_and_leaves_nothing_behind(tmp_path: Path) -> None:
    first, second = build(seed=1), build(seed=2)
    folder = tmp_path / "model"
    save_pretrained(first, folder)
    (folder / CODE_STATS_FILE).write_text("{}")  # a model file the new export does not have
    save_pretrained(second, folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging or .old folders
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    loaded = load_codec(folder)
    assert states_equal(second, loaded)
    assert not states_equal(first, loaded)


def test_save_refuses_folders_with_other_files_and_damaged_weights_are_caught(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(CodecError, match="other files than a model"):
        save_pretrained(build(seed=1), folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    with pytest.raises(CodecError, match="not a folder"):
        save_pretrained(build(seed=1), folder / "notes.txt")
    saved = save_pretrained(build(seed=1), tmp_path / "model")
    data = bytearray((saved / WEIGHTS_FILE).read_bytes())
    data[-9] ^= 0x40  # inside the last tensor's values
    (saved / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(CodecError, match="do not match the model_fingerprint"):
        load_codec(saved)


def test_half_weights_are_half_the_size_and_load_as_float32(codec: Codec, saved: Path, tmp_path: Path) -> None:
    half = save_pretrained(codec, tmp_path / "half", half=True)
    full_size = (saved / WEIGHTS_FILE).stat().st_size
    half_size = (half / WEIGHTS_FILE).stat().st_size
    assert 0.45 < half_size / full_size < 0.55, (half_size, full_size)
    stored = load_file(str(half / WEIGHTS_FILE))
    floats = [v for v in stored.values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)

    loaded = load_codec(half)
    assert loaded.dtype == torch.float32
    for key, value in codec.state_dict().items():
        got = loaded.state_dict()[key]
        assert got.dtype == value.dtype, key
        expected = value.half().to(value.dtype) if value.is_floating_point() else value
        assert torch.equal(got, expected), key
    # Other weights, so another fingerprint; the stored one is what the loaded model reports.
    fingerprint = json.loads((half / CONFIG_FILE).read_text())["model_fingerprint"]
    assert loaded.fingerprints().model == fingerprint != codec.fingerprints().model
    audio = speechlike()
    tokens = loaded.encode(audio, RATE)
    assert tokens.fingerprint == fingerprint
    decoded = loaded.decode(tokens)[0]
    reference = codec.decode(codec.encode(audio, RATE))[0]
    assert decoded.shape == reference.shape == (audio.size,)
    assert torch.isfinite(decoded).all()


def test_fingerprint_is_stable_across_dtype_and_device_casts(saved: Path) -> None:
    loaded = load_codec(saved)
    fingerprint = loaded.fingerprints().model
    assert fingerprint == json.loads((saved / CONFIG_FILE).read_text())["model_fingerprint"]
    loaded.to(dtype=torch.float64)
    assert loaded.dtype == torch.float64
    assert loaded.fingerprints().model == fingerprint
    loaded.to("cpu").train()  # even in train mode, a loaded model keeps its stored fingerprint
    assert loaded.fingerprints().model == fingerprint
    assert load_codec(saved, dtype=torch.float64).fingerprints().model == fingerprint
    assert load_codec(saved, dtype=torch.bfloat16).fingerprints().model == fingerprint
    assert load_codec(saved, device=torch.device("cpu")).fingerprints().model == fingerprint
    tokens = load_codec(saved, dtype=torch.float64).encode(speechlike(), RATE)
    assert tokens.fingerprint == fingerprint
    assert load_codec(saved).decode(tokens)[0].shape[0] == speechlike().size


def test_hub_id_in_the_local_cache_loads(saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub_constants = pytest.importorskip("huggingface_hub.constants")
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--some-org--tiny-codec"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    shutil.copytree(saved, repo / "snapshots" / revision)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    loaded = load_codec("some-org/tiny-codec")
    assert states_equal(loaded, load_codec(saved))


# --------------------------------------------------------------------------- export


def test_export_cli_writes_a_loadable_folder(
    checkpoint: tuple[Path, CodecModule], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, module = checkpoint
    out = tmp_path / "exported"
    assert main(["export", str(path), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"exported tiny-vq ({module.codec.num_parameters():,} parameters" in captured.out
    assert str(out) in captured.out
    assert sorted(p.name for p in out.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]

    exported = load_codec(out)
    trained = module.codec.eval()
    assert states_equal(exported, trained)
    assert exported.config == trained.config
    from_checkpoint = load_codec(path)
    assert states_equal(from_checkpoint, trained)
    assert states_equal(load_checkpoint(path), trained)
    # The export's fingerprint is the digest of the checkpoint's weights: tokens are interchangeable.
    assert exported.fingerprints().model == from_checkpoint.fingerprints().model
    audio = speechlike()
    tokens = from_checkpoint.encode(audio, RATE)
    assert exported.encode(audio, RATE) == tokens
    assert torch.equal(exported.decode(tokens)[0], from_checkpoint.decode(tokens)[0])


def test_export_cli_name_and_half(checkpoint: tuple[Path, CodecModule], tmp_path: Path) -> None:
    path, _ = checkpoint
    full, half = tmp_path / "full", tmp_path / "half"
    assert main(["export", str(path), "-o", str(full), "--name", "renamed"]) == 0
    assert main(["export", str(path), "-o", str(half), "--half"]) == 0
    assert json.loads((full / CONFIG_FILE).read_text())["name"] == "renamed"
    renamed = load_codec(full)
    assert renamed.name == "renamed"
    assert renamed.encode(speechlike(), RATE).model_name == "renamed"
    ratio = (half / WEIGHTS_FILE).stat().st_size / (full / WEIGHTS_FILE).stat().st_size
    assert 0.45 < ratio < 0.55
    assert load_codec(half).dtype == torch.float32


def test_checkpoint_state_holds_the_discriminators_but_export_drops_them(
    checkpoint: tuple[Path, CodecModule], tmp_path: Path
) -> None:
    path, _ = checkpoint
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert any(k.startswith("discriminators.") for k in raw["state_dict"])
    save_pretrained(load_checkpoint(path), tmp_path / "gen")
    keys = load_file(str(tmp_path / "gen" / WEIGHTS_FILE)).keys()
    assert keys and not any(k.startswith(("discriminators.", "codec.")) for k in keys)


def test_exported_folder_permissions_follow_the_umask(codec: Codec, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        folder = save_pretrained(codec, tmp_path / "shared")
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644, name


# --------------------------------------------------------------------------- broken sources


def _copy(saved: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(saved, folder)
    return folder


def _edit_config(folder: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    config = json.loads((folder / CONFIG_FILE).read_text())
    edit(config)
    (folder / CONFIG_FILE).write_text(json.dumps(config))


def _no_config(folder: Path) -> Path:
    (folder / CONFIG_FILE).unlink()
    return folder


def _damaged_json(folder: Path) -> Path:
    (folder / CONFIG_FILE).write_text('{"format_version": 1, "sample_rate": ')
    return folder / CONFIG_FILE


def _binary_config(folder: Path) -> Path:
    (folder / CONFIG_FILE).write_bytes(b"\xff\xfe\x00garbage")
    return folder / CONFIG_FILE


def _config_not_object(folder: Path) -> Path:
    (folder / CONFIG_FILE).write_text("[1, 2, 3]")
    return folder / CONFIG_FILE


def _future_version(folder: Path) -> Path:
    _edit_config(folder, lambda c: c.update(format_version=FORMAT_VERSION + 1))
    return folder / CONFIG_FILE


def _no_version(folder: Path) -> Path:
    _edit_config(folder, lambda c: c.pop("format_version"))
    return folder / CONFIG_FILE


def _unknown_encoder(folder: Path) -> Path:
    _edit_config(folder, lambda c: c["encoder"].update(name="no-such-encoder"))
    return folder


def _unknown_config_key(folder: Path) -> Path:
    _edit_config(folder, lambda c: c.update(colour="blue"))
    return folder


def _no_weights(folder: Path) -> Path:
    (folder / WEIGHTS_FILE).unlink()
    return folder


def _truncated_weights(folder: Path) -> Path:
    data = (folder / WEIGHTS_FILE).read_bytes()
    (folder / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    return folder / WEIGHTS_FILE


def _garbage_weights(folder: Path) -> Path:
    (folder / WEIGHTS_FILE).write_bytes(np.random.default_rng(0).bytes(4096))
    return folder / WEIGHTS_FILE


def _empty_weights(folder: Path) -> Path:
    (folder / WEIGHTS_FILE).write_bytes(b"")
    return folder / WEIGHTS_FILE


def _other_architecture(folder: Path) -> Path:
    rvq = build("tiny-rvq")
    config = {"format_version": FORMAT_VERSION, **rvq.config}
    (folder / CONFIG_FILE).write_text(json.dumps(config))  # rvq config, vq weights: missing / unexpected keys
    return folder / WEIGHTS_FILE


def _other_shapes(folder: Path) -> Path:
    _edit_config(folder, lambda c: c["quantizer"].update(codebook_size=32))
    return folder / WEIGHTS_FILE


def _missing_key(folder: Path) -> Path:
    state = load_file(str(folder / WEIGHTS_FILE))
    state.pop(sorted(state)[0])
    save_file(state, str(folder / WEIGHTS_FILE))
    return folder / WEIGHTS_FILE


def _extra_key(folder: Path) -> Path:
    state = load_file(str(folder / WEIGHTS_FILE))
    state["surplus.weight"] = torch.zeros(3)
    save_file(state, str(folder / WEIGHTS_FILE))
    return folder / WEIGHTS_FILE


BROKEN_FOLDERS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "no config": (_no_config, "no config.json"),
    "damaged json": (_damaged_json, "damaged config"),
    "binary config": (_binary_config, "damaged config"),
    "config not an object": (_config_not_object, "not a JSON object"),
    "future format version": (_future_version, "unsupported model format version"),
    "no format version": (_no_version, "unsupported model format version"),
    "unknown encoder": (_unknown_encoder, "invalid model config"),
    "unknown config key": (_unknown_config_key, "invalid model config"),
    "no weights": (_no_weights, "no model.safetensors"),
    "truncated weights": (_truncated_weights, "damaged weights"),
    "garbage weights": (_garbage_weights, "damaged weights"),
    "empty weights": (_empty_weights, "damaged weights"),
    "other architecture": (_other_architecture, "weights do not match the config"),
    "other shapes": (_other_shapes, "has shape"),
    "missing key": (_missing_key, "1 missing, 0 unexpected"),
    "extra key": (_extra_key, "0 missing, 1 unexpected"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FOLDERS))
def test_broken_folder_raises_codec_error_naming_the_path(case: str, saved: Path, tmp_path: Path) -> None:
    damage, message = BROKEN_FOLDERS[case]
    folder = _copy(saved, tmp_path)
    culprit = damage(folder)
    with pytest.raises(CodecError, match=message) as caught:
        load_codec(folder)
    assert caught.value.path == str(culprit)
    assert str(caught.value).startswith(f"{culprit}: ")
    assert "\n" not in str(caught.value)


def _random_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "model.ckpt"
    path.write_bytes(np.random.default_rng(1).bytes(3000))
    return path


def _wav(tmp_path: Path) -> Path:
    path = tmp_path / "speech.wav"
    sf.write(path, speechlike(0.2), RATE)
    return path


def _empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.ckpt"
    path.write_bytes(b"")
    return path


def _not_a_dict(tmp_path: Path) -> Path:
    path = tmp_path / "list.ckpt"
    torch.save([1, 2, 3], path)
    return path


def _foreign_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, path)
    return path


def _foreign_lightning_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "classifier.ckpt"
    torch.save({"state_dict": {"layer.weight": torch.zeros(2, 2)}, "hyper_parameters": {"hidden": 4}}, path)
    return path


def _codec_checkpoint_with_wrong_weights(tmp_path: Path) -> Path:
    path = tmp_path / "wrong.ckpt"
    config = build("tiny-vq").config
    state = {f"codec.{k}": v for k, v in build("tiny-rvq").state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"codec": config}}, path)
    return path


def _codec_checkpoint_with_bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "badconfig.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"codec": {"name": "x"}}}, path)
    return path


def _pickled_object(tmp_path: Path) -> Path:
    path = tmp_path / "pickle.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"codec": {}}, "evil": Path("/")}, path)
    return path


BROKEN_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "random bytes": (_random_bytes, "not a readable checkpoint"),
    "a wav file": (_wav, "not a readable checkpoint"),
    "empty file": (_empty_file, "not a readable checkpoint"),
    "not a dict": (_not_a_dict, "no state_dict"),
    "state_dict only": (_foreign_checkpoint, "not a codec training checkpoint"),
    "another model's checkpoint": (_foreign_lightning_checkpoint, "not a codec training checkpoint"),
    "codec config, other weights": (_codec_checkpoint_with_wrong_weights, "weights do not match the config"),
    "codec config invalid": (_codec_checkpoint_with_bad_config, "invalid model config"),
    "arbitrary pickled object": (_pickled_object, "not a readable checkpoint"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_broken_checkpoint_raises_codec_error_naming_the_file(case: str, tmp_path: Path) -> None:
    make, message = BROKEN_FILES[case]
    path = make(tmp_path)
    for load in (load_codec, load_checkpoint):
        with pytest.raises(CodecError, match=message) as caught:
            load(path)
        assert caught.value.path == str(path)
        assert str(caught.value).startswith(f"{path}: ")
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["no-such-model", "speech99k-imaginary", "./missing/folder", "missing.ckpt"])
def test_unknown_model_name(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CodecError, match="no such model") as caught:
        load_codec(name)
    assert caught.value.path == name


def test_load_codec_never_touches_the_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    with pytest.raises(CodecError, match="no such model") as caught:
        load_codec("no-such-org-7f3a/no-such-codec")
    assert time.monotonic() - start < 10
    assert caught.value.path == "no-such-org-7f3a/no-such-codec"
    assert attempts == []


def test_export_cli_fits_code_stats_for_entropy_coding(checkpoint: tuple[Path, CodecModule], tmp_path: Path) -> None:
    """``--code-stats DATA`` writes the statistics of the exported (half) weights; ``--entropy``
    files then decode to the same codes."""
    path, _ = checkpoint
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        sf.write(data / f"{i}.wav", speechlike(seed=i), RATE)
    out = tmp_path / "exported"
    assert main(["export", str(path), "-o", str(out), "--half", "--code-stats", str(data)]) == 0
    model = load_codec(out)
    assert model.code_stats is not None and model.code_stats.fingerprint
    expected = sum(int(model.encode(speechlike(seed=i), RATE).codes.numel()) for i in range(3))
    assert int(model.code_stats.counts.sum()) == expected
    tokens = model.encode(speechlike(seed=1), RATE)
    assert main(["encode", str(data / "1.wav"), "-o", str(tmp_path / "x.tok"), "--model", str(out), "--entropy"]) == 0
    from codec.formats.tokens import Tokens

    assert torch.equal(Tokens.load(tmp_path / "x.tok", model.code_stats).codes, tokens.codes)
