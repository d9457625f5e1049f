"""Reference for the fused confidence kernel (kernels/cuda/fused_confidence.cu), in numpy.

Per row of a (rows, vocab) logits matrix, with y = logits / temperature in
float32 (a true division, as dgcode's numpy path does) when temperature > 0,
else y = logits, and y[excluded] = -inf:

  top1         lowest index of max(y) (numpy argmax); -1 if no entry is finite
  p1, p2       softmax(y)[top1] and the runner-up's probability (a tie for the
               max is a runner-up, so p2 == p1 then)
  neg_entropy  sum_i p_i log p_i (0 log 0 = 0)
  token, prob  with draws: the first k with e_k > 0 whose cumulative mass
               sum_{i<=k} e_i exceeds draws * sum_i e_i (e_i = exp(y_i - max)),
               else the last k with e_k > 0 (rounding overshoot); without
               draws: top1 and p1.

The strict "exceeds" and the e_k > 0 condition mean a zero-probability token
(the excluded mask token, any -inf) is never drawn, even at draw 0. dgcode's
numpy path (`unmasking.propose_numpy`) counts the CDF entries below the draw
(first k with cdf_k >= u): the two agree except where the draw equals a CDF
value exactly, a measure-zero set apart from u == 0.

Everything after y is float64, so this is the exact answer the kernel's f32
arithmetic approximates.
"""

from __future__ import annotations

import numpy as np

FIELDS = ("top1", "token", "p1", "p2", "neg_entropy", "prob")
# The packed per-row record the CUDA/Metal kernels write (dgc_conf_row, 24 bytes).
ROW_DTYPE = np.dtype([("top1", "<i4"), ("token", "<i4"), ("p1", "<f4"), ("p2", "<f4"),
                      ("neg_entropy", "<f4"), ("prob", "<f4")])


def scaled_logits(logits: np.ndarray, temperature: float, excluded: int = -1) -> np.ndarray:
    """y as the kernel forms it: float32, divided by the temperature when it is positive, the excluded id -inf."""
    y = np.array(logits, dtype=np.float32, copy=True)
    if y.ndim != 2:
        raise ValueError("logits must be (rows, vocab)")
    if temperature > 0:
        y /= np.float32(temperature)
    if 0 <= excluded < y.shape[1]:
        y[:, excluded] = -np.inf
    return y


def fused_confidence(logits: np.ndarray, temperature: float = 0.0, draws: np.ndarray | None = None,
                     excluded: int = -1) -> dict[str, np.ndarray]:
    """The kernel's six outputs per row, as arrays: top1/token int64, the rest float64."""
    y = scaled_logits(logits, temperature, excluded)
    rows, vocab = y.shape
    m = y.max(axis=1) if vocab else np.full(rows, -np.inf, np.float32)
    finite = m > -np.inf
    safe_m = np.where(finite, m, 0.0).astype(np.float64)
    e = np.exp(y.astype(np.float64) - safe_m[:, None])          # exp(-inf) = 0
    s = e.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = e / s[:, None]
        plogp = np.where(e > 0, p * np.log(np.where(e > 0, p, 1.0)), 0.0)
    top1 = np.where(finite, y.argmax(axis=1), -1).astype(np.int64)
    if vocab > 1:
        second = np.partition(y, vocab - 2, axis=1)[:, vocab - 2]  # the runner-up value, ties kept
    else:
        second = m
    with np.errstate(invalid="ignore", divide="ignore"):
        p1 = np.where(finite, 1.0 / s, np.nan)
        p2 = np.where(finite, np.exp(second.astype(np.float64) - safe_m) / s, np.nan)
        neg_entropy = np.where(finite, plogp.sum(axis=1), np.nan)
    token = top1.copy()
    prob = p1.copy()
    if draws is not None:
        u = np.asarray(draws, dtype=np.float64).reshape(rows)
        cum = np.cumsum(e, axis=1)
        hit = (cum > (u * s)[:, None]) & (e > 0)
        nonzero = e > 0
        first_hit = hit.argmax(axis=1)
        last_nonzero = vocab - 1 - nonzero[:, ::-1].argmax(axis=1)
        token = np.where(hit.any(axis=1), first_hit, last_nonzero).astype(np.int64)
        token = np.where(finite, token, -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            prob = np.where(finite, e[np.arange(rows), np.maximum(token, 0)] / s, np.nan)
    return {"top1": top1, "token": token, "p1": p1, "p2": p2, "neg_entropy": neg_entropy, "prob": prob}


def from_rows(records: np.ndarray) -> dict[str, np.ndarray]:
    """The kernels' packed records (ROW_DTYPE) as the same dict `fused_confidence` returns."""
    records = np.asarray(records).view(ROW_DTYPE).reshape(-1)
    return {name: records[name].astype(np.int64 if name in ("top1", "token") else np.float64) for name in FIELDS}


def hierarchical_inverse_cdf(y: np.ndarray, u: float, n_warps: int = 32, warp: int = 32) -> int:
    """The CUDA/Metal kernels' search for the sampled token, step for step, in float32 sums.

    Not a reference for what is drawn (that is `fused_confidence`): a mirror of
    how the kernels find it, so the tests can check the slicing, the per-level
    targets and the fallbacks without a GPU. y: one row of scaled logits with
    -inf for excluded entries and at least one finite entry.
    """
    y = np.asarray(y, dtype=np.float32)
    m = y.max()
    e = np.exp((y - m).astype(np.float32)).astype(np.float32)   # the kernels' expf(y - m)
    lo, hi = 0, len(y)
    target = None
    while hi - lo > warp:
        length = hi - lo
        slice_ = -(-length // n_warps)
        sums = [np.float32(e[min(hi, lo + w * slice_):min(hi, lo + (w + 1) * slice_)].sum(dtype=np.float32))
                for w in range(n_warps)]
        if target is None:
            target = float(u) * float(sum(float(s) for s in sums))  # double, as the kernel's thread 0
        cum, pick, last_nonzero = 0.0, -1, -1
        for w, sw in enumerate(sums):
            sw = float(sw)
            if sw > 0.0:
                last_nonzero = w
            if pick < 0 and sw > 0.0 and cum + sw > target:
                pick = w
            if pick < 0:
                cum += sw
        if pick >= 0:
            local = max(target - cum, 0.0)
        else:
            pick, local = last_nonzero, float(sums[last_nonzero])
        lo, hi = lo + pick * slice_, min(lo + (pick + 1) * slice_, hi)
        target = local
    part = e[lo:hi]
    if target is None:
        target = float(u) * float(part.sum(dtype=np.float32))
    prefix = np.cumsum(part, dtype=np.float32)
    hits = np.flatnonzero((part > 0) & (prefix.astype(np.float64) > target))
    if len(hits):
        return lo + int(hits[0])
    return lo + int(np.flatnonzero(part > 0)[-1])
