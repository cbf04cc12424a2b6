"""Files written by ``torch.save``, read safely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from codec.errors import CodecError


def load_torch_file(path: Path, problem: str = "not a readable checkpoint") -> Any:
    """``torch.load`` with tensors and plain data only (no pickled code); a file it cannot read is a
    ``CodecError`` that starts with ``problem`` and gives torch's reason."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged or foreign files
        detail = str(error).strip().splitlines()
        reason = f"{type(error).__name__}: {detail[0]}" if detail else f"{type(error).__name__} (empty or truncated)"
        raise CodecError(f"{problem} ({reason})", path) from None
