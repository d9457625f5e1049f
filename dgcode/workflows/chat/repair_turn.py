"""A TUI turn on dgcode's embedded repair model: which requests it can serve, and its repairs as an answer.

Pure Python (no textual). With no model configured the TUI uses the embedded
model (workflows/model.py ``choose_model(config, embedded=True)``), which
repairs Python syntax errors only. ``plan_repair`` decides whether a request
is one it can serve: it asks to fix or repair, and names Python files (in
the context, or mentioned in the request) of which at least one does not
compile; otherwise it gives the one line that says why not and how to get a
full model. ``run_repairs`` repairs each file with the syntax pipeline's
``repair_source`` and writes the repairs as SEARCH/REPLACE blocks, so the
TUI reviews, applies and undoes them exactly as a full model's answer
(snapshots taken when the files were read guard the apply).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dgcode.edits.atomic import FileSnapshot, read_with_snapshot
from dgcode.edits.errors import EditError
from dgcode.repair.canvas import split_lines
from dgcode.repair.file_repair import FileRepair, RepairAsk, repair_source
from dgcode.repair.repair_model import syntax_error

CAN_DO = "repairs Python syntax errors only"
GET_A_FULL_MODEL = ("for anything else use a full model: /models lists them, /pull NAME downloads one here, "
                    "then /model NAME (or /model PATH.gguf)")
USING_EMBEDDED = ("no model is configured: using dgcode's embedded model, which " + CAN_DO + " (say \"fix the "
                  "syntax errors\" with the files in the context or named); " + GET_A_FULL_MODEL + ".")
REPAIR_WORDS = re.compile(r"\b(fix|fixes|fixing|repair|repairs|repairing)\b", re.IGNORECASE)
NAMED_PY = re.compile(r"(?<![\w./-])@?([\w./-]+\.pyi?)\b")
MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class RepairTarget:
    """A Python file that does not compile, as read (its snapshot guards the apply)."""

    path: str
    text: str
    snapshot: FileSnapshot
    error: str


@dataclass(frozen=True)
class RepairPlan:
    """What the embedded model will repair, or ``refusal``: the one line saying why it cannot serve the request."""

    targets: tuple[RepairTarget, ...] = ()
    refusal: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepairAnswer:
    """The repairs as an answer: SEARCH/REPLACE blocks for the files that compile now, and what happened."""

    text: str
    snapshots: dict[str, FileSnapshot]
    repairs: tuple[FileRepair, ...]

    @property
    def repaired(self) -> tuple[FileRepair, ...]:
        return tuple(r for r in self.repairs if r.repaired_ok)


def named_python_files(text: str, root: Path) -> list[str]:
    """Python files under ``root`` that ``text`` names (``broken.py``, ``@src/a.py``), in order."""
    found = []
    for match in NAMED_PY.finditer(text):
        name = match.group(1).removeprefix("./")
        if (root / name).is_file() and name not in found:
            found.append(name)
    return found


def plan_repair(request: str, root: Path, context_paths: Iterable[str]) -> RepairPlan:
    """The files the embedded model should repair for ``request``, or why it cannot serve it (see the docstring)."""
    cannot = "the embedded model cannot do this: it " + CAN_DO
    if not REPAIR_WORDS.search(request):
        return RepairPlan(refusal=f"no model is configured, and {cannot} (ask it to fix a Python file that does "
                                  f"not compile); {GET_A_FULL_MODEL}")
    names = list(dict.fromkeys([*context_paths, *named_python_files(request, root)]))
    python = [n for n in names if n.endswith((".py", ".pyi"))]
    notes = [f"{n}: skipped; the embedded model repairs Python files only" for n in names if n not in python]
    targets = []
    for name in python:
        try:
            data, snapshot = read_with_snapshot(root / name, max_bytes=MAX_FILE_BYTES)
            text = data.decode("utf-8")
        except (EditError, UnicodeDecodeError) as error:
            notes.append(f"{name}: skipped ({error})")
            continue
        error = syntax_error(text, name)
        if error is not None:
            targets.append(RepairTarget(name, text, snapshot, f"line {error.lineno or '?'}: {error.msg or error}"))
    if targets:
        return RepairPlan(tuple(targets), notes=tuple(notes))
    if not python:
        why = "no Python files to repair: /add the files (or name them) and ask again"
    else:
        why = f"{', '.join(python)} compile{'s' if len(python) == 1 else ''} already: nothing to repair"
    return RepairPlan(refusal=f"{why}. The embedded model {CAN_DO}; {GET_A_FULL_MODEL}", notes=tuple(notes))


def repair_block(path: str, old: str, new: str) -> str:
    """One SEARCH/REPLACE block turning ``old`` into ``new``: the changed lines, widened until they are unique."""
    old_lines, new_lines = split_lines(old), split_lines(new)
    if old and not old.endswith("\n"):  # the block format wants whole "\n"-terminated lines
        old_lines[-1] += "\n"
    if new and not new.endswith("\n"):
        new_lines[-1] += "\n"
    head = 0
    while head < min(len(old_lines), len(new_lines)) and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while tail < min(len(old_lines), len(new_lines)) - head and old_lines[-1 - tail] == new_lines[-1 - tail]:
        tail += 1
    whole = "".join(old_lines)
    while True:
        search = "".join(old_lines[head:len(old_lines) - tail])
        if (search and whole.count(search) == 1) or (head == 0 and tail == 0):
            break
        if head > 0:  # one more line of context above, else below
            head -= 1
        else:
            tail -= 1
    replace = "".join(new_lines[head:len(new_lines) - tail])
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


class RepairStopped(Exception):
    """The person pressed escape while the embedded model was repairing."""


def run_repairs(plan: RepairPlan, ask: RepairAsk, say: Callable[[str], None] = lambda _m: None,
                stopped: Callable[[], bool] = lambda: False, policy=None) -> RepairAnswer:
    """Repair every target; ``say`` tells progress; ``stopped()`` true between model calls raises RepairStopped."""
    calls = [0]

    def asking(source: str, lineno: int, message: str, attempt: int = 0, offset: int = 0):
        if stopped():
            raise RepairStopped()
        calls[0] += 1
        say(f"{current[0]}: line {lineno}: {message} (model call {calls[0]})")
        return ask(source, lineno, message, attempt, offset)

    current = [""]
    repairs, blocks, summary = [], [], []
    for target in plan.targets:
        current[0] = target.path
        say(f"{target.path}: {target.error}")
        repair = repair_source(target.path, target.text, asking, policy=policy)
        repairs.append(repair)
        if repair.repaired_ok:
            guess = " (not the model's first answer: check the diff)" if repair.second_guesses else ""
            summary.append(f"- `{target.path}`: {repair.error}: repaired, it compiles now{guess}")
            blocks.append(repair_block(target.path, repair.original, repair.repaired))
        else:
            summary.append(f"- `{target.path}`: {repair.error}: not repaired ({repair.problem})")
    text = "Syntax repairs by dgcode's embedded model:\n\n" + "\n".join(summary) + "\n\n" + "\n".join(blocks)
    return RepairAnswer(text, {t.path: t.snapshot for t in plan.targets}, tuple(repairs))
