"""The generators' building blocks: the cached transformer, per-item sampling, and tiny ``nar`` and
``ar`` models that learn a small synthetic text-to-token task.

The task: each phone id ``s`` lasts ``1 + s % 3`` frames; first-codebook token ``2 s + f`` at frame
``f`` of the phone; the second codebook is a fixed function of the first. Everything is learnable
from the phones, so a model that learned it generates the tokens exactly.
"""

from __future__ import annotations

import pytest
import torch

from tts.models import nar as nar_module
from tts.models.ar import ArTTS
from tts.models.ar_aligned import ArAlignedTTS
from tts.models.ar_semantic import ArSemanticTTS
from tts.models.batch import TTSBatch
from tts.models.maskgit import draw_unknown, remask_least_confident
from tts.models.nar import NarTTS
from tts.models.regulation import decoding_chunks
from tts.models.transformer import KVCache, Transformer
from tts.sampling import SamplingOptions, filter_logits, generators_for, sample

SYMBOLS, CODES, LEVELS = 12, 32, 2


def toy_batch(size: int, generator: torch.Generator, prompt_phones: int = 0) -> TTSBatch:
    """``size`` random phone strings and their tokens; the first ``prompt_phones`` phones' frames
    (when the string is longer) become the prompt."""
    n_phones = torch.randint(3, 7, (size,), generator=generator)
    phones = torch.zeros(size, 6, dtype=torch.long)
    for item in range(size):
        phones[item, : n_phones[item]] = torch.randint(1, SYMBOLS, (int(n_phones[item]),), generator=generator)
    durations = (1 + phones % 3) * (phones > 0)
    frames = durations.sum(1)
    codes = torch.zeros(size, LEVELS, int(frames.max()), dtype=torch.long)
    for item in range(size):
        first = [2 * int(s) + f for s, d in zip(phones[item], durations[item], strict=True) for f in range(int(d))]
        codes[item, 0, : len(first)] = torch.tensor(first) % CODES
        codes[item, 1] = (codes[item, 0] * 5 + 3) % CODES
    prompt_lengths = torch.zeros(size, dtype=torch.long)
    if prompt_phones:
        prompt_lengths = durations[:, :prompt_phones].sum(1)
        target = TTSBatch(
            phones[:, prompt_phones:],
            n_phones - prompt_phones,
            durations[:, prompt_phones:],
            codes,
            prompt_lengths,
            torch.stack([torch.roll(c, -int(p), dims=-1) for c, p in zip(codes, prompt_lengths, strict=True)]),
            frames - prompt_lengths,
        )
        return target
    return TTSBatch(phones, n_phones, durations, codes[:, :, :0], prompt_lengths, codes, frames)


def train(model: torch.nn.Module, steps: int, prompt_phones: int = 0) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), 3e-3)
    generator = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):
        out = model.loss(toy_batch(16, generator, prompt_phones))
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
    model.eval()


# --------------------------------------------------------------------------- transformer


def test_decoding_with_the_cache_equals_one_pass_over_the_whole_sequence() -> None:
    torch.manual_seed(0)
    model = Transformer(32, 2, 4, causal=True, dropout=0.0).eval()
    x = torch.randn(2, 12, 32)
    valid = torch.ones(2, 12, dtype=torch.bool)
    valid[1, 3:5] = False  # the second item has 3 phones, padded to 5
    prefix = torch.zeros_like(valid)
    prefix[:, :5] = True
    whole = model(x, valid, prefix)
    cache = KVCache()
    parts = [model(x[:, :5], valid[:, :5], prefix[:, :5], cache)]
    parts += [model(x[:, t : t + 1], valid[:, t : t + 1], prefix[:, t : t + 1], cache) for t in range(5, 12)]
    assert (torch.cat(parts, 1) - whole)[valid].abs().max() < 1e-5


def test_a_padded_item_computes_what_it_computes_alone() -> None:
    torch.manual_seed(0)
    model = Transformer(32, 2, 4, causal=True, dropout=0.0).eval()
    x = torch.randn(2, 12, 32)
    valid = torch.ones(2, 12, dtype=torch.bool)
    valid[1, 3:5] = False
    valid[1, 10:] = False
    prefix = torch.zeros_like(valid)
    prefix[:, :5] = True
    batched = model(x, valid, prefix)[1, valid[1]]
    alone = model(x[1:2, valid[1]], valid[1:2, valid[1]], prefix[1:2, valid[1]])[0]
    assert (batched - alone).abs().max() < 1e-5
    # the prefix sees itself both ways: changing its last position changes its first
    changed = x.clone()
    changed[:, 4] += torch.randn(32)
    assert not torch.allclose(model(changed, valid, prefix)[0, 0], model(x, valid, prefix)[0, 0])


# --------------------------------------------------------------------------- sampling


def test_top_k_and_top_p_keep_the_right_tokens() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(filter_logits(logits, SamplingOptions(top_k=2))).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, SamplingOptions(top_p=0.7))).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, SamplingOptions(top_p=0.5))).tolist() == [[True, False, False, False]]
    with pytest.raises(ValueError, match="top_p"):
        SamplingOptions(top_p=0)


def test_a_batch_draws_what_its_items_draw_alone() -> None:
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    batch = sample(logits, generators_for([10, 11, 12, 13]), SamplingOptions(temperature=1.0, top_k=20))
    alone = [
        sample(logits[i : i + 1], generators_for([10 + i]), SamplingOptions(temperature=1.0, top_k=20))
        for i in range(4)
    ]
    assert batch.tolist() == torch.cat(alone).tolist()


def test_repetition_aware_sampling_draws_a_looping_token_again() -> None:
    logits = torch.tensor([[10.0, 9.0, -10.0]])
    looping = torch.zeros(1, 10, dtype=torch.long)  # token 0 ten times
    options = SamplingOptions(top_k=1, repetition_window=10, repetition_threshold=0.5)
    drawn = [int(sample(logits, generators_for([seed]), options, looping)) for seed in range(40)]
    assert 1 in drawn  # redrawn from the unfiltered distribution, where token 1 has 27 %
    assert set(
        int(sample(logits, generators_for([s]), options, torch.ones(1, 10, dtype=torch.long))) for s in range(5)
    ) == {0}


# --------------------------------------------------------------------------- nar


def test_maskgit_draws_each_item_from_its_softmax_and_ranks_by_log_probability() -> None:
    probabilities = torch.tensor([0.5, 0.25, 0.15, 0.1, 0.0])
    logits = probabilities.log().expand(40000, -1)

    def draw(options: SamplingOptions, seeds: tuple[int, ...] = (0, 1)) -> tuple[torch.Tensor, torch.Tensor]:
        rows = logits[: 20000 * len(seeds)]
        return draw_unknown(rows, [20000] * len(seeds), generators_for(seeds), options)

    drawn, confidence = draw(SamplingOptions())
    frequencies = torch.bincount(drawn, minlength=5) / 40000
    assert (frequencies - probabilities).abs().max() < 0.01 and frequencies[4] == 0
    assert torch.allclose(confidence, probabilities.log()[drawn])
    assert torch.equal(draw(SamplingOptions(), (1,))[0], drawn[20000:])  # an item draws alike in a batch
    top, top_confidence = draw(SamplingOptions(top_k=2, temperature=0.5))
    assert set(top.unique().tolist()) == {0, 1}
    assert torch.allclose(top_confidence, probabilities.log()[top])  # of the logits, not the filtered ones
    assert set(draw(SamplingOptions(temperature=0))[0].unique().tolist()) == {0}
    # re-masking keeps masked the least likely draws: log-probability -20 before 0
    unknown = torch.tensor([[True, True, True, True, False]])
    rows = unknown.nonzero(as_tuple=True)
    confidence = torch.tensor([0.0, -20.0, 0.0, -20.0])
    still = remask_least_confident(unknown, rows, confidence, [4], torch.tensor([2]), generators_for([0]))
    assert still.tolist() == [[False, True, False, True, False]]


def test_nar_decodes_a_long_batch_in_groups_that_draw_what_the_whole_batch_draws(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert [c.tolist() for c in decoding_chunks(torch.tensor([900, 900, 300, 2500, 10]), 2000)] == [
        [0, 1],
        [2],
        [3],
        [4],
    ]
    torch.manual_seed(0)
    model = NarTTS(SYMBOLS, LEVELS, CODES, dim=32, heads=2, encoder_layers=1, decoder_layers=1).eval()
    phones = torch.randint(1, SYMBOLS, (4, 9))
    lengths, durations = torch.tensor([9, 5, 7, 9]), torch.randint(1, 4, (4, 9))
    prompt, prompt_lengths = torch.randint(0, CODES, (4, LEVELS, 6)), torch.tensor([6, 0, 3, 6])
    whole = model.generate(phones, lengths, prompt, prompt_lengths, generators_for(range(4)), durations=durations)
    monkeypatch.setattr(nar_module, "DECODING_POSITIONS", 20)  # smaller groups
    grouped = model.generate(phones, lengths, prompt, prompt_lengths, generators_for(range(4)), durations=durations)
    assert torch.equal(whole[0], grouped[0]) and torch.equal(whole[1], grouped[1])


def test_a_tiny_nar_model_learns_the_task_and_generates_it() -> None:
    torch.manual_seed(0)
    model = NarTTS(
        SYMBOLS, LEVELS, CODES, dim=64, heads=4, encoder_layers=2, decoder_layers=2, dropout=0.0, uncond_prob=0.1
    )
    train(model, 300)
    batch = toy_batch(8, torch.Generator().manual_seed(99))
    seeds = list(range(8))
    codes, lengths = model.generate(
        batch.phones,
        batch.phone_lengths,
        batch.prompt,
        batch.prompt_lengths,
        generators_for(seeds),
        SamplingOptions(temperature=0.5),
    )
    assert lengths.tolist() == batch.code_lengths.tolist()  # durations predicted exactly
    frames = torch.arange(codes.shape[-1])[None] < lengths[:, None]
    accuracy = (codes == batch.codes).all(1)[frames].float().mean()
    assert accuracy >= 0.9, accuracy
    one, one_lengths = model.generate(
        batch.phones[5:6],
        batch.phone_lengths[5:6],
        batch.prompt[5:6],
        batch.prompt_lengths[5:6],
        generators_for([5]),
        SamplingOptions(temperature=0.5),
    )
    assert torch.equal(one[0, :, : int(one_lengths[0])], codes[5, :, : int(lengths[5])])
    guided, _ = model.generate(
        batch.phones,
        batch.phone_lengths,
        batch.prompt,
        batch.prompt_lengths,
        generators_for(seeds),
        SamplingOptions(temperature=0.5),
        guidance=2.0,
    )
    assert (guided == batch.codes).all(1)[frames].float().mean() >= 0.9


def test_nar_keeps_the_prompt_out_of_its_output_and_honours_given_durations() -> None:
    torch.manual_seed(0)
    model = NarTTS(SYMBOLS, LEVELS, CODES, dim=32, heads=4, encoder_layers=1, decoder_layers=1).eval()
    batch = toy_batch(3, torch.Generator().manual_seed(3), prompt_phones=1)
    durations = torch.full_like(batch.durations, 2) * (batch.phones > 0)
    codes, lengths = model.generate(
        batch.phones,
        batch.phone_lengths,
        batch.prompt,
        batch.prompt_lengths,
        generators_for([0, 1, 2]),
        durations=durations,
    )
    assert lengths.tolist() == (2 * batch.phone_lengths).tolist()
    assert codes.shape[:2] == (3, LEVELS) and codes.shape[-1] == int(lengths.max())
    assert int(codes.max()) < CODES  # no mask id left


# --------------------------------------------------------------------------- ar


def test_a_tiny_ar_model_learns_the_task_stops_and_batches_like_single() -> None:
    torch.manual_seed(0)
    model = ArTTS(SYMBOLS, LEVELS, CODES, dim=64, heads=4, layers=2, nar_layers=2, dropout=0.0)
    train(model, 500)
    batch = toy_batch(8, torch.Generator().manual_seed(99))
    empty = torch.zeros(8, dtype=torch.long)
    options = SamplingOptions(temperature=0.3)
    codes, lengths = model.generate(
        batch.phones, batch.phone_lengths, batch.codes[:, :, :0], empty, generators_for(range(8)), options
    )
    exact = [
        int(lengths[i]) == int(batch.code_lengths[i])
        and torch.equal(codes[i, :, : int(lengths[i])], batch.codes[i, :, : int(lengths[i])])
        for i in range(8)
    ]
    assert sum(exact) >= 7, exact
    one, one_lengths = model.generate(
        batch.phones[2:3], batch.phone_lengths[2:3], batch.codes[2:3, :, :0], empty[:1], generators_for([2]), options
    )
    assert int(one_lengths[0]) == int(lengths[2])
    assert torch.equal(one[0, :, : int(one_lengths[0])], codes[2, :, : int(lengths[2])])


UNITS = 3 * SYMBOLS


def with_units(batch: TTSBatch) -> TTSBatch:
    """The toy batch with semantic units: ``3 s + f`` at frame ``f`` of phone ``s``."""
    units = torch.zeros(batch.codes.shape[0], batch.codes.shape[-1], dtype=torch.long)
    for item in range(len(units)):
        index = torch.arange(batch.phones.shape[1]).repeat_interleave(batch.durations[item])
        within = torch.cat([torch.arange(int(d)) for d in batch.durations[item]])
        units[item, : len(index)] = 3 * batch.phones[item, index] + within
    batch.semantic = units
    return batch


def test_a_tiny_ar_semantic_model_learns_units_then_tokens_and_batches_like_single() -> None:
    torch.manual_seed(0)
    model = ArSemanticTTS(SYMBOLS, LEVELS, CODES, units=UNITS, dim=64, heads=4, layers=2, nar_layers=2, dropout=0.0)
    optimizer = torch.optim.AdamW(model.parameters(), 3e-3)
    generator = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(600):
        out = model.loss(with_units(toy_batch(16, generator)))
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
    model.eval()
    batch = toy_batch(8, torch.Generator().manual_seed(99))
    empty = torch.zeros(8, dtype=torch.long)
    options = SamplingOptions(temperature=0.3)
    for guidance in (1.0, 2.0):  # the semantic-free branch learned the task too
        codes, lengths = model.generate(
            batch.phones, batch.phone_lengths, batch.codes[:, :, :0], empty, generators_for(range(8)), options,
            semantic_guidance=guidance,
        )  # fmt: skip
        exact = [
            int(lengths[i]) == int(batch.code_lengths[i])
            and torch.equal(codes[i, :, : int(lengths[i])], batch.codes[i, :, : int(lengths[i])])
            for i in range(8)
        ]
        assert sum(exact) >= 7, (guidance, exact)
    one, one_lengths = model.generate(
        batch.phones[2:3], batch.phone_lengths[2:3], batch.codes[2:3, :, :0], empty[:1], generators_for([2]), options,
        semantic_guidance=2.0,
    )  # fmt: skip
    assert torch.equal(one[0, :, : int(one_lengths[0])], codes[2, :, : int(lengths[2])])
    with pytest.raises(ValueError, match="no voice prompt"):
        model.generate(batch.phones, batch.phone_lengths, batch.codes, batch.code_lengths, generators_for(range(8)))


def test_ar_semantic_guidance_batches_like_single_within_its_length_bounds() -> None:
    """Random weights, every branch at once (instruction and semantic guidance): each item of a
    batch gives what it gives alone, and lengths stay within the phone-count bounds."""
    from tts.models.instruction_encoder import encode_instructions

    torch.manual_seed(0)
    model = ArSemanticTTS(
        SYMBOLS, 1, CODES, units=UNITS, dim=32, heads=2, layers=2, dropout=0.0, instruction_layers=1,
        min_frames_per_phone=1.0, max_frames_per_phone=3.0,
    ).eval()  # fmt: skip
    batch = toy_batch(3, torch.Generator().manual_seed(5))
    ids, id_lengths = encode_instructions(["a man, slowly", None, "whispering"])
    empty, none = batch.codes[:, :1, :0], torch.zeros(3, dtype=torch.long)
    scales = {"instruction_guidance": 3.0, "semantic_guidance": 1.5}
    options = SamplingOptions(repetition_window=4)
    codes, lengths = model.generate(
        batch.phones, batch.phone_lengths, empty, none, generators_for([7, 8, 9]), options, ids, id_lengths, **scales
    )
    assert ((lengths >= batch.phone_lengths) & (lengths <= 3 * batch.phone_lengths)).all(), lengths
    for i in range(3):
        one, n = model.generate(
            batch.phones[i : i + 1], batch.phone_lengths[i : i + 1], empty[:1], none[:1], generators_for([7 + i]),
            options, ids[i : i + 1], id_lengths[i : i + 1], **scales,
        )  # fmt: skip
        assert int(n[0]) == int(lengths[i]) and torch.equal(one[0, :, : int(n[0])], codes[i, :, : int(n[0])])


def test_an_ar_semantic_batch_without_units_has_a_finite_loss() -> None:
    model = ArSemanticTTS(SYMBOLS, 1, CODES, units=UNITS, dim=32, heads=2, layers=1, semantic_drop=1.0)
    out = model.loss(with_units(toy_batch(4, torch.Generator().manual_seed(2))))
    assert torch.isfinite(out["loss"]) and "unit_loss" not in out
    model.eval()  # validation keeps every item's units
    assert "unit_loss" in model.loss(with_units(toy_batch(4, torch.Generator().manual_seed(2))))


def unprompted_lengths(model: torch.nn.Module, batch: TTSBatch) -> torch.Tensor:
    """``(B,)`` frames ``model`` generates for ``batch``'s phones without a prompt."""
    empty, none = batch.codes[:, :1, :0], torch.zeros(len(batch.phones), dtype=torch.long)
    return model.generate(batch.phones, batch.phone_lengths, empty, none, generators_for(range(len(batch.phones))))[1]


def test_ar_generation_lengths_stay_within_the_phone_bounds() -> None:
    torch.manual_seed(0)
    model = ArTTS(
        SYMBOLS, 1, CODES, dim=32, heads=4, layers=1, dropout=0.0, min_frames_per_phone=2, max_frames_per_phone=3
    ).eval()
    batch = toy_batch(4, torch.Generator().manual_seed(4))
    lengths = unprompted_lengths(model, batch)
    assert ((lengths >= 2 * batch.phone_lengths) & (lengths <= 3 * batch.phone_lengths)).all(), lengths


# --------------------------------------------------------------------------- ar-aligned


def test_a_tiny_ar_aligned_model_follows_its_pointer_through_every_phone() -> None:
    torch.manual_seed(0)
    model = ArAlignedTTS(SYMBOLS, LEVELS, CODES, dim=64, heads=4, layers=2, nar_layers=2, dropout=0.0)
    train(model, 400, prompt_phones=1)
    batch = toy_batch(8, torch.Generator().manual_seed(99), prompt_phones=1)
    options = SamplingOptions(temperature=0.3)
    codes, lengths = model.generate(
        batch.phones, batch.phone_lengths, batch.prompt, batch.prompt_lengths, generators_for(range(8)), options
    )
    assert lengths.tolist() == batch.code_lengths.tolist()
    frames = torch.arange(codes.shape[-1])[None] < lengths[:, None]
    assert (codes == batch.codes[..., : codes.shape[-1]]).all(1)[frames].float().mean() >= 0.9
    one, one_lengths = model.generate(
        batch.phones[4:5],
        batch.phone_lengths[4:5],
        batch.prompt[4:5],
        batch.prompt_lengths[4:5],
        generators_for([4]),
        options,
    )
    assert torch.equal(one[0, :, : int(one_lengths[0])], codes[4, :, : int(lengths[4])])


def test_the_pointer_ends_a_generation_within_the_frame_cap() -> None:
    torch.manual_seed(0)
    model = ArAlignedTTS(SYMBOLS, 1, CODES, dim=32, heads=4, layers=1, dropout=0.0, max_frames_per_phone=2).eval()
    batch = toy_batch(4, torch.Generator().manual_seed(4))
    lengths = unprompted_lengths(model, batch)
    assert ((lengths >= 1) & (lengths <= 2 * batch.phone_lengths)).all(), lengths


def test_the_pointer_moves_at_the_median_of_an_uncertain_duration() -> None:
    torch.manual_seed(0)
    model = ArAlignedTTS(SYMBOLS, 1, CODES, dim=32, heads=4, layers=1, dropout=0.0).eval()
    with torch.no_grad():  # a move chance of 0.2 at every frame: still on the phone after k frames 0.8 ** k
        model.advance.weight.zero_()
        model.advance.bias.fill_(torch.logit(torch.tensor(0.2)).item())
    batch = toy_batch(4, torch.Generator().manual_seed(4))
    lengths = unprompted_lengths(model, batch)
    assert lengths.tolist() == (4 * batch.phone_lengths).tolist()  # 0.8 ** 4 is the first below one half


# --------------------------------------------------------------------------- alignment


def test_monotonic_alignment_finds_the_best_path() -> None:
    from tts.align import monotonic_alignment

    truth = torch.tensor([2, 1, 3, 2])
    owner = torch.arange(4).repeat_interleave(truth)  # phone of each of the 8 frames
    scores = torch.full((4, 8), -5.0)
    scores[owner, torch.arange(8)] = 0.0
    scores[3, 2] = 3.0  # a tempting score off any monotonic path that keeps every phone
    assert monotonic_alignment(scores).tolist() == truth.tolist()
    assert monotonic_alignment(torch.zeros(3, 3)).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="cannot hold"):
        monotonic_alignment(torch.zeros(4, 3))


def test_a_trained_nar_model_aligns_speech_without_durations() -> None:
    from tts.align import align

    torch.manual_seed(0)
    model = NarTTS(SYMBOLS, LEVELS, CODES, dim=64, heads=4, encoder_layers=2, decoder_layers=2, dropout=0.0)
    train(model, 300)
    batch = toy_batch(8, torch.Generator().manual_seed(7))
    right = total = 0
    for item in range(8):
        n, frames = int(batch.phone_lengths[item]), int(batch.code_lengths[item])
        found = align(model, batch.phones[item, :n], batch.codes[item, :, :frames])
        assert int(found.sum()) == frames and int(found.min()) >= 1
        right += int((found == batch.durations[item, :n]).sum())
        total += n
    assert right / total >= 0.8, right / total
