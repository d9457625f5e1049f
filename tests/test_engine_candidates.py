"""K candidates on real llama.cpp: one shared prompt prefill, K sequences in one batch, each as if it ran alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dgcode.engine.candidates import DIVERSE_TEMPERATURE, CandidateStepEvent, candidate_settings
from dgcode.engine.engine import Engine, EngineOptions
from dgcode.engine.errors import InvalidSettingsError
from dgcode.engine.unmasking import SamplerSettings
from dgcode.engine.worker import EngineClient

PROMPT = [5, 300, 17, 256, 99, 42, 7, 350, 120, 64, 3, 260, 11, 200, 31, 77]
THRESHOLD = SamplerSettings(max_tokens=24, sub_block_size=8, canvas_size=24, stop_at_eos=False)
BLOCK = replace(THRESHOLD, schedule="block", steps=12)
# f32 cache, plain attention: the comparisons below are token for token
EXACT = dict(n_ctx=256, n_threads=1, kv_f32=True, flash_attn=False)


def test_candidate_settings_keep_the_users_for_the_first_and_vary_the_rest() -> None:
    assert candidate_settings(THRESHOLD, 0) == THRESHOLD
    others = [candidate_settings(THRESHOLD, i) for i in (1, 2, 3)]
    assert [s.seed for s in others] == [1, 2, 3] and {s.temperature for s in others} == {DIVERSE_TEMPERATURE}
    warm = replace(THRESHOLD, temperature=0.3, seed=10)
    assert candidate_settings(warm, 2) == replace(warm, seed=12)  # the user's own temperature is kept


@pytest.mark.parametrize("arch", ["dream", "llada"])
def test_k_sequences_share_one_prefill(models, arch) -> None:
    with Engine(models[arch], EngineOptions(**EXACT)) as engine:
        lead = 1 if engine.shift_logits else 0
        one = engine.generate_candidates(PROMPT, THRESHOLD, 1)
        four = engine.generate_candidates(PROMPT, THRESHOLD, 4)
    assert one.prefill_tokens == four.prefill_tokens == len(PROMPT) - lead  # once, not four times
    assert len(four.generations) == 4 and four.prompt_tokens == len(PROMPT)
    n_sub = THRESHOLD.max_tokens // THRESHOLD.sub_block_size
    # every decode is the prefill, a batched step of all running candidates, or a batched commit of the
    # sub-blocks finished at that step: never one decode per candidate per step
    assert one.decode_calls == 1 + one.batch_steps + (n_sub - 1)
    assert 1 + four.batch_steps + (n_sub - 1) <= four.decode_calls <= 1 + four.batch_steps + 4 * (n_sub - 1)
    assert four.batch_steps == max(g.steps for g in four.generations) < sum(g.steps for g in four.generations)
    assert all(g.steps >= n_sub and len(g.tokens) == THRESHOLD.max_tokens for g in four.generations)
    assert len({tuple(g.tokens) for g in four.generations}) > 1  # the candidates differ


@pytest.mark.parametrize("arch", ["dream", "llada"])
@pytest.mark.parametrize("settings", [THRESHOLD, BLOCK], ids=["threshold", "block"])
def test_each_candidate_gives_the_single_answer_paths_tokens(models, arch, settings) -> None:
    """Candidate 0 (greedy: the user's settings) is the single-answer path; so is every other one with its own
    settings, which shows that sequences 1..3 see the prompt cells copied from sequence 0."""
    with Engine(models[arch], EngineOptions(**EXACT)) as engine:
        run = engine.generate_candidates(PROMPT, settings, 4)
        alone = [engine.generate(PROMPT, candidate_settings(settings, i)) for i in range(4)]
    assert settings.temperature == 0
    for i, (batched, single) in enumerate(zip(run.generations, alone)):
        assert batched.tokens == single.tokens, f"candidate {i}"
        assert batched.steps == single.steps and batched.stop_reason == single.stop_reason
    assert run.settings == [candidate_settings(settings, i) for i in range(4)]


def test_the_single_answer_context_is_untouched(models) -> None:
    with Engine(models["dream"], EngineOptions(**EXACT)) as engine:
        before = engine.generate(PROMPT, THRESHOLD)
        cells = list(engine.ctx.cell_tokens)
        engine.generate_candidates(PROMPT, THRESHOLD, 3)
        assert engine.ctx.cell_tokens == cells  # the candidates ran on their own context
        after = engine.generate(PROMPT, THRESHOLD)
    assert after.tokens == before.tokens


def test_step_events_name_their_candidate_and_a_false_cancels_all(models, test_ids) -> None:
    events: list[CandidateStepEvent] = []
    with Engine(models["dream"], EngineOptions(**EXACT)) as engine:
        engine.generate_candidates(PROMPT, THRESHOLD, 3, events.append)
        assert {e.candidate for e in events} == {0, 1, 2}
        for k in range(3):
            own = [e for e in events if e.candidate == k]
            assert [e.step for e in own] == list(range(1, len(own) + 1))
            assert all(len(e.tokens) == THRESHOLD.canvas_size for e in own)
            assert own[-1].masked.count(True) == 0  # the last event shows a whole answer
        batch_steps = [e.batch_step for e in events]
        assert batch_steps == sorted(batch_steps)  # grouped by shared decode, in order

        seen: list[CandidateStepEvent] = []

        def stop_at_fifth(event):
            seen.append(event)
            return len(seen) < 5

        run = engine.generate_candidates(PROMPT, THRESHOLD, 3, stop_at_fifth)
    assert len(seen) == 5 and {g.stop_reason for g in run.generations} == {"cancelled"}
    assert run.batch_steps == 2  # 3 events in the first batched step, the fifth in the second
    assert all(test_ids["mask"] not in g.tokens for g in run.generations)


def test_bad_requests_are_refused(models) -> None:
    with Engine(models["dream"], EngineOptions(**EXACT)) as engine:
        with pytest.raises(InvalidSettingsError, match="at least 1"):
            engine.generate_candidates(PROMPT, THRESHOLD, 0)
    with Engine(models["dream"], EngineOptions(n_ctx=256, n_threads=1, cached=False)) as uncached:
        with pytest.raises(InvalidSettingsError, match="cached path"):
            uncached.generate_candidates(PROMPT, THRESHOLD, 2)


def test_candidates_run_in_the_engine_process(models) -> None:
    events = []
    with EngineClient(models["llada"], EngineOptions(**EXACT)) as client:
        run = client.generate_candidates(PROMPT, THRESHOLD, 2, events.append)
        single = client.generate(PROMPT, THRESHOLD)
    assert run.prefill_tokens == len(PROMPT) and len(run.generations) == 2  # llada: no lead token
    assert run.generations[0].tokens == single.tokens
    assert {e.candidate for e in events} == {0, 1}
