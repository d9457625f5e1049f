"""Random-weight GGUF models with the dimensions of real ones.

Tests and benchmarks cannot download real weights, yet the engine has to be
exercised on files llama.cpp really loads. Compute cost depends only on the
dimensions, not on the weight values, so this module writes GGUF files whose
shapes match real models (Qwen2.5-0.5B, Dream-7B, LLaDA-8B, or tiny ones for
unit tests) with seeded random weights, plus a small byte-level BPE vocabulary
that llama.cpp tokenizes (all 256 GPT-2 byte characters, a few dozen merges,
unused fillers up to the real vocab size, and the chat/diffusion specials at the
end).

Tensors are generated chunk by chunk just before they are written, so even a
7B f16 file (about 15 GB) never has to sit in memory.

Token-id layout (``n`` = ``n_vocab``)::

    0 .. 255            the GPT-2 byte-level characters, in bytes_to_unicode order
    256 .. 256+M-1      merge results, one per entry of MERGES (M = len(MERGES))
    ... .. n-k-1        "<|filler_i|>" tokens, type UNUSED (never produced)
    n-k .. n-1          <|endoftext|> (eos, pad), <|im_start|>, <|im_end|>,
                        <|mask|> (only with a mask token; k = 4, else k = 3)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from dgcode.engine.byte_vocab import byte_char_map, bytes_to_unicode

__all__ = [
    "ModelShape", "SHAPES", "MERGES", "ARCHS", "write_synthetic_gguf", "build_vocab",
    "special_token_ids", "count_params", "get_shape", "bytes_to_unicode", "byte_char_map",
    "with_changes",
]


@dataclass(frozen=True)
class ModelShape:
    name: str
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_vocab: int
    n_ctx: int
    rope_theta: float
    tied_embeddings: bool
    rms_eps: float = 1e-6

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def n_embd_kv(self) -> int:
        return self.head_dim * self.n_head_kv


SHAPES: dict[str, ModelShape] = {s.name: s for s in (
    ModelShape("test", 64, 2, 4, 2, 128, 384, 4096, 10000.0, True),
    ModelShape("small", 512, 8, 8, 2, 1408, 8192, 8192, 1e6, False),
    ModelShape("qwen2.5-0.5b", 896, 24, 14, 2, 4864, 151936, 32768, 1e6, True),
    ModelShape("dream-7b", 3584, 28, 28, 4, 18944, 152064, 32768, 1e6, False),
    ModelShape("llada-8b", 4096, 32, 32, 32, 12288, 126464, 4096, 500000.0, False, 1e-5),
)}

# Architectures: name -> (uses the Qwen2 tensor set with q/k/v biases, is diffusion)
ARCHS: dict[str, tuple[bool, bool]] = {
    "dream": (True, True), "qwen2": (True, False),
    "llada": (False, True), "llama": (False, False),
}

# A small fixed BPE merge list (byte-level characters; "Ġ" is a space, "Ċ" a
# newline). Every merge's parts are bytes or results of earlier merges.
MERGES: tuple[str, ...] = (
    "Ġ Ġ", "ĠĠ ĠĠ", "Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "e r", "Ġ s",
    "a t", "Ġ w", "Ġ o", "e n", "Ġ c", "i t", "i s", "a n", "o r", "e s",
    "Ġ b", "e d", "Ġ f", "in g", "Ġ p", "o u", "a l", "a r", "Ġ m", "Ġ d",
    "Ġ h", "l e", "l l", "l d", "ll o", "Ġw or", "Ġt he", "Ġ i", "Ġi n", "Ġ =",
    "Ġ (", "e l", "s el", "sel f", "d e", "de f", "Ġ def", "e t", "r et", "in t",
    "p r", "pr int", "Ġ r", "Ġr et", "u r", "ret ur", "retur n", "Ġret ur", "Ġretur n", "Ġ self",
)

FILLER_FMT = "<|filler_{}|>"
EOS_TEXT, IM_START_TEXT, IM_END_TEXT, MASK_TEXT = "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mask|>"

# gguf token types (gguf.TokenType)
_NORMAL, _CONTROL, _UNUSED = 1, 3, 5


def get_shape(shape: ModelShape | str) -> ModelShape:
    if isinstance(shape, ModelShape):
        return shape
    try:
        return SHAPES[shape]
    except KeyError:
        raise ValueError(f"unknown model shape {shape!r}; known: {', '.join(SHAPES)}") from None


def special_token_ids(shape: ModelShape | str, with_mask_token: bool = True) -> dict[str, int]:
    """Ids of the special tokens: eos, pad, im_start, im_end and (maybe) mask."""
    n = get_shape(shape).n_vocab
    k = 4 if with_mask_token else 3
    ids = {"eos": n - k, "pad": n - k, "im_start": n - k + 1, "im_end": n - k + 2}
    if with_mask_token:
        ids["mask"] = n - 1
    return ids


def build_vocab(shape: ModelShape | str, with_mask_token: bool = True) -> tuple[list[str], list[int], list[str]]:
    """(tokens, token types, merges) of the synthetic byte-level BPE vocabulary."""
    shape = get_shape(shape)
    tokens = bytes_to_unicode()
    types = [_NORMAL] * 256
    known = set(tokens)
    for merge in MERGES:
        a, b = merge.split(" ")
        if a not in known or b not in known or a + b in known:
            raise AssertionError(f"bad merge {merge!r}")
        tokens.append(a + b)
        types.append(_NORMAL)
        known.add(a + b)
    specials = [EOS_TEXT, IM_START_TEXT, IM_END_TEXT] + ([MASK_TEXT] if with_mask_token else [])
    n_filler = shape.n_vocab - len(tokens) - len(specials)
    if n_filler < 0:
        raise ValueError(f"n_vocab {shape.n_vocab} too small; need {len(tokens) + len(specials)}")
    tokens += [FILLER_FMT.format(i) for i in range(n_filler)]
    types += [_UNUSED] * n_filler
    tokens += specials
    types += [_CONTROL] * len(specials)
    return tokens, types, list(MERGES)


def _tensor_specs(shape: ModelShape, arch: str) -> list[tuple[str, tuple[int, ...], float, float]]:
    """(name, numpy shape, std, mean) for every tensor, in file order.

    Numpy shapes are (out, in) like a torch Linear weight; GGUF stores the
    reversed order (ggml ne = [in, out]).
    """
    qwen_like = ARCHS[arch][0]
    e, kv, ff, v = shape.n_embd, shape.n_embd_kv, shape.n_ff, shape.n_vocab
    norm_std = 0.1  # norm weights 1 + N(0, 0.1): sane, yet every weight matters
    specs = [("token_embd.weight", (v, e), e ** -0.5, 0.0)]
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        specs.append((p + "attn_norm.weight", (e,), norm_std, 1.0))
        specs.append((p + "attn_q.weight", (e, e), e ** -0.5, 0.0))
        specs.append((p + "attn_k.weight", (kv, e), e ** -0.5, 0.0))
        specs.append((p + "attn_v.weight", (kv, e), e ** -0.5, 0.0))
        if qwen_like:
            specs.append((p + "attn_q.bias", (e,), 0.1, 0.0))
            specs.append((p + "attn_k.bias", (kv,), 0.1, 0.0))
            specs.append((p + "attn_v.bias", (kv,), 0.1, 0.0))
        specs.append((p + "attn_output.weight", (e, e), e ** -0.5, 0.0))
        specs.append((p + "ffn_norm.weight", (e,), norm_std, 1.0))
        specs.append((p + "ffn_gate.weight", (ff, e), e ** -0.5, 0.0))
        specs.append((p + "ffn_up.weight", (ff, e), e ** -0.5, 0.0))
        specs.append((p + "ffn_down.weight", (e, ff), ff ** -0.5, 0.0))
    specs.append(("output_norm.weight", (e,), norm_std, 1.0))
    if not shape.tied_embeddings:
        specs.append(("output.weight", (v, e), e ** -0.5, 0.0))
    return specs


def count_params(shape: ModelShape | str, arch: str = "dream") -> int:
    """Number of weights the file holds (biases only for the qwen2/dream set)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}")
    return sum(int(np.prod(s)) for _, s, _, _ in _tensor_specs(get_shape(shape), arch))


class _LazyTensor:
    """Duck-typed array for GGUFWriter.write_tensor_data: generated while written."""

    _CHUNK = 1 << 22  # elements per chunk (16 MB of float32)

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, std: float, mean: float,
                 rng: np.random.Generator, on_bytes: Callable[[int], None]):
        self.shape, self.dtype, self.std, self.mean = shape, np.dtype(dtype), std, mean
        self.rng, self.on_bytes = rng, on_bytes
        self.size = int(np.prod(shape))
        self.nbytes = self.size * self.dtype.itemsize

    def byteswap(self, inplace: bool = False):  # pragma: no cover - big-endian hosts only
        raise NotImplementedError("synthetic GGUFs are written little-endian only")

    def tofile(self, fp) -> None:
        left = self.size
        while left:
            n = min(left, self._CHUNK)
            x = self.rng.standard_normal(n, dtype=np.float32)
            x *= np.float32(self.std)
            if self.mean:
                x += np.float32(self.mean)
            data = x.astype(self.dtype, copy=False)
            fp.write(memoryview(np.ascontiguousarray(data)).cast("B"))
            self.on_bytes(data.nbytes)
            left -= n


def write_synthetic_gguf(
    path: str | os.PathLike[str],
    shape: ModelShape | str,
    *,
    arch: str = "dream",
    seed: int = 0,
    dtype: str = "f16",
    with_mask_token: bool = True,
    shift_logits: bool | None | Literal["auto"] = "auto",
    chat_template: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a random-weight GGUF of ``shape`` for ``arch``; returns its path.

    ``arch`` is one of dream, qwen2 (Qwen2 tensor set, q/k/v biases) or llada,
    llama (LLaMA set, no biases). ``dtype`` ("f16" or "f32") applies to the
    matrices; 1-D tensors (norms, biases) are always f32, as converters do.
    ``shift_logits`` writes ``diffusion.shift_logits`` (None: no key; "auto":
    True for the Qwen2 family as Dream does, False for the LLaMA family as
    LLaDA does). The file is written to ``path + ".tmp"`` and renamed.
    """
    import gguf

    shape = get_shape(shape)
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; expected one of {sorted(ARCHS)}")
    if dtype not in ("f16", "f32"):
        raise ValueError(f"dtype must be 'f16' or 'f32', not {dtype!r}")
    if shape.n_embd % shape.n_head or shape.n_head % shape.n_head_kv:
        raise ValueError("n_embd must divide by n_head and n_head by n_head_kv")
    qwen_like, diffusion = ARCHS[arch]
    if shift_logits == "auto":
        shift_logits = qwen_like
    np_dtype = np.dtype(np.float16 if dtype == "f16" else np.float32)

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    w = gguf.GGUFWriter(tmp, arch)
    try:
        w.add_name(f"dgcode-synthetic-{shape.name}-{arch}")
        w.add_type("model")
        w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
        w.add_vocab_size(shape.n_vocab)
        w.add_context_length(shape.n_ctx)
        w.add_embedding_length(shape.n_embd)
        w.add_block_count(shape.n_layer)
        w.add_feed_forward_length(shape.n_ff)
        w.add_head_count(shape.n_head)
        w.add_head_count_kv(shape.n_head_kv)
        w.add_rope_dimension_count(shape.head_dim)
        w.add_rope_freq_base(float(shape.rope_theta))
        w.add_layer_norm_rms_eps(float(shape.rms_eps))
        if diffusion:  # what the Dream/LLaDA converters write
            w.add_causal_attention(False)
        if shift_logits is not None:
            w.add_bool("diffusion.shift_logits", bool(shift_logits))

        tokens, types, merges = build_vocab(shape, with_mask_token)
        ids = special_token_ids(shape, with_mask_token)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("qwen2")
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(merges)
        w.add_eos_token_id(ids["eos"])
        w.add_pad_token_id(ids["pad"])
        w.add_bos_token_id(ids["eos"])
        w.add_eot_token_id(ids["im_end"])
        if with_mask_token:
            w.add_mask_token_id(ids["mask"])
        w.add_add_bos_token(False)
        if chat_template is not None:
            w.add_chat_template(chat_template)

        specs = _tensor_specs(shape, arch)
        lazies = []
        done = [0]
        total = 0
        for idx, (name, s, std, mean) in enumerate(specs):
            td = np_dtype if len(s) > 1 else np.dtype(np.float32)
            rng = np.random.default_rng([seed, idx])

            def on_bytes(n: int) -> None:
                done[0] += n
                if progress is not None:
                    progress(done[0], total)  # noqa: B023  (the final total: called while writing)

            lt = _LazyTensor(s, td, std, mean, rng, on_bytes)
            w.add_tensor_info(name, s, td, lt.nbytes)
            lazies.append(lt)
            total += lt.nbytes

        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        for lt in lazies:
            w.write_tensor_data(lt)  # type: ignore[arg-type]
        w.close()
        os.replace(tmp, path)
    except BaseException:
        w.close()
        tmp.unlink(missing_ok=True)
        raise
    return path


def with_changes(shape: ModelShape | str, **changes) -> ModelShape:
    """A copy of a shape with some fields replaced (e.g. tied_embeddings=False)."""
    return dataclasses.replace(get_shape(shape), **changes)
