"""The model behind `dgcode edit`: what the range pipeline needs from an engine, and the real one.

Besides answering (``generate`` with a prefix and a suffix: the infill slot
inside the assistant's answer) the pipeline has to size the slot, so it
needs the context size and the prompt's exact token count: the chat as the
model's own template renders it (``render_chat``), counted by the model's
own tokenizer (``count_tokens``). The shared ``ModelEngine``
(workflows/model_engine.py) has all of them, and so the TUI's engine does
too; tests may put any object with the same methods behind the seam.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from dgcode.engine.settings import SamplerSettings
from dgcode.workflows.model_engine import Answer, ModelEngine, Say, StepObserver


class RangeEngine(Protocol):
    """What the range pipeline needs from a model."""

    def count_tokens(self, text: str) -> int: ...

    def render_chat(self, messages: list[dict[str, str]]) -> str: ...

    def context_size(self) -> int: ...

    def generate(self, messages: list[dict[str, str]], settings: SamplerSettings,
                 on_step: StepObserver | None = None, say: Say | None = None, *, prefix: str = "",
                 suffix: str = "") -> Answer: ...

    def close(self) -> None: ...


def engine_from_config(config: Mapping[str, object], say: Callable[[str], None] = lambda _m: None,
                       on_copy_progress: Callable[[int, int], None] | None = None) -> ModelEngine:
    """A (not yet started) engine for the configured model, chosen by the one model API (workflows/model.py)."""
    from dgcode.engine.worker import EngineClient
    from dgcode.workflows.model import choose_model, engine_options

    choice = choose_model(config, embedded=False)
    return ModelEngine(EngineClient(choice.path, engine_options(config, choice)), say, on_copy_progress)
