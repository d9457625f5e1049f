"""The engine's settings: how a model is opened and how an answer is denoised, with no numpy or llama.cpp.

Front ends build and check these before anything is loaded, and ``dgcode
fix`` spawns the engine's child as soon as it has them, so this module
imports nothing heavy.  ``EngineOptions`` is re-exported by engine/engine.py
and ``SamplerSettings`` by engine/unmasking.py (the rules that act on logits).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dgcode.engine.errors import InvalidSettingsError

ALGORITHMS = ("confidence", "margin", "entropy", "random", "origin")
SCHEDULES = ("threshold", "block", "timestep")


@dataclass(frozen=True)
class SamplerSettings:
    """How an answer is denoised. Defaults: confidence-threshold parallel decoding (Fast-dLLM)."""

    schedule: str = "threshold"   # threshold: commit every position whose confidence > threshold (at least one)
                                  # block: LLaDA's equal split of a sub-block's masks over its steps
                                  # timestep: Dream's linspace(1, eps, steps+1) schedule
    steps: int | None = None      # total denoising steps for the whole answer (block / timestep schedules)
    threshold: float = 0.9        # top-1 probability (or margin) a position needs, threshold schedule
    algorithm: str = "confidence" # confidence | margin | entropy | random | origin (which positions go first)
    eps: float = 1e-3             # last timestep of the timestep schedule
    temperature: float = 0.0      # 0: greedy (argmax) tokens
    top_k: int = 0                # 0: no top-k filter
    top_p: float = 1.0            # 1: no nucleus filter
    alg_temp: float = 0.0         # >0: choose positions by sampling softmax(score/alg_temp), as Dream does
    seed: int = 0                 # same seed, same output
    max_tokens: int = 256         # answer budget in tokens
    canvas_size: int = 256        # the block a front end shows crystallizing
    sub_block_size: int = 32      # the engine denoises the canvas in sub-blocks of this size, left to right
    stop_at_eos: bool = True      # end the answer once end-of-text is final with everything before it
    mask_window: int = 0          # >0: a step proposes only the sub-block's first N masked positions; the
                                  # later masks stay in view (the masked-rows steps keep their cells as
                                  # computed: dKV-Cache's local window). 0: every masked position

    def validate(self) -> None:
        def bad(msg: str):
            raise InvalidSettingsError(msg)

        if self.schedule not in SCHEDULES:
            bad(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.algorithm not in ALGORITHMS:
            bad(f"unknown unmasking algorithm {self.algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
        if self.max_tokens < 1:
            bad("max_tokens must be at least 1")
        if self.canvas_size < 1 or self.sub_block_size < 1:
            bad("canvas_size and sub_block_size must be positive")
        if self.canvas_size % self.sub_block_size:
            bad(f"canvas_size {self.canvas_size} must be a multiple of sub_block_size {self.sub_block_size}")
        if self.schedule == "threshold":
            if self.algorithm not in ("confidence", "margin"):
                bad("the threshold schedule works with the confidence or margin algorithm only")
            if not 0.0 <= self.threshold <= 1.0:
                bad("threshold must be between 0 and 1")
        else:
            n_sub = len(sub_block_ranges(self.max_tokens, self.sub_block_size))
            if self.steps is None or self.steps < n_sub:
                bad(f"the {self.schedule} schedule needs steps >= {n_sub} "
                    f"(one per {self.sub_block_size}-token sub-block of a {self.max_tokens}-token answer)")
        if self.temperature < 0 or self.alg_temp < 0:
            bad("temperature and alg_temp must not be negative")
        if self.top_k < 0 or not 0.0 < self.top_p <= 1.0:
            bad("top_k must be >= 0 and top_p in (0, 1]")
        if not 0.0 <= self.eps < 1.0:
            bad("eps must be in [0, 1)")
        if self.mask_window < 0:
            bad("mask_window must be >= 0 (0: every masked position of the sub-block)")
        if self.mask_window and self.schedule == "timestep":
            bad("mask_window works with the threshold and block schedules only")


def sub_block_ranges(n_tokens: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n_tokens)) for a in range(0, n_tokens, size)]


@dataclass(frozen=True)
class EngineOptions:
    """How to open a model. None means: choose for this machine and model."""

    n_ctx: int | None = None          # context size (prompt + answer); default min(model's, 8192)
    n_threads: int | None = None      # default: physical cores
    n_gpu_layers: int | None = None   # default: all layers when llama.cpp was built with CUDA/Metal
    mask_token_id: int | None = None  # needed for block-diffusion models stored under an AR architecture
    shift_logits: bool | None = None  # override the header's diffusion.shift_logits
    causal_prefill: bool | None = None  # default: bidirectional for dream/llada, causal for AR-stored models
    reuse_prefix: bool | None = None  # keep the cache's common prefix across requests; default: when exact
    cached: bool = True               # False: the uncached native path (llama-diffusion-cli's way)
    backend: str | None = None        # forward backend by name (engine/backends.py); default: cached if it can
    flash_attn: bool | None = None    # default: on with a GPU; on a CPU only when plain attention's
                                      # scores for a full-context micro-batch would exceed 1 GiB
    kv_f32: bool = False              # f32 KV cache (exact comparisons); default f16 as llama.cpp
    max_window: int = 257             # most logit rows a cached step asks for (sub-block + lead token)
    cache_dir: Path | None = None     # where aliased copies live; default the user cache folder
