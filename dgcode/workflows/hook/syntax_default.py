"""The hook's default check, with no ``fix.cmd``: the staged Python files must compile; the repair model repairs them.

``staged_syntax_errors`` reads the staged version of each staged ``.py`` file
(the blob in the index the commit uses, never the working copy; deleted
files, symlinks and files over ``MAX_BYTES`` are skipped) and compiles it,
without running anything.  When all compile, the commit goes ahead and no
model is opened.  When some do not, the hook sets unstaged changes aside as
for any check (``run.py``), so the working tree holds the staged content, and
``repair_staged`` opens the model and runs ``dgcode fix``'s syntax pipeline
(``run_syntax_fix``) on those files; the hook's usual ending then shows the
diff and stops the commit for the person to review and stage (dgcode never
stages).  A file the model cannot repair is reported and stops the commit:
it would not compile.

Which model (``open_repairer``): the configured one when it is dgcode's repair
model, the embedded one when none is configured.  A configured full model is
checked (header, tokenizer, diffusion) so that a missing or broken one is
reported like any configured model, but the syntax repair itself uses the
embedded repair model, whose whole job it is.  A configured model that is
missing or broken, or a repair model that cannot be loaded, is dgcode's own
failure (``ModelProblem``: fail open unless strict, RELIABILITY #16); no model
at all (``NoModel``: an install without the embedded one) is not: the files
still do not compile, and the commit stops (RELIABILITY #23).  What goes wrong
around the model becomes a verdict in ``outcome.with_model``, as for the check
command's fix.

Light to import: compiling needs neither numpy nor the engine; they load only
when a file does not compile.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dgcode.config import Config
from dgcode.workflows.hook.check import BudgetedRepairer
from dgcode.workflows.hook.hookgit import git, shown
from dgcode.workflows.hook.outcome import ModelProblem, NoModel, Verdict, with_model

MAX_BYTES = 1 << 20
"""Staged files larger than this are not checked (``dgcode.workflows.fix.syntax.MAX_FILE_BYTES``, which is not
imported here so that a passing check loads no engine code)."""
CHUNK = 200
NO_CMD = "no check command is configured (fix.cmd)"

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


def open_repairer(config: Mapping[str, object], say: Say) -> object:
    """The repair model, loaded (see the module docstring); ModelProblem or NoModel."""
    from dgcode.engine.errors import EngineError, ModelFileError
    from dgcode.repair.embedded import embedded_model
    from dgcode.workflows import model as model_api
    from dgcode.workflows.fix.engine import repairer_for

    try:
        choice = model_api.choose_model(config)
    except model_api.NoModelConfigured as error:
        raise NoModel(str(error)) from None
    except ModelFileError as error:  # not pulled, or no such file
        raise ModelProblem(str(error)) from None
    repairer = repairer_for(choice.path, config, say)
    if repairer is None:  # a full model (or not a model at all): check it, then repair with the embedded one
        from dgcode.engine.model_file import read_model_info, require_diffusion

        try:
            require_diffusion(read_model_info(choice.path), mask_token_id=choice.mask_token_id)
        except ModelFileError as error:
            raise ModelProblem(f"the configured model cannot be used: {error}") from None
        embedded = embedded_model()
        if embedded is None:
            raise NoModel(f"the configured model {choice.name} is a full model, and this install has no "
                          "embedded repair model for the syntax check")
        say(f"the configured model {choice.name} is a full model; the syntax check repairs with dgcode's "
            "embedded repair model")
        repairer = repairer_for(embedded, config, say)
        if repairer is None:
            raise ModelProblem(f"{embedded} is not a dgcode repair model")
    try:
        repairer.start()
    except (EngineError, OSError) as error:
        repairer.close()
        raise ModelProblem(f"the repair model {repairer.name} could not be loaded: {error}") from None
    return repairer


def _listed(errors: Sequence[StagedError]) -> str:
    return "\n".join(f"  {error.describe()}" for error in errors)


def repair_staged(root: Path, errors: Sequence[StagedError], config: Config, say: Say, deadline: float,
                  open_model: Callable[[Mapping[str, object], Say], object] = open_repairer) -> Verdict:
    """Repair the files of ``errors`` in the working tree (which holds the staged content by now)."""
    count = f"{len(errors)} staged Python file{'s' if len(errors) != 1 else ''}"
    stopped = f"dgcode: {NO_CMD}; {count} did not compile"

    def repair(repairer: BudgetedRepairer) -> Verdict:
        from dgcode.workflows.fix.pipeline import FixRequest
        from dgcode.workflows.fix.syntax import run_syntax_fix

        request = FixRequest(root, tuple(dict.fromkeys(error.path for error in errors)), cwd=root)
        report = run_syntax_fix(request, repairer, say=say)
        if report.status == "applied":
            return Verdict("fixed", f"{stopped}; dgcode repaired {'them' if len(errors) != 1 else 'it'}.")
        if report.status == "error":
            return Verdict("error", report.message, infra=True)
        why = ("; ".join(report.notes) or report.message) if report.status == "nothing_to_do" else report.message
        return Verdict("failed", f"{stopped}, and dgcode could not repair "
                       f"{'all of them' if len(errors) != 1 else 'it'} ({why}); what is not repaired would not "
                       f"compile. The commit was stopped.\n{_listed(errors)}")

    return with_model(lambda: BudgetedRepairer(open_model(config, say), deadline), repair,
                      failing=f"{count} did not compile", budget_s=config.hook.budget_s, what="repair",
                      task="the syntax repair",
                      no_model=lambda why: Verdict("failed", f"{stopped}, and {why}. The commit was stopped.\n"
                                                   f"{_listed(errors)}"))
