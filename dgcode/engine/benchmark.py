"""`dgcode bench`: dgcode's engine, llama-diffusion-cli's algorithm and AR decoding, side by side.

All three run in one process on the same weights, the same prompt and (for the
two diffusion modes) the same step count and transfer schedule, so the only
difference is how each step is computed:

- dgcode: prefix KV cache, only the active sub-block decoded, logits for its masked rows only;
- dgcode-incremental (asked for by name, or `dgcode bench --incremental`): the same with the cheaper
  step (engine/incremental_forward.py), on the same loaded model right after dgcode;
- dgcode-masked-rows (asked for by name; dgcode's libllama only): the same with the step that keeps
  every committed token cached (engine/masked_rows_forward.py), likewise;
- dgcode-masked-rows-local (likewise): that step keeping the masks no row is asked for and the finished
  sub-blocks as computed; with `--mask-window N` (every dgcode mode) a step proposes only the first N masks;
- diffusion-cli: the whole sequence re-decoded every step on the native diffusion
  architecture, no cache, logits for every row (llama.cpp's examples/diffusion);
- ar: the same weights as an autoregressive model, causal and cached, one token per step.

Early stopping is off in all three so each produces exactly `gen_tokens` tokens. Each row also says
which confidence kernel ran (engine/confidence_kernel.py), the bytes of logits the host received per
step, and, for the diffusion modes, the break-even tokens per step against AR.
"""

from __future__ import annotations

import dataclasses
import gc
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dgcode.engine import confidence_kernel, libllama
from dgcode.engine.alias import default_cache_dir
from dgcode.engine.autoregressive import generate_greedy
from dgcode.engine.engine import Engine, EngineOptions
from dgcode.engine.errors import InvalidSettingsError
from dgcode.engine.unmasking import SamplerSettings

MODES = ("dgcode", "dgcode-incremental", "dgcode-masked-rows", "dgcode-masked-rows-local", "diffusion-cli", "ar")
DEFAULT_MODES = ("dgcode", "diffusion-cli", "ar")  # the other dgcode steps run when asked for
STEP_MODES = {"dgcode-incremental": ("incremental", "committed tokens at the window's left edge kept in the cache"),
              "dgcode-masked-rows": ("masked-rows", "every committed token kept in the cache, masked rows decoded"),
              "dgcode-masked-rows-local": ("masked-rows-local", "as masked-rows, unasked masks and finished "
                                           "sub-blocks kept as computed")}
"""The modes that run dgcode with another step: mode -> (forward backend, what its progress line says)."""
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchSpec:
    prompt_tokens: int = 2048
    gen_tokens: int = 256
    steps: int | None = None        # default gen_tokens // 4
    sub_block: int = 32
    threads: int | None = None
    modes: tuple[str, ...] = DEFAULT_MODES
    seed: int = 0
    mask_window: int = 0            # >0: each step proposes only the sub-block's first N masks (SamplerSettings)
    mask_token_id: int | None = None  # for block-diffusion models stored as AR (the registry's, via the model API)

    @property
    def total_steps(self) -> int:
        return self.steps or max(1, self.gen_tokens // 4)


def synthetic_model(shape: str, quant: str | None = None, arch: str = "dream",
                    on_progress: Callable[[int, int], None] | None = None) -> Path:
    """Path of a cached random-weight model of a known shape, built (and quantized) on first use."""
    from dgcode.engine.llama_native import quantize
    from dgcode.engine.synthetic import get_shape, write_synthetic_gguf

    get_shape(shape)  # unknown shapes fail here with the list of known ones
    folder = default_cache_dir() / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    f16 = folder / f"{shape}-{arch}-f16.gguf"
    if not f16.exists():
        write_synthetic_gguf(f16, shape, arch=arch, dtype="f16", progress=on_progress)
    if quant is None or quant.upper() == "F16":
        return f16
    out = folder / f"{shape}-{arch}-{quant.upper()}.gguf"
    if not out.exists():
        quantize(f16, out, quant)
    return out


def bench_prompt(n_vocab: int, n_tokens: int, special: set[int], seed: int) -> list[int]:
    """A seeded random prompt of ordinary tokens (never mask, end-of-text or pad)."""
    rng = np.random.default_rng(seed)
    pool = np.array([t for t in range(min(n_vocab, 32000)) if t not in special])
    return [int(t) for t in rng.choice(pool, size=n_tokens)]


def run_bench(model: Path, spec: BenchSpec, progress: Progress = lambda _: None) -> list[dict]:
    unknown = set(spec.modes) - set(MODES)
    if unknown:
        raise InvalidSettingsError(f"unknown bench mode(s) {', '.join(sorted(unknown))}; known: {', '.join(MODES)}")
    if spec.prompt_tokens < 1 or spec.gen_tokens < 1:
        raise InvalidSettingsError("--prompt-tokens and --gen-tokens must be at least 1")
    n_ctx = spec.prompt_tokens + spec.gen_tokens
    canvas = max(spec.sub_block, (256 // spec.sub_block) * spec.sub_block)
    settings = SamplerSettings(schedule="block", steps=spec.total_steps, max_tokens=spec.gen_tokens,
                               sub_block_size=spec.sub_block, canvas_size=canvas, stop_at_eos=False,
                               seed=spec.seed, mask_window=spec.mask_window)
    settings.validate()
    rows: list[dict] = []
    options = EngineOptions(n_ctx=n_ctx, n_threads=spec.threads, max_window=spec.sub_block + 1,
                            mask_token_id=spec.mask_token_id)
    prompt: list[int] | None = None

    def make_prompt(engine: Engine) -> list[int]:
        special = {t for t in (engine.special.mask, engine.special.eos, engine.special.pad) if t is not None}
        return bench_prompt(engine.info.n_vocab, spec.prompt_tokens, special, spec.seed)

    if {"dgcode", "ar", *STEP_MODES} & set(spec.modes):
        progress("loading the model for the cached path")
        with Engine(model, options) as engine:
            engine.warm_up()
            _LogitMeter.install(engine)
            prompt = make_prompt(engine)
            if "dgcode" in spec.modes:
                progress("dgcode: denoising with the prefix cache")
                g = engine.generate(prompt, settings)
                rows.append(_row("dgcode", engine, len(g.tokens), g.steps, g.wall_s, g.prefill_ms, g.step_ms,
                                 commit_ms=g.commit_ms) | {"forward_backend": engine.backend.name})
            for mode, (backend, what) in STEP_MODES.items():
                if mode in spec.modes:
                    progress(f"{mode}: {what}")
                    rows.append(_step_row(mode, backend, engine, prompt, settings))
            if "ar" in spec.modes:
                progress("ar: one token per step")
                run = generate_greedy(engine.ctx, prompt, spec.gen_tokens)
                rows.append(_row("ar", engine, len(run.tokens), len(run.tokens), run.wall_s, run.prefill_ms,
                                 run.step_ms))
        gc.collect()
    if "diffusion-cli" in spec.modes:
        progress("diffusion-cli: re-decoding the whole sequence every step")
        with Engine(model, EngineOptions(n_ctx=n_ctx, n_threads=spec.threads, cached=False,
                                         mask_token_id=spec.mask_token_id)) as engine:
            engine.warm_up()
            _LogitMeter.install(engine)
            prompt = prompt or make_prompt(engine)
            g = engine.generate(prompt, settings)
            rows.append(_row("diffusion-cli", engine, len(g.tokens), g.steps, g.wall_s, g.prefill_ms, g.step_ms))
    order = {m: i for i, m in enumerate(MODES)}
    for r in rows:
        if r["mode"] != "ar":
            r["mask_window"] = spec.mask_window
    _add_break_even(rows)
    return sorted(rows, key=lambda r: order[r["mode"]])


def _row(mode: str, engine: Engine, tokens: int, steps: int, wall_s: float, prefill_ms: float,
         step_ms: list[float], commit_ms: float = 0.0) -> dict:
    return {
        "mode": mode, "wall_s": round(wall_s, 4), "tokens": tokens,
        "tok_per_s": round(tokens / wall_s, 2) if wall_s > 0 else 0.0, "steps": steps,
        "tokens_per_step": round(tokens / steps, 3) if steps else 0.0,
        "prefill_ms": round(prefill_ms, 2),
        "step_ms_mean": round(float(np.mean(step_ms)), 3) if step_ms else 0.0,
        "commit_ms": round(commit_ms, 2),
        "model": engine.info.name, "architecture": engine.info.architecture, "file_type": engine.info.file_type,
        "threads": engine.n_threads,
        "logit_bytes_per_step": round(_LogitMeter.take(engine) / steps) if steps else 0,
        "confidence_kernel": confidence_kernel.status().describe(),
        "libllama": (libllama.loaded() or libllama.choose()).describe(),
    }


def _step_row(mode: str, backend: str, engine: Engine, prompt: list[int], settings: SamplerSettings) -> dict:
    """The dgcode row with another forward backend's step, and the mean tokens its steps decoded."""
    from dgcode.engine.backends import backend_for, require_runnable

    chosen, saved, made = backend_for(backend, has_cache=engine.cached), engine.backend, []
    require_runnable(chosen, engine.ctx)
    engine.backend = dataclasses.replace(chosen, make=lambda e: made.append(chosen.make(e)) or made[-1])
    try:
        g = engine.generate(prompt, settings)
    finally:
        engine.backend = saved
    row = _row(mode, engine, len(g.tokens), g.steps, g.wall_s, g.prefill_ms, g.step_ms, commit_ms=g.commit_ms)
    row["forward_backend"] = backend
    row["step_tokens_mean"] = round(float(np.mean(made[0].step_tokens)), 2) if made[0].step_tokens else 0.0
    return row


class _LogitMeter:
    """Counts the bytes of logits the host receives from llama.cpp (rows x vocab x 4 per decode)."""

    _meters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> its meter

    def __init__(self, ctx):
        self.bytes = 0
        decode_at = ctx.decode_at  # decode() goes through decode_at()

        def counted(*args, **kwargs):
            out = decode_at(*args, **kwargs)
            self.bytes += out.nbytes
            return out

        ctx.decode_at = counted

    @classmethod
    def install(cls, engine: Engine) -> None:
        cls._meters[engine] = cls(engine.ctx)

    @classmethod
    def take(cls, engine: Engine) -> int:
        """Bytes since the last take (each mode's row takes its own)."""
        meter = cls._meters.get(engine)
        if meter is None:
            return 0
        got, meter.bytes = meter.bytes, 0
        return got


def _add_break_even(rows: list[dict]) -> None:
    """Break-even tokens per step: a diffusion mode's ms per step after the prefill, sub-block commits
    included, over AR's ms per token after its prefill (dgcode matches AR at that many tokens per step)."""
    ar = next((r for r in rows if r["mode"] == "ar"), None)
    for r in rows:
        if ar is None or r["mode"] == "ar" or not ar["step_ms_mean"] or not r["steps"]:
            continue
        per_step = r["step_ms_mean"] + r.get("commit_ms", 0.0) / r["steps"]
        r["break_even_tokens_per_step"] = round(per_step / ar["step_ms_mean"], 2)


def speedups(rows: list[dict]) -> dict[str, float]:
    """Whole-answer time of each mode divided by dgcode's (how many times faster dgcode is)."""
    by = {r["mode"]: r for r in rows}
    if "dgcode" not in by:
        return {}
    base = by["dgcode"]["wall_s"]
    return {m: round(r["wall_s"] / base, 2) for m, r in by.items() if m != "dgcode" and base > 0}
