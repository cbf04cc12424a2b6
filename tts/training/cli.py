"""``tts train``: LightningCLI over ``TTSModule`` and ``TTSDataModule`` driven by YAML recipes."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from lightning.pytorch.cli import LightningCLI

from codec.errors import CodecError
from tts.training.data import TTSDataModule
from tts.training.module import TTSModule


class TTSRecipeCLI(LightningCLI):
    """``LightningCLI`` whose model takes its inventory, token layout and generator type from the data,
    and where a checkpoint given with ``--ckpt_path`` restores state only (the recipe and command
    line define the run, as for ``codec train``)."""

    def _parse_ckpt_path(self) -> None:
        """Keep the parsed configuration as given."""

    def add_arguments_to_parser(self, parser: Any) -> None:
        for name in ("frontend", "n_symbols", "codec", "n_codebooks", "codebook_size"):
            parser.link_arguments(f"data.{name}", f"model.{name}", apply_on="instantiate")
        parser.link_arguments("model.generator", "data.generator")

    def instantiate_classes(self) -> None:
        """Build model, data and trainer; a recipe value they refuse is a ``CodecError`` (one line)."""
        try:
            super().instantiate_classes()
        except ValueError as error:
            raise CodecError(f"the recipe or its options: {error}") from error


def run_training(args: Sequence[str]) -> None:
    """Run ``fit`` / ``validate`` with LightningCLI arguments, e.g.
    ``["fit", "--config", "recipes/tts/tiny-nar.yaml", "--trainer.max_steps", "5"]``."""
    import torch

    torch.set_flush_denormal(True)  # Adam's tiny moments otherwise slow CPU steps several times
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    try:
        TTSRecipeCLI(
            TTSModule,
            TTSDataModule,
            args=list(args),
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"prog": "tts train"},
        )
    finally:
        torch.set_flush_denormal(False)
