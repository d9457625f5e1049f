"""Functions the worker tests run inside the engine's child process (module-level, so they pickle)."""

from __future__ import annotations


def abort_inside_llama(engine) -> None:
    """Make llama.cpp itself abort (GGML_ASSERT): a native diffusion decode with n_ubatch < n_tokens."""
    import llama_cpp as lc

    from dgcode.engine.llama_native import LlamaModel

    model = LlamaModel(engine.info.path)  # the native dream file: no KV cache, the encoder path
    params = lc.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_ubatch = 64, 64, 8
    ctx = lc.llama_init_from_model(model.ptr, params)
    batch = lc.llama_batch_init(64, 0, 1)
    batch.n_tokens = 32
    for i in range(32):
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = 5, i, 1, 1
        batch.seq_id[i][0] = 0
    lc.llama_decode(ctx, batch)  # never returns


def engine_pid(engine) -> int:
    import os

    return os.getpid()


def raise_a_bug(engine) -> None:
    raise ZeroDivisionError("a bug in engine code")
