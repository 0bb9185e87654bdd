import math

import pytest
import torch

from echovox.lm.sampling import (
    apply_temperature,
    ban_tokens,
    greedy,
    repetition_aware_sample,
    repetition_ratio,
    sample_categorical,
    top_k_filter,
    top_p_filter,
)

INF = float("-inf")


def test_temperature_scales_and_rejects_zero():
    logits = torch.tensor([[2.0, 4.0]])
    torch.testing.assert_close(apply_temperature(logits, 2.0), torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError):
        apply_temperature(logits, 0.0)


def test_top_k_keeps_ties_with_the_kth_value():
    logits = torch.tensor([[1.0, 3.0, 2.0, 2.0, 0.0]])
    out = top_k_filter(logits, 2)
    assert out.tolist() == [[INF, 3.0, 2.0, 2.0, INF]]
    assert top_k_filter(logits, 0) is logits
    assert torch.equal(top_k_filter(logits, 1), torch.tensor([[INF, 3.0, INF, INF, INF]]))


def test_top_p_keeps_the_smallest_prefix_reaching_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    assert torch.isfinite(top_p_filter(logits, 0.5)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.81)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(top_p_filter(logits, 0.01)).tolist() == [[True, False, False, False]]
    assert top_p_filter(logits, 1.0) is logits


def test_top_p_keeps_all_tied_tokens_at_the_boundary():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0, -10.0]])  # four equal tokens, one tiny
    kept = torch.isfinite(top_p_filter(logits, 0.3))
    assert kept.tolist() == [[True, True, True, True, False]]


def test_greedy_breaks_ties_to_the_lowest_index():
    assert greedy(torch.tensor([[1.0, 5.0, 5.0], [7.0, 7.0, 7.0]])).tolist() == [1, 0]


def test_sample_is_seeded_and_respects_masked_tokens():
    logits = torch.tensor([[0.0, INF, 0.0, INF]]).repeat(200, 1)
    a = sample_categorical(logits, torch.Generator().manual_seed(3))
    b = sample_categorical(logits, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert set(a.tolist()) == {0, 2}


def test_repetition_ratio_counts_only_real_history():
    history = torch.tensor([[5, 5, 1, 5], [2, 2, 2, 2]])
    r = repetition_ratio(torch.tensor([5, 2]), history)
    torch.testing.assert_close(r, torch.tensor([0.75, 1.0]))
    r = repetition_ratio(torch.tensor([5, 2]), history, history_len=torch.tensor([1, 2]))
    torch.testing.assert_close(r, torch.tensor([0.25, 0.5]))


def test_repetition_aware_sampling_falls_back_to_the_full_distribution():
    # top-k=1 always draws token 0; token 0 fills the window, so the draw is redone over all
    logits = torch.tensor([[2.0, 1.9, 1.8, 1.7]]).repeat(400, 1)
    history = torch.zeros(400, 10, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    out = repetition_aware_sample(logits, history, top_k=1, threshold=0.5, generator=gen)
    assert len(set(out.tolist())) == 4
    # without repetition in the window the filtered draw stands
    fresh = torch.arange(10).repeat(400, 1) + 10
    out = repetition_aware_sample(logits, fresh, top_k=1, threshold=0.5, generator=gen)
    assert set(out.tolist()) == {0}


def test_repetition_fallback_draws_at_temperature_one():
    # a near-greedy temperature picks token 0 nearly always; the repeated draws are redone
    # from the model's own distribution, where token 1 has 1/(1 + e) of the mass
    logits = torch.tensor([[1.0, 0.0]]).repeat(4000, 1)
    history = torch.zeros(4000, 10, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    out = repetition_aware_sample(logits, history, temperature=0.05, threshold=0.5, generator=gen)
    share = (out == 1).float().mean().item()
    assert abs(share - 1 / (1 + math.e)) < 0.03
    fresh = torch.arange(10).repeat(4000, 1) + 10  # nothing repeated: the sharpened draw stands
    out = repetition_aware_sample(logits, fresh, temperature=0.05, threshold=0.5, generator=gen)
    assert (out == 1).sum().item() == 0


def test_ban_tokens_per_row_without_touching_input():
    logits = torch.zeros(2, 3)
    out = ban_tokens(logits, torch.tensor([1, 2]), torch.tensor([True, False]))
    assert out.tolist() == [[0.0, INF, 0.0], [0.0, 0.0, 0.0]]
    assert torch.equal(logits, torch.zeros(2, 3))
    assert math.isinf(ban_tokens(logits, 0, torch.tensor([True, True]))[1, 0])
