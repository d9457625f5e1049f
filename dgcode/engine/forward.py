"""Forward passes the sampler can denoise with: dgcode's cached block pass and the uncached baseline.

CachedBlockForward is dgcode's: the prompt is decoded once and kept in the KV
cache; each step decodes only the active window (the sub-block, plus the last
final token when the model shifts logits, since row i-1 predicts token i) at
its real positions, asks logits for the masked rows only, then drops the
window's cells; a finished sub-block is decoded once more and kept as prefix.
With reuse_prefix, cells a previous request left in the cache are kept as far
as the new prompt agrees with them token for token (exact for causal-prefill
models; for bidirectional ones the kept cells do not see the new suffix).
engine/incremental_forward.py is a cheaper step on top of it (committed tokens
at the window's left edge kept in the cache as they are committed).

FullSequenceForward is llama-diffusion-cli's algorithm, kept for comparison:
every step re-decodes the whole sequence (prompt and every answer position,
masked or not) on the native diffusion architecture, with logits for every row.
It is also the fallback for diffusion architectures with no cached twin
(llada-moe, rnd1). It cannot ask for fewer rows: on the no-cache (encoder)
path llama.cpp returns the *first* n rows whatever rows were flagged
(tests/test_engine_cached.py shows it).
"""

from __future__ import annotations

import numpy as np

from dgcode.engine.llama_native import LlamaContext


class CachedBlockForward:
    def __init__(self, ctx: LlamaContext, *, shift_logits: bool, causal_prefill: bool = False,
                 reuse_prefix: bool = False):
        if not ctx.has_cache:
            raise ValueError("CachedBlockForward needs a context with a KV cache")
        self.ctx = ctx
        self.lead = 1 if shift_logits else 0
        self.causal_prefill = causal_prefill
        self.reuse_prefix = reuse_prefix
        self.cached = 0  # positions [0, cached) are in the KV cache
        self.reused = 0  # prompt tokens whose cells were kept from the previous request
        self.step_tokens: list[int] = []  # tokens each step decoded (the batch size), step by step

    def prefill(self, prompt: np.ndarray) -> None:
        keep = max(len(prompt) - self.lead, 0)
        self.reused = common_prefix(self.ctx.cell_tokens, prompt[:keep]) if self.reuse_prefix else 0
        if self.reused:
            self.ctx.drop_from(self.reused)
        else:
            self.ctx.clear()
        self.ctx.set_causal(self.causal_prefill)
        if keep > self.reused:
            self.ctx.decode(prompt[self.reused:keep], self.reused)
        self.ctx.set_causal(False)
        self.cached = keep

    def logits(self, seq: np.ndarray, active_end: int, targets: np.ndarray) -> np.ndarray:
        rows = np.asarray(targets) - self.lead
        if rows.size and rows[0] < self.cached:
            raise ValueError(f"target row {rows[0]} is already cached (cache ends at {self.cached})")
        start = self.cached
        self.step_tokens.append(active_end - start)
        try:
            return self.ctx.decode(seq[start:active_end], start, rows - start)
        finally:
            self.ctx.drop_from(start)

    def commit(self, seq: np.ndarray, upto: int) -> None:
        keep_to = upto - self.lead
        if keep_to > self.cached:
            self.ctx.decode(seq[self.cached:keep_to], self.cached)
            self.cached = keep_to


def common_prefix(a, b) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(diff[0]) if diff.size else n


class FullSequenceForward:
    def __init__(self, ctx: LlamaContext, *, shift_logits: bool):
        self.ctx = ctx
        self.shift = shift_logits

    def prefill(self, prompt: np.ndarray) -> None:
        self.ctx.clear()
        self.ctx.set_causal(False)

    def logits(self, seq: np.ndarray, active_end: int, targets: np.ndarray) -> np.ndarray:
        all_logits = self.ctx.decode(seq, 0, range(len(seq)))
        self.ctx.drop_from(0)
        rows = np.asarray(targets) - 1 if self.shift else np.asarray(targets)
        return all_logits[np.maximum(rows, 0)]

    def commit(self, seq: np.ndarray, upto: int) -> None:
        pass
