"""The in-process engine: a diffusion GGUF loaded for cached block decoding, ready to answer prompts.

Opening a model: read and validate the header (engine/model_file.py), pick the
forward backend (engine/backends.py: the cached path, on an aliased copy for
dream/llada or the file itself for block-diffusion models stored under an AR
architecture, or the native uncached path), load it, and size one context so the whole prompt is prefilled in a single
micro-batch (fully bidirectional). Front ends normally use the engine through
engine/worker.py, which runs this in a child process.
"""

from __future__ import annotations

import os

import numpy as np

from dgcode.engine import alias, libllama
from dgcode.engine.backends import backend_for, require_runnable
from dgcode.engine.chat import render_chat
from dgcode.engine.errors import InvalidSettingsError, PromptTooLongError
from dgcode.engine.llama_native import ContextSettings, LlamaContext, LlamaModel, gpu_offload_supported, physical_cores
from dgcode.engine.model_file import DIFFUSION_ARCH_ALIASES, ModelInfo, read_model_info, require_diffusion
from dgcode.engine.sampler import Generation, SpecialTokens, StepCallback, denoise
from dgcode.engine.settings import EngineOptions, SamplerSettings

DEFAULT_N_CTX = 8192
PLAIN_ATTENTION_SCORES_LIMIT = 1 << 30


def use_flash_attention(info: ModelInfo, n_ctx: int, on_gpu: bool) -> bool:
    """Flash attention on a GPU; on a CPU plain attention is about twice as fast for a 33-token step
    over a 2k cache (docs/engine.md), so use it unless its n_ctx x n_ctx score matrix gets too big."""
    if on_gpu:
        return True
    return n_ctx * n_ctx * max(info.n_head, 1) * 4 > PLAIN_ATTENTION_SCORES_LIMIT


class Engine:
    def __init__(self, model_path: str | os.PathLike[str], options: EngineOptions = EngineOptions(),
                 progress=None):
        self.info: ModelInfo = read_model_info(model_path)
        self.options = options
        mask = require_diffusion(self.info, mask_token_id=options.mask_token_id)
        info = self.info
        self.shift_logits = info.shift_logits if options.shift_logits is None else options.shift_logits
        self.backend = backend_for(options.backend, has_cache=info.cached_architecture is not None,
                                   cached=options.cached)
        self.cached = self.backend.needs_cache
        if not self.cached and not info.is_native_diffusion:
            raise InvalidSettingsError(f"'{info.architecture}' models run on the cached path only")
        if not self.cached and info.relabelled_as is not None:
            raise InvalidSettingsError(f"{info.path.name} is stored relabelled as '{info.relabelled_as}' (see "
                                       "`dgcode models pull`): it runs on the cached path only")
        self.aliased_copy: alias.AliasedCopy | None = None
        self.native_cache = (self.cached and info.architecture in DIFFUSION_ARCH_ALIASES
                             and info.relabelled_as is None and libllama.has_diffusion_cache())
        """dgcode's libllama build gives this dream/llada model a KV cache as it is: no relabelled copy."""
        if self.cached and info.architecture in DIFFUSION_ARCH_ALIASES and info.relabelled_as is None \
                and not self.native_cache:
            self.aliased_copy = alias.make_aliased_copy(info, options.cache_dir, progress)
            load_path = self.aliased_copy.path
        else:
            load_path = info.path
        self.causal_prefill = (options.causal_prefill if options.causal_prefill is not None
                               else not info.is_native_diffusion)
        self.reuse_prefix = self.causal_prefill if options.reuse_prefix is None else options.reuse_prefix
        n_ctx = options.n_ctx or min(info.context_length, DEFAULT_N_CTX)
        if n_ctx > info.context_length:
            raise InvalidSettingsError(f"n_ctx {n_ctx} exceeds the model's context length {info.context_length}")
        self.n_ctx = n_ctx
        self.n_threads = options.n_threads or physical_cores()
        self.model = LlamaModel(load_path, n_gpu_layers=options.n_gpu_layers)
        self.flash_attn = options.flash_attn if options.flash_attn is not None else use_flash_attention(
            info, n_ctx, gpu_offload_supported() and options.n_gpu_layers != 0)
        outputs = min(options.max_window, n_ctx) if self.cached else n_ctx
        self.ctx = LlamaContext(self.model, ContextSettings(
            n_ctx=n_ctx, n_batch=n_ctx, n_outputs_max=outputs, n_threads=self.n_threads,
            flash_attn=self.flash_attn, kv_f32=options.kv_f32))
        self.special = SpecialTokens(mask=mask, eos=info.eos_token_id, pad=info.pad_token_id)
        self._multi = None  # generate_candidates' K-sequence context, opened on first use
        try:
            require_runnable(self.backend, self.ctx)
        except InvalidSettingsError:
            self.close()
            raise

    # --- prompts -------------------------------------------------------------------------

    def chat_prompt(self, messages: list[dict[str, object]], tools: list[dict[str, object]] | None = None) -> str:
        """The model's own chat template applied to ``messages`` (and ``tools``, see chat.render_chat)."""
        def text(token: int | None) -> str:
            return self.model.token_text(token) if token is not None else ""

        return render_chat(messages, template=self.info.chat_template, architecture=self.info.architecture,
                           bos_token=text(self.info.bos_token_id), eos_token=text(self.special.eos), tools=tools)

    def tokenize(self, text: str) -> list[int]:
        return self.model.tokenize(text, parse_special=True)

    def check_fits(self, n_prompt: int, settings: SamplerSettings, n_suffix: int = 0) -> None:
        if n_prompt < 1:
            raise InvalidSettingsError("the prompt is empty")
        need = n_prompt + settings.max_tokens + n_suffix
        if need > self.n_ctx:
            raise PromptTooLongError(
                f"prompt of {n_prompt} tokens plus an answer of {settings.max_tokens}"
                + (f" and {n_suffix} suffix tokens" if n_suffix else "") + f" needs {need} positions,"
                f" but the context holds {self.n_ctx}"
                + ("" if self.n_ctx >= self.info.context_length else
                   f" (the model allows up to {self.info.context_length}: raise n_ctx)"))

    # --- generation ----------------------------------------------------------------------

    def _tokens(self, text_or_tokens: str | list[int]) -> list[int]:
        if isinstance(text_or_tokens, str):
            return self.tokenize(text_or_tokens)
        tokens = [int(t) for t in text_or_tokens]
        if any(not 0 <= t < self.model.n_vocab for t in tokens):
            raise InvalidSettingsError(f"token ids must be in [0, {self.model.n_vocab})")
        return tokens

    def generate(self, prompt: str | list[int], settings: SamplerSettings = SamplerSettings(),
                 on_step: StepCallback | None = None, suffix: str | list[int] | None = None) -> Generation:
        """Answer after `prompt`; with `suffix`, fill a slot of `max_tokens` between prompt and suffix."""
        settings.validate()
        tokens = self._tokens(prompt)
        suffix_tokens = self._tokens(suffix) if suffix else []
        self.check_fits(len(tokens), settings, len(suffix_tokens))
        if settings.sub_block_size + 1 > self.ctx.settings.n_outputs_max:
            raise InvalidSettingsError(
                f"sub_block_size {settings.sub_block_size} exceeds the engine's window "
                f"({self.ctx.settings.n_outputs_max - 1}); open the engine with a larger max_window")
        forward = self._forward()
        result = denoise(forward, tokens, settings, self.special, self.model.token_text, self.model.detokenize,
                         on_step, suffix_tokens)
        result.reused_prompt_tokens = getattr(forward, "reused", 0)
        return result

    def generate_candidates(self, prompt: str | list[int], settings: SamplerSettings, k: int,
                            on_step=None):
        """``k`` answers after ``prompt`` denoised together, sharing one prefill (engine/candidates.py).

        Runs on a second context with ``k`` sequences in a unified KV cache, opened on first use and kept
        while later requests fit it (as many sequences or fewer, as many cells or fewer); the single-answer
        context is not touched. Returns a CandidateRun.
        """
        from dgcode.engine.candidates import denoise_candidates

        settings.validate()
        if k < 1:
            raise InvalidSettingsError(f"the number of candidates must be at least 1, not {k}")
        if not self.cached:
            raise InvalidSettingsError("candidates run on the cached path only; this model runs uncached")
        tokens = self._tokens(prompt)
        self.check_fits(len(tokens), settings)
        window = settings.sub_block_size + 1
        if window > self.ctx.settings.n_outputs_max:
            raise InvalidSettingsError(
                f"sub_block_size {settings.sub_block_size} exceeds the engine's window "
                f"({self.ctx.settings.n_outputs_max - 1}); open the engine with a larger max_window")
        cells = len(tokens) + k * (settings.max_tokens + 1)  # the shared prompt, then each answer's own cells
        multi = self._multi
        if (multi is None or multi.n_seq < k or multi.settings.n_ctx < cells
                or multi.settings.n_outputs_max < k * window):
            if multi is not None:
                multi.close()
            from dgcode.engine.multi_sequence import MultiSequenceContext

            n_ctx = -(-max(cells, self.n_ctx) // 256) * 256
            self._multi = None
            multi = MultiSequenceContext(self.model, ContextSettings(
                n_ctx=n_ctx, n_batch=max(self.n_ctx, k * window), n_outputs_max=k * window,
                n_threads=self.n_threads, flash_attn=self.flash_attn, kv_f32=self.options.kv_f32), k)
            self._multi = multi
        return denoise_candidates(multi, tokens, settings, k, self.special, self.model.token_text,
                                  self.model.detokenize, shift_logits=self.shift_logits,
                                  causal_prefill=self.causal_prefill, on_step=on_step)

    def masked_logits(self, prompt: str | list[int], n_masked: int) -> np.ndarray:
        """Logits (n_masked x n_vocab, float32) at each of `n_masked` masked positions after `prompt`,
        from one forward pass: what the first denoising step sees, for callers that rank whole answers."""
        tokens = self._tokens(prompt)
        if not 1 <= n_masked < self.ctx.settings.n_outputs_max:
            raise InvalidSettingsError(
                f"n_masked must be in [1, {self.ctx.settings.n_outputs_max - 1}], not {n_masked}")
        self.check_fits(len(tokens), SamplerSettings(max_tokens=n_masked))
        forward = self._forward()
        seq = np.full(len(tokens) + n_masked, self.special.mask, dtype=np.int64)
        seq[:len(tokens)] = tokens
        forward.prefill(seq[:len(tokens)])
        return np.asarray(forward.logits(seq, len(seq), np.arange(len(tokens), len(seq))), dtype=np.float32)

    def _forward(self):
        return self.backend.make(self)

    def warm_up(self) -> None:
        """One throw-away decode, so first-call set-up costs stay out of timings."""
        self.ctx.decode([0] * min(8, self.n_ctx), 0, [0])
        self.ctx.clear()

    def describe(self) -> dict:
        info = self.info
        library = libllama.loaded() or libllama.choose()
        return {
            "model": str(info.path), "name": info.name, "architecture": info.architecture,
            "relabelled_as": info.relabelled_as, "cached_path": self.cached, "forward_backend": self.backend.name,
            "reuse_prefix": self.reuse_prefix,
            "shift_logits": self.shift_logits,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads, "flash_attn": self.flash_attn,
            "mask_token_id": self.special.mask, "eos_token_id": self.special.eos,
            "context_length": info.context_length, "n_vocab": info.n_vocab, "file_type": info.file_type,
            "libllama": library.describe(), "libllama_fallback": library.fallback,
            "native_diffusion_cache": self.native_cache,
            "cached_copy": None if self.aliased_copy is None else {
                "path": str(self.aliased_copy.path), "size_bytes": self.aliased_copy.size_bytes,
                "created": self.aliased_copy.created, "cloned": self.aliased_copy.cloned},
        }

    def close(self) -> None:
        if self._multi is not None:
            self._multi.close()
        self.ctx.close()
        self.model.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
