"""The engine as the TUI sees it: a small seam (ChatEngine) and its implementation over EngineClient.

Pure Python (no textual), and light to import: the engine's child process
unpickles ``describe_backend`` from here. Tests put a scripted engine that
replays step events behind the same seam (tests/tui_fakes.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from dgcode.engine.engine import EngineOptions
from dgcode.engine.unmasking import SamplerSettings
from dgcode.engine.worker import EngineClient
from dgcode.workflows.fix.engine import RenderChat, StepObserver
from dgcode.workflows.fix.report import Answer

Say = Callable[[str], None]


class ChatEngine(Protocol):
    """What the TUI needs from a model; ``generate`` and ``count_tokens`` block and run in a worker thread."""

    name: str
    """Shown in the context panel (the model file's name)."""

    def start(self, say: Say) -> None:
        """Load the model if it is not loaded (blocking); ``say`` tells progress."""

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: list[dict[str, str]], settings: SamplerSettings,
                 on_step: StepObserver | None = None, say: Say | None = None, *, prefix: str = "",
                 suffix: str = "") -> Answer:
        """Answer the chat; ``on_step`` returning False cancels before the next step; ``say`` tells progress.

        Infill: the prompt is the rendered chat followed by ``prefix`` (answer text kept before the slot),
        and with a ``suffix`` the ``settings.max_tokens`` slot is denoised between them (the answer text
        kept after it). The answer's text is the slot's text only.
        """

    def cancel(self) -> None:
        """Stop the running generation after its current step; safe from any thread."""

    def describe(self) -> dict | None:
        """What the loaded model is (architecture, n_ctx, backend...); None before it has loaded."""

    def summary(self) -> dict:
        """What /model shows: path, architecture, cached_path, loaded; reads the file's header if not loaded.

        Raises EngineError (ModelFileError) when the file is not a usable diffusion GGUF.
        """

    def close(self) -> None: ...


EngineFactory = Callable[[str], "ChatEngine"]
"""Makes the (not yet started) engine for a model path or pulled name; /model switches to what it makes."""


def describe_backend(engine) -> str:
    """Runs in the engine process: where the weights run."""
    from dgcode.engine.llama_native import gpu_offload_supported

    on_gpu = gpu_offload_supported() and engine.options.n_gpu_layers != 0
    return ("GPU" if on_gpu else "CPU") + f", {engine.n_threads} threads"


class CountTokens:
    """Picklable: how many tokens ``text`` is for the engine's tokenizer (runs in the engine process)."""

    def __init__(self, text: str):
        self.text = text

    def __call__(self, engine) -> int:
        return len(engine.tokenize(self.text))


class ModelEngine:
    """ChatEngine over an EngineClient: the model loads on the first message, and again after a crash."""

    def __init__(self, client: EngineClient):
        self.client = client
        self.name = Path(client.model_path).name
        self._described: dict | None = None

    def start(self, say: Say) -> None:
        if self.client.alive:
            return
        self._described = None
        began = time.monotonic()
        say(f"loading {self.name}")

        def on_progress(done: int, total: int) -> None:
            say(f"preparing a cached copy of {self.name}: {done / max(total, 1):.0%}")

        self.client.start(on_progress=on_progress)
        self._described = dict(self.client.description or {})
        self._described["backend"] = self.client.call(describe_backend)
        say(f"{self.name} loaded in {time.monotonic() - began:.1f} s")

    def count_tokens(self, text: str) -> int:
        self.start(lambda _m: None)
        return self.client.call(CountTokens(text))

    def generate(self, messages: list[dict[str, str]], settings: SamplerSettings,
                 on_step: StepObserver | None = None, say: Say | None = None, *, prefix: str = "",
                 suffix: str = "") -> Answer:
        say = say or (lambda _m: None)
        self.start(say)
        prompt = self.client.call(RenderChat(messages)) + prefix
        result = self.client.generate(prompt, settings, on_step, suffix=suffix or None)
        return Answer(result.text, len(result.tokens), result.steps, result.stop_reason, result.prefill_ms,
                      result.wall_s)

    def cancel(self) -> None:
        self.client.cancel()

    def describe(self) -> dict | None:
        return self._described if self.client.alive else None

    def summary(self) -> dict:
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
        self.client.cancel()
        self.client.close()


def engine_for(config: Mapping[str, object]) -> ModelEngine | None:
    """The configured model (context size, threads, mask token) behind the seam; None when none is configured."""
    if not config.get("model"):
        return None
    return engine_at(config["model"], config)


def engine_at(model: str | Path, config: Mapping[str, object], *, resolve: bool = False) -> ModelEngine:
    """A (not yet started) engine for ``model`` with the configured context size, threads and mask token.

    With ``resolve``, a pulled registry name (``dgcode models pull``) is accepted too, and its mask token
    is used unless the configuration sets one.
    """
    mask = config.get("mask_token_id")
    if resolve:
        from dgcode.models.store import resolve_model

        resolved = resolve_model(model)
        model = resolved.path
        mask = mask if mask is not None else resolved.mask_token_id
    options = EngineOptions(n_ctx=config.get("n_ctx"), n_threads=config.get("threads"), mask_token_id=mask)
    return ModelEngine(EngineClient(model, options))


def model_summary_text(facts: Mapping[str, object]) -> str:
    """What /model shows for ``facts`` (ChatEngine.summary()): the file, its architecture, the fast path, load state."""
    path = str(facts.get("path", "?"))
    cached = facts.get("cached_path")
    lines = [f"model: {Path(path).name}", f"path: {path}", f"architecture: {facts.get('architecture', '?')}",
             "fast cached path: " + ("yes (prefix KV cache, several tokens per step)" if cached
                                     else "no (the uncached native path: every step re-reads the prompt)")]
    if facts.get("loaded"):
        where = [str(facts[key]) for key in ("backend",) if facts.get(key)]
        if facts.get("n_ctx"):
            where.append(f"context {facts['n_ctx']} tokens")
        lines.append("loaded: " + (", ".join(where) or "yes"))
    else:
        lines.append("loaded: not yet (it loads with your next message)")
    return "\n".join(lines)
