"""Code counts, utilization, perplexity and entropy on hand-computed distributions."""

from __future__ import annotations

import math

import pytest
import torch

from codec.quantizers.usage import CodeHistogram, count_codes, usage_stats


def test_count_codes_without_lengths() -> None:
    codes = torch.tensor([[[0, 1, 1, 3], [2, 2, 2, 2]], [[3, 3, 0, 0], [1, 0, 1, 0]]])  # (B=2, Q=2, T=4)
    counts = count_codes(codes, 4)
    assert counts.shape == (2, 4)
    assert counts.tolist() == [[3, 2, 0, 3], [2, 2, 4, 0]]


def test_count_codes_masks_padding_frames() -> None:
    codes = torch.tensor([[[0, 1, 1, 3], [2, 2, 2, 2]], [[3, 3, 0, 0], [1, 0, 1, 0]]])
    counts = count_codes(codes, 4, torch.tensor([4, 1]))
    assert counts.tolist() == [[1, 2, 0, 2], [0, 1, 4, 0]]
    assert count_codes(codes, 4, torch.tensor([0, 0])).sum() == 0
    assert count_codes(codes, 5, torch.tensor([2, 3])).tolist() == [[2, 1, 0, 2, 0], [1, 2, 2, 0, 0]]


@pytest.mark.parametrize(("used", "size"), [(1, 8), (4, 8), (8, 8), (3, 64)])
def test_uniform_over_k_codes(used: int, size: int) -> None:
    counts = torch.zeros(2, size, dtype=torch.long)
    counts[0, :used] = 5
    counts[1, size - used :] = 1
    stats = usage_stats(counts)
    for key in ("utilization", "perplexity", "entropy_bits"):
        assert stats[key].shape == (2,)
    assert stats["utilization"].tolist() == pytest.approx([used / size] * 2)
    assert stats["perplexity"].tolist() == pytest.approx([used] * 2, rel=1e-5)
    assert stats["entropy_bits"].tolist() == pytest.approx([math.log2(used)] * 2, abs=1e-5)


def test_skewed_distribution() -> None:
    stats = usage_stats(torch.tensor([[2, 1, 1, 0, 0, 0, 0, 0]]))  # p = 1/2, 1/4, 1/4
    assert float(stats["entropy_bits"][0]) == pytest.approx(1.5, abs=1e-6)
    assert float(stats["perplexity"][0]) == pytest.approx(2**1.5, rel=1e-5)
    assert float(stats["utilization"][0]) == pytest.approx(3 / 8)


def test_unused_codebook() -> None:
    stats = usage_stats(torch.zeros(1, 16, dtype=torch.long))
    assert float(stats["utilization"][0]) == 0.0
    assert float(stats["entropy_bits"][0]) == 0.0
    assert float(stats["perplexity"][0]) == pytest.approx(1.0)


def test_histogram_accumulates_and_resets() -> None:
    histogram = CodeHistogram(n_codebooks=2, codebook_size=4)
    first = torch.tensor([[[0, 1], [2, 2]]])  # (1, 2, 2)
    second = torch.tensor([[[3, 3, 0], [1, 1, 1]], [[2, 0, 0], [0, 3, 3]]])  # (2, 2, 3)
    histogram.update(first)
    histogram.update(second, torch.tensor([3, 1]))
    assert histogram.counts.tolist() == [[2, 1, 1, 2], [1, 3, 2, 0]]
    stats = histogram.compute()
    assert stats["utilization"].tolist() == pytest.approx([1.0, 0.75])
    entropy = -2 * (1 / 3) * math.log(1 / 3) - 2 * (1 / 6) * math.log(1 / 6)  # p = 1/3, 1/6, 1/6, 1/3
    assert float(stats["perplexity"][0]) == pytest.approx(math.exp(entropy))
    histogram.reset()
    assert histogram.counts.sum() == 0


def test_histogram_with_fewer_codebooks_than_its_maximum() -> None:
    histogram = CodeHistogram(n_codebooks=3, codebook_size=4)
    histogram.update(torch.tensor([[[0, 1, 2, 3]]]))  # Q = 1 of 3
    histogram.update(torch.tensor([[[0, 0]]]))
    assert histogram.counts.tolist() == [[3, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    stats = histogram.compute()
    assert stats["utilization"].tolist() == [1.0]  # codebooks never seen are left out
    assert float(stats["perplexity"][0]) == pytest.approx(math.exp(-0.5 * math.log(0.5) - 3 / 6 * math.log(1 / 6)))


def test_batch_stats_average_over_codebooks() -> None:
    codes = torch.tensor([[[0, 1, 2, 3], [1, 1, 1, 1]]])
    stats = CodeHistogram.batch_stats(codes, 4)
    assert float(stats["utilization"]) == pytest.approx((1.0 + 0.25) / 2)
    assert float(stats["perplexity"]) == pytest.approx((4 + 1) / 2, rel=1e-5)
    assert float(stats["entropy_bits"]) == pytest.approx((2 + 0) / 2, abs=1e-6)
