"""Personalised PageRank by power iteration over a weighted edge list (numpy, no graph library).

``pagerank(n, edges, personalization)`` ranks nodes ``0..n-1``.  Each node
passes ``alpha`` of its rank along its out-edges in proportion to their
weights; the rest, and all the rank of nodes with no out-edges, goes back to
the nodes in proportion to ``personalization`` (uniform when it is empty or
all zero).  This is the random surfer who, when bored, jumps to the files the
person is working on.  Same definition as networkx's ``pagerank``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def pagerank(n: int, edges: Sequence[tuple[int, int, float]], personalization: Mapping[int, float] | None = None,
             *, alpha: float = 0.85, tol: float = 1e-8, max_iter: int = 200) -> np.ndarray:
    """Ranks summing to 1, one per node; ``edges`` are (source, target, weight > 0)."""
    if n == 0:
        return np.zeros(0)
    p = np.zeros(n)
    for node, value in (personalization or {}).items():
        p[node] += max(float(value), 0.0)
    p = p / p.sum() if p.sum() > 0 else np.full(n, 1.0 / n)
    if edges:
        src = np.fromiter((e[0] for e in edges), dtype=np.int64, count=len(edges))
        dst = np.fromiter((e[1] for e in edges), dtype=np.int64, count=len(edges))
        weight = np.fromiter((e[2] for e in edges), dtype=np.float64, count=len(edges))
    else:
        src = dst = np.zeros(0, dtype=np.int64)
        weight = np.zeros(0)
    out_weight = np.bincount(src, weights=weight, minlength=n)
    share = weight / out_weight[src] if len(weight) else weight  # fraction of a source's rank per edge
    dangling = out_weight == 0
    rank = p.copy()
    for _ in range(max_iter):
        moved = np.bincount(dst, weights=rank[src] * share, minlength=n)
        new = alpha * (moved + rank[dangling].sum() * p) + (1.0 - alpha) * p
        if np.abs(new - rank).sum() < n * tol:
            return new
        rank = new
    return rank
