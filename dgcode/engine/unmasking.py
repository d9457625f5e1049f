"""Unmasking rules: which masked positions a denoising step commits, and to which tokens.

Small pure functions over a (rows x vocab) logits matrix, after the reference
samplers of Dream and LLaDA and llama.cpp's examples/diffusion:
`filter_logits -> propose -> (threshold | top-k by score | origin coin flips)`,
plus the transfer schedules that say how many positions a step commits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dgcode.engine import confidence_kernel
from dgcode.engine.settings import ALGORITHMS, SCHEDULES, SamplerSettings, sub_block_ranges  # noqa: F401  (re-export)


def steps_per_sub_block(total_steps: int, n_sub_blocks: int) -> list[int]:
    base, extra = divmod(total_steps, n_sub_blocks)
    return [base + (1 if i < extra else 0) for i in range(n_sub_blocks)]


def block_transfer_counts(mask_count: int, steps: int) -> list[int]:
    """LLaDA's get_num_transfer_tokens: split mask_count as evenly as possible, extras first."""
    base, extra = divmod(mask_count, steps)
    return [base + (1 if i < extra else 0) for i in range(steps)]


def timestep_transfer_fraction(step: int, steps: int, eps: float) -> float:
    """Dream: with t = linspace(1, eps, steps+1), step i unmasks a fraction 1 - t[i+1]/t[i] (all at the end)."""
    if step >= steps - 1:
        return 1.0
    t = 1.0 - step / steps * (1.0 - eps)
    s = 1.0 - (step + 1) / steps * (1.0 - eps)
    return 1.0 - s / t


def filter_logits(logits: np.ndarray, temperature: float, top_k: int, top_p: float) -> np.ndarray:
    """Temperature, then top-k, then top-p (nucleus) filtering; filtered entries become -inf."""
    out = logits.astype(np.float32, copy=True)
    if temperature > 0:
        out /= temperature
    vocab = out.shape[-1]
    if 0 < top_k < vocab:
        kth = np.partition(out, vocab - top_k, axis=-1)[:, vocab - top_k][:, None]
        out[out < kth] = -np.inf
    if top_p < 1.0:
        order = np.argsort(-out, axis=-1)
        sorted_logits = np.take_along_axis(out, order, axis=-1)
        probs = softmax(sorted_logits)
        # the mass before each entry, summed in float64: a float32 running sum near top_p drifts by more than
        # a large vocabulary's tail probabilities, which moved the nucleus edge
        before = np.cumsum(probs, axis=-1, dtype=np.float64) - probs
        drop_sorted = before > top_p  # keep the smallest prefix whose mass reaches top_p
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=-1)
        out[drop] = -np.inf
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Proposal:
    """For each masked row: the token it would take, that token's probability, and its ranking score."""

    tokens: np.ndarray      # int64 (rows,)
    probability: np.ndarray # float32 (rows,)
    score: np.ndarray       # float32 (rows,), higher = commit first


def propose(logits: np.ndarray, settings: SamplerSettings, rng: np.random.Generator) -> Proposal:
    """Each row's token, probability and score: the C confidence kernel where it is loaded and supports
    the settings (engine/confidence_kernel.py), else the numpy reference below. Same seed, same tokens."""
    if logits.ndim == 2 and confidence_kernel.supports(settings, logits.shape[-1]) and confidence_kernel.active():
        return Proposal(*confidence_kernel.propose(logits, settings, rng))
    return propose_numpy(logits, settings, rng)


def propose_numpy(logits: np.ndarray, settings: SamplerSettings, rng: np.random.Generator) -> Proposal:
    """The reference: filter, softmax, then the token (argmax or an inverse-CDF draw) and its score."""
    filtered = filter_logits(logits, settings.temperature, settings.top_k, settings.top_p)
    probs = softmax(filtered)
    rows = np.arange(len(probs))
    if settings.temperature > 0:
        draws = rng.random(len(probs))[:, None]
        # A float64 CDF: a float32 cumsum over a large vocabulary stops growing once the running sum's
        # ulp exceeds the tail's probabilities, and draws above where it stalls would pick the last id.
        tokens = (np.cumsum(probs, axis=-1, dtype=np.float64) < draws).sum(axis=-1)
        tokens = np.minimum(tokens, probs.shape[-1] - 1)
    else:
        tokens = filtered.argmax(axis=-1)  # = argmax of probs, without float32 rounding merging near-ties
    p = probs[rows, tokens].astype(np.float32)
    if settings.algorithm == "margin":
        top2 = np.partition(probs, probs.shape[-1] - 2, axis=-1)[:, -2:] if probs.shape[-1] > 1 else probs
        score = (top2.max(axis=-1) - top2.min(axis=-1)).astype(np.float32)
    elif settings.algorithm == "entropy":
        score = (probs * np.log(probs + 1e-10)).sum(axis=-1).astype(np.float32)  # negative entropy
    elif settings.algorithm == "random":
        score = rng.random(len(probs)).astype(np.float32)
    else:  # confidence, origin
        score = p
    return Proposal(tokens.astype(np.int64), p, score)


def choose_by_threshold(score: np.ndarray, threshold: float) -> np.ndarray:
    """Indices whose score exceeds the threshold; the single best if none does."""
    chosen = np.flatnonzero(score > threshold)
    if chosen.size == 0:
        chosen = np.array([int(np.argmax(score))])
    return chosen


def choose_top(score: np.ndarray, count: int, alg_temp: float, rng: np.random.Generator) -> np.ndarray:
    """The `count` best-scoring indices (ties: lower index first), or a softmax(score/alg_temp) draw."""
    count = min(count, len(score))
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    if alg_temp > 0:
        weights = softmax((score / alg_temp)[None, :].astype(np.float64))[0]
        return np.sort(rng.choice(len(score), size=count, replace=False, p=weights))
    order = np.lexsort((np.arange(len(score)), -score))
    return np.sort(order[:count])


def choose_origin(n_rows: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Dream's `origin`: each masked position is revealed independently with probability `fraction`."""
    return np.flatnonzero(rng.random(n_rows) < fraction)
