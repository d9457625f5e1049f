"""An independent numpy forward pass of (synthetic) Qwen2/LLaMA-family GGUFs.

Test helper: it reads f32/f16 weights with ``gguf.GGUFReader`` and runs the
transformer in float64 with an explicit attention-visibility matrix, so tests
can check what llama.cpp computes (causal, bidirectional, block-diffusion
masks) against a from-scratch implementation of the same conventions:

- RMSNorm with the file's epsilon, ``x / sqrt(mean(x^2) + eps) * w``.
- RoPE as llama.cpp applies it per architecture: NEOX style (pairs
  ``(i, i + d/2)``) for qwen2/dream, NORM style (pairs ``(2i, 2i+1)``) for
  llama/llada; ``theta_i = pos * base^(-2i/d)``.
- GQA: query head ``h`` reads key/value head ``h // (n_head / n_head_kv)``.
- Optional q/k/v (and output) biases, SwiGLU FFN, tied output embedding when
  the file has no ``output.weight``.

GGUF stores tensor dimensions in ggml order (``ne[0]`` = the contiguous
input dimension); ``GGUFReader`` exposes ``.shape`` in that order and ``.data``
as a numpy array in the reversed (row-major) order, i.e. ``(out, in)`` like a
torch Linear weight, which is what this module uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROPE_NEOX = {"qwen2", "dream"}
ROPE_NORM = {"llama", "llada"}


@dataclass
class ReferenceModel:
    arch: str
    n_layer: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_rot: int
    rope_base: float
    eps: float
    neox: bool
    tensors: dict[str, np.ndarray] = field(repr=False)

    @property
    def n_vocab(self) -> int:
        return self.tensors["token_embd.weight"].shape[0]

    def get(self, name: str) -> np.ndarray | None:
        return self.tensors.get(name)


def _field(reader, key: str, default=None):
    f = reader.fields.get(key)
    if f is None:
        if default is None:
            raise KeyError(f"GGUF has no key {key!r}")
        return default
    return f.contents()


_CACHE: dict[tuple[str, int, int], ReferenceModel] = {}


def load_reference_model(gguf_path: str | os.PathLike[str]) -> ReferenceModel:
    import gguf

    path = Path(gguf_path)
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key in _CACHE:
        return _CACHE[key]
    reader = gguf.GGUFReader(path)
    arch = _field(reader, "general.architecture")
    if arch not in ROPE_NEOX | ROPE_NORM:
        raise ValueError(f"unsupported architecture {arch!r}")
    tensors: dict[str, np.ndarray] = {}
    for t in reader.tensors:
        if t.tensor_type not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            raise ValueError(f"{t.name}: only F32/F16 tensors are supported, not {t.tensor_type!r}")
        data = np.asarray(t.data, dtype=np.float64)
        # ggml order (ne) reversed is the numpy order
        assert tuple(data.shape) == tuple(int(d) for d in reversed(t.shape)), t.name
        tensors[t.name] = data
    n_embd = int(_field(reader, f"{arch}.embedding_length"))
    n_head = int(_field(reader, f"{arch}.attention.head_count"))
    head_dim = int(_field(reader, f"{arch}.attention.key_length", n_embd // n_head))
    model = ReferenceModel(
        arch=arch,
        n_layer=int(_field(reader, f"{arch}.block_count")),
        n_head=n_head,
        n_head_kv=int(_field(reader, f"{arch}.attention.head_count_kv", n_head)),
        head_dim=head_dim,
        n_rot=int(_field(reader, f"{arch}.rope.dimension_count", head_dim)),
        rope_base=float(_field(reader, f"{arch}.rope.freq_base", 10000.0)),
        eps=float(_field(reader, f"{arch}.attention.layer_norm_rms_epsilon")),
        neox=arch in ROPE_NEOX,
        tensors=tensors,
    )
    _CACHE.clear()
    _CACHE[key] = model
    return model


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x: np.ndarray, positions: np.ndarray, n_rot: int, base: float, neox: bool) -> np.ndarray:
    """Rotate x of shape (n, heads, head_dim) by its positions (n,)."""
    half = n_rot // 2
    inv = base ** (-2.0 * np.arange(half, dtype=np.float64) / n_rot)
    ang = positions.astype(np.float64)[:, None] * inv[None, :]  # (n, half)
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    out = x.copy()
    if neox:
        a, b = x[..., :half], x[..., half:n_rot]
        out[..., :half] = a * cos - b * sin
        out[..., half:n_rot] = a * sin + b * cos
    else:
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = a * cos - b * sin
        out[..., 1:n_rot:2] = a * sin + b * cos
    return out


def _linear(x: np.ndarray, m: ReferenceModel, name: str) -> np.ndarray:
    y = x @ m.tensors[name + ".weight"].T
    b = m.get(name + ".bias")
    return y if b is None else y + b


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def reference_hidden(model: ReferenceModel, tokens, positions, visible: np.ndarray) -> np.ndarray:
    """Final normalized hidden states (n, n_embd)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    visible = np.asarray(visible, dtype=bool)
    n = len(tokens)
    if positions.shape != (n,) or visible.shape != (n, n):
        raise ValueError("need len(positions) == len(tokens) and visible of shape (n, n)")
    if not visible.any(axis=1).all():
        raise ValueError("every token must see at least one token")
    m = model
    H, Hkv, d = m.n_head, m.n_head_kv, m.head_dim
    group = H // Hkv
    x = m.tensors["token_embd.weight"][tokens]
    neg = np.where(visible, 0.0, -np.inf)[None, :, :]
    for il in range(m.n_layer):
        p = f"blk.{il}."
        h = rms_norm(x, m.tensors[p + "attn_norm.weight"], m.eps)
        q = _linear(h, m, p + "attn_q").reshape(n, H, d)
        k = _linear(h, m, p + "attn_k").reshape(n, Hkv, d)
        v = _linear(h, m, p + "attn_v").reshape(n, Hkv, d)
        q = rope(q, positions, m.n_rot, m.rope_base, m.neox)
        k = rope(k, positions, m.n_rot, m.rope_base, m.neox)
        k = np.repeat(k, group, axis=1)  # head h -> kv head h // group
        v = np.repeat(v, group, axis=1)
        scores = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(d) + neg
        scores -= scores.max(axis=-1, keepdims=True)
        prob = np.exp(scores)
        prob /= prob.sum(axis=-1, keepdims=True)
        attn = np.einsum("hij,jhd->ihd", prob, v).reshape(n, H * d)
        x = x + _linear(attn, m, p + "attn_output")
        h = rms_norm(x, m.tensors[p + "ffn_norm.weight"], m.eps)
        ff = silu(_linear(h, m, p + "ffn_gate")) * _linear(h, m, p + "ffn_up")
        x = x + _linear(ff, m, p + "ffn_down")
    return rms_norm(x, m.tensors["output_norm.weight"], m.eps)


def reference_logits(gguf_path, tokens: list[int], positions: list[int], visible: np.ndarray) -> np.ndarray:
    """Logits (n, n_vocab), float64, where visible[i, j] lets token i attend to token j."""
    m = load_reference_model(gguf_path)
    h = reference_hidden(m, tokens, positions, visible)
    out = m.get("output.weight")
    logits = h @ (out if out is not None else m.tensors["token_embd.weight"]).T
    b = m.get("output.bias")
    return logits if b is None else logits + b


def causal_mask(n: int) -> np.ndarray:
    return np.tril(np.ones((n, n), dtype=bool))
