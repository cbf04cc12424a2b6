"""The training data module: audio folders, JSONL manifests or synthetic speech-like signals.

``AudioDataModule`` is configured from a LightningCLI ``data:`` section with plain values::

    data:
      train: /data/LibriTTS/train-clean-100   # a folder, a manifest.jsonl, or "synthetic"
      extra_train: [/data/styled/train.jsonl] # optional: more training rows (validation stays train's)
      sample_rate: 16000
      segment_seconds: 1.0

Training batches are random ``(B, 1, N)`` float32 segments; validation batches are the first
``val_segment_seconds`` of a fixed, deterministic set of files, so validation metrics are
comparable between runs. By default all training audio is decoded and resampled once, kept in
memory as int16, and each step only slices it (``codec.training.segments``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from codec.errors import CodecError
from codec.io.manifest import AudioItem, holdout, load_items, spread
from codec.training.segments import RandomSegmentDataset, load_bank, load_validation
from codec.training.semantic import Units, load_units
from codec.training.synthetic import SyntheticAudioDataset

SYNTHETIC = "synthetic"


class AudioDataModule(LightningDataModule):
    """Audio segments for codec training.

    Args:
        train: a folder of audio (searched recursively), a ``*.jsonl`` manifest, or ``"synthetic"``.
        val: same kinds, or None: then manifest rows whose split is ``val_split`` (or, when there are
            none, a hashed holdout of ``val_fraction`` of the training rows), a hashed holdout of
            ``val_fraction`` of a folder's files, or synthetic items with another seed.
        train_split: manifest split used for training; rows without a split count as training rows.
        val_split: manifest split used for validation.
        extra_train: more folders or manifests whose training rows (split ``train_split`` or none) join
            ``train``'s; their other rows are not used, so validation stays that of ``train``. Semantic
            units are served for ``train``'s files only (the extra files' segments get none).
        sample_rate: rate of the batches in Hz (files are resampled with soxr).
        segment_seconds: training segment length.
        batch_size: training batch size.
        val_batch_size: validation batch size.
        val_segment_seconds: validation uses the first this many seconds of each file (zero-padded).
        num_workers: training DataLoader workers (validation data is in memory and uses none).
        loudness_db: RMS target in dBFS of each file as a whole, applied to its segments without
            clipping (``codec.training.segments.normalize_loudness``), or None to keep levels.
        gain_jitter_db: training segments get a random gain in ``[-gain_jitter_db, gain_jitter_db]`` dB
            on top of ``loudness_db``.
        preload: decode and resample all training audio once into memory (int16); otherwise every
            training segment decodes its file.
        min_seconds: files shorter than this are not used.
        val_fraction: share of files held out for validation when ``val`` is None.
        max_val_items: at most this many validation files, evenly spread over the sorted list.
        synthetic_items: training items per epoch with ``train="synthetic"``.
        seed: seed of the synthetic data.
        semantic_units: a units file (``codec.training.semantic``, keyed like the manifest) whose ids are
            served with every segment, for a codec trained with a semantic head; None for audio only.
    """

    def __init__(
        self,
        train: str,
        val: str | None = None,
        train_split: str = "train",
        val_split: str = "dev",
        extra_train: list[str] | None = None,
        sample_rate: int = 16000,
        segment_seconds: float = 1.0,
        batch_size: int = 16,
        val_batch_size: int = 4,
        val_segment_seconds: float = 3.0,
        num_workers: int = 0,
        loudness_db: float | None = -23.0,
        gain_jitter_db: float = 3.0,
        preload: bool = True,
        min_seconds: float = 0.3,
        val_fraction: float = 0.05,
        max_val_items: int = 64,
        synthetic_items: int = 2000,
        seed: int = 0,
        semantic_units: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.train = train
        self.val = val
        self.train_split = train_split
        self.val_split = val_split
        self.extra_train = list(extra_train or [])
        self.sample_rate = sample_rate
        self.segment_samples = round(segment_seconds * sample_rate)
        self.val_segment_samples = round(val_segment_seconds * sample_rate)
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size
        self.num_workers = num_workers
        self.loudness_db = loudness_db
        self.gain_jitter_db = gain_jitter_db
        self.preload = preload
        self.min_seconds = min_seconds
        self.val_fraction = val_fraction
        self.max_val_items = max_val_items
        self.synthetic_items = synthetic_items
        self.seed = seed
        self.semantic_units = semantic_units
        self.units: Units | None = None
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None

    def split_items(self) -> tuple[list[AudioItem], list[AudioItem]]:
        """(train, val) files of the non-synthetic sources, before decoding; empty for synthetic ones.

        Raises:
            CodecError: a source is missing, or has no files for its split.
        """
        train, val = self._own_split()
        if self.extra_train and self.train == SYNTHETIC:
            raise CodecError("extra_train adds to real audio; synthetic training data takes none", self.extra_train[0])
        for source in self.extra_train:
            rows = [item for item in load_items(source) if item.split in (None, self.train_split)]
            if not rows:
                raise CodecError(f"no rows with split {self.train_split!r}", source)
            # Keys are prefixed by their source so that they never meet train's semantic units.
            train += [dataclasses.replace(item, key=f"{source}:{item.key}") for item in rows]
        return train, val

    def _own_split(self) -> tuple[list[AudioItem], list[AudioItem]]:
        items = [] if self.train == SYNTHETIC else load_items(self.train)
        train = [item for item in items if item.split in (None, self.train_split)]
        if items and not train:
            raise CodecError(f"no rows with split {self.train_split!r}", self.train)
        if self.val == SYNTHETIC:
            return train, []
        if self.val is not None:
            val = [item for item in load_items(self.val) if item.split in (None, self.val_split)]
            if not val:
                raise CodecError(f"no rows with split {self.val_split!r}", self.val)
            return train, val
        val = [item for item in items if item.split == self.val_split]
        return (train, val) if val else holdout(train, self.val_fraction)

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets (once); training audio is decoded only for fitting."""
        fit = stage in (None, "fit")
        if (self.train_dataset is not None or not fit) and self.val_dataset is not None:
            return
        train_items, val_items = self.split_items()
        if self.semantic_units is not None and self.units is None:
            if SYNTHETIC in (self.train, self.val):
                raise CodecError("semantic units need real audio, not synthetic data", self.semantic_units)
            self.units = load_units(self.semantic_units)
            try:
                self.units.hop(self.sample_rate)
            except ValueError as error:
                raise CodecError(str(error), self.semantic_units) from None
        if fit and self.train_dataset is None:
            self.train_dataset = self._train_dataset(train_items)
        if self.val_dataset is None:
            self.val_dataset = self._val_dataset(train_items, val_items)

    def _train_dataset(self, items: list[AudioItem]) -> Dataset:
        if self.train == SYNTHETIC:
            return SyntheticAudioDataset(
                self.synthetic_items,
                self.segment_samples,
                self.sample_rate,
                seed=self.seed,
                loudness_db=self.loudness_db,
                gain_jitter_db=self.gain_jitter_db,
            )
        bank = load_bank(items, self.sample_rate, self.min_seconds, self.preload)
        if bank is None:
            raise CodecError(f"no readable training audio of at least {self.min_seconds} s", self.train)
        world_size = self.trainer.world_size if self.trainer is not None else 1
        num_items = max(math.ceil(int(bank.lengths.sum()) / self.segment_samples), self.batch_size * world_size)
        hop = self.units.hop(self.sample_rate) if self.units is not None else 1
        return RandomSegmentDataset(
            bank, self.segment_samples, num_items, self.loudness_db, self.gain_jitter_db, self.units, hop
        )

    def _val_dataset(self, train_items: list[AudioItem], val_items: list[AudioItem]) -> Dataset:
        if not val_items and SYNTHETIC in (self.train, self.val):
            return SyntheticAudioDataset(
                self.max_val_items, self.val_segment_samples, self.sample_rate, self.seed + 1, self.loudness_db
            )
        if not val_items:
            warnings.warn(f"{self.train}: nothing held out; validating on the training files", stacklevel=3)
            extra = tuple(f"{source}:" for source in self.extra_train)
            val_items = [item for item in train_items if not extra or not item.key.startswith(extra)]
        kept = [item for item in val_items if item.duration is None or item.duration >= self.min_seconds]
        dataset = load_validation(
            spread(kept, self.max_val_items),
            self.sample_rate,
            self.val_segment_samples,
            round(self.min_seconds * self.sample_rate),
            self.loudness_db,
            self.units,
        )
        if dataset is None:
            raise CodecError("no readable validation audio", self.val or self.train)
        return dataset

    @property
    def semantic_classes(self) -> int:
        """Number of teacher units (0 without ``semantic_units``)."""
        if self.semantic_units is None:
            return 0
        if self.units is None:
            self.units = load_units(self.semantic_units)
        return self.units.classes

    def train_dataloader(self) -> DataLoader:
        """Batches of ``(B, 1, segment_samples)`` float32 (with ``semantic_units``, paired with
        ``(B, segment_samples / hop)`` int64 ids)."""
        if self.train_dataset is None:
            self.setup("fit")
        return DataLoader(
            self.train_dataset,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def val_dataloader(self) -> DataLoader:
        """Batches of ``(B, 1, val_segment_samples)`` float32, the same every time."""
        if self.val_dataset is None:
            self.setup("validate")
        return DataLoader(self.val_dataset, batch_size=self.val_batch_size, shuffle=False)
