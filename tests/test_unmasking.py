"""Unmasking rules and the sampler loop, on scripted logits (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from dgcode.engine import unmasking as um
from dgcode.engine.errors import InvalidSettingsError
from dgcode.engine.sampler import SpecialTokens, denoise
from dgcode.engine.unmasking import SamplerSettings

MASK, EOS, VOCAB = 9, 8, 10


def test_threshold_commits_exactly_the_positions_above_it():
    score = np.array([0.95, 0.2, 0.91, 0.9, 0.99], dtype=np.float32)
    assert um.choose_by_threshold(score, 0.9).tolist() == [0, 2, 4]  # 0.9 itself is not above


def test_threshold_always_commits_at_least_one():
    assert um.choose_by_threshold(np.array([0.1, 0.3, 0.2]), 0.9).tolist() == [1]


def test_block_schedule_counts():
    assert um.block_transfer_counts(32, 8) == [4] * 8
    assert um.block_transfer_counts(10, 4) == [3, 3, 2, 2]
    assert sum(um.block_transfer_counts(257, 7)) == 257


def test_timestep_schedule_matches_dreams_linspace():
    steps, eps = 8, 1e-3
    ts = np.linspace(1, eps, steps + 1)
    for i in range(steps - 1):
        assert um.timestep_transfer_fraction(i, steps, eps) == pytest.approx(1 - ts[i + 1] / ts[i])
    assert um.timestep_transfer_fraction(steps - 1, steps, eps) == 1.0


def test_choose_top_orders_by_score_then_position():
    score = np.array([0.5, 0.9, 0.5, 0.7])
    assert um.choose_top(score, 2, 0.0, np.random.default_rng(0)).tolist() == [1, 3]
    assert um.choose_top(score, 3, 0.0, np.random.default_rng(0)).tolist() == [0, 1, 3]


def test_filters():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], dtype=np.float32))
    top_k = um.filter_logits(logits, 0.0, 2, 1.0)
    assert np.isfinite(top_k[0]).tolist() == [True, True, False, False]
    top_p = um.filter_logits(logits, 0.0, 0, 0.7)  # 0.5 + 0.3 reaches 0.7
    assert np.isfinite(top_p[0]).tolist() == [True, True, False, False]
    hot = um.filter_logits(logits, 2.0, 0, 1.0)
    assert np.allclose(hot, logits / 2)


def test_scores_per_algorithm():
    logits = np.log(np.array([[0.6, 0.3, 0.1], [0.34, 0.33, 0.33]], dtype=np.float32))
    rng = np.random.default_rng(0)
    conf = um.propose(logits, SamplerSettings(algorithm="confidence"), rng)
    assert conf.tokens.tolist() == [0, 0]
    assert conf.score == pytest.approx([0.6, 0.34], abs=1e-6)
    margin = um.propose(logits, SamplerSettings(algorithm="margin"), rng)
    assert margin.score == pytest.approx([0.3, 0.01], abs=1e-5)
    entropy = um.propose(logits, SamplerSettings(algorithm="entropy"), rng)
    assert entropy.score[0] > entropy.score[1]  # the peaked row is more confident


@pytest.mark.parametrize("bad, message", [
    (dict(schedule="fast"), "unknown schedule"),
    (dict(algorithm="vibes"), "unknown unmasking algorithm"),
    (dict(schedule="block", steps=None), "needs steps >= 8"),
    (dict(schedule="block", steps=3), "needs steps >= 8"),
    (dict(threshold=1.5), "threshold must be between 0 and 1"),
    (dict(schedule="threshold", algorithm="entropy"), "confidence or margin"),
    (dict(canvas_size=256, sub_block_size=48), "multiple of sub_block_size"),
    (dict(max_tokens=0), "at least 1"),
    (dict(top_p=0.0), "top_p"),
    (dict(mask_window=-1), "mask_window must be >= 0"),
    (dict(schedule="timestep", steps=8, mask_window=4), "threshold and block schedules only"),
])
def test_bad_settings_are_explained(bad, message):
    with pytest.raises(InvalidSettingsError, match=message):
        SamplerSettings(**bad).validate()


class ScriptedForward:
    """Logits from a fixed 'true answer': each position's token gets a probability the script gives."""

    def __init__(self, answer: list[int], confidence: list[float], n_prompt: int):
        self.answer, self.confidence, self.n_prompt = answer, confidence, n_prompt
        self.calls: list[np.ndarray] = []
        self.window_ends: list[int] = []
        self.commits: list[int] = []

    def prefill(self, prompt):
        pass

    def logits(self, seq, active_end, targets):
        self.calls.append(np.array(targets))
        self.window_ends.append(active_end)
        rows = []
        for t in targets:
            i = t - self.n_prompt
            p = np.full(VOCAB, (1 - self.confidence[i]) / (VOCAB - 1))
            p[self.answer[i]] = self.confidence[i]
            rows.append(np.log(p))
        return np.array(rows, dtype=np.float32)

    def commit(self, seq, upto):
        self.commits.append(upto)


def _run(forward, settings, on_step=None, prompt=(1, 2, 3), suffix=()):
    return denoise(forward, list(prompt), settings, SpecialTokens(mask=MASK, eos=EOS),
                   token_text=str, detokenize=lambda ts: "".join(map(str, ts)), on_step=on_step, suffix=list(suffix))


def test_threshold_decoding_commits_sure_positions_in_parallel():
    answer = [1, 2, 3, 4, 5, 6, 7, 1]
    conf = [0.99, 0.5, 0.95, 0.97, 0.6, 0.99, 0.3, 0.92]
    forward = ScriptedForward(answer, conf, 3)
    events = []
    result = _run(forward, SamplerSettings(max_tokens=8, sub_block_size=8, canvas_size=8, stop_at_eos=False),
                  events.append)
    assert result.tokens == answer
    assert events[0].committed == [0, 2, 3, 5, 7]  # all above 0.9 at once
    assert result.steps == 4  # then 0.6, 0.5, 0.3 one at a time (best first)
    assert [e.committed for e in events[1:]] == [[4], [1], [6]]
    assert events[-1].masked == [False] * 8


def test_early_stop_once_end_of_text_is_final_with_everything_before_it():
    answer = [1, 2, EOS, EOS] + [EOS] * 12
    conf = [0.5, 0.4, 0.99, 0.99] + [0.99] * 12
    forward = ScriptedForward(answer, conf, 3)
    result = _run(forward, SamplerSettings(max_tokens=16, sub_block_size=8, canvas_size=16))
    assert result.stop_reason == "eos"
    assert result.tokens == [1, 2]
    assert forward.commits == []  # the second sub-block was never started
    assert all(t.max() < 3 + 8 for t in forward.calls)


def test_step_callback_cancels_before_the_next_step():
    forward = ScriptedForward([1] * 16, [0.5] * 16, 3)
    seen = []

    def on_step(event):
        seen.append(event.step)
        return event.step < 3

    result = _run(forward, SamplerSettings(max_tokens=16, sub_block_size=8, canvas_size=16), on_step)
    assert result.stop_reason == "cancelled"
    assert seen == [1, 2, 3] and len(forward.calls) == 3
    assert result.tokens == [1, 1, 1]


def test_fixed_steps_split_over_sub_blocks_and_schedule_counts():
    forward = ScriptedForward(list(range(1, 9)) * 4, [0.5] * 32, 3)
    events = []
    result = _run(forward, SamplerSettings(schedule="block", steps=8, max_tokens=32, sub_block_size=8,
                                           canvas_size=16, stop_at_eos=False), events.append)
    assert result.steps == 8 and result.tokens_per_step == 4
    assert [len(e.committed) for e in events] == [4] * 8
    assert forward.commits == [3 + 8, 3 + 16, 3 + 24]
    assert [e.canvas_index for e in events] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert events[4].active == (0, 8)


def test_a_mask_window_proposes_only_the_first_masks_of_the_sub_block():
    answer = [1, 2, 3, 4, 5, 6, 7, 1]
    conf = [0.5, 0.99, 0.5, 0.99, 0.99, 0.99, 0.99, 0.99]
    forward = ScriptedForward(answer, conf, 3)
    events = []
    result = _run(forward, SamplerSettings(max_tokens=8, sub_block_size=8, canvas_size=8, stop_at_eos=False,
                                           mask_window=3), events.append)
    assert result.tokens == answer
    assert [list(c - 3) for c in forward.calls[:2]] == [[0, 1, 2], [0, 2, 3]]
    assert all(len(c) <= 3 for c in forward.calls) and all(e == 3 + 8 for e in forward.window_ends)
    assert events[0].committed == [1]  # 3..7 are sure too, but outside the window
    assert events[1].committed == [3]


def test_a_mask_window_narrower_than_the_block_schedule_count_commits_what_it_has():
    forward = ScriptedForward(list(range(1, 9)) * 2, [0.5] * 16, 3)
    events = []
    result = _run(forward, SamplerSettings(schedule="block", steps=4, max_tokens=16, sub_block_size=8,
                                           canvas_size=16, stop_at_eos=False, mask_window=3), events.append)
    assert result.tokens == list(range(1, 9)) * 2
    assert [len(e.committed) for e in events[:2]] == [3, 3]  # the schedule's 4 per step, capped at 3
    assert result.steps == 6  # a sub-block: 3, then its last budgeted step commits the window (3), then 2


def test_timestep_schedule_reaches_the_end_in_its_steps():
    forward = ScriptedForward([3] * 16, [0.5] * 16, 3)
    result = _run(forward, SamplerSettings(schedule="timestep", steps=4, max_tokens=16, sub_block_size=8,
                                           canvas_size=16, stop_at_eos=False))
    assert result.steps == 4 and result.tokens == [3] * 16


def test_origin_is_seeded():
    def tokens(seed):
        forward = ScriptedForward([1, 2, 3, 4, 5, 6, 7, 1], [0.5] * 8, 3)
        events = []
        _run(forward, SamplerSettings(schedule="timestep", algorithm="origin", steps=4, max_tokens=8,
                                      sub_block_size=8, canvas_size=8, stop_at_eos=False, seed=seed),
             events.append)
        return [e.committed for e in events]

    assert tokens(1) == tokens(1)
    assert tokens(1) != tokens(2)


def test_infill_windows_reach_the_end_of_the_suffix():
    forward = ScriptedForward([1, 2, 3, 4, 5, 6, 7, 1] * 2, [0.5] * 16, 3)
    result = _run(forward, SamplerSettings(schedule="block", steps=4, max_tokens=16, sub_block_size=8,
                                           canvas_size=16, stop_at_eos=False), suffix=[7, 7, 7])
    assert result.tokens == [1, 2, 3, 4, 5, 6, 7, 1] * 2
    assert forward.window_ends == [3 + 16 + 3] * 4  # prompt + slot + suffix, every step
    assert forward.commits == [3 + 8]
    plain = ScriptedForward([1] * 16, [0.5] * 16, 3)
    _run(plain, SamplerSettings(schedule="block", steps=4, max_tokens=16, sub_block_size=8, canvas_size=16,
                                stop_at_eos=False))
    assert plain.window_ends == [11, 11, 19, 19]  # without a suffix a step sees up to its sub-block's end


def test_the_mask_token_is_never_committed():
    """A model that rates the mask token highest must not leave a position masked forever."""

    class PrefersMask(ScriptedForward):
        def logits(self, seq, active_end, targets):
            out = super().logits(seq, active_end, targets)
            out[:, MASK] = 50.0
            return out

    forward = PrefersMask([1, 2, 3, 4], [0.5] * 4, 3)
    result = _run(forward, SamplerSettings(max_tokens=4, sub_block_size=4, canvas_size=4, stop_at_eos=False))
    assert result.tokens == [1, 2, 3, 4] and result.steps <= 4


class _Draws:
    """A generator stand-in whose uniforms are chosen by the test."""

    def __init__(self, value: float):
        self.value = value

    def random(self, n):
        return np.full(n, self.value)


def test_sampling_reaches_the_tail_of_a_large_vocabulary():
    """A float32 running sum stops growing near 1 when the tail's probabilities are below half its ulp;
    draws above where it stalls must still land on tail tokens (not on the last id by the clamp)."""
    vocab = 151936
    logits = np.zeros((2, vocab), dtype=np.float32)
    logits[:, 10] = 17.5  # p ~ 0.9962; the others ~ 2.5e-8 each, under half an ulp of float32 near 1
    probs = np.exp(logits[0].astype(np.float64) - 17.5)
    probs /= probs.sum()
    cdf = np.cumsum(probs)
    settings = SamplerSettings(temperature=1.0)
    for draw in (0.998, 0.9995):
        got = um.propose_numpy(logits, settings, _Draws(draw)).tokens
        expected = int(np.searchsorted(cdf, draw))  # the first k with cdf[k] >= draw
        assert expected < vocab - 1000
        assert abs(int(got[0]) - expected) <= 64 and got[0] == got[1]  # float32 probs: within ~1.6e-6 of mass


def test_greedy_reference_takes_the_first_max_of_the_logits():
    logits = np.array([[0.3, 0.3, 0.1], [1.0, 2.0, 2.0]], dtype=np.float32)
    logits[0, 1] = np.nextafter(np.float32(0.3), np.float32(1))  # softmax rounds the two to one float32
    tokens = um.propose_numpy(logits, SamplerSettings(), np.random.default_rng(0)).tokens
    assert tokens.tolist() == [1, 1]
