"""Synthetic GGUFs load in llama.cpp, tokenize, and match the numpy reference."""

from __future__ import annotations

import ctypes
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from reference_model import causal_mask, load_reference_model, reference_logits  # noqa: E402

from dgcode.engine import synthetic  # noqa: E402
from dgcode.engine.synthetic import (  # noqa: E402
    build_vocab,
    count_params,
    special_token_ids,
    with_changes,
    write_synthetic_gguf,
)

TOKENS = [5, 300, 17, 256, 99, 42, 7, 350, 120, 64]


@pytest.fixture(scope="module")
def llama_cpp():
    import llama_cpp as lc

    lc.llama_backend_init()
    return lc


class _Loaded:
    """A llama.cpp model + context from the low-level API, freed on close."""

    def __init__(self, lc, path, *, n_ctx=64):
        self.lc = lc
        mp = lc.llama_model_default_params()
        self.model = lc.llama_model_load_from_file(str(path).encode(), mp)
        assert self.model, f"llama.cpp failed to load {path}"
        cp = lc.llama_context_default_params()
        cp.n_ctx = cp.n_batch = cp.n_ubatch = n_ctx
        cp.n_threads = cp.n_threads_batch = 2
        cp.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cp.type_k = cp.type_v = lc.GGML_TYPE_F32  # no f16 rounding in the KV cache
        self.ctx = lc.llama_init_from_model(self.model, cp)
        assert self.ctx, "llama_init_from_model failed"
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_vocab = lc.llama_vocab_n_tokens(self.vocab)

    def logits(self, tokens, positions, *, causal: bool | None = None) -> np.ndarray:
        lc, n = self.lc, len(tokens)
        if causal is not None:
            lc.llama_set_causal_attn(self.ctx, causal)
        batch = lc.llama_batch_init(n, 0, 1)
        try:
            for i, (t, p) in enumerate(zip(tokens, positions)):
                batch.token[i] = t
                batch.pos[i] = p
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = True
            batch.n_tokens = n
            rc = lc.llama_decode(self.ctx, batch)
            assert rc == 0, f"llama_decode returned {rc}"
            ptr = lc.llama_get_logits(self.ctx)
            return np.ctypeslib.as_array(ptr, shape=(n, self.n_vocab)).astype(np.float64)
        finally:
            lc.llama_batch_free(batch)

    def tokenize(self, text: str, parse_special: bool = False) -> list[int]:
        raw = text.encode()
        buf = (self.lc.llama_token * (len(raw) + 8))()
        n = self.lc.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf), False, parse_special)
        assert n >= 0
        return list(buf[:n])

    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(256)
        n = self.lc.llama_model_meta_val_str(self.model, key.encode(), buf, len(buf))
        return None if n < 0 else buf.value.decode()

    def close(self):
        self.lc.llama_free(self.ctx)
        self.lc.llama_model_free(self.model)


def _assert_close(got: np.ndarray, want: np.ndarray, rel: float):
    assert got.shape == want.shape
    assert np.isfinite(got).all()
    scale = np.abs(want).max()
    err = np.abs(got - want).max()
    assert scale > 0.1, "degenerate logits"
    assert err <= rel * scale, f"max |diff| {err:.3g} vs logit scale {scale:.3g}"


@pytest.mark.parametrize("arch,tied", [("qwen2", True), ("llama", False)])
def test_causal_logits_match_llama_cpp(llama_cpp, tmp_path, arch, tied):
    shape = with_changes("test", tied_embeddings=tied)
    path = write_synthetic_gguf(tmp_path / f"{arch}.gguf", shape, arch=arch, dtype="f32", seed=3)
    n = len(TOKENS)
    want = reference_logits(path, TOKENS, list(range(n)), causal_mask(n))
    m = _Loaded(llama_cpp, path)
    try:
        assert m.n_vocab == shape.n_vocab
        assert not llama_cpp.llama_model_is_diffusion(m.model)
        got = m.logits(TOKENS, list(range(n)))
    finally:
        m.close()
    _assert_close(got, want, 1e-3)
    # the mask matters: a bidirectional reference is clearly different
    full = reference_logits(path, TOKENS, list(range(n)), np.ones((n, n), bool))
    assert np.abs(full - got)[:-1].max() > 1e-2 * np.abs(full).max()


def test_reference_conventions_are_load_bearing(tmp_path):
    """Guard against a reference that passes for the wrong reason: the two rope
    styles, and tied vs untied outputs, must give different logits."""
    import reference_model as rm

    path = write_synthetic_gguf(tmp_path / "q.gguf", "test", arch="qwen2", dtype="f32")
    m = load_reference_model(path)
    n = len(TOKENS)
    base = rm.reference_hidden(m, TOKENS, list(range(n)), causal_mask(n))
    m.neox = False
    try:
        other = rm.reference_hidden(m, TOKENS, list(range(n)), causal_mask(n))
    finally:
        m.neox = True
    assert np.abs(base - other).max() > 1e-2
    assert "output.weight" not in m.tensors  # tied
    assert m.tensors["token_embd.weight"].shape == (384, 64)  # (n_vocab, n_embd)


@pytest.mark.parametrize("arch,alias", [("dream", "qwen2"), ("llada", "llama")])
def test_diffusion_arch_is_bidirectional(llama_cpp, tmp_path, arch, alias):
    path = write_synthetic_gguf(tmp_path / f"{arch}.gguf", "test", arch=arch, dtype="f32", seed=1)
    n = len(TOKENS)
    positions = list(range(7, 7 + n))  # RoPE at an offset
    want = reference_logits(path, TOKENS, positions, np.ones((n, n), bool))
    m = _Loaded(llama_cpp, path)
    try:
        assert llama_cpp.llama_model_is_diffusion(m.model)
        assert m.meta("general.architecture") == arch
        assert m.meta("diffusion.shift_logits") == ("true" if arch == "dream" else "false")
        ids = special_token_ids("test")
        assert llama_cpp.llama_vocab_mask(m.vocab) == ids["mask"]
        assert llama_cpp.llama_vocab_eos(m.vocab) == ids["eos"]
        got = m.logits(TOKENS, positions)
    finally:
        m.close()
    _assert_close(got, want, 1e-3)

    # the same weights under the AR name, with causal attention switched off,
    # see the whole batch too (what the engine's cached path relies on)
    ar = write_synthetic_gguf(tmp_path / f"{alias}.gguf", "test", arch=alias, dtype="f32", seed=1)
    m = _Loaded(llama_cpp, ar)
    try:
        got_ar = m.logits(TOKENS, positions, causal=False)
    finally:
        m.close()
    _assert_close(got_ar, want, 1e-3)


def test_f16_weights_match_reference(llama_cpp, tmp_path):
    path = write_synthetic_gguf(tmp_path / "f16.gguf", "test", arch="dream", dtype="f16")
    n = len(TOKENS)
    want = reference_logits(path, TOKENS, list(range(n)), np.ones((n, n), bool))
    m = _Loaded(llama_cpp, path)
    try:
        got = m.logits(TOKENS, list(range(n)))
    finally:
        m.close()
    _assert_close(got, want, 5e-3)  # llama.cpp rounds activations to f16 for f16 matmuls


def test_tokenizer_byte_level_bpe(llama_cpp, tmp_path):
    path = write_synthetic_gguf(tmp_path / "tok.gguf", "test", arch="dream", dtype="f32",
                                chat_template="{{ messages }}")
    tokens, types, merges = build_vocab("test")
    ids = special_token_ids("test")
    m = _Loaded(llama_cpp, path)
    try:
        assert m.tokenize("hello world") == [tokens.index(t) for t in ("he", "llo", "Ġwor", "ld")]
        # bytes without merges fall back to the byte tokens (UTF-8 bytes, byte-level chars)
        byte_char = synthetic.byte_char_map()
        assert m.tokenize("é") == [tokens.index(byte_char[b]) for b in "é".encode()]
        assert m.tokenize("\tx") == [tokens.index(byte_char[9]), tokens.index("x")]
        # specials only when parsing specials; fillers never
        assert m.tokenize("<|im_start|>hi", parse_special=True)[0] == ids["im_start"]
        assert ids["im_start"] not in m.tokenize("<|im_start|>hi")
        filler = tokens.index("<|filler_0|>")
        assert filler not in m.tokenize("<|filler_0|>", parse_special=True)
        assert m.meta("tokenizer.chat_template") == "{{ messages }}"
    finally:
        m.close()
    assert types[:256] == [1] * 256 and types[-4:] == [3] * 4
    assert len(tokens) == len(set(tokens)) == 384
    assert tokens[ids["mask"]] == "<|mask|>" and tokens[ids["eos"]] == "<|endoftext|>"


def test_small_f16_file_size_and_metadata(tmp_path):
    import gguf

    seen = []
    path = write_synthetic_gguf(tmp_path / "small.gguf", "small", arch="dream", dtype="f16",
                                progress=lambda done, total: seen.append((done, total)))
    assert not (tmp_path / "small.gguf.tmp").exists()
    s = synthetic.SHAPES["small"]
    n_params = count_params(s, "dream")
    assert 29e6 < n_params < 33e6
    # 1-D tensors (norms, biases) are f32: 2 extra bytes per element
    n_1d = s.n_layer * (2 * s.n_embd + s.n_embd + 2 * s.n_embd_kv) + s.n_embd
    size = os.path.getsize(path)
    data = 2 * n_params + 2 * n_1d
    assert data <= size <= data + 1_000_000, (size, data)
    assert seen and seen[-1][0] == seen[-1][1] and seen[-1][1] <= size

    r = gguf.GGUFReader(path)
    assert r.fields["general.architecture"].contents() == "dream"
    assert r.fields["tokenizer.ggml.mask_token_id"].contents() == special_token_ids(s)["mask"] == 8191
    assert r.fields["dream.block_count"].contents() == 8
    assert r.fields["diffusion.shift_logits"].contents() is True
    names = {t.name for t in r.tensors}
    assert "output.weight" in names and "blk.7.attn_q.bias" in names
    assert sum(int(np.prod(t.shape)) for t in r.tensors) == n_params
    emb = next(t for t in r.tensors if t.name == "token_embd.weight")
    assert list(emb.shape) == [s.n_embd, s.n_vocab]  # ggml order: ne[0] = n_embd
    assert emb.data.dtype == np.float16 and emb.data.shape == (s.n_vocab, s.n_embd)


def test_seeded_and_no_mask_token(tmp_path):
    import gguf

    a = write_synthetic_gguf(tmp_path / "a.gguf", "test", seed=5, dtype="f32", with_mask_token=False,
                             shift_logits=None)
    b = write_synthetic_gguf(tmp_path / "b.gguf", "test", seed=5, dtype="f32", with_mask_token=False,
                             shift_logits=None)
    c = write_synthetic_gguf(tmp_path / "c.gguf", "test", seed=6, dtype="f32")
    assert a.read_bytes() == b.read_bytes()
    ra, rc = gguf.GGUFReader(a), gguf.GGUFReader(c)
    assert "tokenizer.ggml.mask_token_id" not in ra.fields
    assert "diffusion.shift_logits" not in ra.fields
    assert "<|mask|>" not in build_vocab("test", with_mask_token=False)[0]
    wa = next(t for t in ra.tensors if t.name == "blk.0.attn_q.weight").data
    wc = next(t for t in rc.tensors if t.name == "blk.0.attn_q.weight").data
    assert not np.array_equal(wa, wc)
    assert 0.5 < wa.std() * np.sqrt(64) < 1.5  # ~ N(0, 1/fan_in)
    with pytest.raises(ValueError):
        write_synthetic_gguf(tmp_path / "x.gguf", "test", arch="gpt2")
