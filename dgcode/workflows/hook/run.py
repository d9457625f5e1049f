"""The pre-commit hook's pipeline: check exactly what will be committed, let the model fix it, put everything back, decide.

``run_hook`` does, in order:

1. nothing when ``SKIP`` names ``dgcode``, during a merge, rebase,
   cherry-pick or revert, with unmerged paths or with nothing staged; with
   no check command (``fix.cmd``), the default check (``syntax_default``):
   the staged Python files are compiled, and only when some do not compile
   does the run go on, repairing them in place of the fix loop (the repair
   model, or a configured full model through the fix pipeline);
2. takes the hook's lock, refuses to start while an earlier run's
   set-aside changes were never put back (and says how to restore them);
3. sets unstaged changes aside (``dgcode.workflows.hook.staged``), after a snapshot;
4. runs the check command on the staged state, within ``hook.budget_s``;
   if it fails, opens the model (only now: llama.cpp and numpy are not
   imported before) and runs the fix loop (``run_fix``) on the staged files,
   never prompting;
5. notes every file the run changed, puts the unstaged changes back
   (merging them with dgcode's fix, or keeping the fix aside on conflict);
6. decides: exit 0 when the check passes; exit 1 when files were modified
   ("dgcode modified N files", with the diff, for the person to review and
   stage: dgcode never stages) or the check fails and could not be fixed
   (also when no model is configured at all, or the staged files do not fit
   in the model's context: a failing check is a verdict, RELIABILITY #23).

Infrastructure failures (a configured model file missing or broken, engine
crash, budget exceeded, git or config trouble) fail open: a warning and exit
0, or exit 1 when strict (``--strict`` or ``hook.strict``) (RELIABILITY #16).
A failure to put the person's files back is never silent: exit 1 and the
recovery command (RELIABILITY #20).

The pieces live beside it in ``dgcode.workflows.hook``: ``commit_state`` (step 1),
``aside_store`` (the lock and the named folders), ``staged`` (set aside, restore),
``command_fix`` (step 4: the check command and the fix loop, the test seam),
``syntax_default`` (step 4 without a check command), ``check`` (the budget),
``run_changes`` (step 5), ``outcome`` (step 6, and the one ladder from model
and budget trouble to a verdict).  ``main`` is the installed script's entry
(``python -m dgcode.workflows.hook.run``; ``python -m dgcode.hook_run`` in
scripts installed by earlier versions).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dgcode.config import Config, ConfigError, load_config
from dgcode.workflows.exit_codes import ExitCode
from dgcode.workflows.hook import aside_store
from dgcode.workflows.hook.command_fix import CommandJob, OpenEngine, check_and_fix, open_hook_engine
from dgcode.workflows.hook.commit_state import (
    has_unmerged_paths,
    operation_in_progress,
    skip_requested,
    staged_files,
)
from dgcode.workflows.hook.hookgit import HookGitError, absolutize_index_variable, locate
from dgcode.workflows.hook.outcome import HookOutcome, Verdict, infra_outcome, modified_outcome, skipped
from dgcode.workflows.hook.run_changes import collect_changes, restore_locked
from dgcode.workflows.hook.staged import (
    AsideRun,
    RestoreResult,
    SetAsideError,
    SignalShield,
    changed_paths,
    set_aside,
    unstaged_changes,
)
from dgcode.workflows.hook.syntax_default import NO_CMD, StagedError, repair_staged, staged_syntax_errors

Say = Callable[[str], None]


@dataclass(frozen=True)
class HookRequest:
    """One hook run: files given by the pre-commit framework (else the staged files), strict from the flag."""

    cwd: Path
    files: tuple[str, ...] = ()
    strict: bool | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def run_hook(request: HookRequest, *, say: Say = lambda _m: None,
             open_engine: OpenEngine | None = None) -> HookOutcome:
    """Run the hook once (see the module docstring); never raises for anything but programming errors."""
    began = time.monotonic()
    if skip_requested(request.env):
        return skipped("SKIP names dgcode")
    absolutize_index_variable(request.cwd)
    try:
        root, git_dir = locate(request.cwd)
        busy = operation_in_progress(git_dir)
        if busy:
            return skipped(f"{busy} is in progress")
        if has_unmerged_paths(root):
            return skipped("there are unmerged paths")
    except HookGitError as error:
        return infra_outcome(str(error), bool(request.strict))
    try:
        config = load_config(request.cwd, flags={"hook.strict": True if request.strict else None}, env=request.env)
    except ConfigError as error:
        return infra_outcome(f"the settings cannot be read: {error}", bool(request.strict))
    if config.untrusted is not None:  # the hook never trusts a repository's config on its own
        say(config.untrusted.describe())
    strict, command = config.hook.strict, config.fix.cmd or ""
    try:
        changed, existing = staged_files(root)
    except HookGitError as error:
        return infra_outcome(str(error), strict)
    if not changed:
        return skipped("nothing is staged")
    errors: list[StagedError] = []
    if not command:  # the default check: the staged Python files must compile (syntax_default)
        try:
            checked, errors = staged_syntax_errors(root, existing, _given(request, root), say)
        except HookGitError as error:
            return infra_outcome(str(error), strict)
        if not checked:
            return skipped(f"{NO_CMD} and no Python file is staged")
        if not errors:
            return HookOutcome("passed", ExitCode.OK, f"dgcode: {NO_CMD}; the {checked} staged Python "
                               f"file{'s' if checked != 1 else ''} compile{'s' if checked == 1 else ''}.")
        say(f"{NO_CMD}; staged Python files that do not compile: "
            + "; ".join(error.describe() for error in errors))
    opener = open_engine or (lambda cfg, s: open_hook_engine(cfg, s, request.env))
    context = _Context(request, root, git_dir, config, command, began + config.hook.budget_s, strict, existing,
                       opener, say, tuple(errors))
    try:
        with aside_store.hook_lock(git_dir):
            waiting = aside_store.pending(git_dir)
            if waiting:
                hint = aside_store.load_record(waiting[0]).recovery_hint()
                return HookOutcome("pending", ExitCode.FAILED, "dgcode: an earlier hook run was interrupted before "
                                   f"it put your unstaged changes back; {hint}. The commit was stopped.")
            outcome = _run_locked(context)
            aside_store.prune(git_dir)
            return outcome
    except aside_store.StoreError as error:
        return infra_outcome(str(error), strict)


@dataclass
class _Context:
    request: HookRequest
    root: Path
    git_dir: Path
    config: Config
    command: str
    deadline: float
    strict: bool
    staged: list[str]
    open_engine: OpenEngine
    say: Say
    syntax_errors: tuple[StagedError, ...] = ()
    """With no check command: the staged Python files that do not compile (repaired by ``_repair_syntax``)."""


def _given(request: HookRequest, root: Path) -> set[str] | None:
    """The files the pre-commit framework passed, relative to the top folder; None when none were."""
    if not request.files:
        return None
    given = set()
    for name in request.files:
        with contextlib.suppress(ValueError):
            given.add((request.cwd / name).absolute().relative_to(root.absolute()).as_posix())
    return given


def _run_locked(ctx: _Context) -> HookOutcome:
    """The whole run under the repository's lock (the fix's own writes re-enter it)."""
    from dgcode.edits.journal import JournalError, exclusive_lock, locate_state

    lock = exclusive_lock(locate_state(ctx.root))
    try:
        lock.__enter__()
    except (JournalError, OSError) as error:
        return infra_outcome(str(error), ctx.strict)
    try:
        return _run_holding_lock(ctx)
    finally:
        lock.__exit__(None, None, None)


def _run_holding_lock(ctx: _Context) -> HookOutcome:
    from dgcode.edits.journal import JournalError

    try:
        changes = unstaged_changes(ctx.root)
        with SignalShield() as shield:
            run = set_aside(ctx.root, ctx.git_dir, changes, snapshot=lambda: _snapshot(ctx.root))
    except (HookGitError, SetAsideError, JournalError, OSError) as error:
        return infra_outcome(str(error), ctx.strict)
    interrupted, baseline = shield.hit, None
    core = Verdict("interrupted", "")
    try:  # from here on, the files go back whatever happens (finally)
        if run is not None:
            ctx.say(f"set aside unstaged changes to {len(run.paths)} file(s); they are saved in {run.record.folder}")
        baseline = changed_paths(ctx.root)
        if not interrupted:
            core = _check_and_fix(ctx)
    except KeyboardInterrupt:
        interrupted = True
    except Exception as error:  # noqa: BLE001 - fail open, but only after the files are back
        core = Verdict("error", f"dgcode failed unexpectedly: {type(error).__name__}: {error}", infra=True)
    finally:
        with SignalShield() as shield:
            outcome = _finish(ctx, run, baseline, core)
    if outcome.verdict == "restore_failed":
        return outcome
    if interrupted or shield.hit:
        return HookOutcome("interrupted", ExitCode.INTERRUPTED, "dgcode: interrupted; your files were put back. "
                           + outcome.message, outcome.modified, outcome.conflicts)
    return outcome


def _snapshot(root: Path) -> str | None:
    from dgcode.vcs.snapshot import SnapshotError, take_snapshot

    try:
        return take_snapshot(root, reason="before the pre-commit hook set unstaged changes aside").ref
    except SnapshotError as error:
        raise SetAsideError(f"no snapshot could be taken ({error}), so nothing was set aside") from None


def _check_and_fix(ctx: _Context) -> Verdict:
    if not ctx.command:  # the default check found files that do not compile
        return repair_staged(ctx.root, ctx.syntax_errors, ctx.config, ctx.say, ctx.deadline, ctx.open_engine)
    return check_and_fix(CommandJob(ctx.root, ctx.command, ctx.config, ctx.deadline, ctx.staged, ctx.request.files,
                                    ctx.request.cwd, ctx.open_engine, ctx.say))


def _finish(ctx: _Context, run: AsideRun | None, baseline: set[str] | None, core: Verdict) -> HookOutcome:
    """Note what the run changed, put the unstaged changes back, and turn it all into the verdict."""
    changes = collect_changes(ctx.root, run, baseline)
    result = RestoreResult()
    if run is not None:
        result = restore_locked(ctx.root, run)
        if not result.ok:
            return HookOutcome("restore_failed", ExitCode.FAILED, "dgcode: error: could not put all your unstaged "
                               f"changes back ({'; '.join(result.problems)}); {run.record.recovery_hint()}. "
                               "The commit was stopped.")
    in_tree = tuple(sorted(set(changes.outside) | set(result.merged)))
    conflicts = tuple(path for path, _staged, _fixed in result.conflicts)
    if not in_tree and not conflicts:
        if core.infra:
            return infra_outcome(core.message, ctx.strict)
        code = ExitCode.OK if core.verdict in ("passed", "interrupted") else ExitCode.FAILED
        return HookOutcome(core.verdict, code, "\n".join(filter(None, [core.message, changes.problem])))
    return modified_outcome(core, in_tree, conflicts, run, changes, result)


def report(request: HookRequest) -> int:
    """Run the hook as a command: progress and verdict on stderr; the exit code.  SIGTERM and SIGHUP stop it
    like Ctrl-C, so a killed commit still puts the files back."""
    def say(message: str) -> None:
        print(f"dgcode: {message}", file=sys.stderr, flush=True)

    def interrupt(_number: int, _frame: object) -> None:
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        with contextlib.suppress(AttributeError, ValueError):
            signal.signal(getattr(signal, name), interrupt)
    try:
        outcome = run_hook(request, say=say)
    except KeyboardInterrupt:
        say("interrupted")
        return ExitCode.INTERRUPTED
    except Exception as error:  # noqa: BLE001 - a bug: fail open, unless files may not be back
        outcome = _after_crash(request, f"dgcode failed unexpectedly: {type(error).__name__}: {error}")
    if outcome.message:
        print(outcome.message, file=sys.stderr, flush=True)
    return outcome.exit_code


def _after_crash(request: HookRequest, reason: str) -> HookOutcome:
    try:
        _root, git_dir = locate(request.cwd)
        waiting = aside_store.pending(git_dir)
        hint = aside_store.load_record(waiting[0]).recovery_hint() if waiting else ""
    except Exception as error:  # noqa: BLE001 - cannot even tell: say so and stop the commit
        hint = f"dgcode cannot tell whether your unstaged changes were set aside ({error}); see .git/dgcode/hook/"
    if hint:
        return HookOutcome("restore_failed", ExitCode.FAILED,
                           f"dgcode: error: {reason}; {hint}. The commit was stopped.")
    return infra_outcome(reason, bool(request.strict))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dgcode.workflows.hook.run [--strict] [FILES...]``: what the installed hook runs (argparse, not typer,
    which would add ~0.1 s to every commit).  ``dgcode hook run`` is the same with typer's help."""
    import argparse

    parser = argparse.ArgumentParser(prog="dgcode hook run", description="Check the staged files; fix what fails.")
    parser.add_argument("--strict", action="store_true", help="stop the commit on infrastructure errors too")
    parser.add_argument("files", nargs="*", help="files to fix (default: the staged files)")
    args = parser.parse_args(argv)
    return report(HookRequest(Path(os.getcwd()), tuple(args.files), True if args.strict else None))


if __name__ == "__main__":  # pragma: no cover - the installed hook's entry
    sys.exit(main())
