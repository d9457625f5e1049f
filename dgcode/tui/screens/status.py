"""Measuring an answer for the status line: submit time, first canvas drawn, and the engine's own numbers.

A mixin of MainScreen (it uses the screen's StatusLine). ``status_begin`` runs
when a message is submitted, ``status_step`` each time the canvas draws a
step (only the first one sets the time to the first canvas), and
``status_finish`` when the answer is in: tokens, steps, seconds and the
prompt tokens the engine reused from its cache come from the Answer. While
an answer comes, the line is hidden (the canvas's border shows the live
step, tok/step and tok/s), so the canvas keeps its full height.
"""

from __future__ import annotations

import time
from dataclasses import replace

from dgcode.tui.status import AnswerStats
from dgcode.tui.widgets.status import StatusLine


class StatusMixin:
    """Keeps the status line up to date; mixed into MainScreen."""

    _submitted_at: float | None = None
    _status: AnswerStats | None = None

    @property
    def status_line(self) -> StatusLine:
        return self.query_one(StatusLine)

    def status_begin(self) -> None:
        """A message was submitted: the clock for the first canvas starts."""
        self._submitted_at = time.monotonic()
        self._status = None
        self.status_line.show_stats(None)

    def status_step(self, steps: int) -> None:
        """The canvas drew a step (``steps`` so far); the first one fixes the time to the first canvas."""
        if self._status is None:
            began = self._submitted_at if self._submitted_at is not None else time.monotonic()
            self._status = AnswerStats(first_canvas_s=time.monotonic() - began)
        self._status = replace(self._status, steps=steps)

    def status_finish(self, answer, prompt_tokens: int | None = None) -> None:
        """The answer is in: show its speed, tokens per step and the cache reuse."""
        first = self._status.first_canvas_s if self._status is not None else None
        self._status = AnswerStats(tokens=answer.tokens, steps=answer.steps, wall_s=answer.wall_s,
                                   first_canvas_s=first, reused_tokens=getattr(answer, "reused_tokens", 0),
                                   prompt_tokens=prompt_tokens, done=True)
        self._submitted_at = None
        self.status_line.show_stats(self._status)
