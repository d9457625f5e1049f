"""The hook's default check, with no ``fix.cmd``: the staged Python files must compile; the model repairs them.

``staged_syntax_errors`` reads the staged version of each staged ``.py`` file
(the blob in the index the commit uses, never the working copy; deleted
files, symlinks and files over ``MAX_BYTES`` are skipped) and compiles it,
without running anything.  When all compile, the commit goes ahead and no
model is opened.  When some do not, the hook sets unstaged changes aside as
for any check (``run.py``), so the working tree holds the staged content, and
``repair_staged`` opens the model and repairs those files; the hook's usual
ending then shows the diff and stops the commit for the person to review and
stage (dgcode never stages).  A file the model cannot repair is left as
staged, reported, and stops the commit: it would not compile.

Which model (``open_repairer``): a configured endpoint's, else the configured
one, else the embedded repair model.  A dgcode repair model (the embedded one, or one configured) runs
``dgcode fix``'s syntax pipeline (``run_syntax_fix``).  A configured full
model (Dream, DiffuCoder, LLaDA) is checked first (header, tokenizer,
diffusion), then opened as the check command's fix opens it
(``command_fix.open_hook_engine``: its test seam, an ``endpoint``, a warm
``dgcode serve``), and asked for SEARCH/REPLACE edits through ``dgcode fix``'s
pipeline (``run_fix``, planned only: ``_ask_full_model``) with an instruction
that names each file and its compiler error (``prompts/hook/syntax_task``).
Each proposed file is compiled; a proposal that still does not compile is
never written, and the model is asked again with the new errors
(``prompts/hook/syntax_still_failing``), ``FULL_MODEL_ROUNDS`` times at most
(and at most ``fix.rounds``), within the hook's budget.  The files that
compile are then written the way the repair model's are (one line-range edit
each, one transaction: snapshot, journal, ``dgcode undo``).

A configured model that is missing or broken, a repair model that cannot be
loaded, a full model that cannot load or run (an engine crash, the budget)
is dgcode's own failure (``ModelProblem`` and the engine's errors: fail open
unless strict, RELIABILITY #16); no model at all (``NoModel``: an install
without the embedded one) is not: the files still do not compile, and the
commit stops (RELIABILITY #23); nor are staged files too long for a full
model's context.  What goes wrong around the model becomes a verdict in
``outcome.with_model``, as for the check command's fix.

Light to import: compiling needs neither numpy nor the engine; they load only
when a file does not compile.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dgcode.config import Config
from dgcode.workflows.hook.check import BudgetedEngine, BudgetedRepairer
from dgcode.workflows.hook.command_fix import OpenEngine, open_hook_engine
from dgcode.workflows.hook.hookgit import git, shown
from dgcode.workflows.hook.outcome import ModelProblem, NoModel, Verdict, with_model

MAX_BYTES = 1 << 20
"""Staged files larger than this are not checked (``dgcode.workflows.fix.syntax.MAX_FILE_BYTES``, which is not
imported here so that a passing check loads no engine code)."""
CHUNK = 200
NO_CMD = "no check command is configured (fix.cmd)"
FULL_MODEL_ROUNDS = 2
"""The most answers the default check asks of a configured full model (never more than ``fix.rounds``)."""
ROUND = re.compile(r"^round (\d+):")

Say = Callable[[str], None]


@dataclass(frozen=True)
class StagedError:
    """A staged Python file that does not compile: where, and the compiler's message."""

    path: str
    line: int | None
    message: str

    def describe(self) -> str:
        return f"{shown(self.path)}" + (f":{self.line}" if self.line else "") + f": {self.message}"


def compile_error(data: bytes, path: str) -> StagedError | None:
    """The compiler's complaint about ``data`` (compiled, never run), or None when it compiles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(data, path, "exec", dont_inherit=True)
        except SyntaxError as error:
            return StagedError(path, error.lineno, error.msg)
        except (ValueError, RecursionError, MemoryError) as error:  # null bytes, too deeply nested
            return StagedError(path, None, str(error))
    return None


def _staged_blobs(root: Path, names: Sequence[str]) -> list[tuple[str, str]]:
    """(path, blob id) of each name's stage-0 regular-file entry in the commit's index."""
    blobs = []
    for start in range(0, len(names), CHUNK):
        for record in git(root, "ls-files", "--stage", "-z", "--", *names[start:start + CHUNK]).split(b"\0"):
            if b"\t" not in record:
                continue
            info, name = record.split(b"\t", 1)
            mode, blob, stage = info.decode("ascii").split()
            if stage == "0" and mode in ("100644", "100755"):
                blobs.append((os.fsdecode(name), blob))
    return blobs


def _read_blobs(root: Path, blobs: Sequence[str]) -> list[bytes]:
    """The contents of ``blobs``, in order (one ``git cat-file --batch``)."""
    out = git(root, "cat-file", "--batch", stdin="".join(f"{blob}\n" for blob in blobs).encode("ascii"))
    contents, at = [], 0
    for _blob in blobs:
        end = out.index(b"\n", at)
        size = int(out[at:end].split()[2])
        contents.append(out[end + 1:end + 1 + size])
        at = end + 1 + size + 1
    return contents


def staged_syntax_errors(root: Path, existing: Sequence[str], only: set[str] | None = None,
                         say: Say = lambda _m: None) -> tuple[int, list[StagedError]]:
    """(how many staged Python files were compiled, those that do not compile); HookGitError from git.

    ``existing``: the staged paths that the commit keeps; ``only``: limit to these (the files the pre-commit
    framework passed).
    """
    names = [p for p in existing if p.endswith(".py") and (only is None or p in only)]
    if not names:
        return 0, []
    blobs = _staged_blobs(root, names)
    sizes = git(root, "cat-file", "--batch-check=%(objectsize)",
                stdin="".join(f"{blob}\n" for _p, blob in blobs).encode("ascii")).split()
    small = []
    for (path, blob), size in zip(blobs, sizes, strict=True):
        if int(size) > MAX_BYTES:
            say(f"{shown(path)}: not checked; it is larger than {MAX_BYTES >> 20} MiB")
        else:
            small.append((path, blob))
    errors = [compile_error(data, path) for (path, _b), data in zip(small, _read_blobs(root, [b for _p, b in small]),
                                                                    strict=True)]
    return len(small), [error for error in errors if error is not None]


@dataclass(frozen=True)
class RemoteChoice:
    """A configured endpoint's model as the repair needs it: its name for the messages, no registry entry."""

    name: str
    entry: None = None


class FullModel:
    """A configured full model, opened (it loads on first use): it repairs with SEARCH/REPLACE edits."""

    def __init__(self, engine: object, choice: object):
        self.engine, self.choice = engine, choice

    @property
    def name(self) -> str:
        return self.choice.name

    def close(self) -> None:
        self.engine.close()


def open_repairer(config: Mapping[str, object], say: Say, open_engine: OpenEngine | None = None) -> object:
    """The model that repairs (see the module docstring): a repair model, loaded, or a ``FullModel``;
    ModelProblem or NoModel.  ``open_engine``: how a full model's engine is opened (default: as for the check
    command's fix, ``open_hook_engine`` with this process's environment)."""
    from dgcode.engine.errors import EngineError, ModelFileError
    from dgcode.workflows import model as model_api
    from dgcode.workflows.fix.engine import repairer_for

    opener = open_engine or (lambda cfg, s: open_hook_engine(cfg, s, os.environ))
    try:
        endpoint = model_api.remote_endpoint(config)
    except EngineError as error:  # an endpoint whose key variable is not set
        raise ModelProblem(str(error)) from None
    if endpoint is not None:  # a remote full model answers (docs/team.md)
        return FullModel(opener(config, say), RemoteChoice(f"{endpoint.model or 'served'} at {endpoint.base}"))
    try:
        choice = model_api.choose_model(config)
    except model_api.NoModelConfigured as error:
        raise NoModel(str(error)) from None
    except ModelFileError as error:  # not pulled, or no such file
        raise ModelProblem(str(error)) from None
    repairer = repairer_for(choice.path, config, say)
    if repairer is None:  # a full model (or not a model at all): check it before anything loads
        from dgcode.engine.model_file import read_model_info, require_diffusion

        try:
            require_diffusion(read_model_info(choice.path), mask_token_id=choice.mask_token_id)
        except ModelFileError as error:
            raise ModelProblem(f"the configured model cannot be used: {error}") from None
        return FullModel(opener(config, say), choice)
    try:
        repairer.start()
    except (EngineError, OSError) as error:
        repairer.close()
        raise ModelProblem(f"the repair model {repairer.name} could not be loaded: {error}") from None
    return repairer


def _listed(errors: Sequence[StagedError]) -> str:
    return "\n".join(f"  {error.describe()}" for error in errors)


def _budgeted(model: object, deadline: float) -> object:
    if isinstance(model, FullModel):
        model.engine = BudgetedEngine(model.engine, deadline)
        return model
    return BudgetedRepairer(model, deadline)


def repair_staged(root: Path, errors: Sequence[StagedError], config: Config, say: Say, deadline: float,
                  open_engine: OpenEngine | None = None) -> Verdict:
    """Repair the files of ``errors`` in the working tree (which holds the staged content by now)."""
    count = f"{len(errors)} staged Python file{'s' if len(errors) != 1 else ''}"
    stopped = f"dgcode: {NO_CMD}; {count} did not compile"

    def repair(model: object) -> Verdict:
        if isinstance(model, FullModel):
            return _full_model_repair(root, errors, config, model, say, stopped)
        from dgcode.workflows.fix.pipeline import FixRequest
        from dgcode.workflows.fix.syntax import run_syntax_fix

        request = FixRequest(root, tuple(dict.fromkeys(error.path for error in errors)), cwd=root)
        report = run_syntax_fix(request, model, say=say)
        if report.status == "applied":
            return Verdict("fixed", f"{stopped}; dgcode repaired {'them' if len(errors) != 1 else 'it'}.")
        if report.status == "error":
            return Verdict("error", report.message, infra=True)
        why = ("; ".join(report.notes) or report.message) if report.status == "nothing_to_do" else report.message
        return Verdict("failed", f"{stopped}, and dgcode could not repair "
                       f"{'all of them' if len(errors) != 1 else 'it'} ({why}); what is not repaired would not "
                       f"compile. The commit was stopped.\n{_listed(errors)}")

    return with_model(lambda: _budgeted(open_repairer(config, say, open_engine), deadline), repair,
                      failing=f"{count} did not compile", budget_s=config.hook.budget_s, what="repair",
                      task="the syntax repair",
                      no_model=lambda why: Verdict("failed", f"{stopped}, and {why}. The commit was stopped.\n"
                                                   f"{_listed(errors)}"),
                      too_long=lambda why: Verdict("failed", f"{stopped}, and dgcode could not repair "
                                                   f"{'them' if len(errors) != 1 else 'it'}: the files do not fit "
                                                   f"in the model's context: {why}. The commit was stopped.\n"
                                                   f"{_listed(errors)}"))


def _full_model_repair(root: Path, errors: Sequence[StagedError], config: Config, model: FullModel, say: Say,
                       stopped: str) -> Verdict:
    """Ask the full model for edits that make the files compile; write those that do (module docstring)."""
    from dgcode.edits.apply import apply_edits
    from dgcode.edits.atomic import FileSnapshot
    from dgcode.edits.errors import EditError
    from dgcode.workflows.fix.syntax import line_range_edit
    from dgcode.workflows.model import sampler_settings

    settings = sampler_settings(config, model.choice)
    settings.validate()
    staged = {error.path: error for error in errors}
    try:
        snapshots = {path: FileSnapshot.capture(root / path) for path in staged}
    except EditError as error:
        return Verdict("error", f"the staged files cannot be read for the repair: {error}", infra=True)
    asks = min(config.fix.rounds, FULL_MODEL_ROUNDS)
    say(f"the configured model {model.name} is a full model; asking it to repair {len(staged)} "
        f"file{'s' if len(staged) != 1 else ''} ({asks} answer{'s' if asks != 1 else ''} at most)")
    pending = dict(staged)
    repaired, why = _ask_full_model(root, pending, model, settings, asks, config.fix.timeout_s, say)
    written: tuple[str, ...] = ()
    if repaired:
        try:
            edits = [line_range_edit(path, change.old_bytes.decode("utf-8"), change.new_bytes.decode("utf-8"))
                     for path, change in repaired.items()]
        except UnicodeDecodeError:  # the planner reads UTF-8 text only: not expected
            return Verdict("error", "the repaired files are not UTF-8 text", infra=True)
        applied = apply_edits(root, edits, read_snapshots={path: snapshots[path] for path in repaired})
        if applied.recovery_needed:
            return Verdict("error", applied.error, infra=True)
        written = applied.written
        if not written:
            why = "its repair could not be written: " + (applied.error or "; ".join(
                r["reason"] for r in applied.edit_results() if r["status"] != "applied"))
            pending = dict(staged)
        for path in written:
            say(f"{shown(path)}: {staged[path].message}: repaired by {model.name}")
    if not pending:
        return Verdict("fixed", f"{stopped}; dgcode repaired {'them' if len(errors) != 1 else 'it'} with the "
                       f"configured model {model.name}.")
    what = "all of them" if len(errors) != 1 else "it"
    done = f"; it repaired {', '.join(shown(p) for p in written)}" if written else ""
    return Verdict("failed", f"{stopped}, and the configured model {model.name} could not repair {what} ({why})"
                   f"{done}; what is not repaired is left as staged and would not compile. The commit was "
                   f"stopped.\n{_listed(list(pending.values()))}")


def _ask_full_model(root: Path, pending: dict[str, StagedError], model: FullModel, settings: object, asks: int,
                    timeout_s: float, say: Say) -> tuple[dict[str, object], str]:
    """Up to ``asks`` answers from the model, planned by ``run_fix`` (nothing written): the proposed changes that
    compile, by path, and why the rest are not repaired.  ``pending`` is left holding the files still broken."""
    from dgcode.context.prompt import fill
    from dgcode.engine.errors import EngineError
    from dgcode.workflows.fix.pipeline import FixRequest, run_fix

    repaired: dict[str, object] = {}
    feedback, why, done = "", "it was not asked", 0

    def numbered(message: str) -> None:  # run_fix counts its own rounds; the person sees the hook's
        say(ROUND.sub(lambda match: f"round {int(match[1]) + done}:", message, count=1))

    while pending and done < asks:
        instruction = fill("hook/syntax_task", errors=_listed(list(pending.values())))
        request = FixRequest(root, tuple(pending), instruction + (f"\n\n{feedback}" if feedback else ""), None,
                             asks - done, timeout_s, True, settings, root)
        report = run_fix(request, model.engine, say=numbered)
        done += max(1, len(report.rounds))
        if report.status == "error":  # the engine failed: infrastructure (outcome.with_model)
            raise EngineError(report.message)
        if report.status != "proposed":
            problems = report.rounds[-1].problems if report.rounds else ()
            why = f"its answer could not be used: {problems[0]}" if problems else report.message
            break
        still = []
        for change in report.rounds[-1].changes:
            error = compile_error(change.new_bytes, change.path)
            if error is None and change.path in pending:
                repaired[change.path] = change
                del pending[change.path]
            elif error is not None:
                still.append(error)
        if still:
            why = "with its edits, " + "; ".join(error.describe() for error in still)
            say(f"round {done}: not used, as with {model.name}'s edits they still do not compile: "
                + "; ".join(error.describe() for error in still))
            feedback = fill("hook/syntax_still_failing", errors=_listed(still))
        elif pending:
            why = f"its answer did not change {', '.join(shown(p) for p in pending)}"
            feedback = ""
    return repaired, why
