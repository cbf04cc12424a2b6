"""``NarTTS(style_levels=True)``: the generator reads the attribute levels an instruction asks for
(named by the instruction encoder's classifier), not the instruction's wording; the warm start of
the level embeddings and the classifier-only training objective (``styles``).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from tts.instruct.composing import compose
from tts.instruct.instructions import attribute_targets, parse_instruction
from tts.instruct.phrasings import LEVELS
from tts.models.batch import TTSBatch
from tts.models.instruction_encoder import encode_instructions
from tts.models.nar import NarTTS
from tts.sampling import SamplingOptions, generators_for
from tts.training.module import TTSModule

SYMBOLS, CODES = 8, 16
TINY = {"dim": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "instruction_layers": 1}
# two wordings per gender; the generator must render both alike
WORDINGS = (("A man speaks", "Make a male voice say it"), ("A woman speaks", "Make a female voice say it"))


def level_model(**extra: float) -> NarTTS:
    torch.manual_seed(0)
    return NarTTS(SYMBOLS, 1, CODES, style_loss=1.0, style_levels=True, **{**TINY, **extra})


def gender_batch(size: int, generator: torch.Generator) -> tuple[TTSBatch, torch.Tensor]:
    """Phones 1..7 of two frames each; a man's instruction gives token ``s`` per phone ``s``, a
    woman's ``s + 8``, in either of two wordings."""
    phones = torch.randint(1, SYMBOLS, (size, 4), generator=generator)
    gender = torch.randint(0, 2, (size,), generator=generator)
    wording = torch.randint(0, 2, (size,), generator=generator)
    codes = (phones + 8 * gender[:, None]).repeat_interleave(2, dim=1)[:, None]
    styles = [WORDINGS[int(g)][int(w)] for g, w in zip(gender, wording, strict=True)]
    none = torch.zeros(size, dtype=torch.long)
    ids, lengths = encode_instructions(styles)
    targets = torch.tensor([attribute_targets(style) for style in styles])
    frames = {"durations": torch.full_like(phones, 2), "codes": codes, "code_lengths": none + 8}
    prompt = {"prompt": codes[:, :, :0], "prompt_lengths": none}
    batch = TTSBatch(phones, none + 4, **frames, **prompt, instructions=ids, instruction_lengths=lengths)
    batch.style_targets = targets
    return batch, gender


def test_style_levels_need_the_classifier() -> None:
    with pytest.raises(ValueError, match="style_loss"):
        NarTTS(SYMBOLS, 1, CODES, style_levels=True, **TINY)


def test_the_generator_reads_the_levels_named_not_the_wording() -> None:
    model = level_model(instruction_drop=0.0)
    with torch.no_grad():
        model.style_levels.weight.normal_()
    batch, _ = gender_batch(6, torch.Generator().manual_seed(0))
    # training: the levels the instruction names, whatever its bytes
    _, style, _ = model._encode_batch(batch)
    assert batch.style_targets[:, 1:].abs().sum() == 0  # the wordings name a gender only
    for item, targets in enumerate(batch.style_targets.tolist()):
        row = model.style_levels.weight[model.style_levels.row("gender", targets[0])]
        assert torch.allclose(style[item], model.instruction_encoder.null + row)
    model.eval()
    # synthesis: the levels the classifier reads; no instruction, the null style
    ids, lengths = encode_instructions(["A man speaks", None])
    read = model.read_levels(model.instruction_encoder(ids, lengths), lengths)
    assert read[1].tolist() == [0] * len(LEVELS)
    styles = model.encode_style(ids, lengths, 2)
    assert torch.allclose(styles, model.level_style(read))
    assert torch.equal(styles[1], model.instruction_encoder.null.detach())
    batch.style_targets = None  # instructions without the levels they name: nothing to teach
    with pytest.raises(ValueError, match="style_targets"):
        model.loss(batch)


def test_pitch_levels_are_embedded_per_gender_asked() -> None:
    levels = level_model().style_levels
    with torch.no_grad():
        levels.weight.normal_()
    # gender, pitch, rate, loudness, whisper (1 + index; 0: not asked)
    asked = torch.tensor([[1, 4, 0, 0, 0], [2, 4, 0, 0, 0], [0, 4, 0, 0, 0], [0, 0, 0, 0, 0]])
    weight = levels.weight
    for item, gender in enumerate((1, 2)):
        expected = weight[levels.row("gender", gender)] + weight[levels.row("pitch", 4, gender)]
        assert torch.allclose(levels(asked)[item], expected)
    assert torch.allclose(levels(asked)[2], weight[levels.row("pitch", 4)])
    assert torch.equal(levels(asked)[3], torch.zeros(weight.shape[1]))
    rows = {levels.row("pitch", level, gender) for level in range(1, 6) for gender in range(3)}
    assert len(rows) == 15 and max(rows) < levels.row("rate", 0)


def test_a_tiny_level_model_renders_each_wording_of_a_gender_alike() -> None:
    model = level_model(instruction_drop=0.1, dropout=0.0)
    optimizer = torch.optim.AdamW(model.parameters(), 3e-3)
    draws = torch.Generator().manual_seed(1)
    for _ in range(250):
        optimizer.zero_grad()
        model.loss(gender_batch(16, draws)[0])["loss"].backward()
        optimizer.step()
    model.eval()
    batch, gender = gender_batch(16, torch.Generator().manual_seed(7))
    with torch.no_grad():
        read = model.read_levels(model.instruction_encoder(batch.instructions, batch.instruction_lengths), None)
    assert read.abs().sum() == 0  # no instruction lengths: nothing is read
    inputs = ("phones", "phone_lengths", "prompt", "prompt_lengths", "durations", "instructions", "instruction_lengths")
    sampling = {"generators": generators_for(range(16)), "options": SamplingOptions(temperature=0.5)}
    codes, _ = model.generate(**{name: getattr(batch, name) for name in inputs}, **sampling)
    followed = ((codes[:, 0] >= 8).long() == gender[:, None]).float().mean()
    assert followed >= 0.95, followed


def test_level_embeddings_start_from_the_encoders_reading() -> None:
    model = level_model()
    levels = model.style_levels
    levels.init_from_reading(model.instruction_encoder, samples=4)
    weight = levels.weight
    assert weight[levels.row("whisper", 1)].abs().sum() == 0  # no phrasing says "not whispered"
    assert weight[levels.row("whisper", 2)].abs().sum() > 0
    assert not torch.allclose(weight[levels.row("pitch", 1)], weight[levels.row("pitch", 5)])
    assert weight[levels.row("pitch", 1, gender=1)].abs().sum() == 0  # a man's "very low" learns afresh
    # a level's embedding is the encoder's mean reading of it, less the null style
    rng = random.Random(0)
    styles = [parse_instruction(compose({"gender": "male"}, "...", rng)).style for _ in range(4)]
    model.eval()
    expected = model.instruction_encoder(*encode_instructions(styles)).mean(0) - model.instruction_encoder.null
    assert torch.allclose(weight[levels.row("gender", 1)], expected, atol=1e-6)


def test_the_styles_objective_trains_the_classifier_alone() -> None:
    shape = {"n_symbols": SYMBOLS, "n_codebooks": 1, "codebook_size": CODES}
    for model in (TINY, {**TINY, "style_loss": 1.0}):  # a generator reading the vector would change
        with pytest.raises(ValueError, match="objective styles"):
            TTSModule("nar", model=model, objective="styles", **shape)
    module = TTSModule("nar", model={**TINY, "style_loss": 1.0, "style_levels": True}, objective="styles", **shape)
    trained = {name for name, p in module.model.named_parameters() if p.requires_grad}
    assert trained and all(name.startswith(("instruction_encoder.", "style_classifier.")) for name in trained)
    assert "instruction_encoder.null" not in trained  # every style the generator reads holds it
    batch, _ = gender_batch(8, torch.Generator().manual_seed(0))
    out = module._loss(batch)
    assert torch.equal(out["loss"], out["style_loss"])
    batch.instruction_lengths = torch.zeros(8, dtype=torch.long)
    empty = module._loss(batch)["loss"]
    assert float(empty.detach()) == 0.0 and empty.requires_grad


def test_a_level_model_started_from_an_instruction_model_starts_from_its_reading(tmp_path: Path) -> None:
    shape = {"n_symbols": SYMBOLS, "n_codebooks": 1, "codebook_size": CODES}
    levels = {**TINY, "style_loss": 1.0, "style_levels": True}
    plain = {key: value for key, value in TINY.items() if key != "instruction_layers"}
    for name, model in (("instruction", TINY), ("plain", plain)):
        torch.save({"state_dict": TTSModule("nar", model=model, **shape).state_dict()}, tmp_path / f"{name}.ckpt")
    warm = TTSModule("nar", model=levels, init_from=str(tmp_path / "instruction.ckpt"), **shape).model
    source = TTSModule("nar", model=TINY, init_from=str(tmp_path / "instruction.ckpt"), **shape).model
    assert torch.equal(warm.instruction_encoder.null, source.instruction_encoder.null)
    rows = warm.style_levels.weight
    assert rows[warm.style_levels.row("gender", 1)].abs().sum() > 0
    cold = TTSModule("nar", model=levels, init_from=str(tmp_path / "plain.ckpt"), **shape).model
    assert cold.style_levels.weight.abs().sum() == 0  # a random encoder's reading is no start


def test_level_embeddings_learn_at_their_own_rate() -> None:
    shape = {"n_symbols": SYMBOLS, "n_codebooks": 1, "codebook_size": CODES}
    levels = {**TINY, "style_loss": 1.0, "style_levels": True}
    module = TTSModule("nar", model=levels, lr=1e-3, level_lr_scale=10.0, warmup_steps=0, **shape)
    optimizer = module.configure_optimizers()[0][0]
    base, level = optimizer.param_groups
    assert len(level["params"]) == 1 and level["params"][0] is module.model.style_levels.weight
    assert level["lr"] == pytest.approx(1e-2) and base["lr"] == pytest.approx(1e-3)
    assert len(base["params"]) + 1 == len(list(module.parameters()))
    batch, _ = gender_batch(8, torch.Generator().manual_seed(0))
    module._loss(batch)["loss"].backward()
    optimizer.step()
    # from zero, one Adam step moves every row asked for by about its learning rate
    moved = module.model.style_levels.weight.detach().abs().amax(-1)
    assert float(moved[module.model.style_levels.row("gender", 1)]) == pytest.approx(1e-2, rel=0.1)
    plain = TTSModule("nar", model=TINY, **shape).configure_optimizers()[0][0]
    assert len(plain.param_groups) == 1
