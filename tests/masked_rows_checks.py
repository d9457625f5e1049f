"""The masked-rows step (engine/masked_rows_forward.py) on dgcode's libllama, in a process that loaded it.

Not collected by the main run (the name has no test_ prefix): tests/test_engine_masked_rows_step.py runs
this file in its own pytest process with DGCODE_LIBLLAMA naming the build, since llama_cpp loads its
library once per process and the other tests keep llama-cpp-python's own.

Checked against tests/test_engine_incremental_step.py's NumpyKV (per-layer keys and values per cached
position, attended without a causal mask), so cells computed at an earlier step are what a later step
reads. The approximation, stated: a kept cell's keys and values were computed at the step that decoded
it, so they do not see tokens committed after that step; with one layer they depend on the token and its
position only, so there the answers equal the window step's.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from reference_model import reference_logits  # noqa: E402
from test_engine_incremental_step import EXACT, PROMPT, NumpyKV, _prefix_then_window, _scale  # noqa: E402

from dgcode.engine import libllama  # noqa: E402
from dgcode.engine.engine import Engine, EngineOptions  # noqa: E402
from dgcode.engine.errors import EngineError  # noqa: E402
from dgcode.engine.forward import CachedBlockForward  # noqa: E402
from dgcode.engine.masked_rows_forward import MaskedRowsForward  # noqa: E402
from dgcode.engine.sampler import denoise  # noqa: E402
from dgcode.engine.unmasking import SamplerSettings  # noqa: E402


def test_this_process_runs_on_dgcode_libllama(models):
    with Engine(models["llada"], EngineOptions(n_ctx=64)) as engine:
        assert libllama.loaded().features & libllama.FEATURE_FREE_POSITIONS
        assert engine.ctx.free_positions and engine.native_cache


@pytest.mark.parametrize("arch", ["dream", "llada"])
def test_batches_between_and_below_cached_cells_read_exactly_the_cells_there(models, arch):
    ref = NumpyKV(models[arch])
    with Engine(models[arch], EngineOptions(n_ctx=64, **EXACT)) as engine:
        ctx = engine.ctx
        ctx.set_causal(False)
        steps = [("decode", PROMPT, range(12)), ("decode", [50, 51, 52], [20, 22, 25]), ("drop", [3, 4, 22]),
                 ("decode", [70, 71, 72], [3, 22, 40]), ("decode", [60], [21])]
        for op, *args in steps:
            if op == "drop":
                ctx.drop(args[0])
                ref.cells = {p: c for p, c in ref.cells.items() if p not in args[0]}
                continue
            tokens, positions = args
            got = ctx.decode_at(tokens, positions, range(len(tokens)))
            want = ref.decode(tokens, positions, range(len(tokens)))
            assert np.abs(got - want).max() <= 1e-4 * _scale(want), args
            assert dict(ctx.cells) == {p: c[0] for p, c in ref.cells.items()}
        assert ctx.end == 41 and ctx.cell_tokens == PROMPT[:3] + [70]  # the hole at 4 ends the run


def test_what_llama_cpp_would_mix_up_is_still_refused(models):
    with Engine(models["dream"], EngineOptions(n_ctx=64, **EXACT)) as engine:
        ctx = engine.ctx
        ctx.set_causal(False)
        ctx.decode(PROMPT, 0)
        ctx.drop([4, 5])
        before = dict(ctx.cells)
        with pytest.raises(EngineError, match="positions 3 are cached already"):
            ctx.decode_at([1, 2], [3, 4])  # two cells for position 3 would both be attended to
        with pytest.raises(EngineError, match="must increase"):
            ctx.decode_at([1, 2], [5, 4])
        assert dict(ctx.cells) == before
        ctx.set_causal(True)  # a causal decode keeps llama.cpp's rule
        with pytest.raises(EngineError, match="right after the highest cached position"):
            ctx.decode_at([1, 2], [4, 5])


def _rule(seq, held, start, end, rows, mask):
    """The positions the stated rule decodes: masks, rows asked for, cells missing or holding another token."""
    return [p for p in range(start, end) if seq[p] == mask or p in set(rows.tolist()) or held.get(p) != seq[p]]


@pytest.mark.parametrize("arch", ["dream", "llada"])
def test_masked_rows_steps_equal_the_numpy_kv_reference(models, arch, test_ids):
    """Steps in two sub-blocks, commits anywhere in the window, a commit in between."""
    mask, sub = test_ids["mask"], 8
    with Engine(models[arch], EngineOptions(n_ctx=64, **EXACT)) as engine:
        lead = 1 if engine.shift_logits else 0
        forward = MaskedRowsForward(engine.ctx, mask_token=mask, shift_logits=engine.shift_logits)
        ref = NumpyKV(models[arch])
        P = len(PROMPT)
        seq = np.array(PROMPT + [mask] * (2 * sub))
        forward.prefill(seq[:P])
        ref.decode(PROMPT[:P - lead], range(P - lead))
        plan = [(), (0, 1, 5), (2, 7), (3,), (4, 6)]  # offsets committed before each step of sub-block 0
        for n, commits in enumerate(plan):
            seq[P + np.array(commits, dtype=int)] = 100 + np.array(commits, dtype=int)
            targets = P + np.flatnonzero(seq[P:P + sub] == mask)
            if not targets.size:
                break
            rows = targets - lead
            held = {p: c[0] for p, c in ref.cells.items()}
            decode = _rule(seq, held, P - lead, P + sub, rows, mask)
            got = forward.logits(seq, P + sub, targets)
            ref.cells = {p: c for p, c in ref.cells.items() if p not in decode}
            want = ref.decode(seq[decode], decode, np.searchsorted(decode, rows))
            assert np.abs(got - want).max() <= 1e-4 * _scale(want), commits
            assert forward.step_tokens[-1] == len(decode)
            assert dict(engine.ctx.cells) == {p: c[0] for p, c in ref.cells.items()}
            if n >= 2:
                assert len(decode) < sub + lead  # committed cells were read, not decoded
            if commits == (2, 7):
                window = reference_logits(models[arch], seq[:P + sub].tolist(), list(range(P + sub)),
                                          _prefix_then_window(P + sub, P - lead))[rows]
                assert np.abs(got - window).max() > 100 * 1e-4 * _scale(want), "the stale cells show"

        # Commit: sub-block 0 decoded afresh; sub-block 1's first step decodes its masks and the lead row.
        # (Dream: the sub-block's last token stays as it was, as the next step's lead row it is decoded again.)
        forward.commit(seq, P + sub)
        ref.cells = {p: c for p, c in ref.cells.items() if not P - lead <= p < P + sub - lead}
        ref.decode(seq[P - lead:P + sub - lead], range(P - lead, P + sub - lead))
        assert forward.cached == P + sub - lead
        assert dict(engine.ctx.cells) == {p: c[0] for p, c in ref.cells.items()}
        targets = P + sub + np.arange(sub)
        got = forward.logits(seq, P + 2 * sub, targets)
        ref.cells = {p: c for p, c in ref.cells.items() if p < P + sub - lead}
        want = ref.decode(seq[P + sub - lead:P + 2 * sub], range(P + sub - lead, P + 2 * sub), targets - P - sub)
        assert np.abs(got - want).max() <= 1e-4 * _scale(want)
        assert forward.step_tokens[-1] == sub + lead


def _local_rule(seq, held, start, end, rows, targets, mask):
    """The local step's positions: the masks asked for, rows asked for, cells missing or holding another token."""
    asked = set(rows.tolist()) | {p for p in targets.tolist() if seq[p] == mask}
    return [p for p in range(start, end) if p in asked or held.get(p) != seq[p]]


@pytest.mark.parametrize("arch", ["dream", "llada"])
def test_local_steps_with_a_mask_window_equal_the_numpy_kv_reference(models, arch, test_ids):
    """The local step (masked-rows-local): only the first 3 masks asked for, the later masks and the
    committed sub-block kept as computed; each step and the commit against the numpy cache."""
    mask, sub, window = test_ids["mask"], 8, 3
    with Engine(models[arch], EngineOptions(n_ctx=64, **EXACT)) as engine:
        lead = 1 if engine.shift_logits else 0
        forward = MaskedRowsForward(engine.ctx, mask_token=mask, shift_logits=engine.shift_logits, local=True)
        ref = NumpyKV(models[arch])
        P = len(PROMPT)
        seq = np.array(PROMPT + [mask] * (2 * sub))
        forward.prefill(seq[:P])
        ref.decode(PROMPT[:P - lead], range(P - lead))

        def step(end):
            targets = P + np.flatnonzero(seq[P:end] == mask)[:window]
            rows = targets - lead
            held = {p: c[0] for p, c in ref.cells.items()}
            decode = _local_rule(seq, held, forward.cached, end, rows, targets, mask)
            got = forward.logits(seq, end, targets)
            ref.cells = {p: c for p, c in ref.cells.items() if p not in decode}
            want = ref.decode(seq[decode], decode, np.searchsorted(decode, rows))
            assert np.abs(got - want).max() <= 1e-4 * _scale(want)
            assert forward.step_tokens[-1] == len(decode)
            assert dict(engine.ctx.cells) == {p: c[0] for p, c in ref.cells.items()}
            return decode, got

        first, _ = step(P + sub)
        assert len(first) == sub + lead, "a sub-block's first step decodes all of it"
        for commits in [(0, 2), (1,), (3, 4, 5), (6, 7)]:
            seq[P + np.array(commits)] = 100 + np.array(commits)
            if (seq[P:P + sub] == mask).any():
                decode, _ = step(P + sub)
                later = [p for p in range(P, P + sub) if seq[p] == mask and p not in decode]
                if (seq[P:P + sub] == mask).sum() > window:
                    assert later, "masks after the window were read from their cells"
                assert all(engine.ctx.cells[p] == mask for p in later)
        # The commit decodes only the last step's tokens (6, 7): the rest of the sub-block stays as computed.
        forward.commit(seq, P + sub)
        new = list(range(P + 6, P + sub - lead))
        ref.cells = {p: c for p, c in ref.cells.items() if p not in new}
        if new:
            ref.decode(seq[new], new)
        assert forward.cached == P + sub - lead
        assert dict(engine.ctx.cells) == {p: c[0] for p, c in ref.cells.items()}
        decode, got = step(P + 2 * sub)
        assert decode[0] == P + sub - lead and len(decode) == sub + lead
        # What the masked-rows step would read instead: the sub-block decoded afresh at the commit.
        fresh = NumpyKV(models[arch])
        fresh.cells = {p: c for p, c in ref.cells.items() if p < P - lead}
        fresh.decode(seq[P - lead:P + sub - lead], range(P - lead, P + sub - lead))
        rows = P + sub + np.arange(window) - lead
        want = fresh.decode(seq[decode], decode, np.searchsorted(decode, rows))
        assert np.abs(got - want).max() > 100 * 1e-4 * _scale(want), "the kept cells of the sub-block show"


def test_a_kept_cell_whose_token_changed_or_was_remasked_is_decoded_again(models, test_ids):
    mask = test_ids["mask"]
    with Engine(models["llada"], EngineOptions(n_ctx=64, **EXACT)) as engine:
        forward = MaskedRowsForward(engine.ctx, mask_token=mask, shift_logits=False)
        P = len(PROMPT)
        seq = np.array(PROMPT + [mask] * 8)
        forward.prefill(seq[:P])
        seq[P + np.array([0, 4])] = [30, 34]
        forward.logits(seq, P + 8, P + np.array([1, 2, 3, 5, 6, 7]))  # 30 and 34 decoded with their tokens
        forward.logits(seq, P + 8, P + np.array([1, 2, 3, 5, 6, 7]))
        seq[P] = mask  # a caller re-masked a kept position, and changed another
        seq[P + 4] = 44
        forward.logits(seq, P + 8, P + np.array([0, 1, 2, 3, 5, 6, 7]))
        assert forward.step_tokens == [8, 6, 8]
        assert engine.ctx.cells.get(P) == mask and engine.ctx.cells.get(P + 4) == 44


@pytest.mark.parametrize("arch", ["dream", "llada"])
@pytest.mark.parametrize("settings", [
    SamplerSettings(max_tokens=48, sub_block_size=16, stop_at_eos=False),  # threshold 0.9, greedy
    SamplerSettings(schedule="block", steps=12, max_tokens=48, sub_block_size=16, temperature=0.8, seed=5,
                    stop_at_eos=False),
], ids=["threshold", "block-sampled"])
def test_one_layer_answers_are_identical_and_steps_decode_what_the_rule_says(one_layer, arch, settings,
                                                                              test_ids):
    runs = {}
    with Engine(one_layer[arch], EngineOptions(n_ctx=128, **EXACT)) as engine:
        for make in (lambda: CachedBlockForward(engine.ctx, shift_logits=engine.shift_logits),
                     lambda: MaskedRowsForward(engine.ctx, mask_token=test_ids["mask"],
                                               shift_logits=engine.shift_logits)):
            forward, events = make(), []
            gen = denoise(forward, PROMPT, settings, engine.special, engine.model.token_text,
                          engine.model.detokenize, on_step=lambda e, seen=events: seen.append(e.masked))
            runs[type(forward)] = gen, forward.step_tokens, events
    (window, window_tokens, _), (masked_rows, tokens, after) = runs.values()
    assert masked_rows.tokens == window.tokens and masked_rows.steps == window.steps
    lead, size = (1 if arch == "dream" else 0), settings.sub_block_size
    before = [np.ones(settings.max_tokens, bool)] + [np.asarray(m) for m in after]  # masked as each step saw it
    expected = []
    for i in range(masked_rows.steps):
        masked = np.flatnonzero(before[i])
        a = masked[0] // size * size
        if i and np.flatnonzero(before[i - 1])[0] // size * size == a:
            committed = set(np.flatnonzero(before[i - 1] & ~before[i]).tolist())  # last step's, to decode once
        else:
            committed = set()  # a sub-block's first step: the committed one before it was decoded afresh
        here = [p for p in masked if p < a + size]
        expected.append(len(set(here) | {p - lead for p in here} | committed))
    assert tokens == expected
    assert sum(tokens) < sum(window_tokens)


@pytest.mark.parametrize("arch", ["dream", "llada"])
@pytest.mark.parametrize("settings", [
    SamplerSettings(max_tokens=48, sub_block_size=16, stop_at_eos=False, mask_window=4),
    SamplerSettings(schedule="block", steps=12, max_tokens=48, sub_block_size=16, temperature=0.8, seed=5,
                    stop_at_eos=False, mask_window=6),
], ids=["threshold", "block-sampled"])
def test_one_layer_local_answers_with_a_mask_window_are_the_window_steps(one_layer, arch, settings, test_ids):
    """With one layer a kept cell is exact, so the local step answers as the window step does with the same
    mask window, and decodes fewer tokens than the masked-rows step."""
    runs = []
    with Engine(one_layer[arch], EngineOptions(n_ctx=128, **EXACT)) as engine:
        for make in (lambda: CachedBlockForward(engine.ctx, shift_logits=engine.shift_logits),
                     lambda: MaskedRowsForward(engine.ctx, mask_token=test_ids["mask"],
                                               shift_logits=engine.shift_logits),
                     lambda: MaskedRowsForward(engine.ctx, mask_token=test_ids["mask"],
                                               shift_logits=engine.shift_logits, local=True)):
            forward = make()
            gen = denoise(forward, PROMPT, settings, engine.special, engine.model.token_text,
                          engine.model.detokenize)
            runs.append((gen, forward.step_tokens))
    (window, _), (masked_rows, masked_tokens), (local, local_tokens) = runs
    assert local.tokens == masked_rows.tokens == window.tokens and local.steps == window.steps
    lead = 1 if arch == "dream" else 0
    assert max(local_tokens) == settings.sub_block_size + lead  # a sub-block's first step
    assert sum(local_tokens) < sum(masked_tokens)


def test_one_layer_infill_is_identical_and_the_suffix_stays_cached(one_layer, test_ids):
    settings = SamplerSettings(max_tokens=16, sub_block_size=8, stop_at_eos=False)
    suffix = [9, 8, 7, 6, 5]
    answers = {}
    with Engine(one_layer["llada"], EngineOptions(n_ctx=128, **EXACT)) as engine:
        for forward in (CachedBlockForward(engine.ctx, shift_logits=False),
                        MaskedRowsForward(engine.ctx, mask_token=test_ids["mask"], shift_logits=False)):
            gen = denoise(forward, PROMPT, settings, engine.special, engine.model.token_text,
                          engine.model.detokenize, suffix=suffix)
            answers[type(forward)] = gen.tokens, forward.step_tokens
    (window, window_tokens), (masked_rows, tokens) = answers.values()
    assert masked_rows == window
    # The window step decodes the slot and the suffix every step; here the suffix only at the first one.
    assert tokens[0] == window_tokens[0] == 16 + len(suffix) and all(n <= 16 for n in tokens[1:])
    assert all(n >= 8 + len(suffix) for n in window_tokens) and sum(tokens) < sum(window_tokens)


def test_the_engine_and_the_bench_run_the_masked_rows_step(models, monkeypatch):
    from dgcode.engine.benchmark import BenchSpec, run_bench

    with Engine(models["dream"], EngineOptions(n_ctx=64, backend="masked-rows")) as engine:
        assert engine.describe()["forward_backend"] == "masked-rows"
        assert isinstance(engine._forward(), MaskedRowsForward)
        assert engine.generate(PROMPT, SamplerSettings(max_tokens=16, sub_block_size=8)).steps >= 1
    with Engine(models["llada"], EngineOptions(n_ctx=64)) as engine:
        assert isinstance(engine._forward(), MaskedRowsForward), "the default on dgcode's libllama"
    monkeypatch.setenv("DGCODE_FORWARD_BACKEND", "cached")
    with Engine(models["llada"], EngineOptions(n_ctx=64)) as engine:
        assert type(engine._forward()) is CachedBlockForward, "the environment opts out"
    monkeypatch.delenv("DGCODE_FORWARD_BACKEND")
    rows = run_bench(models["dream"], BenchSpec(prompt_tokens=32, gen_tokens=32, steps=8, sub_block=16,
                                                modes=("dgcode", "dgcode-masked-rows")))
    assert [r["mode"] for r in rows] == ["dgcode", "dgcode-masked-rows"]
    assert [r["forward_backend"] for r in rows] == ["masked-rows", "masked-rows"]
    assert rows[0]["tokens"] == rows[1]["tokens"] == 32 and rows[0]["steps"] == rows[1]["steps"] == 8
    assert 0 < rows[1]["step_tokens_mean"] < 16 + 1  # less than the window: sub-block + the lead row


def test_the_bench_runs_the_local_step_with_a_mask_window(models):
    from dgcode.engine.benchmark import BenchSpec, run_bench

    with Engine(models["dream"], EngineOptions(n_ctx=64, backend="masked-rows-local")) as engine:
        forward = engine._forward()
        assert isinstance(forward, MaskedRowsForward) and forward.local
    spec = BenchSpec(prompt_tokens=32, gen_tokens=32, steps=8, sub_block=16, mask_window=4,
                     modes=("dgcode-masked-rows", "dgcode-masked-rows-local", "ar"))
    rows = {r["mode"]: r for r in run_bench(models["llada"], spec)}
    masked, local = rows["dgcode-masked-rows"], rows["dgcode-masked-rows-local"]
    assert masked["mask_window"] == local["mask_window"] == 4 and "mask_window" not in rows["ar"]
    assert local["forward_backend"] == "masked-rows-local" and local["tokens"] == 32 and local["steps"] == 8
    assert local["step_tokens_mean"] < masked["step_tokens_mean"]  # later masks read from their cells
    assert local["break_even_tokens_per_step"] > 0


def test_a_later_prompt_reuses_the_committed_cells_but_not_the_working_ones(models, test_ids):
    settings = SamplerSettings(max_tokens=16, sub_block_size=8, stop_at_eos=False)
    with Engine(models["llada"], EngineOptions(n_ctx=128, **EXACT)) as engine:
        def run(prompt):
            forward = MaskedRowsForward(engine.ctx, mask_token=test_ids["mask"], shift_logits=False,
                                        reuse_prefix=True)
            gen = denoise(forward, prompt, settings, engine.special, engine.model.token_text,
                          engine.model.detokenize)
            return forward, gen

        _, first = run(PROMPT)
        P = len(PROMPT)
        # The last sub-block's cells are still cached (decoded while its neighbours were masks) ...
        assert max(engine.ctx.cells) == P + 15 and engine.ctx.working_from == P + 8
        # ... but a prompt that continues the answer reuses only the prompt and the committed sub-block.
        assert engine.ctx.cell_tokens == PROMPT + first.tokens[:8]
        second, _ = run(PROMPT + first.tokens + [7, 8])
        assert second.reused == P + 8
