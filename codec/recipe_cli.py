"""``codec train``: LightningCLI over ``CodecModule`` and ``AudioDataModule`` driven by YAML recipes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from unittest import mock

from lightning.pytorch.cli import LightningCLI

from codec.data import AudioDataModule
from codec.training import CodecModule


def run_training(args: Sequence[str]) -> None:
    """Run ``fit`` / ``validate`` / ... with LightningCLI arguments, e.g.
    ``["fit", "--config", "recipes/tiny-vq.yaml", "--trainer.max_steps", "5"]``.

    The run's ``config.yaml`` is rewritten on resume rather than refused. Denormal floats are
    flushed to zero: on CPUs, Adam's tiny second moments otherwise make the optimizer step several
    times slower.
    """
    import torch

    torch.set_flush_denormal(True)
    with mock.patch.object(sys, "argv", ["codec train", *args]):
        LightningCLI(
            CodecModule,
            AudioDataModule,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"prog": "codec train"},
        )
