"""The pre-commit hook's pipeline: check exactly what will be committed, let the model fix it, put everything back, decide.

``run_hook`` does, in order:

1. nothing when ``SKIP`` names ``dgcode``, during a merge, rebase,
   cherry-pick or revert, with unmerged paths or with nothing staged; with
   no check command (``fix.cmd``), the default check (``syntax_default``):
   the staged Python files are compiled, and only when some do not compile
   does the run go on, with the repair model in place of the fix loop;
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
``check`` (the check command and the budget), ``run_changes`` (step 5).
``main`` is the installed script's entry (``python -m dgcode.workflows.hook.run``;
``python -m dgcode.hook_run`` in scripts installed by earlier versions).

Test seam: with ``DGCODE_TESTING=1``, ``DGCODE_HOOK_ENGINE=module:factory``
names a ``factory(config, say)`` that returns the FixEngine to use.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dgcode.config import ConfigError, load_config
from dgcode.workflows.exit_codes import ExitCode
from dgcode.workflows.hook import aside_store
from dgcode.workflows.hook.check import (
    BudgetedEngine,
    BudgetedRunner,
    BudgetExceeded,
    run_check,
)
from dgcode.workflows.hook.commit_state import (
    has_unmerged_paths,
    operation_in_progress,
    skip_requested,
    staged_files,
)
from dgcode.workflows.hook.hookgit import HookGitError, absolutize_index_variable, locate, shown
from dgcode.workflows.hook.run_changes import RunChanges, collect_changes, restore_locked
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
from dgcode.workflows.user_command import CommandResult

ENGINE_SEAM, TESTING = "DGCODE_HOOK_ENGINE", "DGCODE_TESTING"
MAX_TASK_FILES = 12
MODEL_HINT = "set `model = \"PATH.gguf\"` in .dgcode.toml or ~/.config/dgcode/config.toml, or DGCODE_MODEL"
NO_MODEL = f"no model configured ({MODEL_HINT})"

Say = Callable[[str], None]
OpenEngine = Callable[[Mapping[str, object], Say], object]


class HookInfraError(Exception):
    """Something around the check failed (a model file missing, engine, budget, git); fails open unless strict."""


class NoModelConfigured(HookInfraError):
    """No model is configured at all: a failing check stops the commit, as any pre-commit hook's would
    (RELIABILITY #23); only a configured model that is missing or broken is dgcode's own failure."""


@dataclass(frozen=True)
class HookRequest:
    """One hook run: files given by the pre-commit framework (else the staged files), strict from the flag."""

    cwd: Path
    files: tuple[str, ...] = ()
    strict: bool | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass(frozen=True)
class HookOutcome:
    """The verdict: ``skipped``, ``passed``, ``fail_open``, ``strict_error``, ``modified``, ``failed``,
    ``pending``, ``restore_failed`` or ``interrupted``; the exit code; what to tell the person."""

    verdict: str
    exit_code: ExitCode
    message: str
    modified: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


def _infra(reason: str, strict: bool) -> HookOutcome:
    if strict:
        return HookOutcome("strict_error", ExitCode.FAILED, f"dgcode: error: {reason}. The commit was stopped because "
                           "the hook is strict; `SKIP=dgcode git commit ...` skips dgcode once.")
    return HookOutcome("fail_open", ExitCode.OK, f"dgcode: warning: {reason}. The commit goes ahead without dgcode's "
                       "check (a strict hook, `hook.strict = true`, would stop it instead).")


def _skipped(reason: str) -> HookOutcome:
    return HookOutcome("skipped", ExitCode.OK, f"dgcode: {reason}; nothing to check.")


def open_hook_engine(config: Mapping[str, object], say: Say, env: Mapping[str, str]) -> object:
    """The model for the fix: the test seam when allowed, else the configured GGUF (NoModelConfigured without
    one, HookInfraError when its file is missing)."""
    spec = env.get(ENGINE_SEAM, "")
    if spec and env.get(TESTING) == "1":
        module, _, name = spec.partition(":")
        return getattr(importlib.import_module(module), name)(config, say)
    if spec:
        say(f"{ENGINE_SEAM} is ignored unless {TESTING}=1")
    from dgcode.engine.errors import ModelFileError
    from dgcode.workflows import model as model_api
    from dgcode.workflows.fix.engine import engine_from_config

    try:
        model_api.choose_model(config, embedded=False)  # a path or a pulled name, as everywhere
    except model_api.NoModelConfigured:
        raise NoModelConfigured(NO_MODEL) from None
    except ModelFileError as error:  # not pulled, or no such file: dgcode's own failure, fails open
        raise HookInfraError(str(error)) from None
    return engine_from_config(config, say)


def run_hook(request: HookRequest, *, say: Say = lambda _m: None,
             open_engine: OpenEngine | None = None) -> HookOutcome:
    """Run the hook once (see the module docstring); never raises for anything but programming errors."""
    began = time.monotonic()
    if skip_requested(request.env):
        return _skipped("SKIP names dgcode")
    absolutize_index_variable(request.cwd)
    try:
        root, git_dir = locate(request.cwd)
        busy = operation_in_progress(git_dir)
        if busy:
            return _skipped(f"{busy} is in progress")
        if has_unmerged_paths(root):
            return _skipped("there are unmerged paths")
    except HookGitError as error:
        return _infra(str(error), bool(request.strict))
    try:
        config = load_config(request.cwd, flags={"hook.strict": True if request.strict else None}, env=request.env)
    except ConfigError as error:
        return _infra(f"the settings cannot be read: {error}", bool(request.strict))
    if config.untrusted is not None:  # the hook never trusts a repository's config on its own
        say(config.untrusted.describe())
    strict = bool(config["hook.strict"])
    command = config["fix.cmd"]
    try:
        changed, existing = staged_files(root)
    except HookGitError as error:
        return _infra(str(error), strict)
    if not changed:
        return _skipped("nothing is staged")
    errors: list[StagedError] = []
    if not command:  # the default check: the staged Python files must compile (syntax_default)
        try:
            checked, errors = staged_syntax_errors(root, existing, _given(request, root), say)
        except HookGitError as error:
            return _infra(str(error), strict)
        if not checked:
            return _skipped(f"{NO_CMD} and no Python file is staged")
        if not errors:
            return HookOutcome("passed", ExitCode.OK, f"dgcode: {NO_CMD}; the {checked} staged Python "
                               f"file{'s' if checked != 1 else ''} compile{'s' if checked == 1 else ''}.")
        say(f"{NO_CMD}; staged Python files that do not compile: "
            + "; ".join(error.describe() for error in errors))
    opener = open_engine or (lambda cfg, s: open_hook_engine(cfg, s, request.env))
    context = _Context(request, root, git_dir, config, str(command or ""), began + float(config["hook.budget_s"]),
                       strict, existing, opener, say, tuple(errors))
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
        return _infra(str(error), strict)


@dataclass
class _Context:
    request: HookRequest
    root: Path
    git_dir: Path
    config: Mapping[str, object]
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


@dataclass
class _Core:
    """How the check (and fix) went, before the files were put back."""

    verdict: str
    message: str
    infra: bool = False


def _run_locked(ctx: _Context) -> HookOutcome:
    """The whole run under the repository's lock (the fix's own writes re-enter it)."""
    from dgcode.edits.journal import JournalError, exclusive_lock, locate_state

    lock = exclusive_lock(locate_state(ctx.root))
    try:
        lock.__enter__()
    except (JournalError, OSError) as error:
        return _infra(str(error), ctx.strict)
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
        return _infra(str(error), ctx.strict)
    interrupted, baseline = shield.hit, None
    core = _Core("interrupted", "")
    try:  # from here on, the files go back whatever happens (finally)
        if run is not None:
            ctx.say(f"set aside unstaged changes to {len(run.paths)} file(s); they are saved in {run.record.folder}")
        baseline = changed_paths(ctx.root)
        if not interrupted:
            core = _check_and_fix(ctx)
    except KeyboardInterrupt:
        interrupted = True
    except Exception as error:  # noqa: BLE001 - fail open, but only after the files are back
        core = _Core("error", f"dgcode failed unexpectedly: {type(error).__name__}: {error}", infra=True)
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


def _check_and_fix(ctx: _Context) -> _Core:
    say = ctx.say
    if not ctx.command:  # the default check found files that do not compile
        done = repair_staged(ctx.root, ctx.syntax_errors, ctx.config, say, ctx.deadline)
        return _Core(done.verdict, done.message, done.infra)
    say(f"running `{ctx.command}` on the staged files")
    left = ctx.deadline - time.monotonic()
    first = run_check(ctx.command, ctx.root, left)
    if first.passed:
        return _Core("passed", f"dgcode: `{ctx.command}` passes on the staged files.")
    if first.timed_out:
        return _Core("budget", f"`{ctx.command}` did not finish within the hook's budget "
                     f"({ctx.config['hook.budget_s']:g} s, hook.budget_s)", infra=True)
    if first.exit_code in (126, 127):
        return _Core("error", f"`{ctx.command}` could not be run (exit status {first.exit_code})", infra=True)
    try:
        engine = ctx.open_engine(ctx.config, say)
    except NoModelConfigured:
        return _Core("failed", _check_failed(ctx.command, first,
                                             f"no model is configured to try a fix ({MODEL_HINT})"))
    except HookInfraError as error:
        return _Core("error", f"`{ctx.command}` fails on the staged files, but {error}", infra=True)
    say(f"`{ctx.command}` fails on the staged files (exit status {first.exit_code}); asking the model for a fix")
    from dgcode.context.errors import ContextError
    from dgcode.context.prompt import fill
    from dgcode.engine.errors import EngineError, PromptTooLongError
    from dgcode.workflows.fix.pipeline import FixRequest, files_named_in, is_protected, run_fix
    from dgcode.workflows.model import choose_model, sampler_settings

    runner, budgeted = BudgetedRunner(ctx.deadline), BudgetedEngine(engine, ctx.deadline)
    try:
        try:
            choice = choose_model(ctx.config, embedded=False)
        except EngineError:  # the test seam's engine needs no file
            choice = None
        settings = sampler_settings(ctx.config, choice)
        settings.validate()
        if ctx.request.files:
            paths, cwd = tuple(ctx.request.files), ctx.request.cwd
        else:
            mentioned = [p for p in files_named_in(first.output, ctx.root) if p in ctx.staged]
            ordered = list(dict.fromkeys(mentioned + ctx.staged))
            paths, cwd = tuple(p for p in ordered if not is_protected(p))[:MAX_TASK_FILES], ctx.root
        if not paths:
            return _Core("failed", f"dgcode: `{ctx.command}` fails on the staged files, and none of them is one "
                         "dgcode may change.")
        request = FixRequest(ctx.root, paths, fill("hook/task"), ctx.command, int(ctx.config["fix.rounds"]),
                             float(ctx.config["fix.timeout_s"]), False, settings, cwd)
        report = run_fix(request, budgeted, say=say, run_command=runner, first_run=first)
    except BudgetExceeded:
        return _Core("budget", f"the hook's budget ({ctx.config['hook.budget_s']:g} s, hook.budget_s) ran out "
                     "before dgcode's fix was done", infra=True)
    except PromptTooLongError as error:  # the staged files are too big for the model: could not fix, a verdict
        return _Core("failed", _check_failed(ctx.command, first, "dgcode could not fix it: the staged files do not "
                                             f"fit in the model's context: {error}"))
    except (ContextError, EngineError) as error:
        return _Core("error", f"the fix could not run: {error}", infra=True)
    finally:
        budgeted.close()
    if report.status == "fixed":
        return _Core("fixed", f"dgcode: `{ctx.command}` failed on the staged files; it passes with dgcode's fix.")
    if report.status == "nothing_to_do":
        return _Core("passed", f"dgcode: `{ctx.command}` passes on the staged files.")
    if runner.budget_hit or budgeted.expired:
        return _Core("budget", f"the hook's budget ({ctx.config['hook.budget_s']:g} s) ran out: {report.message}",
                     infra=True)
    if report.status == "error":
        return _Core("error", report.message, infra=True)
    return _Core("failed", f"dgcode: `{ctx.command}` fails on the staged files and dgcode could not fix it: "
                 f"{report.message}")


def _check_failed(command: str, run: CommandResult, why: str) -> str:
    """The verdict for a failing check dgcode did not fix: what failed, why no fix, the check's own output."""
    output = run.output.rstrip("\n")
    return (f"dgcode: `{command}` fails on the staged files (exit status {run.exit_code}), and {why}. "
            "The commit was stopped." + (f"\n{output}" if output else ""))


def _finish(ctx: _Context, run: AsideRun | None, baseline: set[str] | None, core: _Core) -> HookOutcome:
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
            return _infra(core.message, ctx.strict)
        code = ExitCode.OK if core.verdict in ("passed", "interrupted") else ExitCode.FAILED
        return HookOutcome(core.verdict, code, "\n".join(filter(None, [core.message, changes.problem])))
    return _modified_outcome(core, in_tree, conflicts, run, changes, result)


def _modified_outcome(core: _Core, in_tree: Sequence[str], conflicts: Sequence[str], run: AsideRun | None,
                      changes: RunChanges, result: RestoreResult) -> HookOutcome:
    lines = [core.message if not core.infra else f"dgcode: {core.message}."]
    if in_tree:
        count = f"{len(in_tree)} file{'s' if len(in_tree) != 1 else ''}"
        who = "the check command" if core.verdict == "passed" else "dgcode"  # a formatter as fix.cmd, say
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
    return _infra(reason, bool(request.strict))


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
