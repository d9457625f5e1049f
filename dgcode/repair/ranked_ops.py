"""Ranked operation sequences: the most likely edit-operation choices under the model's per-byte distributions, best first.

The repair model gives, for every byte of the broken window, a distribution
over edit operations. Its denoised answer is one guess; when the compiler
rejects it, the next most likely guesses are worth checking too, and they
cost no model call: from one forward pass over the all-masked answer slot,
the sequences are enumerated in order of their joint log-probability (the
positions taken as independent, as the first denoising step sees them).

Every sequence differs from the per-position best choice at a few positions.
Each possible change (position p takes its r-th best choice instead of its
best) costs delta = logp[p, best] - logp[p, choice] >= 0, and a sequence's
cost is the sum of its changes' deltas. Sorting all changes by delta and
walking subsets of that list with a heap (extend the subset by the next
change, or move its last change one place on) yields every subset exactly
once in nondecreasing cost; subsets that change one position twice are
skipped.
"""

from __future__ import annotations

import heapq
from typing import Iterator

import numpy as np


def ranked_choices(logprobs: np.ndarray, per_position: int = 4,
                   max_states: int = 4096) -> Iterator[tuple[float, list[int]]]:
    """(cost, choice per position) in nondecreasing cost, starting with the per-position best (cost 0).

    `logprobs` is (positions, choices). Only each position's `per_position`
    next-best choices are considered; at most `max_states` subsets are
    examined, so the iterator always ends.
    """
    logprobs = np.asarray(logprobs, dtype=np.float64)
    if logprobs.ndim != 2:
        raise ValueError("logprobs must be (positions, choices)")
    n, k = logprobs.shape
    if n == 0 or k == 0:
        return
    best = logprobs.argmax(axis=1)
    yield 0.0, best.tolist()
    alternatives = min(per_position, k - 1)
    if alternatives <= 0:
        return
    order = np.argsort(-logprobs, axis=1, kind="stable")[:, 1:alternatives + 1]
    top = logprobs[np.arange(n), best]
    changes = sorted((float(top[p] - logprobs[p, c]), p, int(c)) for p in range(n) for c in order[p])
    if not changes:
        return
    heap: list[tuple[float, tuple[int, ...]]] = [(changes[0][0], (0,))]
    examined = 0
    while heap and examined < max_states:
        cost, picked = heapq.heappop(heap)
        examined += 1
        last = picked[-1]
        if last + 1 < len(changes):
            step = changes[last + 1][0]
            heapq.heappush(heap, (cost + step, picked + (last + 1,)))
            heapq.heappush(heap, (cost - changes[last][0] + step, picked[:-1] + (last + 1,)))
        positions = [changes[i][1] for i in picked]
        if len(set(positions)) != len(positions):
            continue
        choice = best.tolist()
        for i in picked:
            _, p, c = changes[i]
            choice[p] = c
        yield cost, choice
