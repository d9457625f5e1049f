"""Autoregressive decoding of the same weights: the yardstick diffusion decoding is measured against."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from dgcode.engine.llama_native import LlamaContext


@dataclass
class ARRun:
    tokens: list[int]
    prefill_ms: float
    step_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0


def generate_greedy(ctx: LlamaContext, prompt: list[int], n_tokens: int) -> ARRun:
    """Causal, cached, one greedy token per step; runs exactly n_tokens steps (no early stop)."""
    ctx.clear()
    ctx.set_causal(True)
    started = time.perf_counter()
    logits = ctx.decode(np.asarray(prompt), 0, [len(prompt) - 1])
    prefill_ms = (time.perf_counter() - started) * 1e3
    out: list[int] = []
    step_ms: list[float] = []
    pos = len(prompt)
    for _ in range(n_tokens):
        t0 = time.perf_counter()
        token = int(np.argmax(logits[0]))
        out.append(token)
        if len(out) < n_tokens:  # the last token needs no forward pass after it
            logits = ctx.decode([token], pos, [0])
            pos += 1
        step_ms.append((time.perf_counter() - t0) * 1e3)
    return ARRun(out, prefill_ms, step_ms, time.perf_counter() - started)
