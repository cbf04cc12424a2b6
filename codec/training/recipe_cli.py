"""``codec train``: LightningCLI over ``CodecModule`` and ``AudioDataModule`` driven by YAML recipes."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from codec.errors import CodecError
from codec.training.data import AudioDataModule
from codec.training.module import CodecModule


class RecipeCLI(LightningCLI):
    """``LightningCLI`` where the recipe and the command line define a resumed run.

    Lightning's CLI replaces the model arguments by those saved in ``--ckpt_path``'s checkpoint,
    which silently drops a changed ``--model.lr`` or schedule on resume. Here a checkpoint only
    restores state (weights, optimizer, step); ``CodecModule.on_load_checkpoint`` refuses one of
    another architecture.
    """

    def _parse_ckpt_path(self) -> None:
        """Keep the parsed configuration as given."""

    def add_arguments_to_parser(self, parser: Any) -> None:
        """The semantic head's size follows the data's teacher units."""
        parser.link_arguments("data.semantic_classes", "model.semantic_classes", apply_on="instantiate")

    def instantiate_classes(self) -> None:
        """Build model, data and trainer; a recipe value they refuse is a ``CodecError`` (one line)."""
        try:
            super().instantiate_classes()
        except ValueError as error:
            raise CodecError(f"the recipe or its options: {error}") from error

    def after_fit(self) -> None:
        """Write each ``save_last`` checkpoint once more at the step where training stopped.

        Lightning writes ``last`` only at its checkpoint steps and epoch ends, so a run whose
        ``max_steps`` falls inside an epoch between checkpoint steps would lose its final steps to a
        resume or an export of ``last.ckpt``.
        """
        trainer = self.trainer
        if not trainer.global_step:
            return
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.save_last and callback.dirpath:
                name = callback.CHECKPOINT_NAME_LAST + callback.FILE_EXTENSION
                trainer.save_checkpoint(os.path.join(callback.dirpath, name))


def run_training(args: Sequence[str]) -> None:
    """Run ``fit`` / ``validate`` / ... with LightningCLI arguments, e.g.
    ``["fit", "--config", "recipes/codec/tiny-vq.yaml", "--trainer.max_steps", "5"]``.

    The run's ``config.yaml`` is rewritten on resume rather than refused; on resume the given
    recipe and arguments apply (``RecipeCLI``). Denormal floats are
    flushed to zero: on CPUs, Adam's tiny second moments otherwise make the optimizer step several
    times slower (restored afterwards).
    """
    import torch

    torch.set_flush_denormal(True)
    # TF32 matrix products on GPUs that have them: training tolerates them, and they are several times
    # faster than full float32. Inference keeps full precision (batch-invariant tokens).
    matmul_precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    # sys.argv stays as it is ("codec train fit ..."): Lightning's DDP launcher re-runs it for the
    # other ranks. LightningCLI warns when it gets args besides sys.argv; here that is intended.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    try:
        RecipeCLI(
            CodecModule,
            AudioDataModule,
            args=list(args),
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"prog": "codec train"},
        )
    finally:
        torch.set_flush_denormal(False)  # the process default, for callers that go on (tests)
        torch.set_float32_matmul_precision(matmul_precision)
