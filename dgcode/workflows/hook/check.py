"""The hook's check command and its time budget: run the person's command bounded, keep the model within the time left.

``run_check`` is ``dgcode.workflows.user_command.run_user_command`` (shell, own process
group, no stdin, head and tail of the output kept).  The hook makes the first
run itself and hands it to ``run_fix`` as ``first_run``.  ``BudgetedRunner`` and
``BudgetedEngine`` wrap the command runner and the FixEngine that ``run_fix``
uses so that nothing starts after the deadline (``hook.budget_s``) and
denoising stops when it passes (``BudgetedRepairer``: the same for the
default check's repair model); ``BudgetExceeded`` then ends the fix, and
the hook fails open (RELIABILITY #16).  Loading the model is not
interruptible, so a slow load can overrun the budget.
"""

from __future__ import annotations

import time
from pathlib import Path

from dgcode.workflows.user_command import CommandResult, run_user_command


class BudgetExceeded(Exception):
    """The hook's time budget ran out (deliberately not an EngineError: run_fix lets it through)."""


run_check = run_user_command  # the same bounded runner as `dgcode fix --cmd`


class BudgetedRunner:
    """``run_fix``'s command runner for the runs after the hook's own: each gets what time is left."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.budget_hit = False

    def __call__(self, command: str, root: Path, timeout_s: float) -> CommandResult:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.budget_hit = True
            raise BudgetExceeded()
        result = run_check(command, root, min(timeout_s, left))
        self.budget_hit = self.budget_hit or (result.timed_out and left < timeout_s)
        return result


class BudgetedEngine:
    """A FixEngine that refuses to start work after the deadline and stops denoising when it passes.

    (Loading the model is not interruptible: a slow load can overrun the budget.)
    """

    def __init__(self, engine: object, deadline: float):
        self.engine, self.deadline, self.expired = engine, deadline, False

    def _check(self) -> None:
        if time.monotonic() >= self.deadline:
            self.expired = True
            raise BudgetExceeded()

    def count_tokens(self, text: str) -> int:
        self._check()
        return self.engine.count_tokens(text)

    def generate(self, messages, settings, on_step=None):
        self._check()

        def step(event: object) -> object:
            if time.monotonic() >= self.deadline:
                self.expired = True
                return False
            return on_step(event) if on_step is not None else None

        answer = self.engine.generate(messages, settings, step)
        if self.expired:
            raise BudgetExceeded()
        return answer

    def close(self) -> None:
        self.engine.close()


class BudgetedRepairer:
    """A repairer that starts no repair step after the hook's deadline."""

    def __init__(self, repairer: object, deadline: float):
        self.repairer, self.deadline = repairer, deadline

    def ask(self, *args, **kwargs):
        if time.monotonic() >= self.deadline:
            raise BudgetExceeded()
        return self.repairer.ask(*args, **kwargs)

    def close(self) -> None:
        self.repairer.close()
