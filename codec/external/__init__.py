"""Published codecs' own weights behind the ``Codec`` API, from local files only.

``load_codec`` hands a folder here when its ``config.json`` is not ours:

- EnCodec 24 kHz, DAC 16 / 24 / 44 kHz, Mimi, WavTokenizer: ``config.json`` with a ``model_type``
  and ``model.safetensors`` (or ``pytorch_model.bin``), as their hub repos hold them; run by
  ``transformers`` (``codec.external.transformers_models``).
- SNAC 24 / 32 / 44 kHz: ``config.json`` with ``vq_strides`` and ``pytorch_model.bin``; run by the
  ``snac`` package (``codec.external.snac_model``).
- SpeechTokenizer: ``config.json`` with ``semantic_dimension`` and ``SpeechTokenizer.pt``
  (``codec.external.speechtokenizer_checkpoint``; ``load_codec`` also finds them one folder down).

Original-format files that ``load_codec`` takes as a file: WavTokenizer and Language-Codec Lightning
``.ckpt`` files, HiFi-Codec's ``{generator, encoder, quantizer}`` files (``*_checkpoint`` modules).

Both packages are the ``published`` extra; they are imported only when such a model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codec.errors import CodecError
from codec.external.base import ExternalCodec, Support

__all__ = ["ExternalCodec", "Support", "is_external", "load_external"]

TRANSFORMERS_TYPES = ("encodec", "dac", "mimi", "wavtokenizer")


def is_external(config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` describes a published model rather than one of ours."""
    from codec.external.speechtokenizer_checkpoint import is_speechtokenizer_config

    return "model_type" in config or "vq_strides" in config or is_speechtokenizer_config(config)


def load_external(folder: Path, config: dict[str, Any], name: str) -> ExternalCodec:
    """Load the published model in ``folder`` whose ``config.json`` is ``config``.

    Args:
        name: the model name its token files carry (the hub id, or the folder's name).

    Raises:
        CodecError: a kind of model not supported, a missing optional package (naming the extra),
            or files that are missing, damaged or do not fit the config.
    """
    from codec.external.speechtokenizer_checkpoint import is_speechtokenizer_config, load_speechtokenizer

    if is_speechtokenizer_config(config):
        return load_speechtokenizer(folder, name)
    if "model_type" in config:
        model_type = config["model_type"]
        if model_type not in TRANSFORMERS_TYPES:
            raise CodecError(
                f"unsupported model type {model_type!r} in config.json; published models supported: "
                f"{', '.join(TRANSFORMERS_TYPES)}, snac",
                folder,
            )
        from codec.external.transformers_models import load_transformers_folder

        return load_transformers_folder(folder, model_type, name)
    from codec.external.snac_model import load_snac_folder

    return load_snac_folder(folder, config, name)
