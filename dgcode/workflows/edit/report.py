"""What `dgcode edit` did: the target, the budget, each denoising pass, the change, the outcome and its exit code.

==============  ====  ===========================================================
status          exit  meaning
==============  ====  ===========================================================
applied         0     the rewritten range was written; `dgcode undo` reverts it
proposed        0     --dry-run: the rewrite would apply; nothing was written
not_applied     1     the diff was shown but not confirmed (or no --yes without a terminal)
unchanged       1     the model gave the lines back as they were; nothing was written
failed          1     the rewrite could not be applied (the file changed meanwhile ...)
error           1     the engine failed or was cancelled; nothing was written
==============  ====  ===========================================================

Usage errors (exit 2: a bad target, no model, a budget that does not fit)
stop before a report exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from dgcode.edits.diff import FileChange
from dgcode.workflows.edit.budget import Budget
from dgcode.workflows.edit.range_target import RangeTarget
from dgcode.workflows.exit_codes import ExitCode
from dgcode.workflows.fix.report import change_json
from dgcode.workflows.model_engine import Answer

STATUS_EXIT = {"applied": ExitCode.OK, "proposed": ExitCode.OK, "not_applied": ExitCode.FAILED,
               "unchanged": ExitCode.FAILED, "failed": ExitCode.FAILED, "error": ExitCode.FAILED}


@dataclass(frozen=True)
class Attempt:
    """One denoising pass: the slot it had and the answer it gave."""

    budget: Budget
    answer: Answer

    def to_json(self) -> dict[str, object]:
        return {"budget": self.budget.tokens, "answer_tokens": self.answer.tokens, **self.answer.to_json()}


@dataclass(frozen=True)
class EditReport:
    """One `dgcode edit` run."""

    status: str
    message: str
    target: RangeTarget
    instruction: str
    prompt_tokens: int = 0
    """The rendered chat plus the file before the span."""
    suffix_tokens: int = 0
    attempts: tuple[Attempt, ...] = ()
    new_end: int | None = None
    """The last line the rewritten range ends on (it may have grown or shrunk)."""
    replacement: str | None = None
    """The text that replaces the range (``\\n``-terminated lines; the file's own endings are kept on write)."""
    change: FileChange | None = None
    written: tuple[str, ...] = ()
    dry_run: bool = False
    notes: tuple[str, ...] = ()
    total_s: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        return STATUS_EXIT[self.status]

    @property
    def budget(self) -> Budget | None:
        return self.attempts[-1].budget if self.attempts else None

    def to_json(self) -> dict[str, object]:
        budget = self.budget
        model_s = sum(a.answer.wall_s for a in self.attempts)
        answer = self.attempts[-1].answer if self.attempts else None
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "target": self.target.to_json(),
            "new_range": ({"start": self.target.start, "end": self.new_end} if self.new_end is not None else None),
            "instruction": self.instruction,
            "budget": {**budget.to_json(), "first": self.attempts[0].budget.tokens,
                       "grown": len(self.attempts) > 1} if budget else None,
            "prompt_tokens": self.prompt_tokens,
            "suffix_tokens": self.suffix_tokens,
            "answer_tokens": answer.tokens if answer else 0,
            "stop_reason": answer.stop_reason if answer else None,
            "attempts": [a.to_json() for a in self.attempts],
            "replacement": self.replacement,
            "changes": [change_json(self.change)] if self.change is not None else [],
            "files_changed": list(self.written),
            "dry_run": self.dry_run,
            "notes": list(self.notes),
            "timings": {"total_s": round(self.total_s, 3), "model_s": round(model_s, 3)},
        }
