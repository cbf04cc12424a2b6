"""``codec tokenize``: corpus tokenization on several devices or machines through Lightning.

Every process plans the same length-bucketed batches over all inputs (``codec.corpus.run``) and takes
every ``world_size``-th one, reads it in worker processes, encodes it in ``predict_step``, and its
prediction writer writes the results: ``.tok`` files, or shards plus an index file per rank. Since
each item's tokens do not depend on its batch-mates (``codec.inference.batching``), the union of the ranks'
outputs equals a one-process ``codec encode`` of the same inputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import lightning
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader

from codec.api import Codec
from codec.corpus.jobs import ClipReader, ClipResult, Job
from codec.corpus.run import CorpusReport, Outcome, encode_results, pending_batches, write_outcomes
from codec.corpus.writers import TokenWriter


class TokenizeModule(lightning.LightningModule):
    """Wraps a ``Codec`` for ``Trainer.predict``: a batch of read clips -> ``Outcome`` list.

    Args:
        codec: the model.
        jobs: all inputs, in the same order on every rank.
        make_writer: ``rank -> TokenFiles | TokenShards`` (which also says what is done).
        batch_size, batch_seconds: length-bucketing limits (``codec.corpus.run.length_batches``).
        workers: reading processes per rank.
        encode: passed to ``Codec.encode`` (``n_codebooks``, ``chunk_seconds``).
    """

    def __init__(
        self,
        codec: Codec,
        jobs: Sequence[Job],
        make_writer: Callable[[int], TokenWriter],
        batch_size: int,
        batch_seconds: float,
        workers: int,
        **encode: Any,
    ) -> None:
        super().__init__()
        self.codec = codec
        self.jobs = list(jobs)
        self.make_writer = make_writer
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.workers = workers
        self.encode = encode
        self.writer: TokenWriter | None = None

    def predict_dataloader(self) -> DataLoader:
        """This rank's pending batches, read by ``workers`` processes."""
        rank, world_size = self.trainer.global_rank, self.trainer.world_size
        if self.device.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, self.trainer.num_devices)))
        self.writer = self.make_writer(rank)
        batches = pending_batches(self.jobs, self.writer, self.batch_size, self.batch_seconds, rank, world_size)
        reader = ClipReader(self.jobs, batches, self.codec.sample_rate)
        workers = self.workers if batches else 0
        return DataLoader(reader, batch_size=None, num_workers=workers, prefetch_factor=2 if workers else None)

    def predict_step(self, batch: list[ClipResult], batch_idx: int) -> list[Outcome]:
        """Encode one batch (numpy clips; the codec moves audio windows to its device itself)."""
        return encode_results(self.codec, batch, **self.encode)


class TokenPredictionWriter(BasePredictionWriter):
    """Writes each rank's predictions with that rank's writer and counts what it did."""

    def __init__(self) -> None:
        super().__init__(write_interval="batch")
        self.report = CorpusReport()

    def write_on_batch_end(
        self,
        trainer: lightning.Trainer,
        pl_module: TokenizeModule,
        prediction: list[Outcome],
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Write one batch's tokens (failures go to ``report``)."""
        assert pl_module.writer is not None
        write_outcomes(pl_module.jobs, prediction, pl_module.writer, self.report)

    def on_predict_end(self, trainer: lightning.Trainer, pl_module: TokenizeModule) -> None:
        """Write the last shard."""
        if pl_module.writer is not None:
            pl_module.writer.close()


def tokenize_corpus(
    codec: Codec,
    jobs: Sequence[Job],
    make_writer: Callable[[int], TokenWriter],
    batch_size: int = 32,
    batch_seconds: float = 320.0,
    workers: int = 1,
    progress: bool = True,
    trainer_options: dict[str, Any] | None = None,
    **encode: Any,
) -> tuple[CorpusReport, int, int, bool]:
    """Tokenize ``jobs`` on every process of a Lightning run (``trainer_options``: ``accelerator``,
    ``devices``, ``num_nodes``, ``strategy``).

    Returns:
        This rank's report, the items written and failed on all ranks, and the number of processes
        on rank 0 (0 on the other ranks).
    """
    module = TokenizeModule(codec, jobs, make_writer, batch_size, batch_seconds, workers, **encode)
    writer = TokenPredictionWriter()
    trainer = lightning.Trainer(
        **(trainer_options or {}),
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        use_distributed_sampler=False,
        callbacks=[writer],
    )
    trainer.predict(module, return_predictions=False)
    report = writer.report
    counts = torch.tensor([report.done, len(report.failures)], dtype=torch.float64)
    done, failed = (int(v) for v in trainer.strategy.reduce(counts, reduce_op="sum"))
    return report, done, failed, trainer.world_size if trainer.is_global_zero else 0
