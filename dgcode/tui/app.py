"""The dgcode Textual app: one main screen over a session, an engine seam and sampler settings.

``run_tui(root, config)`` is what the ``dgcode`` command calls. Tests build
``DgcodeApp`` directly with a scripted engine (and, for /model, a factory of
scripted engines) and run it with ``run_test()``. The app starts in the dark
theme; /theme or f3 switches to the light one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from textual.app import App

from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.engine import (
    ChatEngine,
    EngineFactory,
    embedded_repair_model,
    engine_at,
    engine_for,
    ensure_process_support,
)
from dgcode.tui.screens.main import MainScreen
from dgcode.workflows.chat.commands import THEMES
from dgcode.workflows.chat.session import Session
from dgcode.workflows.model import ModelChoice, choose_model, sampler_settings

DEFAULT_RUN_TIMEOUT_S = 300.0


class DgcodeApp(App[int]):
    """Pair programming with a local diffusion model."""

    TITLE = "dgcode"

    def __init__(self, root: Path, config: Mapping[str, object] | None = None, *,
                 engine: ChatEngine | None = None, settings: SamplerSettings | None = None,
                 engine_factory: EngineFactory | None = None):
        super().__init__()
        ensure_process_support()  # while sys.stderr is still real: engine children are made under Textual later
        untrusted = getattr(config, "untrusted", None)
        if settings is None:  # from the settings as loaded: they know which values the user set
            settings = sampler_settings(config, _choice(config)) if config else SamplerSettings()
        config = dict(config or {})
        self.theme = THEMES["dark"]
        self.session = Session(root)
        self.settings = settings
        self.n_ctx = config.get("n_ctx")
        self.run_timeout_s = float(config.get("fix.timeout_s") or DEFAULT_RUN_TIMEOUT_S)
        factory = engine_factory or (lambda model: engine_at(model, config))

        if engine is None:
            engine = engine_for(config)
        self.main = MainScreen(self.session, engine, self.settings,
                               n_ctx=self.n_ctx, run_timeout_s=self.run_timeout_s, engine_factory=factory,
                               check_command=config.get("fix.cmd"), untrusted=untrusted,
                               repair_model=embedded_repair_model(config) if engine is None else None,
                               threads=config.get("threads"))
        """The conversation screen (pushed at start; review screens go on top of it)."""

    @property
    def engine(self) -> ChatEngine | None:
        """The model answering now (/model may switch it)."""
        return self.main.engine

    def on_mount(self) -> None:
        self.push_screen(self.main)  # pushed, not the default screen, so its .tcss is loaded

    def on_unmount(self) -> None:
        self.main.stop_user_run()  # a /run still running ends with the app
        if self.engine is not None:
            self.engine.close()


def _choice(config: Mapping[str, object]) -> ModelChoice | None:
    """The configured model (for its registry's sampler defaults), or None where none can be used yet."""
    from dgcode.engine.errors import ModelFileError

    try:
        return choose_model(config, embedded=False)
    except ModelFileError:
        return None


def run_tui(root: Path, config) -> int:
    """Run the app full-screen; the exit code (0 unless the app set one)."""
    app = DgcodeApp(Path(root), config)
    app.run()
    return app.return_code or 0
