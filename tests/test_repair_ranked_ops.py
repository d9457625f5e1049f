"""Ranked operation sequences (dgcode/repair/ranked_ops.py) against brute force on small distributions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgcode.repair.ranked_ops import ranked_choices


def brute_force(logprobs: np.ndarray, per_position: int) -> list[tuple[float, tuple[int, ...]]]:
    """Every sequence over each position's best and next `per_position` choices, with its cost."""
    order = np.argsort(-logprobs, axis=1, kind="stable")[:, :per_position + 1]
    best = logprobs[np.arange(len(logprobs)), order[:, 0]].sum()
    out = []
    for choice in itertools.product(*order.tolist()):
        cost = best - logprobs[np.arange(len(logprobs)), list(choice)].sum()
        out.append((float(cost), tuple(choice)))
    return sorted(out)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(2, 5), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_every_sequence_comes_once_in_nondecreasing_cost(n, k, per_position, seed):
    logits = np.random.default_rng(seed).normal(size=(n, k)) * 3
    logprobs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    got = list(ranked_choices(logprobs, per_position=per_position, max_states=100_000))
    expected = brute_force(logprobs, min(per_position, k - 1))
    costs = [cost for cost, _ in got]
    assert costs == sorted(costs) and costs[0] == 0.0
    assert sorted(tuple(c) for _, c in got) == sorted(c for _, c in expected)  # all of them, once each
    assert np.allclose(costs, [cost for cost, _ in expected])
    for cost, choice in got:  # the cost is the sequence's log-probability below the best one
        drop = logprobs.max(axis=1).sum() - logprobs[np.arange(n), choice].sum()
        assert cost == pytest.approx(drop, abs=1e-9)


def test_the_best_sequence_first_then_the_cheapest_single_change():
    logprobs = np.log(np.array([[0.9, 0.08, 0.02], [0.5, 0.45, 0.05], [0.99, 0.005, 0.005]]))
    ranked = ranked_choices(logprobs)
    assert next(ranked) == (0.0, [0, 0, 0])
    cost, choice = next(ranked)
    assert choice == [0, 1, 0] and cost == pytest.approx(np.log(0.5 / 0.45))


def test_the_search_is_bounded_and_rejects_bad_shapes():
    logprobs = np.log(np.full((200, 8), 1 / 8))
    assert len(list(ranked_choices(logprobs, max_states=50))) <= 51
    assert list(ranked_choices(np.zeros((0, 4)))) == []
    assert list(ranked_choices(np.zeros((3, 1)))) == [(0.0, [0, 0, 0])]
    with pytest.raises(ValueError):
        list(ranked_choices(np.zeros(5)))
