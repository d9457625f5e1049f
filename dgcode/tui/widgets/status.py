"""The status line under the canvas: the last (or current) answer's speed, in one dim line.

It stays hidden until there is something to say (``format_status`` in
dgcode/tui/status.py writes the words).
"""

from __future__ import annotations

from textual.widgets import Static

from dgcode.tui.status import AnswerStats, format_status


class StatusLine(Static):
    """One line: tok/s, tok/step, time to the first canvas, prompt tokens reused from the cache."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        margin: 0 2;
        color: $text-muted;
        display: none;
    }
    StatusLine.-shown {
        display: block;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.stats: AnswerStats | None = None
        self.line = ""

    def show_stats(self, stats: AnswerStats | None) -> None:
        """Show ``stats`` (None: hide the line)."""
        self.stats = stats
        self.line = format_status(stats)
        self.update(self.line)
        self.set_class(bool(self.line), "-shown")
