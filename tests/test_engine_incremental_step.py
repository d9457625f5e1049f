"""The cheaper step (engine/incremental_forward.py) and the LlamaContext operations under it.

Checked against two numpy computations of the same GGUF (tests/reference_model.py): its one-pass
forward with an explicit visibility matrix, and NumpyKV below, which keeps per-layer keys and values
per cached position the way a KV cache does, so cells computed at an earlier step (seeing masks where
tokens were committed later) are what a later step reads. The approximation of the incremental step,
stated: a kept cell's keys and values were computed at the step that kept it, so they do not see
tokens committed after that step; everything else is what the window path computes. With one layer
keys and values depend on the token and its position only, so there the approximation is exact.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from reference_model import _linear, load_reference_model, reference_logits, rms_norm, rope, silu  # noqa: E402

from dgcode.engine import backends  # noqa: E402
from dgcode.engine.engine import Engine, EngineOptions  # noqa: E402
from dgcode.engine.errors import EngineError, InvalidSettingsError  # noqa: E402
from dgcode.engine.forward import CachedBlockForward  # noqa: E402
from dgcode.engine.incremental_forward import IncrementalBlockForward  # noqa: E402
from dgcode.engine.llama_native import _lib  # noqa: E402
from dgcode.engine.sampler import denoise  # noqa: E402
from dgcode.engine.unmasking import SamplerSettings  # noqa: E402

PROMPT = [5, 300, 17, 256, 99, 42, 7, 350, 120, 64, 3, 260]
EXACT = dict(kv_f32=True, flash_attn=False)  # llama.cpp's f16 shortcuts would blur a 1e-4 comparison


def _scale(a: np.ndarray) -> float:
    return float(np.abs(a).max())


class NumpyKV:
    """A numpy KV cache: position -> (token, per-layer rotated keys and values); a decode attends, without a
    causal mask, to every cached cell and to its own batch, like llama.cpp's cached decode with causal
    attention off."""

    def __init__(self, path):
        self.m = load_reference_model(path)
        self.cells: dict[int, tuple[int, list[tuple[np.ndarray, np.ndarray]]]] = {}

    def decode(self, tokens, positions, rows=()) -> np.ndarray:
        m, tokens, positions = self.m, np.asarray(tokens), np.asarray(positions)
        n, H, Hkv, d = len(tokens), m.n_head, m.n_head_kv, m.head_dim
        old = sorted(self.cells)
        x = m.tensors["token_embd.weight"][tokens]
        fresh = []
        for il in range(m.n_layer):
            p = f"blk.{il}."
            h = rms_norm(x, m.tensors[p + "attn_norm.weight"], m.eps)
            q = rope(_linear(h, m, p + "attn_q").reshape(n, H, d), positions, m.n_rot, m.rope_base, m.neox)
            k = rope(_linear(h, m, p + "attn_k").reshape(n, Hkv, d), positions, m.n_rot, m.rope_base, m.neox)
            v = _linear(h, m, p + "attn_v").reshape(n, Hkv, d)
            fresh.append((k, v))
            keys = np.concatenate([self.cells[c][1][il][0][None] for c in old] + [k])
            vals = np.concatenate([self.cells[c][1][il][1][None] for c in old] + [v])
            keys, vals = np.repeat(keys, H // Hkv, axis=1), np.repeat(vals, H // Hkv, axis=1)
            scores = np.einsum("ihd,jhd->hij", q, keys) / np.sqrt(d)
            prob = np.exp(scores - scores.max(axis=-1, keepdims=True))
            prob /= prob.sum(axis=-1, keepdims=True)
            x = x + _linear(np.einsum("hij,jhd->ihd", prob, vals).reshape(n, H * d), m, p + "attn_output")
            h = rms_norm(x, m.tensors[p + "ffn_norm.weight"], m.eps)
            x = x + _linear(silu(_linear(h, m, p + "ffn_gate")) * _linear(h, m, p + "ffn_up"), m, p + "ffn_down")
        out = m.get("output.weight")
        logits = rms_norm(x, m.tensors["output_norm.weight"], m.eps) @ (
            out if out is not None else m.tensors["token_embd.weight"]).T
        for i, pos in enumerate(positions.tolist()):
            self.cells[pos] = (int(tokens[i]), [(k[i], v[i]) for k, v in fresh])
        return logits[list(rows)]

    def drop_from(self, pos: int) -> None:
        self.cells = {p: c for p, c in self.cells.items() if p < pos}


# --- LlamaContext: holes, explicit positions, which cells are kept -------------------------------------


def test_dropped_positions_leave_holes_and_the_other_cells_stay(one_layer):
    with Engine(one_layer["dream"], EngineOptions(n_ctx=64, **EXACT)) as engine:
        ctx = engine.ctx
        ctx.set_causal(False)
        first = list(range(40, 60))
        ctx.decode(first, 0)
        ctx.drop([3, 4, 5, 9, 15, 16, 40])  # 40 holds no cell: ignored
        kept = {p: t for p, t in enumerate(first) if p not in (3, 4, 5, 9, 15, 16)}
        assert dict(ctx.cells) == kept
        assert ctx.cell_tokens == first[:3] and ctx.end == 20  # the run from 0 stops at the first hole
        new = [7, 350, 120, 64, 3, 260, 99, 42]
        got = ctx.decode_at(new, range(20, 28), range(8))
        assert dict(ctx.cells) == {**kept, **{20 + i: t for i, t in enumerate(new)}}
    # One layer: a cell's keys and values are its token's at its position, whatever it saw, so a single
    # pass over exactly the cells kept plus the batch gives the same logits, and the dropped cells show.
    tokens = [kept[p] for p in sorted(kept)] + new
    positions = sorted(kept) + list(range(20, 28))
    want = reference_logits(one_layer["dream"], tokens, positions, np.ones((len(tokens),) * 2, bool))[-8:]
    assert np.abs(got - want).max() <= 1e-4 * _scale(want)
    everything = reference_logits(one_layer["dream"], first + new, list(range(28)), np.ones((28, 28), bool))[-8:]
    assert np.abs(got - everything).max() > 100 * 1e-4 * _scale(want)


def test_drop_from_with_holes_and_a_new_run(models):
    """Two layers: after drops, a decode reads exactly the cells left, each as it was computed (NumpyKV)."""
    ref = NumpyKV(models["llada"])
    with Engine(models["llada"], EngineOptions(n_ctx=64, **EXACT)) as engine:
        ctx = engine.ctx
        ctx.set_causal(False)
        steps = [("decode", PROMPT, 0), ("drop", [2, 3, 8]), ("decode", [11, 12, 13, 14], 12),
                 ("drop_from", 14), ("decode", [77, 78, 79], 14)]
        for op, *args in steps:
            if op == "decode":
                tokens, start = args
                positions = range(start, start + len(tokens))
                got = ctx.decode_at(tokens, positions, range(len(tokens)))
                want = ref.decode(tokens, positions, range(len(tokens)))
                assert np.abs(got - want).max() <= 1e-4 * _scale(want), (op, args)
            elif op == "drop":
                ctx.drop(args[0])
                ref.cells = {p: c for p, c in ref.cells.items() if p not in args[0]}
            else:
                ctx.drop_from(args[0])
                ref.drop_from(args[0])
            assert dict(ctx.cells) == {p: c[0] for p, c in ref.cells.items()}


def test_decode_at_refuses_what_llama_cpp_refuses_and_keeps_the_cache(models):
    with Engine(models["dream"], EngineOptions(n_ctx=64, **EXACT)) as engine:
        ctx = engine.ctx
        ctx.set_causal(False)
        ctx.decode(PROMPT, 0)
        ctx.drop([4, 5])
        before = dict(ctx.cells)
        with pytest.raises(EngineError, match="right after the highest cached position"):
            ctx.decode_at([1, 2], [4, 5])  # the hole: below a cached cell
        with pytest.raises(EngineError, match="consecutive positions, not 12, 14"):
            ctx.decode_at([1, 2], [12, 14])
        with pytest.raises(EngineError, match="cache ends at 12"):
            ctx.decode([1], 13)
        assert dict(ctx.cells) == before
        # The guard is llama.cpp's own rule: the same batches written straight to llama_decode fail.
        lib, batch = _lib(), ctx._batch
        for positions in ([4, 5], [12, 14]):
            batch.n_tokens = 2
            for i, pos in enumerate(positions):
                batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = 1, pos, 1, 1
                batch.seq_id[i][0] = 0
            assert lib.llama_decode(ctx._ptr, batch) != 0
        assert ctx.decode_at([1, 2], [12, 13], [0, 1]).shape == (2, engine.model.n_vocab)


# --- the incremental step against the numpy reference ---------------------------------------------------


@pytest.mark.parametrize("arch", ["dream", "llada"])
def test_incremental_steps_equal_the_numpy_kv_reference(models, arch, test_ids):
    """Steps in two sub-blocks, with commits that grow the left run and commits to its right."""
    mask, sub = test_ids["mask"], 8
    with Engine(models[arch], EngineOptions(n_ctx=64, **EXACT)) as engine:
        lead = 1 if engine.shift_logits else 0
        forward = IncrementalBlockForward(engine.ctx, shift_logits=engine.shift_logits)
        ref = NumpyKV(models[arch])
        P = len(PROMPT)
        seq = np.array(PROMPT + [mask] * (2 * sub))
        forward.prefill(seq[:P])
        ref.decode(PROMPT[:P - lead], range(P - lead))
        # (positions committed before the step, as offsets in the sub-block) for the steps of sub-block 0
        plan = [(), (0, 1, 5), (2, 6), (3,), (4, 7)]
        kept, decoded = P - lead, []
        for commits in plan:
            seq[P + np.array(commits, dtype=int)] = 100 + np.array(commits, dtype=int)
            targets = P + np.flatnonzero(seq[P:P + sub] == mask)
            if not targets.size:
                break
            got = forward.logits(seq, P + sub, targets)
            # The stated rule: decode [kept, window end) against the cache; keep cells before the first row.
            want = ref.decode(seq[kept:P + sub], range(kept, P + sub), targets - lead - kept)
            assert np.abs(got - want).max() <= 1e-4 * _scale(want), commits
            decoded.append(P + sub - kept)
            kept = int(targets[0]) - lead
            ref.drop_from(kept)
            assert forward.kept == kept and dict(engine.ctx.cells) == {p: c[0] for p, c in ref.cells.items()}
            if commits == (2, 6):
                # Stale entries matter: the window path (every window cell recomputed) differs here.
                window = reference_logits(models[arch], seq[:P + sub].tolist(), list(range(P + sub)),
                                          _prefix_then_window(P + sub, P - lead))[targets - lead]
                assert np.abs(got - window).max() > 100 * 1e-4 * _scale(want)
        assert forward.step_tokens == decoded and decoded[-1] < decoded[0]

        # Commit: the finished sub-block is decoded afresh (seeing all of itself), then sub-block 1 steps.
        forward.commit(seq, P + sub)
        ref.drop_from(P - lead)
        ref.decode(seq[P - lead:P + sub - lead], range(P - lead, P + sub - lead))
        assert forward.cached == forward.kept == P + sub - lead
        targets = P + sub + np.arange(sub)
        got = forward.logits(seq, P + 2 * sub, targets)
        want = ref.decode(seq[P + sub - lead:P + 2 * sub], range(P + sub - lead, P + 2 * sub), targets - P - sub)
        assert np.abs(got - want).max() <= 1e-4 * _scale(want)


def _prefix_then_window(n: int, cached: int) -> np.ndarray:
    vis = np.zeros((n, n), bool)
    vis[:cached, :cached] = True
    vis[cached:, :] = True
    return vis


def test_a_kept_cell_whose_token_changed_is_decoded_again(models, test_ids):
    mask = test_ids["mask"]
    with Engine(models["llada"], EngineOptions(n_ctx=64, **EXACT)) as engine:
        forward = IncrementalBlockForward(engine.ctx, shift_logits=False)
        P = len(PROMPT)
        seq = np.array(PROMPT + [mask] * 8)
        forward.prefill(seq[:P])
        seq[P:P + 3] = [30, 31, 32]
        forward.logits(seq, P + 8, P + np.arange(3, 8))
        assert forward.kept == P + 3
        seq[P + 1] = mask  # a caller re-masked a kept position: its cell (and those after it) must go
        forward.logits(seq, P + 8, P + np.array([1, 3, 4, 5, 6, 7]))
        assert forward.step_tokens == [8, 7] and forward.kept == P + 1
        assert engine.ctx.cells.get(P) == 30 and P + 1 not in engine.ctx.cells


# --- where the approximation is exact: the same answers, fewer tokens per step -------------------------


@pytest.mark.parametrize("arch", ["dream", "llada"])
@pytest.mark.parametrize("settings", [
    SamplerSettings(max_tokens=48, sub_block_size=16, stop_at_eos=False),  # threshold 0.9, greedy
    SamplerSettings(schedule="block", steps=12, max_tokens=48, sub_block_size=16, temperature=0.8, seed=5,
                    stop_at_eos=False),
], ids=["threshold", "block-sampled"])
def test_one_layer_answers_are_identical_and_steps_decode_less(one_layer, arch, settings):
    runs = {}
    with Engine(one_layer[arch], EngineOptions(n_ctx=128, **EXACT)) as engine:
        for cls in (CachedBlockForward, IncrementalBlockForward):
            forward = cls(engine.ctx, shift_logits=engine.shift_logits)
            events = []
            gen = denoise(forward, PROMPT, settings, engine.special, engine.model.token_text,
                          engine.model.detokenize, on_step=lambda e, seen=events: seen.append(e.masked))
            runs[cls] = gen, forward.step_tokens, events
    (window, window_tokens, _), (incremental, incremental_tokens, masked) = runs.values()
    assert incremental.tokens == window.tokens and incremental.steps == window.steps
    lead = 1 if arch == "dream" else 0
    width = settings.sub_block_size + lead
    assert window_tokens == [width] * window.steps
    # Step i decodes the window from the first row that was masked at step i-1 (whose cells before it
    # were kept), or the whole window at the first step of a sub-block; so the batch shrinks.
    size = settings.sub_block_size
    before = [[True] * settings.max_tokens] + masked  # the masked positions each step saw
    expected = []
    for i in range(incremental.steps):
        first = [int(np.argmax(b)) for b in before[max(i - 1, 0):i + 1]]
        same_sub = i > 0 and first[0] // size == first[1] // size
        expected.append(width - first[0] % size if same_sub else width)
    assert incremental_tokens == expected
    assert sum(incremental_tokens) < sum(window_tokens)


def test_one_layer_infill_is_identical_and_the_suffix_is_decoded_every_step(one_layer):
    settings = SamplerSettings(max_tokens=16, sub_block_size=8, stop_at_eos=False)
    suffix = [9, 8, 7, 6, 5]
    answers = {}
    with Engine(one_layer["llada"], EngineOptions(n_ctx=128, **EXACT)) as engine:
        for cls in (CachedBlockForward, IncrementalBlockForward):
            forward = cls(engine.ctx, shift_logits=False)
            gen = denoise(forward, PROMPT, settings, engine.special, engine.model.token_text,
                          engine.model.detokenize, suffix=suffix)
            answers[cls] = gen.tokens, forward.step_tokens
    (window, window_tokens), (incremental, incremental_tokens) = answers.values()
    assert incremental == window
    # The window reaches the end of the suffix (and the slot's later sub-blocks): never below it.
    assert all(n >= len(suffix) for n in incremental_tokens) and sum(incremental_tokens) < sum(window_tokens)


# --- choosing the step -----------------------------------------------------------------------------------


def test_the_step_is_chosen_by_backend_name_or_environment(models, monkeypatch):
    with Engine(models["dream"], EngineOptions(n_ctx=64, backend="incremental")) as engine:
        assert engine.describe()["forward_backend"] == "incremental"
        assert isinstance(engine._forward(), IncrementalBlockForward)
        gen = engine.generate(PROMPT, SamplerSettings(max_tokens=16, sub_block_size=8))
        assert gen.steps >= 1
    assert backends.backend_for(None, has_cache=True).name == "cached"
    monkeypatch.setenv("DGCODE_FORWARD_BACKEND", "incremental")
    assert backends.backend_for(None, has_cache=True).name == "incremental"
    assert backends.backend_for(None, has_cache=True, cached=False).name == "full-sequence"
    assert backends.backend_for(None, has_cache=False).name == "full-sequence"
    assert backends.backend_for("cached", has_cache=True).name == "cached"  # a name given wins
    monkeypatch.setenv("DGCODE_FORWARD_BACKEND", "fastest")
    with pytest.raises(InvalidSettingsError, match="DGCODE_FORWARD_BACKEND='fastest' names no forward backend"):
        backends.backend_for(None, has_cache=True)


def test_bench_measures_both_steps_side_by_side(models):
    from dgcode.engine.benchmark import BenchSpec, run_bench

    rows = run_bench(models["dream"], BenchSpec(prompt_tokens=32, gen_tokens=32, steps=8, sub_block=16,
                                                modes=("dgcode", "dgcode-incremental")))
    assert [r["mode"] for r in rows] == ["dgcode", "dgcode-incremental"]
    assert rows[0]["tokens"] == rows[1]["tokens"] == 32 and rows[0]["steps"] == rows[1]["steps"] == 8
    assert 0 < rows[1]["step_tokens_mean"] <= 16 + 1  # at most the window: sub-block + the lead row


def test_bench_flag_adds_the_incremental_mode(models):
    from typer.testing import CliRunner

    from dgcode.cli.main import app

    result = CliRunner().invoke(app, ["bench", "--model", str(models["llada"]), "--prompt-tokens", "32",
                                      "--gen-tokens", "16", "--steps", "4", "--sub-block", "8", "--modes", "dgcode",
                                      "--incremental"])
    assert result.exit_code == 0, result.output
    assert "dgcode-incremental" in result.output and "diffusion-cli" not in result.output
