"""What `dgcode fix` did: each run of the user's command, each round of model edits, the outcome and its exit code.

Plain frozen dataclasses with ``to_json``, shared by the pipeline (pipeline.py),
which fills them in, and the command line (dgcode/cli/fix.py), which prints them.

Outcomes and exit codes:

==============  ====  ===========================================================
status          exit  meaning
==============  ====  ===========================================================
fixed           0     the command failed, dgcode's edits were applied, it passes now
applied         0     no command: the edits were applied
nothing_to_do   0     the command passes already, or there are no files to work on
proposed        0     dry run: the edits would apply; nothing was written
not_applied     1     the edits were shown but not confirmed (or no --yes without a terminal)
failed          1     no usable edits, or the command still fails after the last round
error           1     the engine failed, or the command could not start (exit status 126 or 127)
==============  ====  ===========================================================

Usage and configuration errors (exit 2) stop before a report exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from dgcode.edits.diff import FileChange
from dgcode.workflows.exit_codes import ExitCode
from dgcode.workflows.model_engine import Answer  # noqa: F401  (part of a report; lives with its engine)
from dgcode.workflows.user_command import CommandResult  # noqa: F401  (part of a report; lives with its runner)

STATUS_EXIT = {"fixed": ExitCode.OK, "applied": ExitCode.OK, "nothing_to_do": ExitCode.OK,
               "proposed": ExitCode.OK, "not_applied": ExitCode.FAILED, "failed": ExitCode.FAILED,
               "error": ExitCode.FAILED}


def change_json(change: FileChange) -> dict[str, object]:
    """One file the model's edits change, as the report prints it."""
    return {"file": change.path, "created": change.created, "diff": change.diff()}


@dataclass(frozen=True)
class RoundReport:
    """One model attempt: the files it saw, its answer, its edits and what became of them."""

    number: int
    files: tuple[str, ...]
    """The files in the prompt (repo-relative)."""
    prompt_tokens: int
    answer: Answer | None = None
    edits: tuple[dict[str, object], ...] = ()
    """Per edit: index, file, status, reason, level (as ApplyReport.edit_results)."""
    problems: tuple[str, ...] = ()
    """Why the answer could not be used (nothing parsed, an edit that does not match, out of scope)."""
    changes: tuple[FileChange, ...] = ()
    written: tuple[str, ...] = ()
    """Files actually written this round."""
    command_before: CommandResult | None = None
    """The failing run this round answered (None without a command)."""

    @property
    def usable(self) -> bool:
        return bool(self.changes) and not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "round": self.number,
            "files": list(self.files),
            "prompt_tokens": self.prompt_tokens,
            "generation": self.answer.to_json() if self.answer else None,
            "edits": list(self.edits),
            "problems": list(self.problems),
            "changes": [change_json(change) for change in self.changes],
            "applied": bool(self.written),
            "files_changed": list(self.written),
            "command_before": self.command_before.to_json() if self.command_before else None,
        }


@dataclass(frozen=True)
class FixReport:
    """The whole run: its outcome (see the module docstring), every round, the last command run."""

    status: str
    message: str
    rounds: tuple[RoundReport, ...] = ()
    command_runs: tuple[CommandResult, ...] = ()
    """Every run of the user's command, in order."""
    command: str | None = None
    dry_run: bool = False
    notes: tuple[str, ...] = ()
    """Things the person should know: files left out, discovered files capped."""
    total_s: float = 0.0

    @property
    def final_command(self) -> CommandResult | None:
        return self.command_runs[-1] if self.command_runs else None

    @property
    def exit_code(self) -> ExitCode:
        return STATUS_EXIT[self.status]

    @property
    def files_changed(self) -> list[str]:
        return list(dict.fromkeys(path for r in self.rounds for path in r.written))

    def to_json(self) -> dict[str, object]:
        answers = [r.answer for r in self.rounds if r.answer is not None]
        tokens = sum(a.tokens for a in answers)
        model_s = sum(a.wall_s for a in answers)
        command_s = sum(run.seconds for run in self.command_runs)
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "command": self.command,
            "dry_run": self.dry_run,
            "files_changed": self.files_changed,
            "rounds": [r.to_json() for r in self.rounds],
            "command_runs": len(self.command_runs),
            "final_command": self.final_command.to_json() if self.final_command else None,
            "notes": list(self.notes),
            "timings": {"total_s": round(self.total_s, 3), "model_s": round(model_s, 3),
                        "command_s": round(command_s, 3)},
            "tokens": tokens,
            "tok_per_s": round(tokens / model_s, 2) if model_s > 0 else 0.0,
        }
