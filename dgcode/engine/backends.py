"""Forward backends: the named, swappable ways the engine computes a denoising step, each behind BlockForward.

The sampler (engine/sampler.py) only ever sees a ``BlockForward``: prefill a
prompt, give logits for some rows of the active window, commit a finished
prefix.  Which implementation computes that is a backend chosen by name
(``EngineOptions.backend``):

- ``cached``: dgcode's prefix-cached block pass on stock llama.cpp
  (``CachedBlockForward``), for models with a cached twin or stored as AR;
- ``full-sequence``: llama-diffusion-cli's algorithm, every step re-decoding
  the whole sequence (``FullSequenceForward``); the baseline, and the
  fallback for diffusion architectures with no cached twin;
- ``incremental``: the cached pass with a cheaper step (``IncrementalBlockForward``,
  engine/incremental_forward.py): committed tokens at the window's left edge
  stay in the cache, so a step decodes from the first masked row on. An
  approximation (docs/engine.md, "A cheaper step"), so not the default;
- ``masked-rows``: on dgcode's libllama only (a batch between cached cells):
  every committed token stays cached and a step decodes only the masked
  positions, the rows asked for and what changed (engine/masked_rows_forward.py);
- ``masked-rows-local``: the same, keeping more cells as computed (masks no row
  is asked for, as with the sampler's ``mask_window``, and a finished
  sub-block, which is not decoded afresh), so a step costs about the rows it
  asks for. A further approximation (docs/engine.md), so not the default.

The default for a model with a cache is ``masked-rows`` where the process
runs dgcode's libllama (the embedded repair model's exact-repair rate is the
same as with ``cached``: docs/engine.md), else ``cached``.
``DGCODE_FORWARD_BACKEND`` (a name above) replaces the default for a model
with a cache when no backend is named, in every front end and in
training/evaluate.py alike (the engine process inherits it).

A backend is a ``ForwardBackend``: whether it needs a KV-cached context (so
the engine opens the aliased copy and sizes the context's outputs) and a
factory from the opened engine to a fresh ``BlockForward`` per request.
``register_backend`` adds one (dgcode's own kernels, in kernels/, plug in
here); ``backend_for`` picks the one to use and refuses an unknown name or a
cached backend for a model with no cache, with a message naming the choices.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from dgcode.engine import libllama
from dgcode.engine.errors import InvalidSettingsError
from dgcode.engine.forward import CachedBlockForward, FullSequenceForward
from dgcode.engine.incremental_forward import IncrementalBlockForward
from dgcode.engine.masked_rows_forward import MaskedRowsForward
from dgcode.engine.sampler import BlockForward


@dataclass(frozen=True)
class ForwardBackend:
    """One way to compute denoising steps."""

    name: str
    description: str
    needs_cache: bool
    """Runs on a KV-cached context (the aliased copy or an AR-stored file), not the native uncached path."""
    make: Callable[[object], BlockForward]
    """A fresh BlockForward for one request, from the opened ``Engine``."""
    needs_free_positions: bool = False
    """Decodes batches between cached cells: dgcode's libllama only (``LlamaContext.free_positions``)."""


def _cached(engine) -> BlockForward:
    return CachedBlockForward(engine.ctx, shift_logits=engine.shift_logits, causal_prefill=engine.causal_prefill,
                              reuse_prefix=engine.reuse_prefix)


def _incremental(engine) -> BlockForward:
    return IncrementalBlockForward(engine.ctx, shift_logits=engine.shift_logits,
                                   causal_prefill=engine.causal_prefill, reuse_prefix=engine.reuse_prefix)


def _masked_rows(engine) -> BlockForward:
    return MaskedRowsForward(engine.ctx, mask_token=engine.special.mask, shift_logits=engine.shift_logits,
                             causal_prefill=engine.causal_prefill, reuse_prefix=engine.reuse_prefix)


def _masked_rows_local(engine) -> BlockForward:
    return MaskedRowsForward(engine.ctx, mask_token=engine.special.mask, shift_logits=engine.shift_logits,
                             causal_prefill=engine.causal_prefill, reuse_prefix=engine.reuse_prefix, local=True)


def _full_sequence(engine) -> BlockForward:
    return FullSequenceForward(engine.ctx, shift_logits=engine.shift_logits)


CACHED, FULL_SEQUENCE, INCREMENTAL, MASKED_ROWS = "cached", "full-sequence", "incremental", "masked-rows"
MASKED_ROWS_LOCAL = "masked-rows-local"
DEFAULT_ENV = "DGCODE_FORWARD_BACKEND"
_BACKENDS: dict[str, ForwardBackend] = {
    CACHED: ForwardBackend(CACHED, "prefix KV cache; each step decodes only the active window", True, _cached),
    FULL_SEQUENCE: ForwardBackend(FULL_SEQUENCE, "every step re-decodes the whole sequence (no cache)", False,
                                  _full_sequence),
    INCREMENTAL: ForwardBackend(INCREMENTAL, "prefix KV cache; committed tokens at the window's left edge are "
                                "kept as they are committed, so each step decodes from the first masked row on",
                                True, _incremental),
    MASKED_ROWS: ForwardBackend(MASKED_ROWS, "prefix KV cache holding every committed token (dgcode's libllama); "
                                "each step decodes only the masked positions and what changed", True, _masked_rows,
                                needs_free_positions=True),
    MASKED_ROWS_LOCAL: ForwardBackend(MASKED_ROWS_LOCAL, "as masked-rows, and masks no row is asked for and a "
                                      "finished sub-block keep their cells as computed (dKV-Cache's greedy "
                                      "variant)", True, _masked_rows_local, needs_free_positions=True),
}


def register_backend(backend: ForwardBackend) -> None:
    """Make ``backend`` available by its name (a name already taken is refused)."""
    if backend.name in _BACKENDS:
        raise ValueError(f"a forward backend named {backend.name!r} exists already")
    _BACKENDS[backend.name] = backend


def backend_names() -> tuple[str, ...]:
    return tuple(_BACKENDS)


def backend_for(name: str | None, *, has_cache: bool, cached: bool = True) -> ForwardBackend:
    """The backend called ``name``; by default, where the model has a cache and ``cached``,
    ``$DGCODE_FORWARD_BACKEND`` or else the masked-rows one on dgcode's libllama and the cached one on
    llama-cpp-python's own library; without a cache the full-sequence one.

    ``has_cache``: the model has a same-graph cached twin or is stored as AR.
    """
    if name is None:
        if not (cached and has_cache):
            return _BACKENDS[FULL_SEQUENCE]
        name = os.environ.get(DEFAULT_ENV) or (MASKED_ROWS if libllama.has_free_positions() else CACHED)
        if name not in _BACKENDS:
            raise InvalidSettingsError(f"{DEFAULT_ENV}={name!r} names no forward backend; known: "
                                       f"{', '.join(_BACKENDS)}")
    backend = _BACKENDS.get(name)
    if backend is None:
        raise InvalidSettingsError(f"unknown forward backend {name!r}; known: {', '.join(_BACKENDS)}")
    if backend.needs_cache and not has_cache:
        raise InvalidSettingsError(f"the {name!r} backend needs a KV cache, which this model's architecture "
                                   f"does not have; use {FULL_SEQUENCE!r}")
    return backend


def require_runnable(backend: ForwardBackend, ctx) -> None:
    """Refuse, with what it needs, a backend the opened context cannot run (``ctx``: a LlamaContext)."""
    if backend.needs_free_positions and not ctx.free_positions:
        raise InvalidSettingsError(f"the {backend.name!r} backend needs dgcode's libllama, which decodes between "
                                   "cached cells (`dgcode kernels build`); this process runs "
                                   f"{(libllama.loaded() or libllama.choose()).describe()}")
