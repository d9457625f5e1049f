"""The dgcode Textual app: one main screen over a session, an engine seam and sampler settings.

``run_tui(root, config)`` is what the ``dgcode`` command calls. Tests build
``DgcodeApp`` directly with a scripted engine (and, for /model, a factory of
scripted engines) and run it with ``run_test()``. The app starts in the dark
theme; /theme or f3 switches to the light one. Sessions are saved in dgcode's
data folder (``resume``: show the latest again); ``paths`` go in the context at
start. Ctrl+C cancels what runs and warns; a second press within
QUIT_PRESS_S quits. The command palette (ctrl+p) lists the slash commands too.
With the setting ``mouse`` false (``dgcode --no-mouse``) the app runs without
capturing the mouse, so the terminal's own selection works.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from dgcode.engine.settings import SamplerSettings
from dgcode.tui.engine import (
    ChatEngine,
    EngineFactory,
    embedded_repair_model,
    engine_at,
    engine_for,
    ensure_process_support,
)
from dgcode.tui.screens.main import MainScreen
from dgcode.workflows.chat.commands import COMMANDS, THEMES, CommandSpec
from dgcode.workflows.chat.session import Session
from dgcode.workflows.chat.session_store import SessionStore
from dgcode.workflows.model import ModelChoice, choose_model, sampler_settings

DEFAULT_RUN_TIMEOUT_S = 300.0
QUIT_PRESS_S = 2.0
"""A second ctrl+c within this many seconds quits."""
AGAIN_TO_QUIT = "press Ctrl+C again to quit"


class DgcodeApp(App[int]):
    """Pair programming with a local diffusion model."""

    TITLE = "dgcode"
    BINDINGS = [Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True)]

    def __init__(self, root: Path, config: Mapping[str, object] | None = None, *,
                 engine: ChatEngine | None = None, settings: SamplerSettings | None = None,
                 engine_factory: EngineFactory | None = None, paths: Sequence[str] = (), resume: bool = False,
                 save_sessions: bool = True):
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
        self.use_mouse = config.get("mouse", True) is not False
        """Whether the app captures the mouse (setting `mouse`, `--no-mouse`: off, the terminal selects)."""
        factory = engine_factory or (lambda model: engine_at(model, config))

        if engine is None:
            engine = engine_for(config)
        self.main = MainScreen(self.session, engine, self.settings,
                               n_ctx=self.n_ctx, run_timeout_s=self.run_timeout_s, engine_factory=factory,
                               check_command=config.get("fix.cmd"), untrusted=untrusted,
                               repair_model=embedded_repair_model(config) if engine is None else None,
                               threads=config.get("threads"))
        """The conversation screen (pushed at start; review screens go on top of it)."""
        if save_sessions:
            self.main.store = SessionStore(self.session.repo or self.session.root)
        self.main.resume = resume
        self.main.initial_paths = tuple(paths)
        self._interrupted_at: float | None = None

    @property
    def engine(self) -> ChatEngine | None:
        """The model answering now (/model may switch it)."""
        return self.main.engine

    def on_mount(self) -> None:
        self.push_screen(self.main)  # pushed, not the default screen, so its .tcss is loaded

    def action_interrupt(self) -> None:
        """Ctrl+C: cancel what runs (as escape does) and warn; a second press soon after quits."""
        now = time.monotonic()
        if self._interrupted_at is not None and now - self._interrupted_at <= QUIT_PRESS_S:
            self.exit()
            return
        self._interrupted_at = now
        if self.main.is_mounted:
            self.main.action_cancel()
        self.notify(AGAIN_TO_QUIT, timeout=QUIT_PRESS_S)

    def exit(self, result: int | None = None, return_code: int = 0, message=None) -> None:
        if self.main.is_mounted:
            try:
                self.main.save_session()  # however the app is left: /quit, ctrl+c twice, ctrl+q
            except Exception:  # noqa: BLE001 - saving must never stop the person leaving
                pass
        super().exit(result, return_code, message)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette's list: dgcode's slash commands (on the main screen), then Textual's own."""
        if screen is self.main:
            for spec in COMMANDS:
                yield SystemCommand(spec.usage, spec.help, lambda spec=spec: self._palette_command(spec))
        yield from super().get_system_commands(screen)

    def _palette_command(self, spec: CommandSpec) -> None:
        """A slash command picked in the palette: run as if typed; one that needs an argument waits for it."""
        if spec.args and not spec.args.startswith("["):
            self.main.prompt.set_text(f"/{spec.name} ")
            self.main.prompt.focus_input()
        else:
            self.main.run_command(f"/{spec.name}")

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


def run_tui(root: Path, config, *, paths: Sequence[str] = (), resume: bool = False) -> int:
    """Run the app full-screen; the exit code (0 unless the app set one)."""
    app = DgcodeApp(Path(root), config, paths=paths, resume=resume)
    if getattr(app, "use_mouse", True):
        app.run()
    else:  # the terminal's own selection (and copying) works
        app.run(mouse=False)
    return app.return_code or 0
