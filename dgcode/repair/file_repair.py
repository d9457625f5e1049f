"""Repairing one Python file's syntax errors with the repair model, one compiler error at a time.

compile() reports the first error only, so a file with several is repaired
in rounds: ask the model about the reported error, take its rewrite of the
window if the file then compiles or its first error moved further down (the
reported one is gone), and go on. The compiler is a cheap judge, so a
rewrite that does not pass is not the end: the model is asked again (its
later attempts sample instead of taking the most likely answer), up to
ATTEMPTS times; then the file is given up. The result says what was found and
changed; nothing here writes files (fix_syntax.py applies the repair through
dgcode's safe edit path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from dgcode.repair.repair_model import WindowRepair, syntax_error

RepairAsk = Callable[[str, int, str, int], "WindowRepair | None"]
"""(source, 1-based error line, compiler message, attempt) -> the model's rewrite of the window, or None."""

MAX_ROUNDS = 8
ATTEMPTS = 4


@dataclass
class FileRepair:
    """What happened to one file: its first error, the accepted rewrites, and the outcome."""

    path: str
    original: str
    repaired: str
    error: str = ""                       # "line N: message" of the first error, "" when the file compiled
    windows: list[WindowRepair] = field(default_factory=list)
    problem: str = ""                     # why the file is not (fully) repaired; "" when it compiles now
    steps: int = 0
    tokens: int = 0
    wall_s: float = 0.0

    @property
    def needed(self) -> bool:
        return bool(self.error)

    @property
    def repaired_ok(self) -> bool:
        """The file had errors and now compiles."""
        return self.needed and not self.problem


def describe(error: SyntaxError) -> str:
    return f"line {error.lineno or '?'}: {error.msg or error}"


def _one_round(result: FileRepair, current: str, error: SyntaxError, ask: RepairAsk,
               attempts: int) -> tuple[str, SyntaxError | None] | None:
    """The first attempt whose rewrite compiles or moves the error down: (new source, its error); None if none."""
    lineno = error.lineno or 1
    for attempt in range(attempts):
        window = ask(current, lineno, error.msg or "", attempt)
        if window is None:
            result.problem = f"{describe(error)}: the lines there are too long for the repair model"
            return None
        result.steps += window.steps
        result.tokens += window.tokens
        result.wall_s += window.wall_s
        candidate = window.applied_to(current)
        after = syntax_error(candidate, result.path)
        if candidate != current and (after is None or (after.lineno or 0) > lineno):
            result.windows.append(window)
            return candidate, after
    result.problem = f"{describe(error)}: the repair model found no fix in {attempts} attempt(s)"
    return None


def repair_source(path: str, source: str, ask: RepairAsk, max_rounds: int = MAX_ROUNDS,
                  attempts: int = ATTEMPTS) -> FileRepair:
    """Repair `source` (the text of `path`) round by round; see the module docstring."""
    first = syntax_error(source, path)
    result = FileRepair(path, source, source, describe(first) if first else "")
    current, error = source, first
    for _ in range(max_rounds):
        if error is None:
            break
        moved = _one_round(result, current, error, ask, attempts)
        if moved is None:
            break
        current, error = moved
    else:
        if error is not None:
            result.problem = f"{describe(error)}: still failing after {max_rounds} repairs"
    result.repaired = current
    if error is not None and not result.problem:
        result.problem = f"{describe(error)}: not repaired"
    return result
