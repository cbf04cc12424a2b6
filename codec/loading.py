"""Pretrained model folders (``config.json`` + ``model.safetensors``) and the shipped models.

A folder may also hold ``code_stats.json``, the code statistics for entropy-coded token files
(see :mod:`codec.formats.entropy`); a loaded model carries them as ``model.code_stats`` (``None`` without).

``load_codec`` takes a shipped name (``"default"``), a local folder, a Lightning checkpoint, or a
hub id that is already in the local Hugging Face cache; nothing here touches the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from codec.api import Codec
from codec.errors import CodecError
from codec.external import is_external, load_external
from codec.external.hificodec_checkpoint import is_hificodec_checkpoint, load_hificodec
from codec.external.languagecodec_checkpoint import is_languagecodec_checkpoint, load_languagecodec
from codec.external.speechtokenizer_checkpoint import load_speechtokenizer, speechtokenizer_folder
from codec.external.wavtokenizer_checkpoint import is_wavtokenizer_checkpoint, load_wavtokenizer_checkpoint
from codec.fingerprints import fingerprints
from codec.formats.entropy import CODE_STATS_FILE, CodeStats, load_code_stats
from codec.io.folders import replace_folder
from codec.io.torch_files import load_torch_file

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT_VERSION = 1
STORED_FINGERPRINTS = ("fingerprint", "model_fingerprint", "token_fingerprint")
"""Digests a ``config.json`` may hold (``fingerprint``: the legacy one of folders written before 0.2);
each is checked against the weights on load."""
ALIASES = {"default": "speech16k-hn"}


def shipped_models() -> list[str]:
    """Names of the models inside the package (aliases first)."""
    names = sorted(p.name for p in PRETRAINED_DIR.glob("*") if (p / CONFIG_FILE).is_file())
    return [alias for alias, target in ALIASES.items() if target in names] + names


def save_pretrained(codec: Codec, folder: str | Path, half: bool = False) -> Path:
    """Write ``codec`` as ``folder/config.json`` + ``folder/model.safetensors``, atomically.

    A ``codec.code_stats`` that is not ``None`` is written too, as ``folder/code_stats.json``.

    Args:
        half: store weights as float16 (half the size; loaded back as float32).

    Returns:
        The folder.

    Raises:
        CodecError: ``folder`` is a file, or a folder with files other than a model's (it would be
            replaced as a whole).
    """
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise CodecError("exists and is not a folder; choose a new or model folder", folder)
        others = sorted(p.name for p in folder.iterdir() if p.name not in (CONFIG_FILE, WEIGHTS_FILE, CODE_STATS_FILE))
        if others:
            raise CodecError(
                f"holds other files than a model ({others[0]!r}); it is replaced as a whole, so choose a new folder",
                folder,
            )
    state = {k: v.detach().cpu().contiguous() for k, v in codec.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    digests = fingerprints(codec.config, state)
    config = {
        "format_version": FORMAT_VERSION,
        "model_fingerprint": digests.model,
        "token_fingerprint": digests.tokens,
        "min_codebooks": codec.quantizer.min_codebooks,
        **codec.config,
    }
    code_stats: CodeStats | None = getattr(codec, "code_stats", None)

    def fill(staging: Path) -> None:
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        save_file(state, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        if code_stats is not None:
            (staging / CODE_STATS_FILE).write_text(json.dumps(code_stats.to_json(), separators=(",", ":")) + "\n")

    return replace_folder(folder, fill)


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise CodecError(f"no {CONFIG_FILE} (not a pretrained model folder)", folder) from None
    except OSError as error:
        raise CodecError(f"cannot read config: {error.strerror or error}", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CodecError(f"damaged config: {error}", path) from None
    except RecursionError:
        raise CodecError("damaged config: JSON nested too deeply", path) from None
    if not isinstance(config, dict):
        raise CodecError("damaged config: not a JSON object", path)
    return config


def _check_config(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """Our own ``config.json``: fingerprints are strings and the format version is known."""
    for key in STORED_FINGERPRINTS:
        if not isinstance(config.get(key, ""), str):
            raise CodecError(f"damaged config: {key} is not a string", path)
    config.pop("min_codebooks", None)  # informative; the quantizer's own is used
    version = config.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise CodecError(f"unsupported model format version {version!r}", path)
    return config


def _build(config: dict[str, Any], source: Path) -> Codec:
    if not isinstance(config.get("sample_rate"), int) or config["sample_rate"] <= 0:
        raise CodecError(f"invalid model config: sample_rate {config.get('sample_rate')!r}", source)
    try:
        return Codec.from_config(config)
    except (TypeError, ValueError, KeyError, RuntimeError) as error:
        raise CodecError(f"invalid model config: {error}", source) from None


def _load_state(codec: Codec, state: dict[str, torch.Tensor], source: Path) -> None:
    expected = codec.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CodecError(
            f"weights do not match the config ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"e.g. {(missing + unexpected)[0]})",
            source,
        )
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise CodecError(
                f"weight {key} has shape {tuple(value.shape)}, the config needs {tuple(expected[key].shape)}", source
            )
    codec.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})


def _attach_code_stats(codec: Codec, folder: Path) -> None:
    """Set ``codec.code_stats`` from ``folder/code_stats.json`` (``None`` when absent)."""
    stats = load_code_stats(folder)
    if stats is not None and (stats.n_codebooks, stats.codebook_size) != (codec.n_codebooks, codec.codebook_size):
        raise CodecError(
            f"code statistics for {stats.n_codebooks} x {stats.codebook_size} codes do not fit the model "
            f"({codec.n_codebooks} x {codec.codebook_size})",
            folder / CODE_STATS_FILE,
        )
    codec.code_stats = stats


def load_folder(folder: Path, name: str | None = None) -> Codec:
    """Load a pretrained folder; raises ``CodecError`` naming what is wrong with it.

    A folder of a published model (``codec.external``: EnCodec, DAC, Mimi, WavTokenizer, SNAC) is
    loaded by its own package and named ``name`` (default: the folder's name). The model's
    ``code_stats`` attribute holds the folder's code statistics, or ``None``.
    """
    if speechtokenizer_folder(folder) is not None:  # its config.json may sit one folder down, as on the hub
        codec = load_speechtokenizer(folder, name or folder.name)
        codec.code_stats = None
        return codec
    config = _read_config(folder)
    if is_external(config):
        codec = load_external(folder, config, name or folder.name)
        codec.code_stats = None
        return codec
    config = _check_config(config, folder / CONFIG_FILE)
    stored = {key: config.pop(key, None) for key in STORED_FINGERPRINTS}
    codec = _build(config, folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CodecError(f"no {WEIGHTS_FILE}", folder)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as error:
        raise CodecError(f"damaged weights: {error}", weights) from None
    _load_state(codec, state, weights)
    digests = fingerprints(codec.config, state)
    found = {"fingerprint": digests.legacy, "model_fingerprint": digests.model, "token_fingerprint": digests.tokens}
    for key, value in stored.items():
        if value and value != found[key]:
            raise CodecError(
                f"damaged weights: they do not match the {key} {value} in {CONFIG_FILE} (found {found[key]})", weights
            )
    codec.set_fingerprints(digests)
    _attach_code_stats(codec, folder)
    return codec


def _check_checkpoint(checkpoint: Any, path: Path) -> dict[str, Any]:
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CodecError("not a Lightning checkpoint (no state_dict)", path)
    codec_config = checkpoint.get("hyper_parameters", {}).get("codec")
    if not isinstance(codec_config, dict):
        raise CodecError("not a codec training checkpoint (no codec config in its hyper-parameters)", path)
    return checkpoint


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a Lightning checkpoint of ``CodecModule`` safely (tensors and plain data only)."""
    return _check_checkpoint(load_torch_file(path), path)


def load_checkpoint(path: Path) -> Codec:
    """The generator of a ``codec train`` checkpoint (discriminators and optimizer state dropped), or a
    published codec's original checkpoint: Language-Codec, HiFi-Codec or WavTokenizer (``codec.external``)."""
    loaded = load_torch_file(path)
    for detect, load in (
        (is_languagecodec_checkpoint, load_languagecodec),  # before WavTokenizer's: both hold codebook layer 0
        (is_hificodec_checkpoint, load_hificodec),
        (is_wavtokenizer_checkpoint, load_wavtokenizer_checkpoint),
    ):
        if detect(loaded):
            codec = load(path, loaded)
            codec.code_stats = None
            return codec
    checkpoint = _check_checkpoint(loaded, path)
    codec = _build(dict(checkpoint["hyper_parameters"]["codec"]), path)
    state = {k[len("codec.") :]: v for k, v in checkpoint["state_dict"].items() if k.startswith("codec.")}
    _load_state(codec, state, path)
    codec.code_stats = None
    return codec


def _hub_folder(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not in the local cache, or not a valid id: reported by the caller
        return None


def load_codec(
    name_or_path: str | Path = "default", device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Codec:
    """Load a codec for inference (eval mode).

    Args:
        name_or_path: a shipped model name (see ``shipped_models()``; ``"default"`` is the speech
            tokenizer), a folder with ``config.json`` + ``model.safetensors``, a ``.ckpt`` of
            ``codec train``, or a hub id ``org/name`` already in the local Hugging Face cache.
        device: where to put the weights (one this machine has).
        dtype: weight type (float32, float16, bfloat16).

    Raises:
        CodecError: unknown name, missing or damaged files, weights that do not fit the config, or a
            device this machine does not have.
    """
    key = str(name_or_path)
    shipped = PRETRAINED_DIR / ALIASES.get(key, key)
    path = Path(key).expanduser()
    if "/" not in key and (shipped / CONFIG_FILE).is_file():
        codec = load_folder(shipped)
    elif path.is_dir():
        codec = load_folder(path)
    elif path.is_file():
        codec = load_checkpoint(path)
    else:
        hub = _hub_folder(key) if key.count("/") == 1 and not key.startswith((".", "/")) else None
        if hub is None:
            known = ", ".join(shipped_models()) or "none"
            raise CodecError(
                f"no such model: not a shipped name ({known}), a folder, a checkpoint, or a cached hub id", key
            )
        codec = load_folder(hub, name=key)
    return codec.to(device=available_device(device), dtype=dtype).eval()


def available_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` that this machine has.

    Raises:
        CodecError: not a device name, or an accelerator this machine does not have.
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise CodecError(f"device {device!r} is not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CodecError(f"device {device}: no CUDA GPU is available here; use cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise CodecError(f"device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise CodecError(f"device {device}: MPS is not available here; use cpu")
    return device
