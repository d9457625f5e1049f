"""The model behind `dgcode fix`: a small seam (FixEngine) and its implementation over EngineClient.

The chat template is rendered and tokens are counted inside the engine's
process (the model's own template and tokenizer live there); the model loads on
first use, so a check command that already passes loads nothing. Tests put a
scripted engine that replays queued answers behind the same seam.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from dgcode.engine.unmasking import SamplerSettings
from dgcode.workflows.fix.report import Answer

StepObserver = Callable[[object], object]


class FixEngine(Protocol):
    """What the pipeline needs from a model."""

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: list[dict[str, str]], settings: SamplerSettings,
                 on_step: StepObserver | None = None) -> Answer: ...

    def close(self) -> None: ...


class RenderChat:
    """Picklable: the model's chat template applied inside the engine process."""

    def __init__(self, messages: list[dict[str, str]]):
        self.messages = messages

    def __call__(self, engine) -> str:
        return engine.chat_prompt(self.messages)


class _CountTokens:
    """Picklable: the number of tokens ``text`` is for the engine's tokenizer."""

    def __init__(self, text: str):
        self.text = text

    def __call__(self, engine) -> int:
        return len(engine.tokenize(self.text))


class ClientEngine:
    """``FixEngine`` over an ``EngineClient``; the model loads on first use, so a passing check loads nothing."""

    def __init__(self, client, say: Callable[[str], None] = lambda _m: None,
                 on_copy_progress: Callable[[int, int], None] | None = None):
        self.client, self.say, self.on_copy_progress = client, say, on_copy_progress
        self._started = False

    def _start(self) -> None:
        if not self._started:
            began = time.monotonic()
            self.say(f"loading model {Path(self.client.model_path).name}")
            self.client.start(on_progress=self.on_copy_progress)
            self.say(f"model loaded in {time.monotonic() - began:.1f} s")
            self._started = True

    def count_tokens(self, text: str) -> int:
        self._start()
        return self.client.call(_CountTokens(text))

    def generate(self, messages: list[dict[str, str]], settings: SamplerSettings,
                 on_step: StepObserver | None = None) -> Answer:
        self._start()
        prompt = self.client.call(RenderChat(messages))
        result = self.client.generate(prompt, settings, on_step)
        return Answer(result.text, len(result.tokens), result.steps, result.stop_reason, result.prefill_ms,
                      result.wall_s)

    def close(self) -> None:
        self.client.cancel()  # a generation interrupted by Ctrl-C stops at its next step
        self.client.close()


def engine_from_config(config: Mapping[str, object], say: Callable[[str], None] = lambda _m: None,
                       on_copy_progress: Callable[[int, int], None] | None = None) -> ClientEngine:
    """A (not yet started) engine for the configured model (a path or a pulled registry name)."""
    from dgcode.engine.engine import EngineOptions
    from dgcode.engine.worker import EngineClient
    from dgcode.models.store import resolve_model

    resolved = resolve_model(config["model"])
    mask = config["mask_token_id"] if config["mask_token_id"] is not None else resolved.mask_token_id
    options = EngineOptions(n_ctx=config["n_ctx"], n_threads=config["threads"], mask_token_id=mask)
    return ClientEngine(EngineClient(resolved.path, options), say, on_copy_progress)


def sampler_settings(config: Mapping[str, object]) -> SamplerSettings:
    """Sampler settings from the configured threshold, answer budget and sub-block size."""
    sub_block = int(config["sub_block"])
    return SamplerSettings(threshold=float(config["threshold"]), max_tokens=int(config["max_tokens"]),
                           sub_block_size=sub_block, canvas_size=sub_block * max(1, 256 // sub_block))


class RepairClientEngine(ClientEngine):
    """syntax.SyntaxRepairer over an EngineClient running a repair model; loads on first use."""

    def __init__(self, client, spec, say: Callable[[str], None] = lambda _m: None):
        super().__init__(client, say)
        self.spec = spec

    def ask(self, source: str, lineno: int, message: str, attempt: int = 0, offset: int = 0):
        from dgcode.repair.repair_model import RANKED_ALTERNATIVES, RepairStep

        self._start()
        return self.client.call(RepairStep(source, lineno, message, self.spec, attempt,
                                           alternatives=RANKED_ALTERNATIVES, offset=offset))


def repairer_for(model_path: Path, config: Mapping[str, object], say: Callable[[str], None] = lambda _m: None):
    """A (not yet started) repair engine when `model_path` is a dgcode repair model, else None."""
    from dgcode.engine.engine import EngineOptions
    from dgcode.engine.worker import EngineClient
    from dgcode.repair.repair_model import NotARepairModel, read_layout

    try:
        spec = read_layout(model_path)
    except NotARepairModel:
        return None
    options = EngineOptions(n_ctx=spec.canvas, n_threads=config["threads"])
    return RepairClientEngine(EngineClient(model_path, options), spec, say)
