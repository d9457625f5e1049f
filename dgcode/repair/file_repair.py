"""Repairing one Python file's syntax errors with the repair model, one compiler error at a time.

compile() reports the first error only, so a file with several is repaired
in rounds: ask the model about the reported error, take its rewrite of the
window if the file then compiles or its first error moved further down (the
reported one is gone), and go on. An unbalanced bracket, an
unterminated string, a line at the wrong indentation or two statements
joined on one line is first searched for from the text alone
(bracket_candidates.py, quote_candidates.py, indent_candidates.py,
joined_candidates.py): when exactly one repair the compiler accepts is left
after their ranking, it is taken with no model call (and when one-line
indentation moves are left that the search cannot tell apart, a later rewrite
of that error is marked with how many others compile, for abstain.py). The compiler is a cheap judge, so a
rewrite that does not pass is not the end: the model's first answer comes
with its next most likely rewrites (repair_model.ranked_rewrites), checked in
order, the first that compiles winning (else the first that moves the error
down); if none passes, ATTEMPT_PLAN goes on: the slip candidates found from
the text alone (slip_candidates.py: a misspelled keyword, a line at the wrong
indentation), taken only when exactly one of them compiles; then the model
about windows moved a line or two (the compiler does not always report the
line with the slip), then for samples instead of the most likely answer;
then the file is given up. The result says what was found and
changed; nothing here writes files (dgcode/workflows/fix/syntax.py applies the
repair through dgcode's safe edit path).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

from dgcode.repair.abstain import AbstainPolicy, judge
from dgcode.repair.bracket_candidates import bracket_window
from dgcode.repair.canvas import split_lines
from dgcode.repair.indent_candidates import indent_search
from dgcode.repair.joined_candidates import joined_window
from dgcode.repair.quote_candidates import quote_window
from dgcode.repair.repair_model import WindowRepair, syntax_error
from dgcode.repair.slip_candidates import slip_candidates
from dgcode.repair.testcase_calls import rejected_calls_on
from dgcode.repair.unknown_names import new_words, unknown_names, words_outside

RepairAsk = Callable[[str, int, str, int, int], "WindowRepair | None"]
"""(source, 1-based line to centre the window on, compiler message, sample, 1-based error column on that
line or 0) -> the model's rewrite of the window (sample 0: the most likely, with ranked alternatives;
k > 0: sampled with seed k), or None when the model cannot take it."""

MAX_ROUNDS = 8


@dataclass(frozen=True)
class Attempt:
    """One try at an error: a model call about the window moved `shift` lines from the reported line, with
    that sample; or, with `search`, rewrites found from the text alone (no model call): "message", the one
    repair the compiler's message points at, for an unbalanced bracket (bracket_candidates.py), an
    unterminated string (quote_candidates.py), an indentation error (indent_candidates.py) or a lost line
    break (joined_candidates.py); "slips", the slip candidates around the reported line (slip_candidates.py)."""

    shift: int
    sample: int
    search: str = ""

    @property
    def model_call(self) -> bool:
        return not self.search


ATTEMPT_PLAN: tuple[Attempt, ...] = (
    Attempt(0, 0, search="message"),  # a bracket, a quote, a line's indentation, a line break: no model call
    Attempt(0, 0),    # the reported line and the one before: the window the model was trained on
    Attempt(0, 0, search="slips"),  # a misspelled keyword or a line's indentation, judged by the compiler
    Attempt(1, 0),    # one line down: a bracket left open is reported where it opens, the slip is later
    Attempt(-1, 0),   # up: an indentation slip is often reported a few lines after it
    Attempt(-2, 0),
    Attempt(0, 1),    # then samples of the trained window
    Attempt(0, 2),
)
ATTEMPTS = len(ATTEMPT_PLAN)
FIRST_ANSWER = Attempt(0, 0)
"""The model's most likely answer about its trained window; any other accepted rewrite is a second guess."""


@dataclass
class FileRepair:
    """What happened to one file: its first error, the accepted rewrites, and the outcome."""

    path: str
    original: str
    repaired: str
    error: str = ""                       # "line N: message" of the first error, "" when the file compiled
    windows: list[WindowRepair] = field(default_factory=list)
    problem: str = ""                     # why the file is not (fully) repaired; "" when it compiles now
    second_guesses: int = 0               # accepted rewrites that were not the model's first answer
    abstained: bool = False               # a repair was found but the model's evidence was too weak to offer it
    withheld: str = ""                    # that repair (the file is left as it was)
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
               attempts: tuple[Attempt, ...], runner_up_within: float = 0.0) -> tuple[str, SyntaxError | None] | None:
    """The first rewrite that compiles, else the first that moves the error down, of the first attempt
    that has one: (new source, its error); None if no attempt has one.

    A rewrite that compiles but loads a name the rest of the file never mentions (unknown_names.py), or calls
    a ``self.assert...`` method with arguments unittest's signature rejects (testcase_calls.py), is held back
    while the rewrites after it and the later attempts are tried; the first clean one that compiles wins,
    else the first held back, marked with its unknown names or rejected calls (abstain.py does not offer it).
    """
    lineno = error.lineno or 1
    n_lines = max(1, len(split_lines(current)))
    asked, fitted = set(), False
    rivals: frozenset[str] = frozenset()  # the one-line indentation moves that compiled, when none was taken
    held = None  # the first rewrite that compiles with unknown names: (plan index, window, rank, lines, source)
    for plan_index, plan in enumerate(attempts):
        centre = min(max(lineno + plan.shift, 1), n_lines)
        if (centre, plan.sample, plan.search) in asked:
            continue
        asked.add((centre, plan.sample, plan.search))
        if plan.search == "message":  # its time counts whether it finds a repair or not
            began = time.perf_counter()
            window = bracket_window(current, error, result.path) or quote_window(current, error, result.path)
            if window is None:
                window, rivals = indent_search(current, error, result.path)
            window = window or joined_window(current, error, result.path)
            spent = time.perf_counter() - began
            if window is None:
                result.wall_s += spent
                continue
            window = replace(window, wall_s=spent)
        elif plan.search == "slips":
            window = slip_candidates(current, centre)
        else:
            window = ask(current, centre, error.msg or "", plan.sample, (error.offset or 0) if centre == lineno else 0)
        if window is None:
            continue
        fitted = fitted or plan.model_call
        result.steps += window.steps
        result.tokens += window.tokens
        result.wall_s += window.wall_s
        known, looked = None, False  # words_outside, made at the first rewrite that compiles
        moved = None  # (rank, new lines, new source, its error): the first that moved the error down
        for rank, new_lines in enumerate(window.rewrites()):
            candidate = window.applied_to(current, new_lines)
            if candidate == current:
                continue
            after = syntax_error(candidate, result.path)
            if after is None:
                if not looked:
                    known, looked = words_outside(current, window.start, window.end), True
                unknown = unknown_names(candidate, window.start, len(new_lines), known)
                rejected = () if unknown else rejected_calls_on(candidate, window.start, len(new_lines))
                rival_moves = len(rivals - {candidate})
                if not unknown and not rejected:
                    return _take(result, replace(window, rival_moves=rival_moves), plan_index, rank, new_lines,
                                 candidate, None, current, runner_up_within, plan)
                if held is None:
                    held = (plan_index, replace(window, unknown_names=unknown, rejected_calls=rejected,
                                                rival_moves=rival_moves), rank, new_lines, candidate)
            elif moved is None and plan.model_call and (after.lineno or 0) > lineno:
                moved = rank, new_lines, candidate, after
        if moved is not None and held is None:  # with one-line moves that compile, moving the error is no repair
            rank, new_lines, candidate, after = moved
            return _take(result, replace(window, rival_moves=len(rivals)), plan_index, rank, new_lines, candidate,
                         after, current, runner_up_within, plan)
    if held is not None:
        plan_index, window, rank, new_lines, candidate = held
        return _take(result, window, plan_index, rank, new_lines, candidate, None, current, runner_up_within,
                     attempts[plan_index])
    if not fitted:
        result.problem = f"{describe(error)}: the repair model gave no usable answer"
    else:
        model_calls = sum(not search for _, _, search in asked)
        result.problem = f"{describe(error)}: the repair model found no fix in {model_calls} attempt(s)"
    return None


def _take(result: FileRepair, window: WindowRepair, plan_index: int, rank: int, new_lines: tuple[str, ...],
          candidate: str, after: SyntaxError | None, current: str,
          runner_up_within: float, attempt: Attempt) -> tuple[str, SyntaxError | None]:
    """Record the accepted rewrite (with its runner-up, for abstain.py) and return (new source, its error)."""
    runner_up = (_runner_up(window, current, rank, result.path, runner_up_within)
                 if after is None and runner_up_within > 0 else None)
    result.windows.append(replace(window, new_lines=new_lines, alternatives=(), rank=rank, plan=plan_index,
                                  costs=window.costs[rank - 1:rank] if rank else (), runner_up=runner_up,
                                  runner_up_cost=(window.costs[runner_up - 1] if runner_up and
                                                  runner_up <= len(window.costs) else None)))
    result.second_guesses += rank > 0 or attempt != FIRST_ANSWER
    return candidate, after


def _runner_up(window: WindowRepair, current: str, rank: int, path: str, within: float) -> int | None:
    """The rank of the first rewrite after ``rank`` that compiles and differs from the file, among those less
    than ``within`` (log-probability) below the taken one: a second plausible repair means the model's evidence
    is split between them. The alternatives come in nondecreasing cost, so the scan stops at the first beyond.
    A rewrite that leaves more words the rest of the file never mentions than the taken one does
    (unknown_names.new_words: it kept a slip's joined names joined) is not a plausible second repair."""
    rewrites = window.rewrites()
    known = words_outside(current, window.start, window.end)
    taken_new = new_words(window.applied_to(current, rewrites[rank]), window.start, len(rewrites[rank]), known)

    def cost_of(k: int) -> float:  # a repairer that gives no costs: every alternative counts as close
        return window.costs[k - 1] if 0 < k <= len(window.costs) else 0.0

    base = cost_of(rank)
    for other in range(rank + 1, len(rewrites)):
        if cost_of(other) - base >= within:
            break
        candidate = window.applied_to(current, rewrites[other])
        if (candidate != current and syntax_error(candidate, path) is None
                and new_words(candidate, window.start, len(rewrites[other]), known) <= taken_new):
            return other
    return None


def repair_source(path: str, source: str, ask: RepairAsk, max_rounds: int = MAX_ROUNDS,
                  attempts: int | None = None, policy: AbstainPolicy | None = None,
                  plan: tuple[Attempt, ...] = ATTEMPT_PLAN) -> FileRepair:
    """Repair `source` (the text of `path`) round by round; see the module docstring.

    With a `policy` (abstain.py), a repair that compiles is still given up, leaving `source` as it was,
    when the model's evidence for it is too weak: "not confident enough to repair line N".
    """
    first = syntax_error(source, path)
    result = FileRepair(path, source, source, describe(first) if first else "")
    current, error = source, first
    for _ in range(max_rounds):
        if error is None:
            break
        moved = _one_round(result, current, error, ask, plan[:attempts], policy.min_margin if policy else 0.0)
        if moved is None:
            break
        current, error = moved
    else:
        if error is not None:
            result.problem = f"{describe(error)}: still failing after {max_rounds} repairs"
    result.repaired = current
    if error is not None and not result.problem:
        result.problem = f"{describe(error)}: not repaired"
    if policy is not None and first is not None and error is None:
        why = judge(result.windows, policy)
        if why is not None:
            result.repaired, result.abstained, result.withheld = source, True, current
            result.problem = f"not confident enough to repair line {first.lineno or '?'} ({first.msg}): {why}"
    return result
