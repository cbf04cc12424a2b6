"""``tts train``: LightningCLI over ``TTSModule`` and ``TTSDataModule`` driven by YAML recipes."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from codec.training.recipe_cli import RecipeCLI
from tts.training.data import TTSDataModule
from tts.training.module import TTSModule


class TTSRecipeCLI(RecipeCLI):
    """``codec train``'s CLI (a checkpoint restores state only; a refused recipe value is one line)
    whose model takes its text front end, token layout and tokenizer description from the data."""

    def add_arguments_to_parser(self, parser: Any) -> None:
        for name in ("frontend", "n_symbols", "codec", "n_codebooks", "codebook_size", "style_bins", "n_units"):
            parser.link_arguments(f"data.{name}", f"model.{name}", apply_on="instantiate")
        parser.link_arguments("model.generator", "data.generator")


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
