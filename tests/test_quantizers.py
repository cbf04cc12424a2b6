"""The quantizer families: shapes, exact eval-mode decoding, gradients, dropout, EMA and dead-code restart."""

from __future__ import annotations

import copy

import pytest
import torch

from codec.quantizers import (
    QUANTIZERS,
    GroupResidualVQ,
    MaskedChannelRVQ,
    Quantizer,
    ResidualVQ,
    SingleVQ,
)

K = 32
FAMILIES = ["vq", "rvq", "grvq", "mcrvq"]
# Numbers of codebooks each tiny quantizer accepts, and some it must refuse.
VALID = {"vq": [1], "rvq": [1, 2, 3], "grvq": [2, 4], "mcrvq": [1, 2, 3, 4, 5]}
INVALID = {"vq": [0, 2], "rvq": [0, 4, -1], "grvq": [0, 1, 3, 6], "mcrvq": [0, 6]}


def make(family: str, seed: int = 0, **options: object) -> Quantizer:
    """A tiny quantizer of ``family``; every codebook projects its input to 8 dimensions (so it has
    trainable parameters), and the MCRVQ width 17 does not split evenly into its 3 slices."""
    torch.manual_seed(seed)
    if family == "vq":
        return SingleVQ(16, K, **options)
    if family == "rvq":
        return ResidualVQ(16, n_codebooks=3, codebook_size=K, **options)
    if family == "grvq":
        return GroupResidualVQ(32, groups=2, stages=2, codebook_size=K, **options)
    if family == "mcrvq":
        return MaskedChannelRVQ(17, n_codebooks=5, masked=3, codebook_size=K, **options)
    raise AssertionError(family)


def latents(q: Quantizer, batch: int = 3, frames: int = 7, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, q.dim, frames, generator=torch.Generator().manual_seed(seed))


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> list[str]:
    after = module.state_dict()
    assert after.keys() == before.keys()
    return [k for k in before if not torch.equal(before[k], after[k])]


def test_registry_names_every_family() -> None:
    expected = {"vq": SingleVQ, "rvq": ResidualVQ, "grvq": GroupResidualVQ, "mcrvq": MaskedChannelRVQ}
    assert expected == QUANTIZERS


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes_dtype_and_code_range(family: str) -> None:
    q = make(family).eval()
    z = latents(q, batch=3, frames=7)
    with torch.no_grad():
        out = q(z)
    assert out.quantized.shape == z.shape
    assert out.quantized.dtype == z.dtype
    assert out.codes.shape == (3, q.n_codebooks, 7)
    assert out.codes.dtype == torch.int64
    assert int(out.codes.min()) >= 0
    assert int(out.codes.max()) < q.codebook_size == K
    assert out.loss.shape == ()
    assert float(out.loss) == 0.0
    assert torch.isfinite(out.quantized).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_eval_decode_is_exact_for_every_valid_number_of_codebooks(family: str) -> None:
    q = make(family).eval()
    z = latents(q)
    previous = None
    with torch.no_grad():
        for n in VALID[family]:
            out = q(z, n)
            assert out.codes.shape == (z.shape[0], n, z.shape[2])
            assert torch.equal(q.decode(out.codes), out.quantized)
            if previous is not None:
                assert not torch.equal(out.quantized, previous)
            previous = out.quantized
        assert torch.equal(q(z).codes, q(z, q.n_codebooks).codes)


def test_residual_codes_do_not_depend_on_later_stages() -> None:
    q = make("rvq").eval()
    z = latents(q)
    with torch.no_grad():
        full = q(z).codes
        for n in (1, 2):
            assert torch.equal(q(z, n).codes, full[:, :n])


def test_grvq_codes_are_ordered_group_by_group() -> None:
    q = make("grvq").eval()
    z = latents(q)
    with torch.no_grad():
        full = q(z).codes
        one_stage = q(z, 2).codes
        group0 = q.stacks[0](z[:, :16], 2).codes
        group1 = q.stacks[1](z[:, 16:], 2).codes
    assert torch.equal(full, torch.cat([group0, group1], dim=1))
    assert torch.equal(one_stage, full[:, [0, 2]])


@pytest.mark.parametrize("family", FAMILIES)
def test_invalid_number_of_codebooks_raises(family: str) -> None:
    q = make(family).eval()
    z = latents(q)
    for n in INVALID[family]:
        with pytest.raises(ValueError, match="n_codebooks"):
            q(z, n)


@pytest.mark.parametrize("family", ["vq", "rvq", "grvq", "mcrvq"])
def test_decode_refuses_codes_with_an_invalid_number_of_codebooks(family: str) -> None:
    q = make(family).eval()
    for n in INVALID[family]:
        if n > 0:
            with pytest.raises(ValueError, match="n_codebooks"):
                q.decode(torch.zeros(1, n, 3, dtype=torch.long))


@pytest.mark.parametrize("family", FAMILIES)
def test_train_forward_gives_loss_and_gradients_everywhere(family: str) -> None:
    q = make(family)
    if hasattr(q, "dropout"):
        q.dropout = 0.0  # every stage then reaches the output, so every projection must get a gradient
    q.train()
    z = latents(q).requires_grad_()
    out = q(z)
    assert out.codes.shape == (z.shape[0], q.n_codebooks, z.shape[2])
    assert out.loss.requires_grad
    assert float(out.loss.detach()) > 0
    (out.quantized.sum() + out.loss).backward()
    assert z.grad is not None
    assert torch.isfinite(z.grad).all()
    assert z.grad.abs().sum() > 0
    params = [(name, p) for name, p in q.named_parameters() if p.requires_grad]
    assert params, "the tiny quantizers project to codebook_dim 8, so they have trainable projections"
    for name, p in params:
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("family", FAMILIES)
def test_commitment_loss_reaches_input_without_the_output(family: str) -> None:
    q = make(family).train()
    z = latents(q).requires_grad_()
    q(z).loss.backward()
    assert z.grad is not None
    assert z.grad.abs().sum() > 0


@pytest.mark.parametrize("family", FAMILIES)
def test_eval_forward_leaves_buffers_unchanged(family: str) -> None:
    q = make(family).eval()
    before = snapshot(q)
    with torch.no_grad():
        for seed in range(3):
            q(latents(q, seed=seed))
    assert changed(before, q) == []


@pytest.mark.parametrize("family", FAMILIES)
def test_train_forward_updates_the_codebooks(family: str) -> None:
    q = make(family).train()
    before = snapshot(q)
    q(latents(q, batch=4, frames=16))
    keys = changed(before, q)
    assert any(k.endswith("embed") for k in keys), keys
    assert any(k.endswith("cluster_size") for k in keys), keys
    n_codebooks = sum(k.endswith("_codebook.embed") for k in before)
    assert n_codebooks == q.n_codebooks
    assert sum(k.endswith("_codebook.embed") for k in keys) == n_codebooks


def test_eval_forward_leaves_an_uninitialized_kmeans_codebook_unchanged() -> None:
    q = make("vq", kmeans_init=True).eval()
    before = snapshot(q)
    with torch.no_grad():
        q(latents(q, batch=4, frames=20))
    assert changed(before, q) == []


@pytest.mark.parametrize("family", ["rvq", "mcrvq"])
def test_dropout_never_applies_in_eval(family: str) -> None:
    q = make(family, dropout=1.0).eval()
    z = latents(q, batch=8)
    with torch.no_grad():
        first = q(z)
        torch.manual_seed(12345)
        second = q(z)
        torch.manual_seed(999)
        third = q(z)
        full = q.decode(first.codes)
    assert torch.equal(first.quantized, second.quantized)
    assert torch.equal(first.quantized, third.quantized)
    assert torch.equal(first.codes, third.codes)
    assert torch.equal(first.quantized, full)


def _stages_used(out_quantized: torch.Tensor, partial: list[torch.Tensor]) -> list[int]:
    """For each item, the number ``n`` of leading stages whose sum its output equals."""
    used = []
    for b in range(out_quantized.shape[0]):
        matches = [n + 1 for n, p in enumerate(partial) if torch.allclose(out_quantized[b], p[b], atol=1e-5)]
        assert len(matches) == 1, (b, matches)
        used.append(matches[0])
    return used


@pytest.mark.parametrize(("family", "minimum"), [("rvq", 1), ("mcrvq", 3)])
def test_train_dropout_keeps_a_prefix_of_the_stages(family: str, minimum: int) -> None:
    q = make(family, dropout=1.0)
    without = copy.deepcopy(q)
    without.dropout = 0.0
    reference = copy.deepcopy(q).eval()  # the codebooks as they are before the EMA update
    z = latents(q, batch=16, frames=5)
    torch.manual_seed(3)
    out = q.train()(z)
    full = without.train()(z)
    assert torch.equal(out.codes, full.codes)  # dropout changes what is added, not what is chosen
    with torch.no_grad():
        partial = [reference.decode(out.codes[:, :n]) for n in range(1, q.n_codebooks + 1)]
    assert _stages_used(full.quantized.detach(), partial) == [q.n_codebooks] * 16
    used = _stages_used(out.quantized.detach(), partial)
    assert min(used) >= minimum
    assert min(used) < q.n_codebooks
    assert len(set(used)) > 1
    differs = [not torch.allclose(out.quantized[b], full.quantized[b], atol=1e-5) for b in range(16)]
    assert differs == [n < q.n_codebooks for n in used]


def test_mcrvq_channel_masks_partition_the_channels() -> None:
    q = make("mcrvq")
    masks = q.channel_masks[:, :, 0]
    assert masks.shape == (3, 17)
    assert torch.equal(masks.sum(0), torch.ones(17))
    sizes = masks.sum(1).tolist()
    assert sorted(sizes) == [5, 6, 6]
    for row in masks:
        where = row.nonzero()[:, 0]
        assert torch.equal(where, torch.arange(int(where[0]), int(where[-1]) + 1))  # contiguous
    starts = [int(row.nonzero()[0, 0]) for row in masks]
    assert starts == sorted(starts)
    assert starts[0] == 0


@pytest.mark.parametrize("codebook", [0, 1, 2])
def test_mcrvq_masked_codes_depend_only_on_their_slice(codebook: int) -> None:
    q = make("mcrvq").eval()
    inside = q.channel_masks[codebook, :, 0].bool()
    z = latents(q, batch=4, frames=10)
    outside_changed = z.clone()
    outside_changed[:, ~inside] += 5 * torch.randn_like(z[:, ~inside])
    inside_changed = z.clone()
    inside_changed[:, inside] = 3 * torch.randn_like(z[:, inside])
    with torch.no_grad():
        codes = q(z).codes
        codes_outside = q(outside_changed).codes
        codes_inside = q(inside_changed).codes
    assert torch.equal(codes[:, codebook], codes_outside[:, codebook])
    assert not torch.equal(codes, codes_outside)  # the other codebooks do see those channels
    assert not torch.equal(codes[:, codebook], codes_inside[:, codebook])


def test_mcrvq_rejects_fewer_codebooks_than_masked_slices() -> None:
    with pytest.raises(ValueError):
        MaskedChannelRVQ(12, n_codebooks=2, masked=3, codebook_size=K)


def test_grvq_rejects_indivisible_width() -> None:
    with pytest.raises(ValueError):
        GroupResidualVQ(15, groups=2, stages=2, codebook_size=K)


def _concentrated(generator: torch.Generator, n: int) -> torch.Tensor:
    """``(1, 16, n)`` vectors far from the origin along one axis, so that the random initial codes
    (cosine lookup) mostly point elsewhere and only a few of them are ever nearest."""
    offset = torch.zeros(16)
    offset[0] = 10.0
    return (offset + torch.randn(n, 16, generator=generator)).T[None]


def _utilization_after_training(dead_code_ratio: float, seed: int) -> tuple[float, float]:
    torch.manual_seed(seed)
    q = SingleVQ(16, 64, dead_code_ratio=dead_code_ratio, decay=0.8)
    generator = torch.Generator().manual_seed(100 + seed)
    with torch.no_grad():
        initial = q.eval()(_concentrated(generator, 4096)).codes.unique().numel() / 64
    q.train()
    for _ in range(50):  # training steps: the codebook learns with autograd on
        q(_concentrated(generator, 256))
    with torch.no_grad():
        final = q.eval()(_concentrated(generator, 4096)).codes.unique().numel() / 64
    return initial, final


@pytest.mark.parametrize("seed", [0, 1])
def test_dead_code_restart_revives_unused_codes(seed: int) -> None:
    initial, revived = _utilization_after_training(0.03, seed)
    same_initial, never_revived = _utilization_after_training(0.0, seed)
    assert initial == same_initial
    assert initial <= 0.5  # the premise: most codes start out dead on this data
    assert never_revived <= 0.5
    assert revived >= 0.75
    assert revived >= never_revived + 0.3


@pytest.mark.parametrize("cosine", [True, False])
@pytest.mark.parametrize("codebook_dim", [8, 16])
def test_eval_lookup_picks_the_codes_the_library_picks(cosine: bool, codebook_dim: int) -> None:
    """``Codebook.nearest`` (eval mode, no one-hot matrix) gives exactly vector-quantize-pytorch's
    eval codes, after the codebook has moved with an EMA update."""
    from codec.quantizers.codebook import Codebook

    torch.manual_seed(0)
    codebook = Codebook(16, 64, codebook_dim=codebook_dim, cosine=cosine)
    codebook.train()
    codebook(torch.randn(4, 16, 50))
    codebook.eval()
    x = torch.randn(3, 777, 16)  # more rows than LOOKUP_ROWS: several blocks
    with torch.no_grad():
        _, expected, _ = codebook.vq(x)
        codes = codebook.nearest(x)
    assert codes.shape == (3, 777) and codes.dtype == torch.int64
    assert torch.equal(codes, expected)
    assert len(codes.unique()) > 16


@pytest.mark.parametrize(
    "options",
    [
        {"codebook_dim": 16, "cosine": False},  # the encodec / hificodec / languagecodec recipes' setting
        {"codebook_dim": 8, "cosine": True},
    ],
)
def test_every_residual_stage_sends_its_commitment_gradient_to_the_encoder(options: dict) -> None:
    """Per-stage encoder gradient of each stage's own commitment loss, measured through the stack:
    non-zero for every stage (the bug gave [g, 0, 0] when the codebook works in the latent's space)."""
    q = ResidualVQ(16, n_codebooks=3, codebook_size=K, dropout=0.0, **options).train()
    losses = []
    for codebook in q.stack.codebooks:
        codebook.register_forward_hook(lambda module, args, output: losses.append(output[2]))
    z = latents(q, batch=4, frames=9).requires_grad_()
    q(z)
    norms = [float(torch.autograd.grad(loss, z, retain_graph=True)[0].norm()) for loss in losses]
    assert len(norms) == 3 and min(norms) > 1e-4, norms


def test_stack_residual_gradient_is_the_identity() -> None:
    """What a later stage sees changes one-for-one with the latent: d(residual)/d(latent) = I."""
    q = ResidualVQ(16, n_codebooks=2, codebook_size=K, dropout=0.0, codebook_dim=16, cosine=False).train()
    z = latents(q).requires_grad_()
    seen = []
    q.stack.codebooks[1].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    q(z)
    (grad,) = torch.autograd.grad(seen[0].sum(), z)
    torch.testing.assert_close(grad, torch.ones_like(z))


def test_dropped_stages_neither_learn_nor_commit() -> None:
    """A stage every item drops keeps its codebook and adds no loss; a stage half the items drop
    learns from and commits the kept half only, weighted by its share."""
    q = make("rvq", dropout=1.0).train()
    z = latents(q, batch=4, frames=6)
    keep = torch.tensor([[1, 1, 0], [1, 1, 0], [1, 0, 0], [1, 0, 0]], dtype=torch.float32)
    before = snapshot(q)
    reference = copy.deepcopy(q)
    out = q.stack(z, 3, keep)
    assert not any(name.startswith("stack.codebooks.2.") for name in changed(before, q))
    # stage 1 on its own: the same stage on only the two items that keep it, half the weight
    first, _, first_loss = reference.stack.codebooks[0](z)
    residual = (z - first.detach())[:2]
    _, _, kept_loss = reference.stack.codebooks[1](residual)
    torch.testing.assert_close(out.loss, first_loss + 0.5 * kept_loss)
    with torch.no_grad():
        reference.eval()
        assert torch.equal(out.codes, reference(z).codes)  # dropout changes what is learnt, not what is chosen


@pytest.mark.parametrize("family", FAMILIES)
def test_codebooks_learn_only_in_a_training_step(family: str) -> None:
    """Train mode without autograd (a validation-style forward, ``inference_mode``) only looks codes up."""
    q = make(family).train()
    before = snapshot(q)
    with torch.no_grad():
        out = q(latents(q))
    with torch.inference_mode():
        q(latents(q))
    assert changed(before, q) == []
    assert float(out.loss) == 0.0


def test_dead_code_threshold_counts_every_ranks_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under DDP the usage counts are summed over ranks, so the restart threshold and the size a
    restarted code starts at are those of the global batch, not of one rank's."""
    import codec.quantizers.codebook as codebook_module

    ranks = 4
    monkeypatch.setattr(codebook_module.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(codebook_module.dist, "get_world_size", lambda: ranks)
    monkeypatch.setattr(codebook_module.dist, "all_reduce", lambda tensor, *args, **kwargs: tensor.mul_(ranks))
    q = make("vq", dead_code_ratio=0.1).train()
    monkeypatch.setattr(q.codebook.vq._codebook, "replace_sample_fn", lambda samples, num: samples[:num])
    z = latents(q, batch=2, frames=8)
    q(z)
    inner = q.codebook.vq._codebook
    uniform = 2 * 8 * ranks / K
    assert inner.threshold_ema_dead_code == pytest.approx(0.1 * uniform)
    assert inner.reset_cluster_size == pytest.approx(uniform)
