"""/edit on the main screen: one range of a file rewritten in place, crystallizing in a file view.

A mixin of MainScreen. ``/edit PATH:START-END INSTRUCTION`` (or ``PATH:LINE``,
``PATH::name``), or ``/edit INSTRUCTION`` when the context holds exactly one
line range: the selection ``/add PATH:RANGE`` put there. The target is
resolved and read on the UI thread (workflows/edit/range_target.py): a bad
one is an error note and nothing starts. The rewrite is the range pipeline of
`dgcode edit` (workflows/edit/pipeline.py) in a dry run, in the engine worker;
its steps are drawn on the canvas as a file view (widgets/canvas.py
``FileFrame``: the numbered lines before the range, the slot, the lines after
it). The proposed change then goes to the review screen, hunk by hunk, and
exactly what was accepted is written by ``apply_accepted`` (journal,
snapshot; /undo reverts it), which refuses a file that changed since it was
read. Escape cancels the rewrite; nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.message import Message

from dgcode.context.errors import ContextError
from dgcode.edits.apply import ApplyReport
from dgcode.edits.diff import FileChange
from dgcode.edits.hunks import apply_accepted
from dgcode.engine.errors import EngineCrashedError, EngineError
from dgcode.tui.screens.review import ReviewScreen
from dgcode.tui.widgets.canvas import FileFrame
from dgcode.workflows.chat.proposal import FileProposal, Proposal
from dgcode.workflows.edit.budget import wanted
from dgcode.workflows.edit.pipeline import EditRequest, run_edit
from dgcode.workflows.edit.range_target import RangeTarget, resolve_target
from dgcode.workflows.edit.report import EditReport

USAGE = ("usage: /edit PATH:START-END INSTRUCTION (or PATH:LINE, PATH::name for a function or class), or "
         "/edit INSTRUCTION with one line range in the context (/add PATH:START-END)")
FRAME_LINES = 3
"""Lines of the file shown above and below the range while it is rewritten."""


def file_frame(target: RangeTarget, lines: int = FRAME_LINES) -> FileFrame:
    """The lines around ``target``'s range, for the canvas's file view."""
    text = target.text_file.lines
    first = max(target.start - lines, 1)
    before = tuple(line.text for line in text[first - 1:target.start - 1])
    after = tuple(line.text for line in text[target.end:target.end + lines])
    return FileFrame(before, after, first, target.end + 1)


class RangeEditMixin:
    """Runs /edit; mixed into MainScreen."""

    @dataclass
    class RangeEditFinished(Message):
        """The range pipeline ended with ``report``, or could not start (``error``)."""

        request: EditRequest
        report: EditReport | None = None
        error: str = ""

    def command_edit(self, arg: str) -> None:
        if self.answering or self.switching:
            self.transcript.add_note("the model is busy: wait, or esc to cancel, then /edit", "warning")
            return
        problem = self._range_engine_problem()
        if problem:
            self.transcript.add_note(problem, "error")
            return
        try:
            spec, instruction = self._edit_target(arg)
            target = resolve_target(self.edit_root, spec, self.session.root)
        except ContextError as error:
            self.transcript.add_note(f"/edit: {error}", "error")
            return
        request = EditRequest(self.edit_root, target, instruction, self.settings, dry_run=True)
        self.transcript.add_note(f"rewriting {target.describe()}: {instruction} (esc cancels)")
        self.status_begin()
        self._begin_generation(f"rewriting {target.describe()}", remasking=True, frame=file_frame(target),
                               canvas_size=wanted(max(len(self._span_text(target)) // 4, 1)))
        self.rewrite_range(request)

    def _range_engine_problem(self) -> str | None:
        if self.engine is None:
            if self.embedded_active:
                return ("/edit needs a full model: the embedded repair model only repairs syntax errors. "
                        "/models lists models to /pull, then /model NAME")
            return "/edit needs a model: set `model` in the config or DGCODE_MODEL, or /pull one"
        if not all(hasattr(self.engine, name) for name in ("render_chat", "context_size")):
            return "/edit runs on a local model: this engine cannot count the prompt around a range"
        return None

    def _edit_target(self, arg: str) -> tuple[str, str]:
        """(target spec, instruction) from /edit's argument; ContextError with the usage when they are missing."""
        first, _, rest = arg.strip().partition(" ")
        if ":" in first:
            if not rest.strip():
                raise ContextError(f"say what to do with {first}. {USAGE}")
            return first, rest.strip()
        if not arg.strip():
            raise ContextError(USAGE)
        ranges = [entry.label for entry in self.session.entries if entry.spec.lines is not None]
        if len(ranges) == 1:
            return ranges[0], arg.strip()
        if ranges:
            raise ContextError(f"the context holds {len(ranges)} line ranges ({', '.join(ranges)}): name the one "
                               f"to rewrite. {USAGE}")
        raise ContextError(f"name the lines to rewrite. {USAGE}")

    @staticmethod
    def _span_text(target: RangeTarget) -> str:
        return "".join(line.text + line.ending for line in target.text_file.lines[target.start - 1:target.end])

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def rewrite_range(self, request: EditRequest) -> None:
        """The range pipeline off the UI thread; it ends by posting RangeEditFinished or EngineFailed."""
        engine = self.engine
        say = lambda text: self.post_message(self.StatusChanged(text))  # noqa: E731
        try:
            engine.start(say)
            report = run_edit(request, engine, say=say, on_step=self._on_step)
        except EngineCrashedError as error:
            self.post_message(self.EngineFailed(str(error), True))
        except EngineError as error:  # the file or the budget does not fit the context, a bad setting ...
            self.post_message(self.RangeEditFinished(request, error=str(error)))
        except Exception as error:  # noqa: BLE001 - the app must outlive any engine bug
            self.post_message(self.EngineFailed(f"{type(error).__name__}: {error}", crashed=False))
        else:
            self.post_message(self.RangeEditFinished(request, report))

    def on_range_edit_mixin_range_edit_finished(self, message: RangeEditFinished) -> None:
        self._end_turn()
        report = message.report
        if report is None:
            self.transcript.add_note(f"/edit: {message.error}; nothing was written", "error")
            return
        if report.attempts:
            answer = report.attempts[-1].answer
            self.status_finish(answer, report.prompt_tokens + report.suffix_tokens)
            self.transcript.add_note(f"{answer.tokens} tokens in {answer.steps} steps into a slot of "
                                     f"{report.budget.tokens}, stopped: {answer.stop_reason}")
        for note in report.notes:  # the command line's --budget has no /edit twin
            self.transcript.add_note(note.replace(", or rerun with a larger --budget", ""), "warning")
        if report.status != "proposed" or report.change is None:
            cancelled = bool(report.attempts) and report.attempts[-1].answer.stop_reason == "cancelled"
            self.transcript.add_note(report.message, "warning" if cancelled or report.status == "unchanged"
                                     else "error")
            return
        self.transcript.add_note(report.message.replace("dry run: ", "").replace("would become", "becomes")
                                 .replace("; nothing was written", "") + ": review it")
        change = report.change
        proposal = Proposal("", (FileProposal(change.path, change, ()),))
        target = message.request.target
        self.app.push_screen(ReviewScreen(proposal), lambda accepted: self._range_reviewed(target, change, accepted))

    def _range_reviewed(self, target: RangeTarget, change: FileChange,
                        accepted: tuple[FileChange, ...] | None) -> None:
        if not accepted:
            self.transcript.add_note("the rewrite was discarded; nothing was written", "warning")
            return
        self.apply_range(target, change, accepted)

    @work(thread=True, group="edits", exit_on_error=False)
    def apply_range(self, target: RangeTarget, change: FileChange, accepted: tuple[FileChange, ...]) -> None:
        """Write exactly the accepted hunks, checked against the bytes read when the target was resolved."""
        try:
            report = apply_accepted(self.edit_root, accepted, read_snapshots={target.path: target.snapshot})
        except Exception as error:  # noqa: BLE001 - reported, never lost in the worker
            report = ApplyReport(self.edit_root, error=f"nothing was written: {type(error).__name__}: {error}")
        partial = (change.path,) if accepted[0] != change and change.path in report.written else ()
        self.post_message(self.EditsApplied(report, (change.path,), (), partial))
