"""The embedded repair model on the main screen: with no model configured, "fix" requests repair syntax errors.

A mixin of MainScreen. With no model configured and an embedded model
shipped, a message goes here instead of to a chat engine:
``dgcode.workflows.chat.repair_turn.plan_repair`` decides whether the
embedded model can serve it (a fix/repair request with Python files that do
not compile, in the context or named); if not, one line says why and how to
get a full model. Otherwise a thread worker repairs the files (the repair
engine is opened once with ``repairer_for`` and kept), the canvas title
shows each model call, and the repairs, written as SEARCH/REPLACE blocks, go
to the same review screen, apply and /undo as a full model's edits. Escape
stops between model calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.message import Message

from dgcode.workflows.chat.repair_turn import (
    RepairAnswer,
    RepairPlan,
    RepairStopped,
    plan_repair,
    run_repairs,
)

REPAIR_CANVAS = 64
"""Masked positions the canvas shows while the embedded model repairs (it reports no denoising steps)."""


class RepairMixin:
    """Serves requests with the embedded repair model; mixed into MainScreen."""

    repair_model: Path | None = None
    """The embedded repair model used while no model is configured (None: none, or a full model is in use)."""
    _repairer = None

    @dataclass
    class RepairProgress(Message):
        text: str

    @dataclass
    class RepairFinished(Message):
        answer: RepairAnswer

    @dataclass
    class RepairFailed(Message):
        error: str
        stopped: bool = False

    @property
    def embedded_active(self) -> bool:
        return self.engine is None and self.repair_model is not None

    def embedded_panel(self) -> None:
        self.panel.model = "embedded repair model"
        self.panel.backend = "Python syntax repair only · /model PATH for more"

    def send_to_repair(self, text: str) -> None:
        """A message while the embedded model is in use: repair, or say in one line why it cannot."""
        plan = plan_repair(text, self.edit_root, [e.spec.path for e in self.session.entries])
        for note in plan.notes:
            self.transcript.add_note(note, "warning")
        if plan.refusal:
            self.transcript.add_note(plan.refusal, "error")
            return
        self.turns += 1
        self.last_answer = None
        self._cancel_requested = False
        self.canvas.begin(REPAIR_CANVAS, "embedded repair")
        self.answering = True
        files = ", ".join(t.path for t in plan.targets)
        self.transcript.add_note(f"repairing {files} with dgcode's embedded model …")
        self.repair_files(plan)

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def repair_files(self, plan: RepairPlan) -> None:
        from dgcode.workflows.fix.engine import repairer_for

        say = lambda text: self.post_message(self.RepairProgress(text))  # noqa: E731
        try:
            if self._repairer is None:
                say(f"loading {self.repair_model.name}")
                self._repairer = repairer_for(self.repair_model, {"threads": self.threads}, say)
                if self._repairer is None:
                    raise RuntimeError(f"{self.repair_model} is not a dgcode repair model")
            answer = run_repairs(plan, self._repairer.ask, say, lambda: self._cancel_requested,
                                 getattr(self._repairer, "policy", None))
        except RepairStopped:
            self.post_message(self.RepairFailed("repair stopped; nothing was changed", stopped=True))
        except Exception as error:  # noqa: BLE001 - the app must outlive any engine failure
            self.post_message(self.RepairFailed(f"the embedded model failed: {type(error).__name__}: {error}"))
        else:
            self.post_message(self.RepairFinished(answer))

    def on_repair_mixin_repair_progress(self, message: RepairProgress) -> None:
        if self.answering:
            self.canvas.phase = message.text

    def on_repair_mixin_repair_failed(self, message: RepairFailed) -> None:
        self._end_turn()
        self.transcript.add_note(message.error, "warning" if message.stopped else "error")

    def on_repair_mixin_repair_finished(self, message: RepairFinished) -> None:
        answer = message.answer
        self._end_turn()
        for repair in answer.repairs:
            if repair.repaired_ok:
                self.transcript.add_note(f"{repair.path}: {repair.error}: repaired in {repair.steps} model "
                                         f"step{'' if repair.steps == 1 else 's'}; review the change", "ok")
            else:
                self.transcript.add_note(f"{repair.path}: {repair.error}: the embedded model could not repair it "
                                         f"({repair.problem})", "error")
        if answer.repaired:
            self.review(answer.text, answer.snapshots)

    def close_repairer(self) -> None:
        if self._repairer is not None:
            self._repairer.close()
            self._repairer = None
