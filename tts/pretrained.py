"""TTS model folders: ``config.json`` + ``model.safetensors``, written from a training checkpoint.

Models shipped inside the package (``tts/shipped/NAME``) load by name (``"default"``) wherever a
folder is taken.

``config.json`` holds ``kind: "tts"``, the format version, the generator type and its arguments,
the text front end with its phone inventory, and the description of the tokenizer whose tokens the
model generates (its name and token fingerprint: a model only runs with that tokenizer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from codec.errors import CodecError
from codec.io.folders import replace_folder
from codec.io.torch_files import load_torch_file
from tts.models import GENERATORS

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
SHIPPED_DIR = Path(__file__).parent / "shipped"
ALIASES = {"default": "tts16k-instruct"}


def shipped_tts() -> list[str]:
    """Names of the TTS models inside the package (aliases first)."""
    names = sorted(p.name for p in SHIPPED_DIR.glob("*") if (p / CONFIG_FILE).is_file())
    return [alias for alias, target in ALIASES.items() if target in names] + names


def model_folder(name_or_path: str | Path) -> Path:
    """The folder of a shipped model name (a name without ``/`` is looked up there first) or a path.

    Raises:
        CodecError: neither a shipped name nor a folder.
    """
    key = str(name_or_path)
    shipped = SHIPPED_DIR / ALIASES.get(key, key)
    if "/" not in key and (shipped / CONFIG_FILE).is_file():
        return shipped
    path = Path(key).expanduser()
    if not path.is_dir():
        known = ", ".join(shipped_tts()) or "none"
        reason = "not a folder" if path.exists() else "no such folder"
        raise CodecError(f"no such TTS model: {reason}, and not a shipped name ({known})", key)
    return path


def generator_arguments(model: dict[str, Any] | None, n_units: int = 0) -> dict[str, Any]:
    """A generator's keyword arguments: the recipe's ``model`` plus the semantic units' count, which
    the data gives (``ar-semantic``)."""
    return {**(model or {}), **({"units": n_units} if n_units else {})}


def export_checkpoint(
    checkpoint: str | Path, folder: str | Path, half: bool = False, frontend: dict | None = None
) -> Path:
    """Write the generator of a ``tts train`` checkpoint as a model folder (atomically).

    Args:
        half: store float16 weights.

    Raises:
        CodecError: not a readable ``tts train`` checkpoint, or the folder cannot be written.
    """
    checkpoint, folder = Path(checkpoint), Path(folder)
    loaded = load_torch_file(checkpoint)
    hparams = loaded.get("hyper_parameters", {}) if isinstance(loaded, dict) else {}
    if hparams.get("generator") not in GENERATORS or "state_dict" not in loaded:
        raise CodecError("not a tts training checkpoint (no generator in its hyper-parameters)", checkpoint)
    state = {k.removeprefix("model."): v for k, v in loaded["state_dict"].items() if k.startswith("model.")}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    config = {
        "kind": "tts",
        "format_version": FORMAT_VERSION,
        "generator": hparams["generator"],
        "model": generator_arguments(hparams.get("model"), hparams.get("n_units") or 0),
        "n_symbols": hparams["n_symbols"],
        "n_codebooks": hparams["n_codebooks"],
        "codebook_size": hparams["codebook_size"],
        "codec": hparams.get("codec") or {},
        "frontend": hparams["frontend"],
        "trained_steps": loaded.get("global_step"),
        # a duration refit's steps are its own, not the joint training's before it
        "objective": hparams.get("objective", "all"),
        "style_bins": hparams.get("style_bins"),
    }

    def fill(staging: Path) -> None:
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in state.items()}, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})

    return replace_folder(folder, fill)


def read_config(folder: Path) -> dict[str, Any]:
    """A TTS folder's ``config.json``, checked; ``CodecError`` names what is wrong."""
    path = folder / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise CodecError(f"no {CONFIG_FILE} (not a TTS model folder)", folder) from None
    except (OSError, ValueError, RecursionError) as error:
        raise CodecError(f"damaged config: {error}", path) from None
    if not isinstance(config, dict) or config.get("kind") != "tts":
        raise CodecError("not a TTS model (a codec's or another kind's config)", path)
    if config.get("format_version") != FORMAT_VERSION:
        raise CodecError(f"unsupported TTS model format version {config.get('format_version')!r}", path)
    if config.get("generator") not in GENERATORS:
        raise CodecError(f"unknown generator {config.get('generator')!r}", path)
    return config


def load_generator(folder: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The generator (eval mode, float32) and config of a TTS folder or shipped model name."""
    folder = model_folder(folder)
    config = read_config(folder)
    try:
        model = GENERATORS[config["generator"]](
            config["n_symbols"], config["n_codebooks"], config["codebook_size"], **config["model"]
        )
    except (TypeError, ValueError, KeyError) as error:
        raise CodecError(f"invalid TTS config: {error}", folder / CONFIG_FILE) from None
    weights = folder / WEIGHTS_FILE
    try:
        state = load_file(str(weights))
    except FileNotFoundError:
        raise CodecError(f"no {WEIGHTS_FILE}", folder) from None
    except (SafetensorError, OSError, ValueError) as error:
        raise CodecError(f"damaged weights: {error}", weights) from None
    expected = model.state_dict()
    wrong = sorted(set(expected) ^ set(state)) + sorted(
        k for k in set(state) & set(expected) if state[k].shape != expected[k].shape
    )
    if wrong:
        raise CodecError(f"weights do not fit the config ({len(wrong)} keys, e.g. {wrong[0]})", weights)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval(), config
