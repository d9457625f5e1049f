"""The cached block path computes what it claims: same logits as the native path, and as a numpy reference."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from reference_model import reference_logits  # noqa: E402

from dgcode.engine.engine import Engine, EngineOptions  # noqa: E402
from dgcode.engine.errors import InvalidSettingsError, PromptTooLongError  # noqa: E402
from dgcode.engine.forward import CachedBlockForward  # noqa: E402
from dgcode.engine.unmasking import SamplerSettings  # noqa: E402

PROMPT = [5, 300, 17, 256, 99, 42, 7, 350, 120, 64, 3, 260]


def _scale(a: np.ndarray) -> float:
    return float(np.abs(a).max())


@pytest.mark.parametrize("arch", ["dream", "llada"])
def test_aliased_copy_gives_native_full_sequence_logits(models, arch, test_ids):
    seq = np.array(PROMPT + [test_ids["mask"]] * 20)
    rows = range(len(seq))
    with Engine(models[arch], EngineOptions(n_ctx=64, cached=False)) as native:
        assert native.model.is_diffusion and not native.ctx.has_cache
        native_logits = native.ctx.decode(seq, 0, rows)
    with Engine(models[arch], EngineOptions(n_ctx=64, max_window=64, kv_f32=True)) as cached:
        assert cached.cached and cached.ctx.has_cache and not cached.model.is_diffusion
        cached.ctx.set_causal(False)
        aliased_logits = cached.ctx.decode(seq, 0, rows)
    assert np.abs(native_logits - aliased_logits).max() <= 1e-5 * _scale(native_logits)


def _visible(n: int, cached_until: list[int]) -> np.ndarray:
    """Row i sees columns [0, limit(i)): cache segments see only up to their own end; the window sees all."""
    vis = np.zeros((n, n), dtype=bool)
    bounds = [0] + cached_until
    for lo, hi in zip(bounds, bounds[1:]):
        vis[lo:hi, :hi] = True
    vis[bounds[-1]:, :] = True
    return vis


@pytest.mark.parametrize("arch", ["dream", "llada"])
def test_cached_block_steps_equal_numpy_reference(models, arch, test_ids):
    rng = np.random.default_rng(3)
    sub = 8
    # f32 KV cache and no flash attention: llama.cpp's f16 shortcuts would blur a 1e-4 comparison.
    with Engine(models[arch], EngineOptions(n_ctx=64, kv_f32=True, flash_attn=False)) as engine:
        lead = 1 if engine.shift_logits else 0
        assert engine.shift_logits == (arch == "dream")  # Dream shifts (row i-1 predicts i), LLaDA does not
        forward = CachedBlockForward(engine.ctx, shift_logits=engine.shift_logits)
        P = len(PROMPT)
        seq = np.array(PROMPT + [test_ids["mask"]] * (2 * sub))
        forward.prefill(seq[:P])
        assert forward.cached == P - lead

        # Step inside the first sub-block, with two positions already committed.
        seq[P + 2] = 77
        seq[P + 5] = 91
        targets = P + np.array([0, 1, 3, 4, 6, 7])
        got = forward.logits(seq, P + sub, targets)
        n = P + sub
        ref = reference_logits(models[arch], seq[:n].tolist(), list(range(n)), _visible(n, [P - lead]))
        want = ref[targets - lead]
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4 * _scale(want)
        # The comparison can tell masks apart: had the prompt seen the block, logits would differ.
        full = reference_logits(models[arch], seq[:n].tolist(), list(range(n)), np.ones((n, n), bool))
        assert np.abs(got - full[targets - lead]).max() > 100 * 1e-4 * _scale(want)

        # Repeating the step after its cells were dropped gives the same logits.
        again = forward.logits(seq, P + sub, targets)
        assert np.array_equal(again, got)

        # Commit the first sub-block; step in the second one sees it as prefix.
        seq[P:P + sub] = rng.integers(0, 256, sub)
        forward.commit(seq, P + sub)
        assert forward.cached == P + sub - lead
        targets = P + sub + np.arange(sub)
        n = P + 2 * sub
        got = forward.logits(seq, n, targets)
        ref = reference_logits(models[arch], seq[:n].tolist(), list(range(n)),
                               _visible(n, [P - lead, P + sub - lead]))
        want = ref[targets - lead]
        assert np.abs(got - want).max() <= 1e-4 * _scale(want)


class _DecodeLog:
    """Records every decode call a real context makes (tokens, start position, logit rows)."""

    def __init__(self, ctx):
        self.calls = []
        self._decode = ctx.decode

        def spy(tokens, start, rows=()):
            rows = list(rows)
            self.calls.append((len(tokens), start, len(rows)))
            return self._decode(tokens, start, rows)

        ctx.decode = spy


def test_prompt_decoded_once_and_logits_only_for_masked_rows(models):
    with Engine(models["dream"], EngineOptions(n_ctx=256)) as engine:
        log = _DecodeLog(engine.ctx)
        prompt = list(range(40, 140))
        settings = SamplerSettings(schedule="block", steps=16, max_tokens=64, sub_block_size=16,
                                   stop_at_eos=False)
        result = engine.generate(prompt, settings)
    prefill, *rest = log.calls
    assert prefill == (99, 0, 0)  # all prompt tokens but the lead one, no logits
    assert all(start >= 99 for _, start, _ in rest)
    step_calls = [c for c in rest if c[2] > 0]
    commit_calls = [c for c in rest if c[2] == 0]
    assert len(step_calls) == result.steps == 16
    assert len(commit_calls) == 4 - 1  # every sub-block but the last becomes prefix
    # 4 steps per 16-token sub-block, 4 tokens each: logit rows 16, 12, 8, 4 per sub-block.
    assert [rows for _, _, rows in step_calls] == [16, 12, 8, 4] * 4
    assert all(n_tokens == 17 for n_tokens, _, rows in step_calls)  # sub-block + lead token


def test_same_seed_same_output_and_native_path_agrees(models):
    settings = SamplerSettings(schedule="block", steps=16, max_tokens=32, sub_block_size=8,
                               temperature=0.8, seed=11, stop_at_eos=False)
    with Engine(models["llada"], EngineOptions(n_ctx=128)) as engine:
        first = engine.generate("def f(x):", settings)
        second = engine.generate("def f(x):", settings)
        other_seed = engine.generate("def f(x):", SamplerSettings(**{**settings.__dict__, "seed": 12}))
    assert first.tokens == second.tokens
    assert first.tokens != other_seed.tokens


def test_no_cache_path_ignores_which_rows_were_flagged(models):
    """Why FullSequenceForward always asks every row: llama.cpp's encoder path returns the first n rows."""
    seq = np.array(PROMPT + [383] * 6)
    with Engine(models["dream"], EngineOptions(n_ctx=64, cached=False)) as engine:
        full = engine.ctx.decode(seq, 0, range(len(seq)))
        flagged = engine.ctx.decode(seq, 0, [12, 13])
    assert np.array_equal(flagged, full[:2])  # if llama.cpp fixes this, the fallback can ask fewer rows


def test_prefix_reuse_across_requests_is_exact_for_causal_prefill(models, test_ids):
    """A block-diffusion model (causal prefill): a second prompt sharing a prefix decodes only its new part."""
    options = EngineOptions(n_ctx=256, mask_token_id=test_ids["mask"] - 1, kv_f32=True)
    settings = SamplerSettings(schedule="block", steps=8, max_tokens=16, sub_block_size=8, stop_at_eos=False)
    shared = list(range(10, 90))
    first_prompt, second_prompt = shared + [1, 2, 3], shared + [4, 5, 6, 7]
    with Engine(models["qwen2-no-mask"], options) as engine:
        assert engine.reuse_prefix
        engine.generate(first_prompt, settings)
        log = _DecodeLog(engine.ctx)
        reused = engine.generate(second_prompt, settings)
    assert reused.reused_prompt_tokens == len(shared)
    assert log.calls[0] == (len(second_prompt) - 1 - len(shared), len(shared), 0)  # only the new part
    with Engine(models["qwen2-no-mask"], options) as fresh_engine:
        fresh = fresh_engine.generate(second_prompt, settings)
    assert fresh.reused_prompt_tokens == 0
    assert reused.tokens == fresh.tokens


def test_bidirectional_models_prefill_afresh_by_default(models):
    settings = SamplerSettings(schedule="block", steps=4, max_tokens=8, sub_block_size=8, stop_at_eos=False)
    with Engine(models["dream"], EngineOptions(n_ctx=256)) as engine:
        assert not engine.reuse_prefix
        engine.generate(list(range(10, 60)), settings)
        assert engine.generate(list(range(10, 70)), settings).reused_prompt_tokens == 0


@pytest.mark.parametrize("flag, expected", [(False, False), (None, True)])
def test_shift_follows_the_header(tmp_path, flag, expected, test_ids):
    """diffusion.shift_logits decides the shift; absent means shift, as llama-diffusion-cli assumes."""
    from dgcode.engine.synthetic import write_synthetic_gguf

    path = write_synthetic_gguf(tmp_path / "m.gguf", "test", arch="dream", dtype="f32", shift_logits=flag)
    with Engine(path, EngineOptions(n_ctx=64, kv_f32=True, flash_attn=False)) as engine:
        assert engine.shift_logits is expected
        forward = CachedBlockForward(engine.ctx, shift_logits=engine.shift_logits)
        P, lead = len(PROMPT), int(expected)
        seq = np.array(PROMPT + [test_ids["mask"]] * 8)
        forward.prefill(seq[:P])
        targets = P + np.arange(8)
        got = forward.logits(seq, P + 8, targets)
    n = P + 8
    ref = reference_logits(path, seq.tolist(), list(range(n)), _visible(n, [P - lead]))
    assert np.abs(got - ref[targets - lead]).max() <= 1e-4 * _scale(ref)


@pytest.mark.parametrize("arch", ["dream", "llada"])
def test_infill_step_sees_the_code_on_both_sides(models, arch, test_ids):
    """Infill: the masked slot is decoded with the fixed suffix in the same window (numpy reference)."""
    suffix = [40, 41, 42, 43, 44]
    with Engine(models[arch], EngineOptions(n_ctx=64, kv_f32=True, flash_attn=False)) as engine:
        lead = int(engine.shift_logits)
        log = _DecodeLog(engine.ctx)
        forward = CachedBlockForward(engine.ctx, shift_logits=engine.shift_logits)
        P, slot = len(PROMPT), 6
        seq = np.array(PROMPT + [test_ids["mask"]] * slot + suffix)
        forward.prefill(seq[:P])
        targets = P + np.arange(slot)
        got = forward.logits(seq, len(seq), targets)
        n = len(seq)
        ref = reference_logits(models[arch], seq.tolist(), list(range(n)), _visible(n, [P - lead]))
        assert np.abs(got - ref[targets - lead]).max() <= 1e-4 * _scale(ref)
        settings = SamplerSettings(schedule="block", steps=3, max_tokens=slot, sub_block_size=8, canvas_size=8,
                                   stop_at_eos=False)
        result = engine.generate(PROMPT, settings, suffix=suffix)
    assert len(result.tokens) == slot
    step_calls = [c for c in log.calls if c[2] > 0][1:]  # after the hand-made step above
    assert [n_tokens for n_tokens, _, _ in step_calls] == [lead + slot + len(suffix)] * 3


@pytest.mark.parametrize("arch", ["dream", "llada"])
def test_masked_logits_are_the_first_steps_view_of_the_masked_block(models, arch, test_ids):
    n = 10
    P = len(PROMPT)
    seq = np.array(PROMPT + [test_ids["mask"]] * n)
    with Engine(models[arch], EngineOptions(n_ctx=64, kv_f32=True, flash_attn=False)) as engine:
        lead = 1 if engine.shift_logits else 0
        got = engine.masked_logits(PROMPT, n)
        again = engine.masked_logits(PROMPT, n)  # nothing of the first call is left in the cache
        with pytest.raises(InvalidSettingsError, match="n_masked"):
            engine.masked_logits(PROMPT, 0)
        with pytest.raises(PromptTooLongError):
            engine.masked_logits(list(range(60)), 10)
    with Engine(models[arch], EngineOptions(n_ctx=64, cached=False)) as native:
        uncached = native.masked_logits(PROMPT, n)  # the native path: everything sees everything
    # The cached path: the prompt sees only the prompt, the masked block sees all (as in a first step).
    want = reference_logits(models[arch], seq.tolist(), list(range(len(seq))), _visible(len(seq), [P - lead]))
    rows = np.arange(P, P + n) - lead
    assert got.shape == (n, want.shape[1]) and got.dtype == np.float32
    assert np.abs(got - want[rows]).max() <= 1e-4 * _scale(want)
    assert np.array_equal(again, got)
    full = reference_logits(models[arch], seq.tolist(), list(range(len(seq))), np.ones((len(seq),) * 2, bool))
    assert np.abs(uncached - full[rows]).max() <= 1e-4 * _scale(full)
