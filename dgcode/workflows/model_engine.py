"""The one adapter from an engine process (EngineClient) to what the front ends ask of a model.

``ModelEngine`` loads the model on first use (so a check that already passes
loads nothing) and again after a crash, renders the chat template and counts
tokens inside the engine's process (the model's own template and tokenizer
live there), answers a chat (optionally as infill between a kept prefix and
suffix), and can be cancelled from any thread.  ``dgcode fix``, the hook and
the TUI all use it; tests put scripted engines behind the same methods.

Light to import: the engine's child process unpickles the small callables
defined here (``RenderChat``, ``CountTokens``, ``describe_backend``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy comes with it: `dgcode --version` and `models info` need neither
    from dgcode.engine.settings import SamplerSettings

Say = Callable[[str], None]
StepObserver = Callable[[object], object]
"""Called with each StepEvent; returning False cancels before the next step."""


@dataclass(frozen=True)
class Answer:
    """The model's answer to one prompt and how fast it came."""

    text: str
    tokens: int
    steps: int
    stop_reason: str
    prefill_ms: float
    wall_s: float
    reused_tokens: int = 0
    """Prompt tokens whose cache cells the engine kept from the previous request (not prefilled again)."""

    @property
    def tok_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        return {"tokens": self.tokens, "steps": self.steps, "stop_reason": self.stop_reason,
                "prefill_ms": round(self.prefill_ms, 2), "wall_s": round(self.wall_s, 4),
                "tok_per_s": round(self.tok_per_s, 2)}


def _quiet(_message: str) -> None:
    return None


class RenderChat:
    """Picklable: the model's chat template applied inside the engine process.

    With ``tools`` (OpenAI function specs), the template gets them as ``tools``; one that ignores them is an
    ``InvalidSettingsError`` (see ``dgcode.engine.chat.render_chat``).
    """

    def __init__(self, messages: list[dict[str, object]], tools: list[dict[str, object]] | None = None):
        self.messages, self.tools = messages, tools

    def __call__(self, engine) -> str:
        return engine.chat_prompt(self.messages, self.tools or None)


class CountTokens:
    """Picklable: how many tokens ``text`` is for the engine's tokenizer (runs in the engine process)."""

    def __init__(self, text: str):
        self.text = text

    def __call__(self, engine) -> int:
        return len(engine.tokenize(self.text))


def describe_backend(engine) -> str:
    """Runs in the engine process: where the weights run."""
    from dgcode.engine.llama_native import gpu_offload_supported

    on_gpu = gpu_offload_supported() and engine.options.n_gpu_layers != 0
    return ("GPU" if on_gpu else "CPU") + f", {engine.n_threads} threads"


def kernel_notice(_engine) -> str | None:
    """Runs in the engine process: the line saying the confidence kernel fell back to numpy, once (else None)."""
    from dgcode.engine.confidence_kernel import fallback_notice

    return fallback_notice()


def copy_notice(name: str, copy: dict) -> str:
    """What the one-time cached copy of a dream/llada model costs, and where it lives."""
    size = f"{copy['size_bytes'] / 1e9:.1f} GB" if copy["size_bytes"] >= 1e8 else f"{copy['size_bytes'] / 1e6:.1f} MB"
    cost = ("a copy-on-write clone, sharing the original's disk blocks" if copy.get("cloned")
            else f"a full second copy: it uses {size} of disk (this filesystem has no copy-on-write clones)")
    return (f"made a cached copy of {name} for the fast cached path, {size}, at {copy['path']}: {cost}; "
            "`dgcode models rm` removes a pulled model with its copy")


class ModelEngine:
    """A model behind an ``EngineClient``; ``say`` tells loading progress unless a call passes its own."""

    def __init__(self, client, say: Say = _quiet, on_copy_progress: Callable[[int, int], None] | None = None):
        self.client, self.say, self.on_copy_progress = client, say, on_copy_progress
        self.name = Path(client.model_path).name
        self._described: dict | None = None
        self._start_lock = threading.Lock()
        self._early_error: BaseException | None = None

    def start_soon(self) -> None:
        """Begin loading in the background (the caller still has work before its first request); ``start``
        then waits for it, and a load that failed here fails there, with its own error."""

        def load() -> None:
            try:
                self.start()
            except BaseException as error:  # noqa: BLE001 - kept for the caller's own start()
                self._early_error = error

        spawn = getattr(self.client, "spawn", None)
        if spawn is not None and not self.client.alive:
            try:
                spawn()  # in this thread: the load thread below only waits for the model
            except BaseException as error:  # noqa: BLE001 - kept for the caller's own start()
                self._early_error = error
                return
        threading.Thread(target=load, name="dgcode-engine-load", daemon=True).start()

    def start(self, say: Say | None = None) -> None:
        """Load the model if it is not loaded (blocking; waits for a load ``start_soon`` began)."""
        with self._start_lock:
            if self._early_error is not None:
                error, self._early_error = self._early_error, None
                raise error
            self._start(say)

    def _start(self, say: Say | None) -> None:
        if self.client.ready:
            return
        say = say or self.say
        self._described = None
        began = time.monotonic()
        say(f"loading model {self.name}")

        def on_progress(done: int, total: int) -> None:
            if self.on_copy_progress is not None:
                self.on_copy_progress(done, total)
            else:
                say(f"preparing a cached copy of {self.name}: {done / max(total, 1):.0%}")

        self.client.start(on_progress=on_progress)
        self._described = dict(self.client.description or {})
        self._described["backend"] = self.client.call(describe_backend)
        kernel = self.client.call(kernel_notice)
        if kernel:
            say(kernel)
        if self._described.get("libllama_fallback"):  # a dgcode build of libllama is there but was not used
            say(f"libllama: {self._described['libllama']}")
        copy = self._described.get("cached_copy")
        if copy and copy.get("created"):  # said once: the run that made it
            say(copy_notice(self.name, copy))
        say(f"model loaded in {time.monotonic() - began:.1f} s")

    def count_tokens(self, text: str) -> int:
        self.start()
        return self.client.call(CountTokens(text))

    def render_chat(self, messages: list[dict[str, object]]) -> str:
        """The chat as this model prefills it: its own template, applied in the engine process."""
        self.start()
        return self.client.call(RenderChat(messages))

    def generate(self, messages: list[dict[str, str]], settings: SamplerSettings,
                 on_step: StepObserver | None = None, say: Say | None = None, *, prefix: str = "",
                 suffix: str = "") -> Answer:
        """Answer the chat; with a ``suffix``, the ``settings.max_tokens`` slot is denoised between the
        rendered chat plus ``prefix`` and ``suffix`` (the answer's text is the slot's text only)."""
        self.start(say)
        prompt = self.client.call(RenderChat(messages)) + prefix
        result = self.client.generate(prompt, settings, on_step, suffix=suffix or None)
        return Answer(result.text, len(result.tokens), result.steps, result.stop_reason, result.prefill_ms,
                      result.wall_s, int(getattr(result, "reused_prompt_tokens", 0) or 0))

    def generate_candidates(self, messages: list[dict[str, str]], settings: SamplerSettings, k: int,
                            on_step: StepObserver | None = None, say: Say | None = None) -> tuple[list[Answer], dict]:
        """``k`` answers to the chat denoised together over one shared prefill (engine/candidates.py), and the
        run's counters: ``prompt_tokens``, ``prefill_tokens`` (decoded once for all k), ``decode_calls``,
        ``batch_steps``, ``wall_s``. Step events carry ``candidate``."""
        self.start(say)
        prompt = self.client.call(RenderChat(messages))
        run = self.client.generate_candidates(prompt, settings, k, on_step)
        answers = [Answer(g.text, len(g.tokens), g.steps, g.stop_reason, g.prefill_ms, g.wall_s)
                   for g in run.generations]
        return answers, {"prompt_tokens": run.prompt_tokens, "prefill_tokens": run.prefill_tokens,
                         "decode_calls": run.decode_calls, "batch_steps": run.batch_steps,
                         "wall_s": run.wall_s}

    def context_size(self) -> int:
        """The loaded context's size in tokens (loading the model first): what the range pipeline sizes its slot by."""
        self.start()
        return int((self.describe() or {})["n_ctx"])

    def cancel(self) -> None:
        """Stop the running generation after its current step; safe from any thread."""
        self.client.cancel()

    def describe(self) -> dict | None:
        """What the loaded model is (architecture, n_ctx, backend ...); None before it has loaded."""
        return self._described if self.client.ready else None

    def summary(self) -> dict:
        """Path, architecture, cached path, load state; reads the file's header if not loaded (ModelFileError)."""
        described = self.describe()
        if described:
            return {"path": described.get("model", self.client.model_path), "loaded": True, **described}
        from dgcode.engine.model_file import read_model_info, require_diffusion

        info = read_model_info(self.client.model_path)
        require_diffusion(info, mask_token_id=self.client.options.mask_token_id)
        return {"path": str(info.path), "loaded": False, "architecture": info.architecture,
                "cached_path": self.client.options.cached and info.cached_architecture is not None,
                "context_length": info.context_length, "file_type": info.file_type}

    def close(self) -> None:
        self.client.cancel()  # a generation interrupted by Ctrl-C stops at its next step
        self.client.close()
