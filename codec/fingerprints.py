"""Digests that identify a model and the tokens it makes.

- ``model``: the whole model, its config (without its name: a renamed copy is the same model) and
  every weight;
- ``tokens``: what decides the codes: sample rate, encoder and quantizer configs and weights. A
  decoder-only fine-tune keeps it, so token files it wrote before still decode; a new encoder or
  codebook changes it;
- ``legacy``: the whole-model digest of versions before 0.2 (config with its name, as a Python
  ``repr``), which the token files they wrote carry; kept to read those files.

Configs are hashed as canonical JSON (sorted keys, no spaces), weights as float32 bytes in key order,
so a digest does not depend on dtype, device or Python version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import torch

TOKEN_PARTS = ("encoder", "quantizer")
"""The codec parts whose weights (and configs) decide the codes."""


@dataclass(frozen=True)
class Fingerprints:
    """16 lower-case hex digits each: ``model``, ``tokens`` and ``legacy`` (see the module)."""

    model: str
    tokens: str
    legacy: str


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _digest(head: bytes, state: dict[str, torch.Tensor], keys: list[str]) -> str:
    digest = hashlib.sha256(head)
    for key in keys:
        digest.update(key.encode())
        digest.update(state[key].detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def fingerprints(
    config: dict[str, Any],
    state: dict[str, torch.Tensor],
    token_parts: tuple[str, ...] = TOKEN_PARTS,
    token_config: tuple[str, ...] = TOKEN_PARTS,
) -> Fingerprints:
    """The fingerprints of a codec ``config`` (``CodecNetwork.config``) and its ``state_dict``.

    ``token_parts``: top-level modules whose weights decide the codes; ``token_config``: the config
    keys that do (besides the sample rate). An external model (``codec.external``) names its own.
    """
    keys = sorted(state)
    token_keys = [key for key in keys if key.split(".")[0] in token_parts]
    token_head = {"sample_rate": config["sample_rate"], **{key: config[key] for key in token_config}}
    return Fingerprints(
        model=_digest(_canonical({k: v for k, v in config.items() if k != "name"}), state, keys),
        tokens=_digest(_canonical(token_head), state, token_keys),
        legacy=_digest(repr(sorted(config.items())).encode(), state, keys),
    )
