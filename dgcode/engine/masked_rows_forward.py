"""A cheaper denoising step on dgcode's libllama: every committed token stays cached, each step decodes what changed.

CachedBlockForward decodes the whole active window at every step, and
IncrementalBlockForward only trims the committed run at its left edge, because
stock llama.cpp decodes a batch only right after the highest cached position.
dgcode's libllama lifts that rule for non-causal attention (feature bit 1,
kernels/llama/dgcode-libllama.patch), so a batch may sit between cached cells.
MaskedRowsForward uses it the way dKV-Cache does: a committed token enters the
cache one step late (it was decoded as a mask at the step that committed it, so
the next step decodes it once with its real identity) and stays there while
its sub-block is denoised. A step decodes, anywhere in the window:

- every masked position (a mask's keys and values are recomputed each step);
- every row whose logits are asked for (for shift-logits models row j-1
  predicts token j, so a committed token before a masked one is decoded again);
- every position whose cell is missing or holds another token (the tokens the
  previous step committed, or one a caller changed).

Everything else is read from the cache as it was computed. When the sub-block
is committed it is decoded afresh, as CachedBlockForward does, so stale cells
never outlive their sub-block; cells of the window beyond it (an infill
suffix) are kept. The working cells stay in the cache after the last step, so
they are marked (``LlamaContext.working_from``): a later request's prompt
reuses only the prompt and the committed sub-blocks before them.

With ``local=True`` (the ``masked-rows-local`` backend) two more things are
kept as computed, after dKV-Cache's greedy variant, so a step costs about the
rows it asks for:

- masks no row is asked for (with the sampler's ``mask_window``, the masks
  after the window; with infill, the slot's later sub-blocks) are decoded once,
  at the first step that sees them, and then read from their cells until they
  are asked for;
- the finished sub-block is not decoded afresh: its commit decodes only what a
  step would (the tokens the last step committed, once with their identity),
  and later sub-blocks attend to cells that never saw the tokens committed
  after them.

What is approximate (as for IncrementalBlockForward, but for more cells): a kept
cell's keys and values were computed at the step that kept it, when positions
committed later were still masks. With one transformer layer keys and values
depend only on the token and its position, so the step is exact there
(tests/test_engine_masked_rows_step.py checks that, and checks the multi-layer
case against a numpy cache that keeps each cell as computed).
"""

from __future__ import annotations

import numpy as np

from dgcode.engine.forward import CachedBlockForward
from dgcode.engine.llama_native import LlamaContext


class MaskedRowsForward(CachedBlockForward):
    def __init__(self, ctx: LlamaContext, *, mask_token: int, shift_logits: bool, causal_prefill: bool = False,
                 reuse_prefix: bool = False, local: bool = False):
        if not ctx.free_positions:
            raise ValueError("MaskedRowsForward needs dgcode's libllama (a batch between cached cells)")
        super().__init__(ctx, shift_logits=shift_logits, causal_prefill=causal_prefill, reuse_prefix=reuse_prefix)
        self.mask_token = int(mask_token)
        self.local = local

    def logits(self, seq: np.ndarray, active_end: int, targets: np.ndarray) -> np.ndarray:
        rows = np.asarray(targets, dtype=np.int64) - self.lead
        if rows.size and rows[0] < self.cached:
            raise ValueError(f"target row {rows[0]} is already cached (cache ends at {self.cached})")
        start = self.cached
        self.ctx.drop_from(active_end)  # nothing outside the window may be attended to
        self.ctx.working_from = start
        window = np.asarray(seq[start:active_end], dtype=np.int64)
        held = self._held(start, active_end)
        redo = held != window
        redo[rows - start] = True
        if self.local:  # the masks asked for, recomputed
            asked = np.asarray(targets, dtype=np.int64) - start
            redo[asked[window[asked] == self.mask_token]] = True
        else:
            redo |= window == self.mask_token
        positions = start + np.flatnonzero(redo)
        self.ctx.drop(positions[held[positions - start] >= 0])
        self.step_tokens.append(int(positions.size))
        return self.ctx.decode_at(window[positions - start], positions, np.searchsorted(positions, rows))

    def commit(self, seq: np.ndarray, upto: int) -> None:
        keep_to = upto - self.lead
        if keep_to > self.cached:
            if not self.local:  # the finished sub-block decoded afresh (every token final)
                positions = np.arange(self.cached, keep_to)
            else:  # only cells missing or holding another token: the last step's commits
                positions = self.cached + np.flatnonzero(self._held(self.cached, keep_to) != seq[self.cached:keep_to])
            self.ctx.drop(positions)  # cells beyond the sub-block stay
            if positions.size:
                self.ctx.decode_at(seq[positions], positions)
            self.cached = self.ctx.working_from = keep_to

    def _held(self, start: int, end: int) -> np.ndarray:
        """The token each cached cell in [start, end) holds; -1 where none."""
        cells = self.ctx.cells
        return np.fromiter((cells.get(p, -1) for p in range(start, end)), dtype=np.int64, count=end - start)
