"""The hook with a check command (``fix.cmd``): run it on the staged state; when it fails, the fix loop fixes it.

``check_and_fix`` runs the command within what is left of ``hook.budget_s``.
When it passes, that is the verdict.  When it fails, the model is opened (only
now: llama.cpp and numpy are not imported before) and ``dgcode fix``'s loop
(``run_fix``) runs on the staged files, never prompting: the files the
pre-commit framework named, else those the check's output names first, then
the other staged ones (at most ``MAX_TASK_FILES``; protected files excluded).
What goes wrong around the model maps onto verdicts in ``outcome.with_model``.

Which model (``open_hook_engine``): the configured GGUF, never the embedded
repair model (it fixes syntax, not a failing check).  Test seam: with
``DGCODE_TESTING=1``, ``DGCODE_HOOK_ENGINE=module:factory`` names a
``factory(config, say)`` that returns the FixEngine to use.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dgcode.config import Config
from dgcode.workflows.hook.check import BudgetedEngine, BudgetedRunner, run_check
from dgcode.workflows.hook.outcome import ModelProblem, NoModel, Verdict, with_model
from dgcode.workflows.user_command import CommandResult

ENGINE_SEAM, TESTING = "DGCODE_HOOK_ENGINE", "DGCODE_TESTING"
MAX_TASK_FILES = 12
MODEL_HINT = "set `model = \"PATH.gguf\"` in .dgcode.toml or ~/.config/dgcode/config.toml, or DGCODE_MODEL"
NO_MODEL = f"no model configured ({MODEL_HINT})"

Say = Callable[[str], None]
OpenEngine = Callable[[Mapping[str, object], Say], object]


def open_hook_engine(config: Mapping[str, object], say: Say, env: Mapping[str, str]) -> object:
    """The model for the fix: the test seam when allowed, else the configured GGUF (NoModel without one,
    ModelProblem when its file is missing)."""
    spec = env.get(ENGINE_SEAM, "")
    if spec and env.get(TESTING) == "1":
        module, _, name = spec.partition(":")
        return getattr(importlib.import_module(module), name)(config, say)
    if spec:
        say(f"{ENGINE_SEAM} is ignored unless {TESTING}=1")
    from dgcode.engine.errors import ModelFileError
    from dgcode.workflows import model as model_api
    from dgcode.workflows.fix.engine import engine_from_config
    from dgcode.workflows.remote_engine import RemoteError

    try:
        if model_api.remote_endpoint(config) is None:  # an endpoint answers instead of a local model
            model_api.choose_model(config, embedded=False)  # a path or a pulled name, as everywhere
    except model_api.NoModelConfigured:
        raise NoModel(NO_MODEL) from None
    except (ModelFileError, RemoteError) as error:  # not pulled, no such file, an unset key: fails open
        raise ModelProblem(str(error)) from None
    return engine_from_config(config, say)


@dataclass(frozen=True)
class CommandJob:
    """One check-and-fix: where, the command, the settings, the deadline, the staged files, the named ones."""

    root: Path
    command: str
    config: Config
    deadline: float
    staged: Sequence[str]
    given: tuple[str, ...]
    """The files the pre-commit framework passed (relative to ``cwd``); empty when none were."""
    cwd: Path
    open_engine: OpenEngine
    say: Say


def check_and_fix(job: CommandJob) -> Verdict:
    """Run the check command on the staged state; fix what fails (see the module docstring)."""
    say, command, budget_s = job.say, job.command, job.config.hook.budget_s
    say(f"running `{command}` on the staged files")
    first = run_check(command, job.root, job.deadline - time.monotonic())
    if first.passed:
        return Verdict("passed", f"dgcode: `{command}` passes on the staged files.")
    if first.timed_out:
        return Verdict("budget", f"`{command}` did not finish within the hook's budget ({budget_s:g} s, "
                       "hook.budget_s)", infra=True)
    if first.exit_code in (126, 127):
        return Verdict("error", f"`{command}` could not be run (exit status {first.exit_code})", infra=True)
    return with_model(
        lambda: BudgetedEngine(job.open_engine(job.config, say), job.deadline),
        lambda engine: _fix(job, first, engine),
        failing=f"`{command}` fails on the staged files", budget_s=budget_s, what="fix", task="the fix",
        no_model=lambda _why: Verdict("failed", check_failed(command, first, "no model is configured to try a fix "
                                                             f"({MODEL_HINT})")),
        too_long=lambda why: Verdict("failed", check_failed(command, first, "dgcode could not fix it: the staged "
                                                            f"files do not fit in the model's context: {why}")))


def _fix(job: CommandJob, first: CommandResult, engine: BudgetedEngine) -> Verdict:
    """The fix loop on the staged files, with the model opened and the check's first failing run."""
    say, command, fix = job.say, job.command, job.config.fix
    say(f"`{command}` fails on the staged files (exit status {first.exit_code}); asking the model for a fix")
    from dgcode.context.prompt import fill
    from dgcode.engine.errors import EngineError
    from dgcode.workflows.fix.pipeline import FixRequest, files_named_in, is_protected, run_fix
    from dgcode.workflows.model import choose_model, sampler_settings

    runner = BudgetedRunner(job.deadline)
    try:
        choice = choose_model(job.config, embedded=False)
    except EngineError:  # the test seam's engine needs no file
        choice = None
    settings = sampler_settings(job.config, choice)
    settings.validate()
    if job.given:
        paths, cwd = job.given, job.cwd
    else:
        mentioned = [p for p in files_named_in(first.output, job.root) if p in job.staged]
        ordered = list(dict.fromkeys(mentioned + list(job.staged)))
        paths, cwd = tuple(p for p in ordered if not is_protected(p))[:MAX_TASK_FILES], job.root
    if not paths:
        return Verdict("failed", f"dgcode: `{command}` fails on the staged files, and none of them is one dgcode "
                       "may change.")
    request = FixRequest(job.root, paths, fill("hook/task"), command, fix.rounds, fix.timeout_s, False, settings, cwd)
    report = run_fix(request, engine, say=say, run_command=runner, first_run=first)
    if report.status == "fixed":
        return Verdict("fixed", f"dgcode: `{command}` failed on the staged files; it passes with dgcode's fix.")
    if report.status == "nothing_to_do":
        return Verdict("passed", f"dgcode: `{command}` passes on the staged files.")
    if runner.budget_hit or engine.expired:
        return Verdict("budget", f"the hook's budget ({job.config.hook.budget_s:g} s) ran out: {report.message}",
                       infra=True)
    if report.status == "error":
        return Verdict("error", report.message, infra=True)
    return Verdict("failed", f"dgcode: `{command}` fails on the staged files and dgcode could not fix it: "
                   f"{report.message}")


def check_failed(command: str, run: CommandResult, why: str) -> str:
    """The verdict for a failing check dgcode did not fix: what failed, why no fix, the check's own output."""
    output = run.output.rstrip("\n")
    return (f"dgcode: `{command}` fails on the staged files (exit status {run.exit_code}), and {why}. "
            "The commit was stopped." + (f"\n{output}" if output else ""))
