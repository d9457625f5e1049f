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
from dgcode.fix_engine import RenderChat, StepObserver
from dgcode.fix_report import Answer

Say = Callable[[str], None]


class ChatEngine(Protocol):
    """What the TUI needs from a model; ``generate`` and ``count_tokens`` block and run in a worker thread."""

    name: str
    """Shown in the context panel (the model file's name)."""

    def start(self, say: Say) -> None:
        """Load the model if it is not loaded (blocking); ``say`` tells progress."""

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: list[dict[str, str]], settings: SamplerSettings,
                 on_step: StepObserver | None = None, say: Say | None = None) -> Answer:
        """Answer the chat; ``on_step`` returning False cancels before the next step; ``say`` tells progress."""

    def cancel(self) -> None:
        """Stop the running generation after its current step; safe from any thread."""

    def describe(self) -> dict | None:
        """What the loaded model is (architecture, n_ctx, backend...); None before it has loaded."""

    def close(self) -> None: ...


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
                 on_step: StepObserver | None = None, say: Say | None = None) -> Answer:
        say = say or (lambda _m: None)
        self.start(say)
        prompt = self.client.call(RenderChat(messages))
        result = self.client.generate(prompt, settings, on_step)
        return Answer(result.text, len(result.tokens), result.steps, result.stop_reason, result.prefill_ms,
                      result.wall_s)

    def cancel(self) -> None:
        self.client.cancel()

    def describe(self) -> dict | None:
        return self._described if self.client.alive else None

    def close(self) -> None:
        self.client.cancel()
        self.client.close()


def engine_for(config: Mapping[str, object]) -> ModelEngine | None:
    """The configured model (context size, threads, mask token) behind the seam; None when none is configured."""
    if not config.get("model"):
        return None
    options = EngineOptions(n_ctx=config.get("n_ctx"), n_threads=config.get("threads"),
                            mask_token_id=config.get("mask_token_id"))
    return ModelEngine(EngineClient(config["model"], options))
