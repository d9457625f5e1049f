"""The main screen: transcript, live canvas, prompt and context panel, and the messages of the turn loop.

A message starts one turn (screens/turn.py: ``generate`` in one exclusive
thread worker, the step callback and the handlers that draw each step and
end the turn). Escape sets a flag the step callback returns, and asks the
engine to cancel, so the answer stops before its next step. A crash is shown
in the transcript; the next message starts a fresh engine. An answer with
edits opens the review screen (screens/edits.py); only the files accepted
there are applied. Slash commands live in screens/commands.py, /model in
screens/model.py, /edit in screens/range_edit.py, /candidates in screens/candidates.py, /models and /pull in screens/pull.py, saved sessions (/clear, /history, --continue)
in screens/sessions.py; ``@`` in the prompt offers repository files
(dgcode.workflows.chat.mentions), and a file mentioned as ``@PATH`` goes in the context.
The status line's measurements are in screens/status.py, /copy in screens/copying.py,
and ctrl+r (failed edits back to the model) in screens/resend.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer

from dgcode.config import UntrustedSettings
from dgcode.engine.sampler import StepEvent
from dgcode.engine.settings import SamplerSettings
from dgcode.tui.engine import ChatEngine, EngineFactory
from dgcode.tui.screens.candidates import CandidatesMixin
from dgcode.tui.screens.commands import CommandsMixin
from dgcode.tui.screens.copying import CopyMixin
from dgcode.tui.screens.edits import EditsMixin
from dgcode.tui.screens.model import ModelMixin
from dgcode.tui.screens.pull import PullMixin
from dgcode.tui.screens.range_edit import RangeEditMixin
from dgcode.tui.screens.remask import LastAnswer, RemaskMixin
from dgcode.tui.screens.repair import RepairMixin
from dgcode.tui.screens.resend import RESEND_KEY, ResendMixin
from dgcode.tui.screens.sessions import SessionsMixin
from dgcode.tui.screens.status import StatusMixin
from dgcode.tui.screens.turn import TurnMixin
from dgcode.tui.widgets.candidate_canvases import CandidateCanvases
from dgcode.tui.widgets.canvas import DiffusionCanvas
from dgcode.tui.widgets.context_panel import ContextPanel
from dgcode.tui.widgets.prompt import PromptBar
from dgcode.tui.widgets.status import StatusLine
from dgcode.tui.widgets.transcript import Transcript
from dgcode.workflows.chat.commands import complete, theme_label
from dgcode.workflows.chat.mentions import RepoFiles, complete_mention, mentioned_paths
from dgcode.workflows.chat.remask import TokenRecorder
from dgcode.workflows.chat.repair_turn import USING_EMBEDDED
from dgcode.workflows.chat.session import CHARS_PER_TOKEN, PreparedTurn, Session
from dgcode.workflows.fix.report import Answer

NARROW_WIDTH = 72
"""Below this many columns the context panel hides itself (f2 shows it)."""
NO_MODEL = ("no model is configured: set `model` in .dgcode.toml or ~/.config/dgcode/config.toml, or "
            "DGCODE_MODEL=PATH.gguf. Commands (/add, /diff, /run ...) work without one.")


class MainScreen(TurnMixin, CommandsMixin, SessionsMixin, RemaskMixin, RangeEditMixin, CandidatesMixin, ModelMixin, PullMixin,
                 RepairMixin, EditsMixin, StatusMixin, CopyMixin, ResendMixin, Screen):
    """The conversation."""

    CSS_PATH = "main.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("f1", "help", "Help"),
        Binding("f2", "toggle_panel", "Panel"),
        Binding("f3", "toggle_theme", "Theme"),
        Binding("f4", "remask", "Re-mask"),
        Binding("ctrl+l", "clear", "Clear"),
        Binding(RESEND_KEY, "resend_failed", "Resend failed edits", show=False),
        Binding("ctrl+q", "app.quit", "Quit"),
    ]

    @dataclass
    class StepReceived(Message):
        """A denoising step finished (the newest may be newer than ``event``)."""

        event: StepEvent

    @dataclass
    class BlockFinished(Message):
        """Every token of block ``index`` is final; ``text`` is its text."""

        index: int
        text: str

    @dataclass
    class AnswerFinished(Message):
        """The engine returned an answer (possibly cancelled)."""

        answer: Answer
        turn: PreparedTurn

    @dataclass
    class EngineFailed(Message):
        """The engine raised (or its process died: ``crashed``)."""

        error: str
        crashed: bool = False

    @dataclass
    class TurnCancelled(Message):
        """Escape was pressed before the model started answering (while it loaded, or the prompt was built)."""

    @dataclass
    class PromptFailed(Message):
        """The prompt could not be built (a file in the context is gone, ...)."""

        error: str

    @dataclass
    class PromptCounted(Message):
        """The prompt was built and counted by the model's tokenizer: ``tokens`` for ``chars`` characters."""

        tokens: int
        chars: int

    @dataclass
    class StatusChanged(Message):
        """The engine reported progress before its first step (loading, prefilling)."""

        text: str

    answering: reactive[bool] = reactive(False)
    """True from sending a message until its answer (or failure) is in."""

    def __init__(self, session: Session, engine: ChatEngine | None, settings: SamplerSettings,
                 *, n_ctx: int | None = None, run_timeout_s: float = 300.0,
                 engine_factory: EngineFactory | None = None, check_command: str | None = None,
                 untrusted: UntrustedSettings | None = None, repair_model=None, threads: int | None = None):
        super().__init__()
        self.session = session
        self.repair_model = repair_model if engine is None else None
        self.threads = threads
        self.check_command = check_command
        """The configured check command (fix.cmd) that a bare /run runs (None: none, or not trusted)."""
        self.untrusted = untrusted
        """Settings of the repository's config left out until the person trusts it (/trust)."""
        self.engine = engine
        self.engine_factory = engine_factory
        """Makes the engine /model switches to (None: /model only shows the model)."""
        self.repo_files = RepoFiles(session.repo)
        self.last_answer: LastAnswer | None = None
        """The newest complete answer, its turn and its tokens' confidences (what /remask works on)."""
        self._recorder = TokenRecorder()
        self._remasking = False
        self.switching = False
        """True while /model loads another model (messages wait)."""
        self.settings = settings
        self.n_ctx = n_ctx
        self.run_timeout_s = run_timeout_s
        self._cancel_requested = False
        self._step_pending = False
        self._latest: StepEvent | None = None
        self._last_step: StepEvent | None = None
        self._answer_view = None
        self._counted: int | None = None
        self._chars_per_token = CHARS_PER_TOKEN
        self.turns = 0
        """Turns started (tests wait on it)."""

    # --- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="chat"):
                yield Transcript(id="transcript")
                yield DiffusionCanvas(id="canvas")
                yield CandidateCanvases(id="candidates")
                yield StatusLine(id="status")
                yield PromptBar(self._complete, id="prompt")
            yield ContextPanel(id="context")
        yield Footer()

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def canvas(self) -> DiffusionCanvas:
        return self.query_one(DiffusionCanvas)

    @property
    def prompt(self) -> PromptBar:
        return self.query_one(PromptBar)

    @property
    def panel(self) -> ContextPanel:
        return self.query_one(ContextPanel)

    def on_mount(self) -> None:
        if self.untrusted is not None:
            self.transcript.add_note(self.untrusted.describe().replace("run `dgcode trust`", "type /trust"),
                                     "warning")
        panel = self.panel
        panel.model = self.engine.name if self.engine else "no model configured"
        if self.embedded_active:
            self.embedded_panel()
        panel.theme = theme_label(self.app.theme)
        self.app.theme_changed_signal.subscribe(self, lambda theme: setattr(self.panel, "theme",
                                                                            theme_label(theme.name)))
        panel.repo = (self.session.repo or self.session.root).name
        panel.answer_budget = self.settings.max_tokens
        self.refresh_panel()
        where = self.session.repo.name if self.session.repo else f"{self.session.root.name} (not a git repository)"
        self.transcript.add_note(f"dgcode in {where}: /add files, then ask for a change. /help lists commands.")
        if self.embedded_active:
            self.transcript.add_note(USING_EMBEDDED, "warning")
        elif self.engine is None:
            self.transcript.add_note(NO_MODEL, "warning")
        self.start_session()
        self.prompt.focus_input()

    def on_unmount(self) -> None:
        self.stop_user_run()  # quitting must not wait on (or leave behind) the person's command
        self.cancel_pull()  # a pull stops at its next progress report, leaving nothing under the model's name
        self.close_repairer()

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW_WIDTH, "-narrow")

    def _complete(self, text: str, cursor: int):
        if text.startswith("/"):
            return complete(text, self.session.root, self.session.labels)
        return complete_mention(text, cursor, self.repo_files.files)

    def on_prompt_bar_mention_taken(self, message: PromptBar.MentionTaken) -> None:
        if message.path not in self.session.labels:
            self.command_add(message.path)
            self.refresh_panel()

    def refresh_panel(self) -> None:
        """Show the session's files and the prompt size: as counted for the running turn, else an estimate."""
        panel = self.panel
        panel.files = tuple(self.session.labels)
        panel.attachments = tuple(a.label for a in self.session.attachments)
        counted = self._counted if self.answering else None
        panel.exact = counted is not None
        panel.prompt_tokens = (counted if counted is not None
                               else self.session.estimate_tokens(self._chars_per_token))
        described = self.engine.describe() if self.engine else None
        if described:
            panel.context_size = described.get("n_ctx")
            panel.backend = " · ".join(str(x) for x in (described.get("architecture"), described.get("backend"))
                                       if x)
        else:
            panel.context_size = self.n_ctx

    # --- a turn -----------------------------------------------------------------------------------

    def on_prompt_bar_submitted(self, message: PromptBar.Submitted) -> None:
        if message.text.lstrip().startswith("/") and not message.text.lstrip().startswith("//"):
            self.run_command(message.text)
        else:
            self.send(message.text)

    def send(self, text: str) -> None:
        """Start a turn for ``text`` (unless one is running or there is no model)."""
        if self.answering or self.switching:
            self.notify("still answering: esc cancels" if self.answering else "switching models: wait",
                        severity="warning")
            self.prompt.set_text(text)
            return
        self.transcript.add_user(text)
        for path in mentioned_paths(text, self.repo_files.files()):
            if path not in self.session.labels:
                self.command_add(path)
        self.refresh_panel()
        if self.embedded_active:
            self.send_to_repair(text)
            return
        if self.engine is None:
            self.transcript.add_note(NO_MODEL, "error")
            return
        self.turns += 1
        self.last_answer = None
        self.forget_failed_edits()
        self.status_begin()
        self._begin_generation()
        self.generate(text)

    def watch_answering(self, answering: bool) -> None:
        self.prompt.busy = answering

    # --- keys -------------------------------------------------------------------------------------

    def action_cancel(self) -> None:
        """Stop the answer and the /run command; with neither running, the pull (screens/pull.py)."""
        stopped = self.stop_user_run()
        if stopped:
            self.transcript.add_note("stopping the /run command …", "warning")
        if not (stopped or self.answering) and self.cancel_pull():
            self.transcript.add_note(f"cancelling the pull of {self.pulling.label} …", "warning")
        if self.answering and not self._cancel_requested:
            self._cancel_requested = True
            if self.engine is not None:
                self.engine.cancel()
            self.canvas.phase = "cancelling…"
            self.canvas.border_subtitle = "cancelling…"

    def action_toggle_panel(self) -> None:
        self.toggle_class("-panel-toggled")

    def action_toggle_theme(self) -> None:
        self.run_command("/theme")

    def action_remask(self) -> None:
        self.run_command("/remask")

    def action_help(self) -> None:
        self.run_command("/help")

    def action_clear(self) -> None:
        self.run_command("/clear")
