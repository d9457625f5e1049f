"""K live canvases side by side: the candidates of one turn crystallizing together, each in its own column.

A row of DiffusionCanvas widgets (widgets/canvas.py), one per candidate,
shown only while a K-candidate turn runs (/candidates). ``show`` hands each
step event to the canvas of the candidate it names (``event.candidate``,
engine/candidates.py), which keeps only the newest and redraws at most FPS
times a second, so K fast candidates cannot flood the UI.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal

from dgcode.tui.widgets.canvas import DiffusionCanvas

MAX_CANVASES = 8
"""As many canvases as /candidates may ask for (workflows/chat/candidates_turn.py MAX_CANDIDATES)."""


class CandidateCanvases(Horizontal):
    """One canvas per candidate, side by side; hidden between K-candidate turns."""

    DEFAULT_CSS = """
    CandidateCanvases {
        height: auto;
        max-height: 14;
        display: none;
    }
    CandidateCanvases.-running {
        display: block;
    }
    CandidateCanvases > DiffusionCanvas {
        width: 1fr;
        max-height: 14;
    }
    """

    def compose(self) -> ComposeResult:
        for number in range(1, MAX_CANVASES + 1):
            yield DiffusionCanvas(id=f"candidate-{number}")

    @property
    def canvases(self) -> list[DiffusionCanvas]:
        return list(self.query(DiffusionCanvas))

    def begin(self, k: int, canvas_size: int) -> None:
        """A new K-candidate turn: the first K canvases, empty until their first steps (the others stay hidden)."""
        for number, canvas in enumerate(self.canvases, 1):
            if number <= k:
                canvas.begin(canvas_size, f"candidate {number}")
            else:
                canvas.finish()
        self.set_class(True, "-running")

    def show(self, event) -> None:
        canvases = self.canvases
        index = getattr(event, "candidate", 0)
        if 0 <= index < len(canvases):
            canvases[index].show(event)

    def set_phase(self, text: str) -> None:
        for canvas in self.canvases:
            canvas.phase = text

    def finish(self) -> None:
        for canvas in self.canvases:
            canvas.finish()
        self.set_class(False, "-running")
