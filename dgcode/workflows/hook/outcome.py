"""The hook's verdicts: how a run's result, and any trouble with the model or the budget, becomes an exit and a message.

Both ways the hook fixes (the check command's fix loop, ``command_fix``; the
default check's syntax repair, ``syntax_default``) go through ``with_model``,
the one ladder from what can go wrong around the model to a ``Verdict``:

- no model at all (``NoModel``): a verdict, not dgcode's failure: the check
  still fails, and the commit stops (RELIABILITY #23);
- a configured model missing or broken, or one that cannot be loaded
  (``ModelProblem``), an engine or context error, the budget
  (``hook.budget_s``) running out: infrastructure (``infra``), which fails
  open (a warning, exit 0) unless the hook is strict (exit 1; RELIABILITY #16);
- the staged files too big for the model's context: a verdict where the caller
  says so (``too_long``), else an engine error like any other.

``HookOutcome`` is what ``run_hook`` returns; ``infra_outcome`` and
``modified_outcome`` build the two endings that need more than one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from dgcode.workflows.exit_codes import ExitCode
from dgcode.workflows.hook.check import BudgetExceeded
from dgcode.workflows.hook.hookgit import shown

if TYPE_CHECKING:
    from dgcode.workflows.hook.run_changes import RunChanges
    from dgcode.workflows.hook.staged import AsideRun, RestoreResult


class ModelProblem(Exception):
    """A configured model is missing or broken, or the model cannot be loaded: fails open unless strict."""


class NoModel(Exception):
    """No model to fix with at all: a failing check stops the commit, as any pre-commit hook's would
    (RELIABILITY #23); only a configured model that is missing or broken is dgcode's own failure."""


@dataclass(frozen=True)
class HookOutcome:
    """The verdict: ``skipped``, ``passed``, ``fail_open``, ``strict_error``, ``modified``, ``failed``,
    ``pending``, ``restore_failed`` or ``interrupted``; the exit code; what to tell the person."""

    verdict: str
    exit_code: ExitCode
    message: str
    modified: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """How the check (and fix) went, before the files were put back: ``passed``, ``fixed``, ``failed``,
    ``error``, ``budget`` or ``interrupted``; the message; whether it is infrastructure (fails open)."""

    verdict: str
    message: str
    infra: bool = False


def infra_outcome(reason: str, strict: bool) -> HookOutcome:
    """Infrastructure trouble: a warning and exit 0, or stop the commit when strict."""
    if strict:
        return HookOutcome("strict_error", ExitCode.FAILED, f"dgcode: error: {reason}. The commit was stopped because "
                           "the hook is strict; `SKIP=dgcode git commit ...` skips dgcode once.")
    return HookOutcome("fail_open", ExitCode.OK, f"dgcode: warning: {reason}. The commit goes ahead without dgcode's "
                       "check (a strict hook, `hook.strict = true`, would stop it instead).")


def skipped(reason: str) -> HookOutcome:
    return HookOutcome("skipped", ExitCode.OK, f"dgcode: {reason}; nothing to check.")


def budget_ran_out(budget_s: float, what: str) -> Verdict:
    return Verdict("budget", f"the hook's budget ({budget_s:g} s, hook.budget_s) ran out before dgcode's {what} "
                   "was done", infra=True)


class _Closable(Protocol):
    def close(self) -> None: ...


M = TypeVar("M", bound=_Closable)


def with_model(open_model: Callable[[], M], work: Callable[[M], Verdict], *, failing: str, budget_s: float,
               what: str, task: str, no_model: Callable[[str], Verdict],
               too_long: Callable[[str], Verdict] | None = None) -> Verdict:
    """Open the model, ``work`` with it, close it; what goes wrong becomes a verdict (see the module docstring).

    ``failing``: what failed, for "``failing``, but <the model problem>"; ``what``: the budget's "before
    dgcode's ``what`` was done"; ``task``: "``task`` could not run: <engine error>".
    """
    try:
        model = open_model()
    except NoModel as error:
        return no_model(str(error))
    except ModelProblem as error:
        return Verdict("error", f"{failing}, but {error}", infra=True)
    from dgcode.context.errors import ContextError
    from dgcode.engine.errors import EngineError, PromptTooLongError

    try:
        return work(model)
    except BudgetExceeded:
        return budget_ran_out(budget_s, what)
    except PromptTooLongError as error:
        if too_long is not None:
            return too_long(str(error))
        return Verdict("error", f"{task} could not run: {error}", infra=True)
    except (ContextError, EngineError) as error:
        return Verdict("error", f"{task} could not run: {error}", infra=True)
    finally:
        model.close()


def modified_outcome(verdict: Verdict, in_tree: Sequence[str], conflicts: Sequence[str], run: AsideRun | None,
                     changes: RunChanges, result: RestoreResult) -> HookOutcome:
    """The run changed files (or its fix conflicts with unstaged changes): show them and stop the commit."""
    lines = [verdict.message if not verdict.infra else f"dgcode: {verdict.message}."]
    if in_tree:
        count = f"{len(in_tree)} file{'s' if len(in_tree) != 1 else ''}"
        who = "the check command" if verdict.verdict == "passed" else "dgcode"  # a formatter as fix.cmd, say
        lines.append(f"{who} modified {count}: {', '.join(shown(p) for p in in_tree)}")
        lines.append(b"".join(changes.diffs).decode("utf-8", "replace").rstrip("\n"))
        if result.merged:
            lines.append(f"Your unstaged changes to {', '.join(shown(p) for p in result.merged)} are kept on top "
                         "of the fix.")
    if conflicts and run is not None:
        lines.append(f"dgcode's fix to {', '.join(shown(p) for p in conflicts)} conflicts with your unstaged changes "
                     "there: those files are exactly as you left them, and the fix is saved as "
                     f"{run.record.fix_patch_path} (`git apply --cached {run.record.fix_patch_path}` stages it).")
    lines.append("The commit was stopped: review the changes (`git diff`), stage what you want to keep "
                 "(`git add -p`), and commit again. dgcode never stages anything itself.")
    return HookOutcome("modified", ExitCode.FAILED, "\n".join(lines), tuple(in_tree), tuple(conflicts))
