"""/model on the main screen: show the model, or switch to another GGUF without leaving the app.

A mixin of MainScreen. ``/model`` shows the current model's path,
architecture, whether the fast cached path applies and whether it is
loaded (read from the file's header in a worker when it is not loaded yet).
``/model PATH.gguf`` (or a pulled model's name) switches in a thread worker:
the new file's header is checked first, so a bad file changes nothing; then
the old engine's child process is closed and the new model loads. If it
fails to load, the old engine is kept (it loads again with the next
message). Either way the error is shown in the transcript and the app stays
usable; messages wait while a model loads.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.message import Message

from dgcode.engine.errors import EngineError
from dgcode.tui.engine import ChatEngine, model_summary_text
from dgcode.workflows.chat.repair_turn import CAN_DO
from dgcode.workflows.chat.session import CHARS_PER_TOKEN

CLI_PULL = re.compile(r"run `dgcode models pull (\S+?)(?: --quant (\S+?))?`")


def tui_pull_hint(text: str) -> str:
    """An error that says to run `dgcode models pull NAME [--quant Q]`, saying /pull NAME[:Q] instead."""
    return CLI_PULL.sub(lambda m: f"/pull {m[1]}{':' + m[2] if m[2] else ''} downloads it here", text)


class ModelMixin:
    """Runs /model; mixed into MainScreen."""

    @dataclass
    class ModelDescribed(Message):
        """What /model shows (or why it could not read the model)."""

        text: str
        kind: str = "info"

    @dataclass
    class ModelLoading(Message):
        """Progress while a new model loads."""

        text: str

    @dataclass
    class ModelSwitched(Message):
        """The new model loaded; ``old`` was closed."""

        engine: ChatEngine
        old: ChatEngine | None
        facts: dict
        seconds: float

    @dataclass
    class ModelSwitchFailed(Message):
        """The switch failed: ``error`` says why; the old engine (if any) stays."""

        error: str

    def command_model(self, arg: str) -> None:
        if not arg:
            if self.embedded_active:
                self.transcript.add_note(f"model: dgcode's embedded model ({self.repair_model}); it {CAN_DO}. "
                                         "/model PATH.gguf loads one for anything else (a full model: "
                                         "/models lists them, /pull NAME downloads one, then /model NAME)",
                                         "warning")
            elif self.engine is None:
                self.transcript.add_note("no model is loaded: /model PATH.gguf loads one (/models lists the "
                                         "models /pull NAME downloads)", "warning")
            else:
                self.describe_model(self.engine)
            return
        if self.engine_factory is None:
            self.transcript.add_note("this session cannot switch models", "error")
            return
        if self.answering or self.switching:
            self.transcript.add_note("the model is busy: wait, or esc to cancel, then /model", "warning")
            return
        self.switching = True
        self.prompt.busy = True
        self.transcript.add_note(f"switching to {arg} …")
        self.switch_model(self.model_location(arg))

    def model_location(self, arg: str) -> str:
        """``arg`` as typed, or as a path under the session's folder when it names a file there."""
        path = Path(arg).expanduser()
        if not path.is_absolute() and (self.session.root / path).exists():
            return str(self.session.root / path)
        return str(path) if path.exists() else arg

    @work(thread=True, group="model", exit_on_error=False)
    def describe_model(self, engine: ChatEngine) -> None:
        try:
            self.post_message(self.ModelDescribed(model_summary_text(engine.summary())))
        except EngineError as error:
            self.post_message(self.ModelDescribed(f"/model: {error}", "error"))
        except Exception as error:  # noqa: BLE001 - reported, never lost in the worker
            self.post_message(self.ModelDescribed(f"/model: {type(error).__name__}: {error}", "error"))

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def switch_model(self, location: str) -> None:
        """Check the new file, close the old engine, load the new one; ends with ModelSwitched or ModelSwitchFailed."""
        old = self.engine
        try:
            new = self.engine_factory(location)
            new.summary()  # a file that is not a usable diffusion GGUF fails here, before the old model goes
        except Exception as error:  # noqa: BLE001 - any failure leaves the old model in place
            detail = str(error) if isinstance(error, EngineError) else f"{type(error).__name__}: {error}"
            self.post_message(self.ModelSwitchFailed(f"cannot use {location}: {tui_pull_hint(detail)}"))
            return
        if old is not None:
            old.close()
        began = time.monotonic()
        try:
            new.start(lambda text: self.post_message(self.ModelLoading(text)))
            facts = new.summary()
        except Exception as error:  # noqa: BLE001 - a crash while loading must not take the app down
            new.close()
            detail = str(error) if isinstance(error, EngineError) else f"{type(error).__name__}: {error}"
            kept = f"; still using {old.name} (it loads again with your next message)" if old else ""
            self.post_message(self.ModelSwitchFailed(f"{new.name} failed to load: {detail}{kept}"))
            return
        self.post_message(self.ModelSwitched(new, old, facts, time.monotonic() - began))

    def on_model_mixin_model_described(self, message: ModelDescribed) -> None:
        self.transcript.add_note(message.text, message.kind)

    def on_model_mixin_model_loading(self, message: ModelLoading) -> None:
        if self.switching:
            self.prompt.input.border_subtitle = message.text

    def _switch_done(self) -> None:
        self.switching = False
        self.prompt.busy = False
        self.refresh_panel()

    def on_model_mixin_model_switched(self, message: ModelSwitched) -> None:
        self.engine = message.engine
        self.close_repairer()  # a full model answers from now on
        self.panel.model = message.engine.name
        self.panel.backend = ""
        self._counted = None
        self._chars_per_token = CHARS_PER_TOKEN  # the new model's tokenizer measures it again
        self._switch_done()
        self.transcript.add_note(f"switched to {message.engine.name} (loaded in {message.seconds:.1f} s)\n"
                                 + model_summary_text(message.facts), "ok")

    def on_model_mixin_model_switch_failed(self, message: ModelSwitchFailed) -> None:
        self._switch_done()
        self.transcript.add_note(message.error, "error")
