"""``CodecModule`` under a real ``lightning.Trainer`` on the tiny recipes: every parameter of the codec and
the discriminators trains, the mel distance falls, ``global_step`` counts generator steps, and a
``codec train`` run resumes from its checkpoint."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import lightning
import numpy as np
import pytest
import torch
import yaml

from codec.cli.main import main
from codec.training.data import AudioDataModule
from codec.training.losses import mel_distance
from codec.training.module import CodecModule, warmup_cosine
from codec.training.synthetic import SyntheticAudioDataset

RECIPES = Path(__file__).resolve().parent.parent / "recipes" / "codec"
TINY = sorted(p.stem for p in RECIPES.glob("tiny-*.yaml"))
RATE = 16000


def recipe(name: str) -> dict[str, Any]:
    return yaml.safe_load((RECIPES / f"{name}.yaml").read_text())


def module(name: str, seed: int = 0, **overrides: Any) -> CodecModule:
    lightning.seed_everything(seed, verbose=False)
    return CodecModule(**{**recipe(name)["model"], **overrides})


def data(name: str = "tiny-vq", **overrides: Any) -> AudioDataModule:
    """The recipe's data section, with few items."""
    settings = {**recipe(name)["data"], "synthetic_items": 8, "max_val_items": 2, **overrides}
    return AudioDataModule(**settings)


def trainer(max_steps: int, **overrides: Any) -> lightning.Trainer:
    settings = {
        "max_steps": max_steps,
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "limit_val_batches": 0,
        "num_sanity_val_steps": 0,
        **overrides,
    }
    return lightning.Trainer(**settings)


def snapshot(tensors: Any) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in tensors}


def adam_steps(optimizer: torch.optim.Optimizer) -> set[int]:
    """The distinct step counts AdamW keeps for the parameters it has state for."""
    return {int(state["step"]) for state in optimizer.state.values()}


def test_tiny_recipes_cover_every_quantizer_family() -> None:
    assert {recipe(name)["model"]["codec"]["quantizer"]["name"] for name in TINY} == {"vq", "rvq", "grvq", "mcrvq"}


# --------------------------------------------------------------------------- (a) nothing is left untrained


@pytest.mark.parametrize("name", TINY)
def test_one_gan_step_trains_every_parameter_and_codebook(name: str) -> None:
    """After one step with the GAN active, every trainable tensor of the codec and of every
    discriminator has moved, and every EMA codebook has been updated (no unused modules)."""
    model = module(name, gan_start_step=0)
    assert model.discriminators is not None
    names = {n.split(".")[1] for n, _ in model.named_parameters() if n.startswith("discriminators.")}
    assert len(names) >= 1
    params_before = snapshot(model.named_parameters())
    buffers_before = snapshot(model.named_buffers())
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any(n.startswith("codec.encoder.") for n in trainable)
    assert any(n.startswith("codec.quantizer.") for n in trainable)
    assert any(n.startswith("codec.decoder.") for n in trainable)
    assert sum(n.startswith("discriminators.") for n in trainable) > 10

    fit = trainer(1)
    fit.fit(model, data(name))
    assert fit.global_step == 1

    params = dict(model.named_parameters())
    unchanged = [n for n in trainable if torch.equal(params[n].detach(), params_before[n])]
    assert unchanged == [], f"{len(unchanged)} of {len(trainable)} parameters did not train: {unchanged[:10]}"
    # The generator loss was the last backward: every codec parameter holds a non-zero gradient.
    no_gradient = [
        n for n in trainable if n.startswith("codec.") and (params[n].grad is None or not params[n].grad.any())
    ]
    assert no_gradient == []

    buffers = dict(model.named_buffers())
    codebooks = [n for n in buffers if n.endswith("_codebook.embed")]
    assert len(codebooks) == model.codec.n_codebooks
    stale = [n for n in codebooks if torch.equal(buffers[n], buffers_before[n])]
    assert stale == [], f"codebooks not updated: {stale}"

    metrics = fit.callback_metrics
    for key in ("train/loss_d", "train/loss_adv", "train/loss_fm", "train/loss_mel", "train/loss_g"):
        assert key in metrics, key
        assert math.isfinite(float(metrics[key])), key


# --------------------------------------------------------------------------- (c) global_step


@pytest.mark.parametrize(("gan_start_step", "discriminator_steps"), [(0, 3), (2, 1), (5, 0)])
def test_global_step_counts_generator_steps_only(gan_start_step: int, discriminator_steps: int) -> None:
    model = module("tiny-vq", gan_start_step=gan_start_step)
    d_before = snapshot(model.discriminators.named_parameters())
    fit = trainer(3)
    fit.fit(model, data())

    assert fit.global_step == 3
    opt_g, opt_d = fit.optimizers
    assert {id(p) for p in opt_g.state} == {id(p) for p in model.codec.parameters()}
    assert adam_steps(opt_g) == {3}
    if discriminator_steps:
        assert {id(p) for p in opt_d.state} == {id(p) for p in model.discriminators.parameters()}
        assert adam_steps(opt_d) == {discriminator_steps}
    else:
        assert len(opt_d.state) == 0
        after = dict(model.discriminators.named_parameters())
        assert all(torch.equal(after[n], before) for n, before in d_before.items())
    assert [config.scheduler.last_epoch for config in fit.lr_scheduler_configs] == [3, discriminator_steps]
    assert ("train/loss_d" in fit.callback_metrics) == (gan_start_step < 3)


def test_mel_only_training_has_one_optimizer() -> None:
    model = module("tiny-vq", discriminators=[])
    assert model.discriminators is None
    fit = trainer(2)
    fit.fit(model, data())
    assert fit.global_step == 2
    assert len(fit.optimizers) == 1
    assert adam_steps(fit.optimizers[0]) == {2}
    assert "train/loss_d" not in fit.callback_metrics


def test_warmup_cosine_schedule() -> None:
    factor = warmup_cosine(warmup_steps=10, total_steps=110, final_ratio=0.1)
    assert factor(0) == pytest.approx(0.1)
    assert factor(9) == pytest.approx(1.0)
    assert factor(10) == pytest.approx(1.0)
    assert factor(60) == pytest.approx(0.55)
    assert factor(110) == pytest.approx(0.1)
    assert factor(500) == pytest.approx(0.1)
    constant = warmup_cosine(warmup_steps=4, total_steps=0, final_ratio=0.1)
    assert [constant(s) for s in (0, 3, 4, 1000)] == pytest.approx([0.25, 1.0, 1.0, 1.0])


def test_data_rate_must_match_the_codec() -> None:
    model = module("tiny-vq", discriminators=[])
    with pytest.raises(ValueError, match="8000 differs from the codec's 16000"):
        trainer(1).fit(model, data(sample_rate=8000))


# --------------------------------------------------------------------------- (b) it learns


def test_mel_only_training_lowers_validation_mel_distance() -> None:
    """200 mel-only steps of tiny-vq on synthetic speech: the eval-mode mel distance on held-out
    synthetic items falls by about a third (measured 0.67-0.68 of the start over seeds 0-2)."""
    scales = [(512, 128, 40), (1024, 256, 64)]
    model = module("tiny-vq", discriminators=[], lr=5e-3, mel_scales=scales)
    held_out = SyntheticAudioDataset(8, int(0.4 * RATE), RATE, seed=123, loudness_db=-23.0)
    batch = model.codec.pad_to_hop(torch.stack([held_out[i] for i in range(len(held_out))]))

    def distance() -> float:
        model.codec.eval()
        with torch.no_grad():
            value = float(mel_distance(model.codec(batch).audio, batch, RATE, scales))
        model.codec.train()
        return value

    initial = distance()
    fit = trainer(200)
    fit.fit(model, data(synthetic_items=4000))
    assert fit.global_step == 200
    final = distance()
    assert math.isfinite(final)
    assert final < 0.8 * initial, (initial, final)
    # The module's own loss agrees with the metric.
    model.codec.eval()
    with torch.no_grad():
        assert float(model.mel_loss(model.codec(batch).audio, batch)) == pytest.approx(final, rel=1e-4)


# --------------------------------------------------------------------------- (d) codec train + resume


def test_codec_train_writes_a_checkpoint_and_resumes_from_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    common = [
        "--config",
        str(RECIPES / "tiny-vq.yaml"),
        "--trainer.logger.init_args.save_dir",
        str(tmp_path / "runs"),
        "--data.synthetic_items",
        "8",
        "--trainer.limit_val_batches",
        "1",
        "--trainer.enable_progress_bar",
        "false",
    ]
    assert main(["train", "fit", *common, "--trainer.max_steps", "4"]) == 0
    run_dir = tmp_path / "runs" / "tiny-vq" / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    assert last.is_file()
    assert (run_dir / "config.yaml").is_file()
    first = torch.load(last, map_location="cpu", weights_only=True)
    assert first["global_step"] == 4
    assert first["hyper_parameters"]["codec"]["name"] == "tiny-vq"
    assert len(first["optimizer_states"]) == 2
    g_state, d_state = (s["state"] for s in first["optimizer_states"])
    assert {int(s["step"]) for s in g_state.values()} == {4}
    assert {int(s["step"]) for s in d_state.values()} == {1}  # the recipe's GAN starts at step 3
    assert [s["last_epoch"] for s in first["lr_schedulers"]] == [4, 1]  # D schedule runs with D
    weights_4 = {k: v for k, v in first["state_dict"].items() if v.is_floating_point()}

    # Another seed: a re-initialized model would be far from the saved one. A new learning rate
    # given on resume takes effect (Lightning's CLI would replace it by the checkpoint's).
    resume = ["--ckpt_path", str(last), "--trainer.max_steps", "6", "--seed_everything", "1", "--model.lr", "1e-4"]
    assert main(["train", "fit", *common, *resume]) == 0
    second = torch.load(last, map_location="cpu", weights_only=True)
    assert second["global_step"] == 6
    hp = second["hyper_parameters"]
    assert hp["lr"] == 1e-4 != first["hyper_parameters"]["lr"]
    assert second["lr_schedulers"][0]["base_lrs"] == [1e-4]
    expected_lr = 1e-4 * warmup_cosine(hp["warmup_steps"], hp["total_steps"], hp["final_lr_ratio"])(6)
    assert second["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(expected_lr)
    g_state, d_state = (s["state"] for s in second["optimizer_states"])
    assert {int(s["step"]) for s in g_state.values()} == {6}
    assert {int(s["step"]) for s in d_state.values()} == {3}
    assert [s["last_epoch"] for s in second["lr_schedulers"]] == [6, 3]
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]["max_steps"] == 6

    weights_6 = second["state_dict"]
    moved = torch.cat([(weights_6[k].float() - v.float()).flatten() for k, v in weights_4.items()])
    scale = torch.cat([v.float().flatten() for v in weights_4.values()])
    relative = float(moved.norm() / scale.norm())
    assert 0 < relative < 0.05, relative
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_resuming_with_another_architecture_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    common = ["--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--data.synthetic_items", "4"]
    common += ["--trainer.limit_val_batches", "0", "--trainer.enable_progress_bar", "false"]
    assert main(["train", "fit", "--config", str(RECIPES / "tiny-vq.yaml"), *common, "--trainer.max_steps", "1"]) == 0
    last = tmp_path / "runs" / "tiny-vq" / "run" / "checkpoints" / "last.ckpt"
    capsys.readouterr()
    other = ["--config", str(RECIPES / "tiny-causal.yaml"), *common, "--ckpt_path", str(last)]
    assert main(["train", "fit", *other, "--trainer.max_steps", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "last.ckpt" in err and "codec differ" in err and "\n" not in err
    frozen = ["--config", str(RECIPES / "tiny-vq.yaml"), *common, "--ckpt_path", str(last)]
    assert main(["train", "fit", *frozen, "--model.freeze_modules", "[encoder]", "--trainer.max_steps", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "freeze_modules differ" in err and "--model.init_from" in err


def test_init_from_warm_starts_the_chosen_parts(tmp_path: Path) -> None:
    """``init_modules: [encoder, decoder]`` copies those parts of a saved model exactly and leaves a
    quantizer of another family freshly initialised; a part whose config differs is refused."""
    from codec.loading import save_pretrained

    source = module("tiny-vq", seed=1).codec
    save_pretrained(source, tmp_path / "vq")
    rvq_config = {**recipe("tiny-vq")["model"]["codec"], "quantizer": recipe("tiny-rvq")["model"]["codec"]["quantizer"]}
    fresh = module("tiny-vq", seed=2, codec=rvq_config).codec
    warm = module(
        "tiny-vq", seed=2, codec=rvq_config, init_from=str(tmp_path / "vq"), init_modules=["encoder", "decoder"]
    ).codec
    for part in ("encoder", "decoder"):
        for (name, value), expected in zip(
            getattr(warm, part).state_dict().items(), getattr(source, part).state_dict().values(), strict=True
        ):
            assert torch.equal(value, expected), f"{part}.{name}"
    for (name, value), expected in zip(
        warm.quantizer.state_dict().items(), fresh.quantizer.state_dict().values(), strict=True
    ):
        assert torch.equal(value, expected), f"quantizer.{name}"
    with pytest.raises(ValueError, match="quantizer differs"):
        module("tiny-vq", codec=rvq_config, init_from=str(tmp_path / "vq"))
    with pytest.raises(ValueError, match="choose from"):
        module("tiny-vq", init_from=str(tmp_path / "vq"), init_modules=["discriminators"])


@pytest.mark.parametrize(
    ("weight", "value", "logged_as"), [("phase_weight", 5.0, "phase"), ("level_weight", 0.5, "level")]
)
def test_optional_loss_joins_the_generator_loss(weight: str, value: float, logged_as: str) -> None:
    """With ``phase_weight`` or ``level_weight`` the logged generator loss is mel + commitment + that
    weighted loss."""
    model = module("tiny-vq", discriminators=[], **{weight: value})
    fit = trainer(1, log_every_n_steps=1)
    fit.fit(model, data())
    logged = fit.logged_metrics
    expected = model.hparams.mel_weight * logged["train/loss_mel"] + logged["train/loss_commit"]
    expected = expected + value * logged[f"train/loss_{logged_as}"]
    assert logged[f"train/loss_{logged_as}"] > 0
    torch.testing.assert_close(logged["train/loss_g"], expected, rtol=1e-5, atol=1e-5)


def test_frozen_encoder_and_quantizer_keep_their_weights_and_tokens() -> None:
    """``freeze_modules: [encoder, quantizer]`` trains the decoder alone: after a real fit the
    encoder's weights and the codebooks (EMA buffers included) are bit-identical, so the codes are
    too; the frozen parts stayed in eval mode while the decoder trained, and only decoder
    parameters are in the optimizer."""
    model = module("tiny-vq", discriminators=[], freeze_modules=["encoder", "quantizer"])
    reference = copy.deepcopy(model.codec).eval()
    decoder = snapshot(model.codec.decoder.named_parameters())
    modes: list[tuple[bool, bool, bool]] = []

    class RecordModes(lightning.Callback):
        def on_train_batch_start(self, *_: Any) -> None:
            codec = model.codec
            modes.append((codec.encoder.training, codec.quantizer.training, codec.decoder.training))

    fit = trainer(3, callbacks=[RecordModes()], limit_val_batches=1, val_check_interval=2)
    fit.fit(model, datamodule=data())
    assert modes == [(False, False, True)] * 3
    for part in ("encoder", "quantizer"):
        for (name, value), expected in zip(
            getattr(model.codec, part).state_dict().items(), getattr(reference, part).state_dict().values(), strict=True
        ):
            assert torch.equal(value, expected), f"{part}.{name}"
    trained = dict(model.codec.decoder.named_parameters())
    assert all(not torch.equal(trained[name], value) for name, value in decoder.items())
    optimized = {id(p) for group in fit.optimizers[0].param_groups for p in group["params"]}
    assert optimized == {id(p) for p in model.codec.decoder.parameters()}
    audio = 0.1 * torch.randn(1, 1, 8 * model.codec.hop_length)
    assert torch.equal(model.codec.eval().encode_codes(audio), reference.encode_codes(audio))


def test_freeze_modules_are_checked() -> None:
    with pytest.raises(ValueError, match="choose from"):
        module("tiny-vq", freeze_modules=["discriminators"])
    with pytest.raises(ValueError, match="needs a frozen encoder"):
        module("tiny-vq", freeze_modules=["quantizer"])
    with pytest.raises(ValueError, match="must train"):
        module("tiny-vq", freeze_modules=["encoder", "quantizer", "decoder"])


def harmonic_config() -> dict[str, Any]:
    """tiny-vq with its decoder made harmonic (``vocos-hn``)."""
    config = recipe("tiny-vq")["model"]["codec"]
    return {**config, "decoder": {**config["decoder"], "name": "vocos-hn", "sample_rate": config["sample_rate"]}}


@pytest.mark.parametrize("teacher_forcing", [False, True])
def test_pitch_loss_joins_the_generator_loss_and_trains_the_pitch_head(teacher_forcing: bool) -> None:
    """The speech-like training signals are voiced, so the pitch loss is positive and the pitch
    head moves; the logged generator loss is mel + commitment + weighted pitch."""
    model = module("tiny-vq", codec=harmonic_config(), discriminators=[], pitch_teacher_forcing=teacher_forcing)
    before = snapshot(model.codec.decoder.head.pitch.state_dict().items())
    fit = trainer(2, log_every_n_steps=1)
    fit.fit(model, data())
    logged = fit.logged_metrics
    expected = model.hparams.mel_weight * logged["train/loss_mel"] + logged["train/loss_commit"]
    expected = expected + model.hparams.pitch_weight * logged["train/loss_pitch"]
    assert logged["train/loss_pitch"] > 0 and 0 <= logged["train/pitch_gross_error"] <= 1
    torch.testing.assert_close(logged["train/loss_g"], expected, rtol=1e-5, atol=1e-5)
    after = model.codec.decoder.head.pitch.state_dict()
    assert not all(torch.equal(before[k], after[k]) for k in before)


def test_init_from_a_plain_decoder_starts_a_harmonic_one(tmp_path: Path) -> None:
    """Backbone and noise head come from the plain Vocos decoder; pitch and voicing layers start fresh."""
    from codec.loading import save_pretrained

    source = module("tiny-vq", seed=1).codec
    save_pretrained(source, tmp_path / "vq")
    warm = module("tiny-vq", seed=2, codec=harmonic_config(), init_from=str(tmp_path / "vq")).codec
    fresh = module("tiny-vq", seed=2, codec=harmonic_config()).codec
    plain = source.decoder.state_dict()
    for name, value in warm.decoder.state_dict().items():
        expected = plain[name] if name in plain else fresh.decoder.state_dict()[name]
        assert torch.equal(value, expected), name
    other = {**harmonic_config(), "decoder": {**harmonic_config()["decoder"], "num_layers": 1}}
    with pytest.raises(ValueError, match="decoder differs"):
        module("tiny-vq", codec=other, init_from=str(tmp_path / "vq"))


def test_bfloat16_mixed_precision_trains_a_harmonic_codec_with_float32_spectra() -> None:
    """Under ``bf16-mixed`` the layers run in bfloat16 while every STFT, inverse STFT, pulse train
    and pitch track stays in float32 (FFTs have no bfloat16 kernels): a GAN step with a harmonic
    decoder and the pitch loss gives finite losses and moves every codec part."""
    model = module("tiny-vq", codec=harmonic_config(), gan_start_step=0)
    before = snapshot(model.codec.named_parameters())
    fit = trainer(2, log_every_n_steps=1, precision="bf16-mixed")
    fit.fit(model, data())
    logged = fit.logged_metrics
    assert all(math.isfinite(float(logged[key])) for key in ("train/loss_g", "train/loss_d", "train/loss_pitch"))
    after = dict(model.codec.named_parameters())
    for part in ("encoder", "quantizer", "decoder"):
        names = [n for n in before if n.startswith(part) and after[n].requires_grad]
        assert any(not torch.equal(before[n], after[n]) for n in names), part
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.codec.eval()(torch.randn(1, 1, 3200) * 0.1)
    assert out.audio.dtype == torch.float32 and out.log2_f0.dtype == torch.float32


def test_16_mixed_clips_and_steps_unscaled_gradients() -> None:
    """Under ``16-mixed`` the AMP scaler multiplies the losses before backward (here by 1024: a CPU
    GradScaler, which Lightning does not make on its own). Clipping and the discriminator's step must
    see the gradients unscaled: the logged norms match a float32 run's, and both networks move."""
    from lightning.pytorch.plugins.precision import MixedPrecision

    def norms(**precision: Any) -> tuple[float, float, CodecModule, dict[str, torch.Tensor]]:
        model = module("tiny-vq", gan_start_step=0)
        before = snapshot(model.discriminators.named_parameters())
        fit = trainer(1, log_every_n_steps=1, **precision)
        fit.fit(model, data())
        logged = fit.logged_metrics
        return float(logged["train/grad_norm_g"]), float(logged["train/grad_norm_d"]), model, before

    g32, d32, _, _ = norms(precision="32")
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    g16, d16, model, before = norms(plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)])
    assert 0.5 < g16 / g32 < 2 and 0.5 < d16 / d32 < 2, (g16, g32, d16, d32)
    after = dict(model.discriminators.named_parameters())
    assert any(not torch.equal(before[name], after[name]) for name in before)


def test_decoder_refit_recipe_keeps_the_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``recipes/codec/decoder-refit.yaml`` after a model's recipe trains the decoder alone on the main
    corpus plus ``extra_train``, levels spread over +-12 dB: the refitted model's token fingerprint
    is its source's (generators trained on the tokens keep working), its model fingerprint is not."""
    import soundfile as sf

    from codec import load_codec
    from codec.loading import save_pretrained

    monkeypatch.chdir(tmp_path)
    save_pretrained(module("tiny-vq", seed=1).codec, tmp_path / "source")
    rng = np.random.default_rng(0)
    for folder in ("main", "styled"):
        for index in range(2):
            (tmp_path / folder).mkdir(exist_ok=True)
            sf.write(tmp_path / folder / f"{index}.wav", 0.1 * rng.standard_normal(RATE * 3 // 2), RATE)
    args = ["train", "fit", "--config", str(RECIPES / "tiny-vq.yaml"), "--config", str(RECIPES / "decoder-refit.yaml")]
    args += ["--data.train", str(tmp_path / "main"), "--data.extra_train", f"[{tmp_path / 'styled'}]"]
    args += ["--model.init_from", str(tmp_path / "source"), "--trainer.max_steps", "2"]
    args += ["--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--trainer.enable_progress_bar", "false"]
    args += ["--trainer.limit_val_batches", "1", "--trainer.num_sanity_val_steps", "0"]
    assert main(args) == 0
    run = tmp_path / "runs" / "decoder-refit" / "run"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data"]["gain_jitter_db"] == 12.0 and config["model"]["freeze_modules"] == ["encoder", "quantizer"]
    assert main(["export", str(run / "checkpoints" / "last.ckpt"), "-o", str(tmp_path / "refit")]) == 0
    source, refit = (load_codec(str(tmp_path / name)).fingerprints() for name in ("source", "refit"))
    assert refit.tokens == source.tokens and refit.model != source.model
