"""The LightningModule that trains a ``Codec``: GAN training with manual optimization."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from lightning import LightningModule
from torch import nn

from codec.api import Codec
from codec.errors import CodecError
from codec.nn.pitch import filled_log2_f0
from codec.quantizers.usage import CodeHistogram
from codec.training.discriminators import Discriminators
from codec.training.losses import (
    MultiResolutionPhaseLoss,
    MultiScaleMelLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    level_loss,
    pitch_loss,
)
from codec.training.semantic import SemanticHead


def _plain(value: Any) -> Any:
    """Hyperparameters as plain JSON-like data (tuples and lists, mappings of any kind compare equal)."""
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _codec_parts(names: Sequence[str], option: str, allow_empty: bool = False) -> list[str]:
    """Validated codec part names (``encoder``, ``quantizer``, ``decoder``) of ``option``."""
    parts = list(dict.fromkeys(names))
    if set(parts) - {"encoder", "quantizer", "decoder"} or not (parts or allow_empty):
        raise ValueError(f"{option} {list(names)}: choose from encoder, quantizer, decoder")
    return parts


def _harmonic_of(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether ``ours`` is a ``vocos-hn`` decoder config with the same Vocos options as the plain
    ``vocos`` config ``theirs`` (its own pitch options aside)."""
    pitch_options = {"name", "sample_rate", "pitch_hop", "fmin", "fmax"}
    return (
        ours.get("name") == "vocos-hn"
        and theirs.get("name") == "vocos"
        and {k: v for k, v in ours.items() if k not in pitch_options}
        == {k: v for k, v in theirs.items() if k not in pitch_options}
    )


def warmup_cosine(warmup_steps: int, total_steps: int, final_ratio: float) -> Any:
    """A ``LambdaLR`` factor: linear warm-up, then cosine decay to ``final_ratio`` at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if total_steps <= warmup_steps:
            return 1.0
        progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
        return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class CodecModule(LightningModule):
    """Trains a codec with multi-scale mel L1, commitment loss and (optionally) adversarial and
    feature-matching losses from MPD / MRD / multi-band STFT / frame discriminators.

    The discriminators start after ``gan_start_step`` generator steps (warm-up on mel loss alone,
    which is what a CPU can afford first). ``trainer.global_step`` counts generator steps only.

    Args:
        codec: the ``Codec`` config (``sample_rate``, ``encoder``, ``quantizer``, ``decoder``, ``name``).
        discriminators: names from {"mpd", "mrd", "mbstft", "mrfd"}; empty for mel-only training.
        discriminator_options: per-name keyword arguments for the discriminators.
        mel_scales: ``(n_fft, hop, n_mels)`` per scale of the mel loss.
        mel_weight, adversarial_weight, feature_weight, commitment_weight: loss weights.
        phase_weight: weight of the multi-resolution phase loss (``MultiResolutionPhaseLoss``; 0 = off).
        level_weight: weight of the frame level loss in dB (``codec.training.losses.level_loss``, 20 ms
            frames; 0 = off).
        pitch_weight: weight of the pitch loss (``codec.training.losses.pitch_loss``) of decoders with a pitch
            head (``vocos-hn``); other decoders have none.
        pitch_teacher_forcing: a ``vocos-hn`` decoder's pulse train follows the target's F0 (YIN,
            ``codec.nn.pitch.filled_log2_f0``) in training steps instead of its own prediction, so that
            it learns to render harmonics before its pitch head is right; validation and inference
            use the prediction.
        adversarial_loss: "hinge" or "lsgan".
        lr, discriminator_lr: AdamW learning rates; ``betas`` and ``weight_decay`` shared.
        warmup_steps, total_steps, final_lr_ratio: warm-up + cosine schedule (``total_steps`` 0 =
            constant after warm-up).
        grad_clip, discriminator_grad_clip: gradient-norm clipping.
        gan_start_step: generator steps before the discriminators join.
        val_audio_items: validation items logged as audio and spectrogram images.
        init_from: a pretrained model (shipped name or folder) whose weights start the generator,
            e.g. to continue training a shipped model when no checkpoint is left; its config must
            match ``codec`` for every part it starts.
        init_modules: the codec parts taken from ``init_from`` (``encoder``, ``quantizer``,
            ``decoder``; default all), e.g. ``[encoder, decoder]`` to warm-start a new quantizer
            around a trained encoder and decoder. A ``vocos-hn`` decoder starts from a ``vocos``
            one of the same size: all but its pitch and voicing layers.
        freeze_modules: codec parts (``encoder``, ``quantizer``, ``decoder``) that do not train:
            no gradients, not in the optimizer, kept in eval mode (codebooks do not update). With
            ``[encoder, quantizer]`` a new decoder learns to read an existing model's tokens.
        semantic_weight: weight of the cross-entropy of a head that predicts the teacher units of
            ``data.semantic_units`` from the quantized latent (``codec.training.semantic``); 0 = off. The
            head is trained with the codec but is not part of it.
        semantic_classes: number of teacher units; set from ``data.semantic_units`` by ``codec train``.
    """

    def __init__(
        self,
        codec: dict[str, Any],
        discriminators: Sequence[str] = ("mpd", "mrd"),
        discriminator_options: dict[str, dict[str, Any]] | None = None,
        mel_scales: Sequence[Sequence[int]] = ((512, 128, 64), (1024, 256, 100), (2048, 512, 128)),
        mel_weight: float = 45.0,
        phase_weight: float = 0.0,
        level_weight: float = 0.0,
        pitch_weight: float = 10.0,
        pitch_teacher_forcing: bool = False,
        adversarial_weight: float = 1.0,
        feature_weight: float = 2.0,
        commitment_weight: float = 1.0,
        adversarial_loss: str = "hinge",
        lr: float = 5e-4,
        discriminator_lr: float = 2e-4,
        betas: Sequence[float] = (0.8, 0.9),
        weight_decay: float = 0.01,
        warmup_steps: int = 500,
        total_steps: int = 0,
        final_lr_ratio: float = 0.1,
        grad_clip: float = 1000.0,
        discriminator_grad_clip: float = 10.0,
        gan_start_step: int = 0,
        val_audio_items: int = 2,
        init_from: str | None = None,
        init_modules: Sequence[str] = ("encoder", "quantizer", "decoder"),
        freeze_modules: Sequence[str] = (),
        semantic_weight: float = 0.0,
        semantic_classes: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.codec = Codec.from_config(codec)
        if init_from:
            self._init_from(init_from, init_modules)
        self.frozen = _codec_parts(freeze_modules, "freeze_modules", allow_empty=True)
        if len(self.frozen) == 3:
            raise ValueError("freeze_modules: at least one of encoder, quantizer, decoder must train")
        if "quantizer" in self.frozen and "encoder" not in self.frozen:
            raise ValueError("freeze_modules: a frozen quantizer needs a frozen encoder (no gradient passes it)")
        for name in self.frozen:
            getattr(self.codec, name).requires_grad_(False).eval()
        self.discriminators = (
            Discriminators(list(discriminators), discriminator_options or {}) if discriminators else None
        )
        self.mel_loss = MultiScaleMelLoss(self.codec.sample_rate, [tuple(s) for s in mel_scales])
        self.phase_loss = MultiResolutionPhaseLoss() if phase_weight > 0 else None
        self.histogram = CodeHistogram(self.codec.n_codebooks, self.codec.codebook_size)
        if semantic_weight > 0 and semantic_classes < 1:
            raise ValueError("semantic_weight needs teacher units: set data.semantic_units")
        if semantic_weight > 0 and "encoder" in self.frozen:
            raise ValueError("semantic_weight: a frozen encoder cannot learn from the teacher")
        self.semantic_head = SemanticHead(self.codec.encoder.dim, semantic_classes) if semantic_weight > 0 else None

    def _init_from(self, name_or_path: str, modules: Sequence[str]) -> None:
        from codec.loading import load_codec

        pretrained = load_codec(name_or_path)
        for name in _codec_parts(modules, "init_modules"):
            if name == "decoder" and _harmonic_of(self.codec.config[name], pretrained.config[name]):
                # A harmonic decoder from a plain one: backbone and noise head carry over, and the
                # pitch and voicing layers start fresh.
                missing, unexpected = self.codec.decoder.load_state_dict(pretrained.decoder.state_dict(), strict=False)
                if unexpected or not all(key.startswith(("head.pitch.", "head.voicing.")) for key in missing):
                    raise ValueError(f"init_from {name_or_path!r}: its decoder does not match the recipe's")
                continue
            if pretrained.config[name] != self.codec.config[name]:
                raise ValueError(f"init_from {name_or_path!r}: its {name} differs from the recipe's codec")
            getattr(self.codec, name).load_state_dict(getattr(pretrained, name).state_dict())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resume under this run's settings: refuse a checkpoint of another architecture, and give
        the restored schedulers and optimizers this run's learning rates (a new ``--model.lr`` or
        schedule on resume takes effect; the saved step count is kept).

        Raises:
            CodecError: the checkpoint's codec, discriminators, frozen parts or semantic head differ from
                this run's.
        """
        saved = checkpoint.get("hyper_parameters", {})
        head = {"semantic_classes": saved.get("semantic_classes", 0) if saved.get("semantic_weight") else 0}
        ours = {"semantic_classes": self.hparams.semantic_classes if self.semantic_head is not None else 0}
        for key in ("codec", "discriminators", "discriminator_options", "freeze_modules", "semantic_classes"):
            theirs, mine = (head[key], ours[key]) if key in head else (saved.get(key), self.hparams[key])
            if (key in saved or key in head) and _plain(theirs) != _plain(mine):
                where = getattr(self.trainer, "ckpt_path", None) if self._trainer is not None else None
                raise CodecError(
                    f"the checkpoint's {key} differ from this run's; resume it with the recipe and options it was "
                    "trained with, or start a new run from its weights (--model.init_from)",
                    where,
                )
        hp = self.hparams
        factor = warmup_cosine(hp.warmup_steps, hp.total_steps, hp.final_lr_ratio)
        schedulers, optimizers = checkpoint.get("lr_schedulers", []), checkpoint.get("optimizer_states", [])
        for scheduler, optimizer, lr in zip(schedulers, optimizers, (hp.lr, hp.discriminator_lr), strict=False):
            current = lr * factor(scheduler["last_epoch"])
            scheduler["base_lrs"] = [lr] * len(scheduler["base_lrs"])
            scheduler["_last_lr"] = [current] * len(scheduler["base_lrs"])
            for group in optimizer["param_groups"]:
                group.update(initial_lr=lr, lr=current)

    def train(self, mode: bool = True) -> CodecModule:
        """Switch mode; frozen codec parts always stay in eval mode."""
        super().train(mode)
        for name in getattr(self, "frozen", ()):
            getattr(self.codec, name).eval()
        return self

    def _trainable(self) -> list[nn.Parameter]:
        head = list(self.semantic_head.parameters()) if self.semantic_head is not None else []
        return [p for p in self.codec.parameters() if p.requires_grad] + head

    def on_fit_start(self) -> None:
        data_rate = getattr(self.trainer.datamodule, "sample_rate", self.codec.sample_rate)
        if data_rate != self.codec.sample_rate:
            raise ValueError(f"data.sample_rate {data_rate} differs from the codec's {self.codec.sample_rate}")

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        betas = tuple(hp.betas)
        schedule = warmup_cosine(hp.warmup_steps, hp.total_steps, hp.final_lr_ratio)
        opt_g = torch.optim.AdamW(self._trainable(), lr=hp.lr, betas=betas, weight_decay=hp.weight_decay)
        sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, schedule)
        if self.discriminators is None:
            return [opt_g], [sched_g]
        opt_d = torch.optim.AdamW(
            self.discriminators.parameters(), lr=hp.discriminator_lr, betas=betas, weight_decay=hp.weight_decay
        )
        return [opt_g, opt_d], [sched_g, torch.optim.lr_scheduler.LambdaLR(opt_d, schedule)]

    def _gan_active(self) -> bool:
        return self.discriminators is not None and self.global_step >= self.hparams.gan_start_step

    @staticmethod
    def _unpack(batch: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(audio, units or None)`` of a batch with or without teacher units."""
        if isinstance(batch, torch.Tensor):
            return batch, None
        return batch[0], batch[1]

    def training_step(self, batch: torch.Tensor | Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One generator step (and one discriminator step once the GAN is active) on ``(B, 1, N)``
        audio, or on ``(audio, (B, T) unit ids)`` with a semantic head."""
        hp = self.hparams
        batch, units = self._unpack(batch)
        audio = self.codec.pad_to_hop(batch)
        optimizers = self.optimizers()
        opt_g = optimizers[0] if isinstance(optimizers, list) else optimizers
        driving = None
        pitch_hop = self.codec.decoder.pitch_hop
        if hp.pitch_teacher_forcing and pitch_hop:
            driving = filled_log2_f0(audio[:, 0], self.codec.sample_rate, pitch_hop)
        out = self.codec(audio, driving_log2_f0=driving)
        gan = self._gan_active()
        logs: dict[str, torch.Tensor] = {}

        if gan:
            # The raw optimizer, so that trainer.global_step counts generator steps only.
            opt_d = self.optimizers(use_pl_optimizer=False)[1]
            real_logits, _ = self.discriminators(audio)
            fake_logits, _ = self.discriminators(out.audio.detach())
            d_loss = discriminator_loss(real_logits, fake_logits, hp.adversarial_loss)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)  # scaled by the AMP scaler under 16-mixed
            scaler = self._scaler()
            if scaler is not None:
                scaler.unscale_(opt_d)  # clip what the optimizer will apply, not the scaled gradient
            logs["train/grad_norm_d"] = nn.utils.clip_grad_norm_(
                self.discriminators.parameters(), hp.discriminator_grad_clip
            )
            if scaler is not None:
                scaler.step(opt_d)  # skipped on non-finite gradients; the generator's step updates the scale
            else:
                opt_d.step()
            logs["train/loss_d"] = d_loss.detach()

        mel = self.mel_loss(out.audio, audio)
        g_loss = hp.mel_weight * mel + hp.commitment_weight * out.commit_loss
        if self.phase_loss is not None:
            phase = self.phase_loss(out.audio, audio)
            g_loss = g_loss + hp.phase_weight * phase
            logs["train/loss_phase"] = phase.detach()
        if hp.level_weight > 0:
            level = level_loss(out.audio, audio, self.codec.sample_rate // 50)
            g_loss = g_loss + hp.level_weight * level
            logs["train/loss_level"] = level.detach()
        if out.log2_f0 is not None and hp.pitch_weight > 0:
            pitch, gross = pitch_loss(out.log2_f0, audio, self.codec.sample_rate, self.codec.decoder.pitch_hop)
            g_loss = g_loss + hp.pitch_weight * pitch
            logs["train/loss_pitch"] = pitch.detach()
            logs["train/pitch_gross_error"] = gross
        if self.semantic_head is not None and units is not None:
            semantic, accuracy = self.semantic_head.loss(out.quantized, units)
            g_loss = g_loss + hp.semantic_weight * semantic
            logs["train/loss_semantic"] = semantic.detach()
            logs["train/semantic_accuracy"] = accuracy
        if gan:
            with torch.no_grad():
                _, real_features = self.discriminators(audio)
            fake_logits, fake_features = self.discriminators(out.audio)
            adversarial = generator_adversarial_loss(fake_logits, hp.adversarial_loss)
            features = feature_matching_loss(real_features, fake_features)
            g_loss = g_loss + hp.adversarial_weight * adversarial + hp.feature_weight * features
            logs["train/loss_adv"] = adversarial.detach()
            logs["train/loss_fm"] = features.detach()
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()  # clipped in on_before_optimizer_step, after AMP has unscaled the gradients
        logs["train/grad_norm_g"] = self._grad_norm_g
        schedulers = self._schedulers()
        schedulers[0].step()
        if gan:
            for scheduler in schedulers[1:]:
                scheduler.step()

        stats = CodeHistogram.batch_stats(out.codes, self.codec.codebook_size)
        logs["train/loss_g"], logs["train/loss_mel"] = g_loss.detach(), mel.detach()
        logs["train/loss_commit"], logs["train/perplexity"] = out.commit_loss.detach(), stats["perplexity"]
        logs["train/lr"] = torch.tensor(opt_g.param_groups[0]["lr"])
        self.log_dict(logs, prog_bar=False)
        self.log("mel", mel.detach(), prog_bar=True)
        return g_loss.detach()

    def _scaler(self) -> Any:
        """The AMP gradient scaler under ``16-mixed`` precision, else None."""
        return getattr(self.trainer.precision_plugin, "scaler", None)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip the generator's gradients, which the precision plugin has unscaled by now."""
        self._grad_norm_g = nn.utils.clip_grad_norm_(self._trainable(), self.hparams.grad_clip)

    def _schedulers(self) -> list[Any]:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return []
        return schedulers if isinstance(schedulers, list) else [schedulers]

    def on_validation_epoch_start(self) -> None:
        self.histogram.reset()

    def validation_step(self, batch: torch.Tensor | Sequence[torch.Tensor], batch_idx: int) -> None:
        """Mel distance of the eval-mode round trip; code histograms for utilization; the semantic
        head's accuracy."""
        batch, units = self._unpack(batch)
        audio = self.codec.pad_to_hop(batch)
        out = self.codec(audio)
        mel = self.mel_loss(out.audio, audio)
        self.histogram.update(out.codes)
        self.log("val/mel_distance", mel, prog_bar=True, sync_dist=True, batch_size=audio.shape[0])
        if out.log2_f0 is not None:
            _, gross = pitch_loss(out.log2_f0, audio, self.codec.sample_rate, self.codec.decoder.pitch_hop)
            self.log("val/pitch_gross_error", gross, sync_dist=True, batch_size=audio.shape[0])
        if self.semantic_head is not None and units is not None:
            semantic, accuracy = self.semantic_head.loss(out.quantized, units)
            self.log("val/loss_semantic", semantic, sync_dist=True, batch_size=audio.shape[0])
            self.log("val/semantic_accuracy", accuracy, sync_dist=True, batch_size=audio.shape[0])
        if batch_idx == 0:
            self._log_examples(audio, out.audio)

    def on_validation_epoch_end(self) -> None:
        stats = self.histogram.compute()
        for i in range(stats["utilization"].numel()):
            self.log(f"val/utilization_q{i}", stats["utilization"][i], sync_dist=True)
            self.log(f"val/perplexity_q{i}", stats["perplexity"][i], sync_dist=True)
        self.log("val/utilization", stats["utilization"].mean(), sync_dist=True)

    def _log_examples(self, audio: torch.Tensor, reconstruction: torch.Tensor) -> None:
        experiment = getattr(self.logger, "experiment", None)
        if not hasattr(experiment, "add_audio") or self.global_rank != 0:
            return
        from codec.training.plotting import spectrogram_image

        for i in range(min(self.hparams.val_audio_items, audio.shape[0])):
            for tag, signal in (("original", audio[i]), ("reconstruction", reconstruction[i])):
                clip = signal.detach().float().cpu().clamp(-1, 1)
                experiment.add_audio(f"val_{i}/{tag}", clip, self.global_step, self.codec.sample_rate)
                image = spectrogram_image(clip[0].numpy())
                experiment.add_image(f"val_{i}/{tag}_spectrogram", image, self.global_step, dataformats="HWC")
