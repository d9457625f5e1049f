"""Reference for the block attention kernel (kernels/cuda/block_attention.cu), in numpy.

Layouts (the kernel's, see kernels/cuda/dgc_kernels.h):
  q        (n_cand, n_q, n_head, d)
  k_prefix (n_prefix, n_kv_head, d)      shared by every candidate
  v_prefix (n_prefix, n_kv_head, d)
  k_block  (n_cand, n_q, n_kv_head, d)   each candidate's own block
  v_block  (n_cand, n_q, n_kv_head, d)
  out      (n_cand, n_q, n_head, d)

out[c, i, h] = softmax_j(scale * q[c, i, h] . k_j) v_j over the keys
[prefix, block c] of kv head h // (n_head // n_kv_head), with no mask: every
block query sees every prefix key and every key of its own block.

`block_attention` computes it the way the kernel does (online softmax over
tiles of `tile` keys, the running max and sum rescaled per tile) so that the
tests, which compare it with the one-shot formula, check the algorithm too.
It works in float64 on whatever the inputs hold (pass f16/bf16 values already
converted to floats to mirror the kernel's inputs).
"""

from __future__ import annotations

import numpy as np


def _check(q, k_prefix, v_prefix, k_block, v_block):
    n_cand, n_q, n_head, d = q.shape
    n_prefix, n_kv_head, d2 = k_prefix.shape
    if d2 != d or v_prefix.shape != k_prefix.shape:
        raise ValueError("prefix K/V must be (n_prefix, n_kv_head, d)")
    if k_block.shape != (n_cand, n_q, n_kv_head, d) or v_block.shape != k_block.shape:
        raise ValueError("block K/V must be (n_cand, n_q, n_kv_head, d)")
    if n_head % n_kv_head:
        raise ValueError("n_head must be a multiple of n_kv_head")
    return n_cand, n_q, n_head, n_kv_head, d, n_prefix


def block_attention(q: np.ndarray, k_prefix: np.ndarray, v_prefix: np.ndarray, k_block: np.ndarray,
                    v_block: np.ndarray, scale: float | None = None, tile: int = 32) -> np.ndarray:
    n_cand, n_q, n_head, n_kv_head, d, n_prefix = _check(q, k_prefix, v_prefix, k_block, v_block)
    g = n_head // n_kv_head
    scale = 1.0 / np.sqrt(d) if scale is None else scale
    # Group query heads by kv head: (cand, kv, rows = n_q * g, d), row = (token, head-in-group), as the kernel.
    qg = q.astype(np.float64).reshape(n_cand, n_q, n_kv_head, g, d).transpose(0, 2, 1, 3, 4)
    qg = qg.reshape(n_cand, n_kv_head, n_q * g, d) * scale
    kp = np.broadcast_to(k_prefix.astype(np.float64).transpose(1, 0, 2), (n_cand, n_kv_head, n_prefix, d))
    vp = np.broadcast_to(v_prefix.astype(np.float64).transpose(1, 0, 2), (n_cand, n_kv_head, n_prefix, d))
    keys = np.concatenate([kp, k_block.astype(np.float64).transpose(0, 2, 1, 3)], axis=2)
    vals = np.concatenate([vp, v_block.astype(np.float64).transpose(0, 2, 1, 3)], axis=2)
    n_kv = keys.shape[2]
    m = np.full(qg.shape[:3], -np.inf)
    total = np.zeros(qg.shape[:3])
    o = np.zeros(qg.shape)
    for t0 in range(0, n_kv, tile):
        s = np.einsum("ckrd,cktd->ckrt", qg, keys[:, :, t0:t0 + tile])
        m_new = np.maximum(m, s.max(axis=-1))
        corr = np.exp(m - m_new)                       # exp(-inf) = 0 on the first tile
        p = np.exp(s - m_new[..., None])
        total = total * corr + p.sum(axis=-1)
        o = o * corr[..., None] + np.einsum("ckrt,cktd->ckrd", p, vals[:, :, t0:t0 + tile])
        m = m_new
    out = o / total[..., None]
    return out.reshape(n_cand, n_kv_head, n_q, g, d).transpose(0, 2, 1, 3, 4).reshape(n_cand, n_q, n_head, d)


def bf16_to_float(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) as float32: the top half of an f32."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def float_to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 to bfloat16 bit patterns, round to nearest even (as __float2bfloat16 for finite values)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)
