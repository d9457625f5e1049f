"""Forward backends are swappable by name behind BlockForward: a registered one is used, unknown names refused."""

from __future__ import annotations

import pytest

from dgcode.engine.backends import CACHED, FULL_SEQUENCE, ForwardBackend, backend_for, backend_names, register_backend
from dgcode.engine.engine import Engine, EngineOptions
from dgcode.engine.errors import InvalidSettingsError
from dgcode.engine.forward import CachedBlockForward
from dgcode.engine.unmasking import SamplerSettings

SETTINGS = SamplerSettings(max_tokens=16, stop_at_eos=False, seed=3)


class CountingForward:
    """The cached pass, counting the steps it computes: a stand-in for a kernel backend."""

    steps = 0

    def __init__(self, inner):
        self.inner = inner

    def prefill(self, prompt):
        self.inner.prefill(prompt)

    def logits(self, seq, active_end, targets):
        CountingForward.steps += 1
        return self.inner.logits(seq, active_end, targets)

    def commit(self, seq, upto):
        self.inner.commit(seq, upto)


def _counting(engine):
    return CountingForward(CachedBlockForward(engine.ctx, shift_logits=engine.shift_logits,
                                              causal_prefill=engine.causal_prefill, reuse_prefix=False))


def test_a_registered_backend_computes_the_steps_and_matches_the_built_in_one(models) -> None:
    if "test-counting" not in backend_names():
        register_backend(ForwardBackend("test-counting", "counts steps", True, _counting))
    options = EngineOptions(n_ctx=128, kv_f32=True, reuse_prefix=False)
    with Engine(models["dream"], options) as built_in:
        expected = built_in.generate("hello", SETTINGS)
        assert built_in.describe()["forward_backend"] == CACHED
    with Engine(models["dream"], EngineOptions(n_ctx=128, kv_f32=True, reuse_prefix=False,
                                               backend="test-counting")) as swapped:
        CountingForward.steps = 0
        answer = swapped.generate("hello", SETTINGS)
        assert swapped.describe()["forward_backend"] == "test-counting"
    assert CountingForward.steps == answer.steps > 0
    assert answer.tokens == expected.tokens


def test_unknown_and_unsuitable_backends_are_refused(models) -> None:
    with pytest.raises(InvalidSettingsError, match="unknown forward backend 'nope'; known: cached, full-sequence"):
        Engine(models["dream"], EngineOptions(n_ctx=64, backend="nope"))
    with pytest.raises(InvalidSettingsError, match="needs a KV cache"):
        backend_for(CACHED, has_cache=False)
    assert backend_for(None, has_cache=False).name == FULL_SEQUENCE
    assert backend_for(None, has_cache=True, cached=False).name == FULL_SEQUENCE
    with pytest.raises(ValueError, match="exists already"):
        register_backend(ForwardBackend(CACHED, "again", True, _counting))
