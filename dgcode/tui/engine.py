"""The engine as the TUI sees it: a small seam (ChatEngine), implemented by the shared ModelEngine.

Pure Python (no textual). ``engine_for`` and ``engine_at`` open models through
the one model API (workflows/model.py), at start-up and for ``/model``.
Tests put a scripted engine that replays step events behind the same seam
(tests/tui_fakes.py).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from dgcode.engine.errors import ModelFileError
from dgcode.engine.settings import EngineOptions, SamplerSettings
from dgcode.engine.worker import EngineClient
from dgcode.workflows.fix.report import Answer
from dgcode.workflows.model_engine import ModelEngine, StepObserver

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


_TRACKER_LOCK = threading.Lock()


def ensure_process_support() -> None:
    """Start multiprocessing's resource tracker with a real stderr, before any engine child is made.

    The engine child is a spawned process, and making one (or its cancel Event) first starts the resource
    tracker, which passes ``sys.stderr.fileno()`` to its own child. Inside a running Textual app sys.stderr
    is Textual's print capture, whose fileno() is -1, so a first engine made there (``/model PATH`` in an app
    that started with no model) failed with "ValueError: bad value(s) in fds_to_keep". The app calls this
    before it runs; engine_at calls it again (a no-op while the tracker lives), and then lends the tracker
    the process's real stderr for the moment it starts.
    """
    from multiprocessing import resource_tracker

    with _TRACKER_LOCK:
        captured = sys.stderr
        try:
            usable = captured is not None and captured.fileno() >= 0
        except (AttributeError, OSError, ValueError):
            usable = False
        if not usable and sys.__stderr__ is not None:
            sys.stderr = sys.__stderr__
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = captured


EngineFactory = Callable[[str], "ChatEngine"]
"""Makes the (not yet started) engine for a model path or pulled name; /model switches to what it makes."""


def engine_for(config: Mapping[str, object]) -> ChatEngine | None:
    """The configured model behind the seam, chosen by the one model API; None when none is configured.

    With an ``endpoint`` configured, the remote engine (workflows/remote_engine.py) answers instead.

    A configured model that cannot be used (a name not pulled, no such file) still gives an engine for the
    setting as written, so the app starts and the first message reports why it cannot load.
    """
    from dgcode.workflows.model import NoModelConfigured, remote_endpoint

    endpoint = remote_endpoint(config)
    if endpoint is not None:
        from dgcode.workflows.remote_engine import RemoteEngine

        return RemoteEngine(endpoint)
    try:
        return engine_at(config["model"], config) if config.get("model") else None
    except NoModelConfigured:
        return None
    except ModelFileError:
        ensure_process_support()
        return ModelEngine(EngineClient(Path(config["model"]).expanduser(), _options(config, None)))


def embedded_repair_model(config: Mapping[str, object]) -> Path | None:
    """dgcode's embedded repair model, by the one model API, when no model is configured (else None)."""
    from dgcode.workflows.model import NoModelConfigured, choose_model

    try:
        choice = choose_model(config, embedded=True)
    except (NoModelConfigured, ModelFileError):
        return None
    return choice.path if choice.embedded else None


def engine_at(model: str | Path, config: Mapping[str, object]) -> ChatEngine:
    """A (not yet started) engine for ``model`` (a path or a pulled registry name) with the configured context
    size and threads, and the configured mask token, else the registry's. ModelFileError when it cannot be used.
    """
    from dgcode.workflows.model import choose_model, warm_engine

    settings = dict(config)
    settings["model"] = model
    choice = choose_model(settings, embedded=False)
    warm = warm_engine(config, choice)  # this user's running `dgcode serve` of the same file
    if warm is not None:
        return warm
    ensure_process_support()
    return ModelEngine(EngineClient(choice.path, _options(config, choice)))


def _options(config: Mapping[str, object], choice) -> EngineOptions:
    mask = config.get("mask_token_id")
    if mask is None and choice is not None:
        mask = choice.mask_token_id
    return EngineOptions(n_ctx=config.get("n_ctx"), n_threads=config.get("threads"), mask_token_id=mask)


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
