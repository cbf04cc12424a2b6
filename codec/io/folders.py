"""Model folders written whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from codec.errors import CodecError


def replace_folder(folder: Path, fill: Callable[[Path], None]) -> Path:
    """Write a folder atomically: ``fill(staging)`` writes the files into a hidden folder beside
    ``folder``, which then takes its place (an existing ``folder`` is moved aside first and removed
    after). A failure leaves ``folder`` as it was. Permissions follow the umask, as for files
    written directly.

    Raises:
        CodecError: the parent folder cannot be written.
    """
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError as error:
        raise CodecError(f"cannot write the model folder: {error.strerror or error}", folder) from None
    umask = os.umask(0)
    os.umask(umask)
    try:
        staging.chmod(0o777 & ~umask)
        fill(staging)
        for written in staging.iterdir():
            written.chmod(0o666 & ~umask)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
