"""``TTSModule``: trains one generator type on ``TTSBatch``es."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule

from codec.training.module import warmup_cosine
from tts.models import GENERATORS
from tts.models.batch import TTSBatch
from tts.pretrained import generator_arguments

OBJECTIVES = ("all", "durations", "styles", "levels")


class TTSModule(LightningModule):
    """A generator (``nar``, ``ar`` or ``ar-aligned``) with AdamW and a warm-up + cosine schedule.

    Args:
        generator: the generator type.
        frontend: the text front end with its phone inventory (``TextFrontend.to_dict()``; linked
            from the data), stored with the model.
        n_symbols: the inventory's size (linked from the data).
        codec: the tokenizer's description (linked from the data: name, fingerprints, rates); an
            exported model checks it against the codec it decodes with.
        n_codebooks, codebook_size: the tokens' (linked from the data).
        model: the generator's own arguments (width, layers, ...).
        lr, warmup_steps, total_steps, final_lr_ratio, weight_decay: the optimizer and schedule.
        level_lr_scale: the level embeddings' learning rate (``NarTTS(style_levels=True)``) as a
            multiple of ``lr``. Adam moves a weight by about its learning rate per step, and a
            level's row learns only from the items that ask for it, so rows that start at zero (a
            pitch level per gender) stay too small to move the voice at the base rate.
        val_audio_items: validation items whose generated and true tokens are logged as audio.
        style_bins: the instruction corpus's style bins (linked from the data; stored with the
            model so that ``tts eval --instruct`` judges by the bins that labelled its data).
        init_from: a ``tts train`` checkpoint, an exported model folder or a shipped model name whose weights start the
            model wherever names and shapes match (e.g. an instruction model from a plain TTS run);
            resuming ignores it.
        n_units: the semantic units' count (linked from the data; ``ar-semantic``).
        objective: ``all`` trains the whole generator; ``durations`` (``nar``) refits only the
            duration predictor of the model it starts from (``init_from``) on its frozen phone
            encoder, every other weight kept and run as at inference (``docs/instruct.md``);
            ``styles`` (``nar`` with ``style_loss``) trains only the instruction encoder and its
            level classifier, on the instructions alone (many cheap steps); ``levels`` (``nar``
            with ``style_levels``) trains only the level embeddings the generator reads, on the
            generator's own losses with every other weight kept and run as at inference, so that
            speech without instruction stays exactly as it was.
    """

    def __init__(
        self,
        generator: str = "nar",
        frontend: dict[str, Any] | None = None,
        n_symbols: int = 0,
        codec: dict[str, Any] | None = None,
        n_codebooks: int = 1,
        codebook_size: int = 4096,
        model: dict[str, Any] | None = None,
        lr: float = 5e-4,
        warmup_steps: int = 500,
        total_steps: int = 100_000,
        final_lr_ratio: float = 0.1,
        weight_decay: float = 0.01,
        val_audio_items: int = 2,
        style_bins: dict[str, Any] | None = None,
        init_from: str | None = None,
        n_units: int = 0,
        objective: str = "all",
        level_lr_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if generator not in GENERATORS:
            raise ValueError(f"unknown generator {generator!r}; known: {', '.join(GENERATORS)}")
        if n_symbols < 1:
            raise ValueError("no phone inventory (n_symbols)")
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")
        if objective == "durations" and (generator != "nar" or not init_from):
            raise ValueError("objective durations refits the duration predictor of a trained nar model (init_from)")
        if objective == "styles" and (generator != "nar" or not (model or {}).get("style_levels")):
            # a generator that reads the style vector would change its voice with the encoder
            raise ValueError("objective styles trains the level classifier of a nar model with style_levels")
        if objective == "levels" and (generator != "nar" or not (model or {}).get("style_levels") or not init_from):
            raise ValueError("objective levels refits the level embeddings of a trained nar model with style_levels")
        self.save_hyperparameters()
        # a plain dict: a tokenizer stored as an attribute would join the state_dict and the checkpoints
        self._decoders: dict[str, Any] = {}
        self.model = GENERATORS[generator](n_symbols, n_codebooks, codebook_size, **generator_arguments(model, n_units))
        if init_from:
            self._initialize(init_from)
        trained = {
            "durations": ("duration.",),
            "styles": ("instruction_encoder.", "style_classifier."),
            "levels": ("style_levels.",),
        }
        if objective in trained:
            for name, parameter in self.model.named_parameters():
                # the null style is part of every style the generator reads (level_style)
                parameter.requires_grad_(name.startswith(trained[objective]) and name != "instruction_encoder.null")

    def train(self, mode: bool = True) -> TTSModule:
        """Training mode, except for a duration or level refit: the frozen network runs without
        dropout, as at inference (the duration predictor and the level embeddings have none)."""
        super().train(mode)
        if self.hparams.objective in ("durations", "levels"):
            self.model.eval()
        return self

    def _loss(self, batch: TTSBatch) -> dict[str, torch.Tensor]:
        if self.hparams.objective == "durations":
            return self.model.duration_refit_loss(batch)
        if self.hparams.objective == "styles":
            return self.model.style_refit_loss(batch)
        return self.model.loss(batch)

    def _initialize(self, checkpoint: str) -> None:
        """Copy the weights of ``checkpoint`` whose names and shapes match this model's (a model
        that reads levels, started from an instruction model that did not, gets that model's
        reading of each level as its level embeddings: ``LevelEmbeddings.init_from_reading``)."""
        from codec.errors import CodecError
        from codec.io.torch_files import load_torch_file
        from tts.pretrained import load_generator, shipped_tts

        if Path(checkpoint).is_dir() or checkpoint in shipped_tts():
            generator, _ = load_generator(checkpoint)
            state = {f"model.{k}": v for k, v in generator.state_dict().items()}
        else:
            loaded = load_torch_file(checkpoint)
            state = loaded.get("state_dict") if isinstance(loaded, dict) else None
            if not isinstance(state, dict):
                raise CodecError("not a tts training checkpoint or model folder (no state_dict)", checkpoint)
        own = self.state_dict()
        matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not matched:
            raise CodecError("no weight of this checkpoint fits the model", checkpoint)
        self.load_state_dict(matched, strict=False)
        # a model that read style vectors hands its reading of each level on; from anything else
        # (a plain model, a random encoder) the level embeddings start at zero
        levels = getattr(self.model, "style_levels", None)
        read = any(key.startswith("model.instruction_encoder.") for key in matched)
        if levels is not None and "model.style_levels.weight" not in matched and read:
            levels.init_from_reading(self.model.instruction_encoder)

    def training_step(self, batch: TTSBatch, batch_idx: int) -> torch.Tensor:
        out = self._loss(batch)
        self.log_dict(
            {f"train/{key}": value for key, value in out.items()}, prog_bar=False, batch_size=len(batch.phones)
        )
        return out["loss"]

    def validation_step(self, batch: TTSBatch, batch_idx: int) -> None:
        out = self._loss(batch)
        self.log_dict({f"val/{key}": value for key, value in out.items()}, batch_size=len(batch.phones))
        if batch_idx == 0:
            self._log_examples(batch)

    def _log_examples(self, batch: TTSBatch) -> None:
        """Audio of the first ``val_audio_items`` items: generated (with the true durations for
        ``nar``) and their tokens decoded, when the tokenizer named by the data is installed."""
        experiment = getattr(self.logger, "experiment", None)
        if not hasattr(experiment, "add_audio") or self.global_rank != 0 or not self.hparams.val_audio_items:
            return
        codec = self._decoder()
        if codec is None:
            return
        from tts.sampling import generators_for

        n = min(self.hparams.val_audio_items, len(batch.phones))
        extra = {"durations": batch.durations[:n]} if self.hparams.generator == "nar" else {}
        if batch.instructions is not None:
            extra |= {"instructions": batch.instructions[:n], "instruction_lengths": batch.instruction_lengths[:n]}
        generated, lengths = self.model.generate(
            batch.phones[:n],
            batch.phone_lengths[:n],
            batch.prompt[:n],
            batch.prompt_lengths[:n],
            generators_for(range(n)),
            **extra,
        )
        for tag, codes, frames in (
            ("generated", generated, lengths),
            ("tokens", batch.codes[:n], batch.code_lengths[:n]),
        ):
            tokens = codec.tokens(codes.cpu(), frames)
            for i, clip in enumerate(codec.decode(tokens)):
                experiment.add_audio(f"val_{i}/{tag}", clip.clamp(-1, 1)[None], self.global_step, codec.sample_rate)

    def _decoder(self) -> Any:
        """The tokenizer that decodes the tokens (loaded once), or None when it is not installed."""
        name = (self.hparams.codec or {}).get("model_name") or "default"
        if name not in self._decoders:
            from codec import CodecError, load_codec

            try:
                codec = load_codec(name)
                same = codec.fingerprints().tokens == (self.hparams.codec or {}).get("token_fingerprint")
                self._decoders[name] = codec if same else None
            except CodecError:
                self._decoders[name] = None
        return self._decoders[name]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Drop the tokenizer weights that earlier runs saved beside the model, so that those runs resume."""
        state = checkpoint.get("state_dict", {})
        for key in [k for k in state if k.startswith("_codec.")]:
            del state[key]

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        levels, others = [], []
        for name, parameter in self.model.named_parameters():
            if parameter.requires_grad:
                (levels if name.startswith("style_levels.") else others).append(parameter)
        groups = [{"params": others}] + ([{"params": levels, "lr": hp.lr * hp.level_lr_scale}] if levels else [])
        optimizer = torch.optim.AdamW(groups, lr=hp.lr, weight_decay=hp.weight_decay)
        schedule = warmup_cosine(hp.warmup_steps, hp.total_steps, hp.final_lr_ratio)
        return [optimizer], [{"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, schedule), "interval": "step"}]
