"""The crystallizing canvas drawn in a plain terminal with rich (for `dgcode generate`).

Masked positions are dim dots; committed tokens are coloured by the probability
they had when committed (green sure, yellow unsure, red a guess); the active
sub-block is underlined. The Textual TUI has its own widget; this one is for
one-shot commands.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from dgcode.engine.sampler import StepEvent

MASK_GLYPH = "·"


def confidence_style(p: float) -> str:
    if p >= 0.9:
        return "green"
    if p >= 0.6:
        return "yellow"
    return "red"


def render_canvas(event: StepEvent, *, tokens_per_s: float | None = None) -> Group:
    text = Text()
    lo, hi = event.active
    for i, (piece, masked, p) in enumerate(zip(event.texts, event.masked, event.confidence)):
        underline = " underline" if lo <= i < hi else ""
        if masked:
            text.append(MASK_GLYPH, style="dim" + underline)
        else:
            text.append(piece, style=confidence_style(p) + underline)
    status = Text(
        f"step {event.step}  canvas {event.canvas_index + 1}  +{len(event.committed)} tokens"
        f"  {event.answer_final} final" + (f"  {tokens_per_s:.1f} tok/s" if tokens_per_s else ""),
        style="bold")
    return Group(status, text)
