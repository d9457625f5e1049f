"""A cheaper denoising step: committed tokens at the left of the window enter the KV cache as they are committed.

CachedBlockForward decodes the whole active window at every step.
IncrementalBlockForward keeps, inside the active sub-block, the cells of the
run of committed tokens that starts where the cache ends (the window's left
edge), delayed by one step as in dKV-Cache: a token committed at step t was
decoded as a mask at step t, so at step t+1 it is decoded again with its real
identity, and after that step its cell is kept if every position before it is
committed too. Each step then decodes only [end of that run, window end): the
first still-masked position (minus the lead row for shift-logits models, whose
row j-1 predicts token j) to the end of the window. When the sub-block is
committed its cells are decoded afresh, as CachedBlockForward does, so stale
cells never outlive their sub-block.

Why only a left run, not every committed token (dKV-Cache caches them all,
and the infill suffix too): llama.cpp 0.3.36 decodes a batch for a sequence
only at consecutive positions starting right after the sequence's highest
cached position (LlamaContext.decode_at). A committed token to the right of a
masked one, or a fixed suffix after the slot, would be a cached cell above
the masked positions the next step must decode, which llama.cpp refuses. So
those are re-decoded every step, exactly as in CachedBlockForward.

What is approximate: a kept cell's keys and values were computed at the step
that kept it, seeing the window as it was then (positions committed later
still masks). The step's masked rows read those stale entries instead of
entries recomputed against the newest window. With one transformer layer the
keys and values depend on the token and its position only, so the
approximation is exact (tests/test_engine_incremental_step.py).
"""

from __future__ import annotations

import numpy as np

from dgcode.engine.forward import CachedBlockForward
from dgcode.engine.llama_native import LlamaContext


class IncrementalBlockForward(CachedBlockForward):
    def __init__(self, ctx: LlamaContext, *, shift_logits: bool, causal_prefill: bool = False,
                 reuse_prefix: bool = False):
        super().__init__(ctx, shift_logits=shift_logits, causal_prefill=causal_prefill, reuse_prefix=reuse_prefix)
        self.kept = self.cached  # positions [cached, kept) of the active sub-block are cached, committed

    def prefill(self, prompt: np.ndarray) -> None:
        super().prefill(prompt)
        self.kept = self.cached

    def logits(self, seq: np.ndarray, active_end: int, targets: np.ndarray) -> np.ndarray:
        rows = np.asarray(targets) - self.lead
        if rows.size and rows[0] < self.cached:
            raise ValueError(f"target row {rows[0]} is already cached (cache ends at {self.cached})")
        self._forget_changed(seq, int(rows[0]) if rows.size else self.kept)
        start = self.kept
        self.step_tokens.append(active_end - start)
        # Every position before the first row is committed and decoded here with its own token: keep it.
        keep_to = int(rows[0]) if rows.size else start
        try:
            return self.ctx.decode(seq[start:active_end], start, rows - start)
        finally:
            self.ctx.drop_from(keep_to)
            self.kept = keep_to

    def _forget_changed(self, seq: np.ndarray, first_row: int) -> None:
        """Drop kept cells that are not what the next decode needs: a row asked for again (its logits are
        read from the batch) or a token that changed since it was kept (a caller re-masked it)."""
        cells = self.ctx.cells
        stop = min(self.kept, first_row)
        for p in range(self.cached, self.kept):
            if p >= stop or cells.get(p) != int(seq[p]):
                self.ctx.drop_from(p)
                self.kept = p
                return

    def commit(self, seq: np.ndarray, upto: int) -> None:
        # The finished sub-block is decoded afresh (every token final), as CachedBlockForward does.
        self.ctx.drop_from(self.cached)
        self.kept = self.cached
        super().commit(seq, upto)
        self.kept = self.cached
