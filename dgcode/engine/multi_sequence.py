"""A llama.cpp context holding K sequences in one unified KV cache: one prompt prefill shared by K answers.

The single-answer context (llama_native.LlamaContext) has one sequence. This
one is opened with ``n_seq_max = K`` and ``kv_unified`` on, so every sequence
lives in the same cell buffer: the prompt is decoded once on sequence 0 and
``llama_memory_seq_cp`` then tags those same cells with sequences 1..K-1 (no
copy of the KV data is made; with a unified cache a cell simply belongs to
several sequences). After that each sequence grows on its own: one
``llama_decode`` carries several sequences' tokens, each tagged with its
sequence id at its own positions, and a token attends only to cells of its
own sequence (llama.cpp's mask), so K windows are denoised in one batch.

A unified cache is needed, not just convenient: with one buffer per sequence
llama.cpp splits a batch into equal per-sequence slices, and K windows of
different lengths would not fit in one micro-batch.

The counters (``prefill_tokens``, ``decode_calls``, ``decoded_tokens``) let
callers (and tests) see what was computed: a K-way request prefills its prompt
once, not K times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dgcode.engine.errors import EngineError
from dgcode.engine.llama_native import ContextSettings, LlamaModel, _lib, context_params, recent_log


@dataclass(frozen=True)
class Part:
    """One sequence's share of a batched decode: tokens at positions ``start..``, logits for ``rows``."""

    seq: int
    tokens: np.ndarray
    start: int
    rows: np.ndarray  # indices into ``tokens``, increasing


class MultiSequenceContext:
    """A decoding context with ``n_seq`` sequences (ids 0..n_seq-1) sharing one unified KV cache."""

    def __init__(self, model: LlamaModel, settings: ContextSettings, n_seq: int):
        if n_seq < 1:
            raise EngineError("internal: a multi-sequence context needs at least one sequence")
        lib = _lib()
        params = context_params(settings, n_seq, unified=True)  # windows of different lengths in one micro-batch
        self.model, self.settings, self.n_seq = model, settings, n_seq
        self._ptr = lib.llama_init_from_model(model.ptr, params)
        if not self._ptr:
            raise EngineError(f"llama.cpp could not create a {n_seq}-sequence context (n_ctx={settings.n_ctx}): "
                              f"{recent_log(5) or 'out of memory?'}")
        self._mem = lib.llama_get_memory(self._ptr)
        if not self._mem:
            self.close()
            raise EngineError("internal: candidates need a model with a KV cache (the cached path)")
        self._batch = lib.llama_batch_init(settings.n_batch, 0, n_seq)
        self._causal: bool | None = None
        self.ends = [0] * n_seq  # cells of sequence s cover positions [0, ends[s])
        self.prefill_tokens = 0  # prompt tokens decoded by prefill_shared (once per request, whatever K is)
        self.decode_calls = 0
        self.decoded_tokens = 0

    def set_causal(self, causal: bool) -> None:
        if causal != self._causal:
            _lib().llama_set_causal_attn(self._ptr, causal)
            self._causal = causal

    def prefill_shared(self, tokens: np.ndarray, causal: bool, n_seq: int | None = None) -> None:
        """Forget everything, decode ``tokens`` once on sequence 0, and share its cells with sequences 1..n_seq-1
        (default: every sequence)."""
        self.clear()
        self.set_causal(causal)
        try:
            if len(tokens):
                self.decode([Part(0, np.asarray(tokens), 0, np.zeros(0, dtype=np.int64))])
                self.prefill_tokens += len(tokens)
        finally:
            self.set_causal(False)
        lib = _lib()
        for seq in range(1, self.n_seq if n_seq is None else n_seq):
            lib.llama_memory_seq_cp(self._mem, 0, seq, -1, -1)
            self.ends[seq] = self.ends[0]

    def decode(self, parts: list[Part]) -> list[np.ndarray]:
        """Decode every part in one llama_decode; the logits of each part's rows, part by part."""
        s = self.settings
        n = sum(len(p.tokens) for p in parts)
        n_rows = sum(len(p.rows) for p in parts)
        if n == 0:
            return [np.zeros((0, self.model.n_vocab), dtype=np.float32) for _ in parts]
        if n > s.n_batch:
            raise EngineError(f"internal: batch of {n} tokens exceeds the context's batch size {s.n_batch}")
        if n_rows > s.n_outputs_max:
            raise EngineError(f"internal: {n_rows} logit rows exceed n_outputs_max {s.n_outputs_max}")
        for p in parts:
            if not 0 <= p.seq < self.n_seq:
                raise EngineError(f"internal: sequence {p.seq} outside 0..{self.n_seq - 1}")
            if p.start != self.ends[p.seq]:
                raise EngineError(f"internal: sequence {p.seq} decoded at {p.start} but its cells end at "
                                  f"{self.ends[p.seq]}")
            if p.start + len(p.tokens) > s.n_ctx:
                raise EngineError(f"internal: positions up to {p.start + len(p.tokens)} exceed the context")
        lib = _lib()
        b = self._batch
        b.n_tokens = n
        i = 0
        for p in parts:
            want = np.zeros(len(p.tokens), dtype=np.int8)
            want[np.asarray(p.rows, dtype=np.int64)] = 1
            for j, token in enumerate(p.tokens):
                b.token[i] = int(token)
                b.pos[i] = p.start + j
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = p.seq
                b.logits[i] = int(want[j])
                i += 1
        rc = lib.llama_decode(self._ptr, b)
        if rc != 0:
            self.clear()
            raise EngineError(f"llama_decode failed (code {rc}): {recent_log(5)}")
        self.decode_calls += 1
        self.decoded_tokens += n
        for p in parts:
            self.ends[p.seq] += len(p.tokens)
        out = []
        if n_rows:
            flat = np.ctypeslib.as_array(lib.llama_get_logits(self._ptr), shape=(n_rows * self.model.n_vocab,))
            logits = flat.reshape(n_rows, self.model.n_vocab)
        offset = 0
        for p in parts:
            out.append(logits[offset:offset + len(p.rows)].copy() if len(p.rows)
                       else np.zeros((0, self.model.n_vocab), dtype=np.float32))
            offset += len(p.rows)
        return out

    def drop_from(self, seq: int, pos: int) -> None:
        """Forget sequence ``seq``'s cells at positions >= pos (cells shared with other sequences stay theirs)."""
        if pos < self.ends[seq]:
            if not _lib().llama_memory_seq_rm(self._mem, seq, pos, -1):
                raise EngineError(f"internal: could not drop sequence {seq}'s cells from position {pos}")
            self.ends[seq] = pos

    def clear(self) -> None:
        _lib().llama_memory_clear(self._mem, True)
        self.ends = [0] * self.n_seq

    def close(self) -> None:
        if self._ptr:
            lib = _lib()
            if getattr(self, "_batch", None) is not None:
                lib.llama_batch_free(self._batch)
                self._batch = None
            lib.llama_free(self._ptr)
            self._ptr = None
