"""The live diffusion canvas: one block of the answer drawn as it crystallizes, step by step.

Masked positions are dim dots, committed tokens are their text coloured by the
confidence they were committed with (dgcode.render.canvas_view.confidence_style),
tokens committed by the latest step are bold, and the active sub-block is
underlined with its masked dots highlighted. The border title is the status
line (step, tokens per step, tokens per second); the subtitle names the block.

A fast engine cannot flood the UI: ``show`` only keeps the newest event, and a
timer redraws at most ``FPS`` times a second when something changed.

For ``/edit`` the canvas is a file view (``FileFrame``): the file's numbered
lines just before the range, the slot crystallizing in place behind a gutter,
then the lines just after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from dgcode.engine.sampler import StepEvent
from dgcode.render.canvas_view import MASK_GLYPH, confidence_style

MASKED_STYLE = "grey42"
ACTIVE_MASKED_STYLE = "bold bright_cyan"
ACTIVE_MASKED_STYLE_LIGHT = "bold dark_cyan"
"""The active sub-block's dots on a light theme (bright cyan is hard to see on white)."""
TAB = "    "
FRAME_STYLE = "grey50"
GUTTER = "   ▌ "
"""What stands before each line of the slot in a file view (the file's own lines have their numbers there)."""


@dataclass(frozen=True)
class FileFrame:
    """The file around a range being rewritten: a few lines before it and after it, and their line numbers."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    first: int
    """The line number of ``before[0]`` (of the range's first line when ``before`` is empty)."""
    after_first: int
    """The line number of ``after[0]``."""

    def numbered(self, lines: tuple[str, ...], first: int, width: int) -> list[Text]:
        out = []
        for number, line in enumerate(lines, first):
            shown = Text(f"{number:>4} ", FRAME_STYLE)
            shown.append(line.replace("\t", TAB), FRAME_STYLE)
            shown.truncate(max(width, 1))
            out.append(shown)
        return out


def status_line(event: StepEvent, canvas_size: int) -> str:
    """Step, tokens committed per step so far and tokens per second (the block number is the subtitle)."""
    done = event.canvas_index * canvas_size + sum(not masked for masked in event.masked)
    per_step = done / event.step if event.step else 0.0
    rate = done / event.elapsed_s if event.elapsed_s > 0 else 0.0
    return f"step {event.step} · {per_step:.1f} tok/step · {rate:.0f} tok/s"


def canvas_text(event: StepEvent, active_masked_style: str = ACTIVE_MASKED_STYLE) -> tuple[Text, int]:
    """The canvas as styled text, and the character offset where the active sub-block starts."""
    text = Text()
    lo, hi = event.active
    fresh = set(event.committed)
    active_at = 0
    for i, (piece, masked, p) in enumerate(zip(event.texts, event.masked, event.confidence)):
        if i == lo:
            active_at = len(text)
        active = lo <= i < hi
        if masked:
            text.append(MASK_GLYPH, active_masked_style if active else MASKED_STYLE)
            continue
        style = confidence_style(p) + (" bold" if i in fresh else "") + (" underline" if active else "")
        text.append("".join(c for c in piece.replace("\t", TAB) if c == "\n" or c.isprintable()), style)
    return text, active_at


def fold_lines(text: Text, active_at: int, width: int) -> tuple[list[Text], int]:
    """``text`` cut into lines of at most ``width`` characters, and the index of the active sub-block's line."""
    width = max(width, 1)
    lines: list[Text] = []
    active_line = 0
    offset = 0
    for logical in text.split("\n", allow_blank=True):
        length = len(logical.plain)
        if offset <= active_at <= offset + length:
            active_line = len(lines) + (active_at - offset) // width
        lines.extend(logical.divide(range(width, length, width)) if length > width else [logical])
        offset += length + 1
    return lines, min(active_line, max(len(lines) - 1, 0))


class DiffusionCanvas(Widget):
    """Shows the block being denoised; hidden between turns."""

    DEFAULT_CSS = """
    DiffusionCanvas {
        height: auto;
        max-height: 11;
        padding: 0 1;
        border: round $accent 60%;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        display: none;
    }
    DiffusionCanvas.-running {
        display: block;
    }
    DiffusionCanvas.-file-view {
        max-height: 24;
    }
    """

    FPS = 30
    """Most redraws per second, however fast steps arrive."""

    running: reactive[bool] = reactive(False)
    """True from the start of a turn until its answer is in; the canvas is shown only then."""
    phase: reactive[str] = reactive("")
    """What the engine does before the first step arrives (loading the model, prefilling)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.canvas_size = 256
        self.subject = ""
        """What the canvas shows when it is not a block of a new answer (a re-masked span)."""
        self.frame: FileFrame | None = None
        """The file around the slot when the canvas is a file view (/edit)."""
        self._event: StepEvent | None = None
        self._dirty = False
        self.events_shown = 0
        """Events handed to ``show`` this turn (most are never drawn when steps are fast)."""
        self.redraws = 0
        """Redraws this turn: at most FPS a second."""

    def on_mount(self) -> None:
        self.border_subtitle = "esc cancels"
        self.set_interval(1 / self.FPS, self._flush)

    @property
    def event(self) -> StepEvent | None:
        """The newest step event (drawn within 1/FPS seconds)."""
        return self._event

    def begin(self, canvas_size: int, subject: str = "", frame: FileFrame | None = None) -> None:
        """A new turn: an empty canvas until the first step; ``subject`` names what is denoised (else the block);
        with a ``frame`` the canvas is a file view of the range being rewritten."""
        self.canvas_size = canvas_size
        self.subject = subject
        self.frame = frame
        self.set_class(frame is not None, "-file-view")
        self._event = None
        self.events_shown = self.redraws = 0
        self.border_subtitle = "esc cancels"
        self.phase = "starting"
        self.running = True

    def show(self, event: StepEvent) -> None:
        """Keep ``event`` as the newest; drawn at the next tick."""
        self._event = event
        self._dirty = True
        self.events_shown += 1

    def finish(self) -> None:
        self.running = False
        self._event = None
        self._dirty = False

    def _flush(self) -> None:
        if self._dirty and self.running:
            self._dirty = False
            self.redraws += 1
            self.border_title = status_line(self._event, self.canvas_size)
            self.border_subtitle = f"{self.subject or f'block {self._event.canvas_index + 1}'} · esc cancels"
            self.refresh(layout=True)

    def watch_running(self, running: bool) -> None:
        self.set_class(running, "-running")

    def watch_phase(self, phase: str) -> None:
        if self._event is None:
            self.border_title = phase
            self.refresh(layout=True)

    def _lines(self, width: int) -> tuple[list[Text], int]:
        frame = self.frame
        slot_width = width - len(GUTTER) if frame is not None else width
        if self._event is None:
            lines, active = fold_lines(Text(MASK_GLYPH * self.canvas_size, MASKED_STYLE), 0, slot_width)
        else:
            dark = self.app.current_theme.dark
            text, active_at = canvas_text(self._event, ACTIVE_MASKED_STYLE if dark else ACTIVE_MASKED_STYLE_LIGHT)
            lines, active = fold_lines(text, active_at, slot_width)
        if frame is None:
            return lines, active
        before = frame.numbered(frame.before, frame.first, width)
        after = frame.numbered(frame.after, frame.after_first, width)
        slot = [Text(GUTTER, "bold " + ("bright_cyan" if self.app.current_theme.dark else "dark_cyan")) + line
                for line in lines]
        return before + slot + after, len(before) + active

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self._lines(width)[0])

    def render(self) -> Text:
        width, height = self.content_region.width, self.content_region.height
        lines, active_line = self._lines(width)
        if height > 0 and len(lines) > height:
            start = min(max(0, active_line - height // 3), len(lines) - height)
            lines = lines[start:start + height]
        shown = Text("\n").join(lines)
        shown.no_wrap, shown.overflow = True, "crop"
        return shown
