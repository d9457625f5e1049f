"""The TUI's K-candidate turn, judged by the person's check command: each answer tried in a scratch copy.

Pure Python (no textual). The TUI denoises K answers to one turn together
(``ModelEngine.generate_candidates``: one shared prefill, one batched decode
per step); ``judge_answers`` then takes them one by one: the answer's
SEARCH/REPLACE edits are planned and written in a scratch copy of the working
tree (workflows/fix/scratch_tree.py; the person's files are never touched),
and the check command runs there with its time limit. The first candidate
that passes is the one the TUI offers through its normal review; every
verdict is kept so the others stay viewable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dgcode.workflows.fix.report import Answer
from dgcode.workflows.fix.scratch_tree import try_in_copy
from dgcode.workflows.user_command import CommandResult, run_user_command

MAX_CANDIDATES = 8
PASSED, FAILED, TIMED_OUT, NOT_APPLIED, NO_EDITS = "passed", "failed", "timed out", "edits did not apply", "no edits"


@dataclass(frozen=True)
class Judgement:
    """What the check command said about one candidate (numbered from 1)."""

    number: int
    answer: Answer
    verdict: str
    detail: str = ""
    run: CommandResult | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED

    def describe(self) -> str:
        return f"candidate {self.number}: {self.verdict}" + (f" ({self.detail})" if self.detail else "")


def parse_candidates(arg: str) -> tuple[int, str]:
    """``/candidates K INSTRUCTION`` as (K, instruction); ValueError with the usage when it is not that."""
    count, _, instruction = arg.strip().partition(" ")
    if not count.isdigit() or not 2 <= int(count) <= MAX_CANDIDATES or not instruction.strip():
        raise ValueError(f"usage: /candidates K INSTRUCTION, with K from 2 to {MAX_CANDIDATES} answers drafted "
                         "together and judged by the check command (fix.cmd), e.g. /candidates 4 fix the failing "
                         "test")
    return int(count), instruction.strip()


def judge_answer(root: Path, number: int, answer: Answer, command: str, timeout_s: float,
                 run_command: Callable[[str, Path, float], CommandResult] = run_user_command) -> Judgement:
    """Try ``answer``'s edits in a scratch copy of ``root``'s working tree and judge them by ``command`` there."""
    trial = try_in_copy(root, answer.text, command, timeout_s, run_command)
    run = trial.run
    if run is None:
        return Judgement(number, answer, NOT_APPLIED if trial.edit_blocks else NO_EDITS, "; ".join(trial.problems))
    if run.passed:
        return Judgement(number, answer, PASSED, f"{run.seconds:.1f} s", run)
    if run.timed_out:
        return Judgement(number, answer, TIMED_OUT, f"stopped after {run.seconds:.0f} s", run)
    return Judgement(number, answer, FAILED, f"exit status {run.exit_code}", run)


def judge_answers(root: Path, answers: list[Answer], command: str, timeout_s: float, *,
                  say: Callable[[str], None] = lambda _m: None, stopped: Callable[[], bool] = lambda: False,
                  run_command: Callable[[str, Path, float], CommandResult] = run_user_command) -> list[Judgement]:
    """Every answer's judgement, in order (``stopped()`` true before a candidate ends the judging early)."""
    judged = []
    for number, answer in enumerate(answers, 1):
        if stopped():
            break
        if answer.stop_reason == "cancelled":
            judged.append(Judgement(number, answer, NOT_APPLIED, "cancelled before it was complete"))
            continue
        say(f"judging candidate {number} of {len(answers)}: `{command}` in a scratch copy")
        judged.append(judge_answer(root, number, answer, command, timeout_s, run_command))
    return judged


def first_passing(judged: list[Judgement]) -> Judgement | None:
    return next((j for j in judged if j.passed), None)
