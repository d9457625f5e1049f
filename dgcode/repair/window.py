"""The window: which bytes of a broken file the repair model tags, chosen from the line compile() reports.

Given the 0-based line L that compile() reports, the *core* of the window is
lines [L - lines_before_error, L + lines_after_error] of the spec (layout
version 2: [L-1, L]); when they do not fit the slot, the line farthest from
L is dropped, then the next, down to line L alone (for version 2's shape:
both lines, else L alone, exactly version 2's rule); a line longer than the
slot is cut: the core is the slot's worth of its bytes around the error's
column, its head and tail joining the context.

Layout version 3 may add a *reach* (a spec with reach_slot > 0): up to
reach_before whole lines just before the core and reach_after just after it,
shrunk the same way to fit the reach slot. The compiler often reports a
missing bracket or an indentation slip a line or two away from it; the reach
lets the model tag those lines while the core, and so the core's alignment
in the canvas, stays exactly version 2's (canvas.py). A cut core has no reach.

Window.broken holds every byte tagged, in file order (reach before, core,
reach after); `answer_positions` says where each byte's operation sits in the
answer: core byte i at i, the reach's bytes from `slot` on, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence


class WindowShape(Protocol):
    """The window's shape, as canvas.CanvasSpec gives it (a protocol, so the canvas imports the window, not back)."""

    @property
    def slot(self) -> int: ...
    @property
    def lines_before_error(self) -> int: ...
    @property
    def lines_after_error(self) -> int: ...
    @property
    def reach_before(self) -> int: ...
    @property
    def reach_after(self) -> int: ...
    @property
    def reach_slot(self) -> int: ...


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split at "\\n" as compile() counts lines (not at form feeds as
    str.splitlines does; a lone "\\r", which compile() also counts, is not handled)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


@dataclass(frozen=True)
class Window:
    """What the model tags: source lines [start, end) (0-based), or the middle of one long line."""

    lines: tuple[int, int]
    broken: bytes           # the bytes the model sees and tags, in file order
    head: bytes = b""       # bytes of the line before `broken` (a long line cut to fit the slot)
    tail: bytes = b""       # bytes of the line after it
    reach_head: int = 0     # the first reach_head bytes of `broken` are reach lines before the core ...
    reach_tail: int = 0     # ... and the last reach_tail bytes reach lines after it
    reach_lines: tuple[int, int] = (0, 0)   # how many lines of the reach come before and after the core

    @property
    def core_lines(self) -> tuple[int, int]:
        return self.lines[0] + self.reach_lines[0], self.lines[1] - self.reach_lines[1]

    @property
    def core(self) -> bytes:
        """The bytes in the (version 2) broken slot."""
        return self.broken[self.reach_head:len(self.broken) - self.reach_tail]

    @property
    def reach(self) -> bytes:
        """The bytes in the reach slot: the reach lines before the core, then those after it."""
        return self.broken[:self.reach_head] + self.broken[len(self.broken) - self.reach_tail:]


def answer_positions(window: Window, slot: int) -> tuple[int, ...]:
    """Where the operation for each byte of window.broken sits in the answer (file order): core byte i at
    answer position i, the k-th reach byte at slot + k."""
    n_core = len(window.broken) - window.reach_head - window.reach_tail
    head = tuple(slot + k for k in range(window.reach_head))
    tail = tuple(slot + window.reach_head + k for k in range(window.reach_tail))
    return head + tuple(range(n_core)) + tail


def window_for_error(n_lines: int, error_line: int, spec: WindowShape) -> tuple[int, int]:
    """The core's lines [start, end) around the 0-based line compile() reported, before any length check."""
    error_line = min(max(error_line, 0), max(n_lines - 1, 0))
    return (max(0, error_line - spec.lines_before_error),
            min(n_lines, error_line + 1 + spec.lines_after_error))


def shrinking_windows(window: tuple[int, int], keep: int | tuple[int, int]) -> Iterator[tuple[int, int]]:
    """`window`, then the same less its line farthest from `keep` (a line, or lines [a, b) that are never
    dropped; a line after them when both sides are as far), and so on down to `keep` alone."""
    keep_start, keep_end = (keep, keep + 1) if isinstance(keep, int) else keep
    start, end = window
    while True:
        yield start, end
        if start >= keep_start and end <= keep_end:
            return
        if end > keep_end and end - keep_end >= keep_start - start:
            end -= 1
        else:
            start += 1


def fixed_bytes(window: Window, answer_lines: Sequence[str]) -> bytes | None:
    """What window.broken should be, given the correct text of the window's lines; None when the
    repair reaches outside a cut line's window (its head or tail would change too)."""
    fixed = "".join(answer_lines).encode("utf-8")
    head, tail = window.head, window.tail
    if len(fixed) < len(head) + len(tail) or not (fixed.startswith(head) and fixed.endswith(tail)):
        return None
    return fixed[len(head):len(fixed) - len(tail)]


def _cut(line: bytes, column: int, room: int) -> tuple[int, int]:
    """Bytes [a, b) of a line longer than `room`: `room` bytes or a few less (never splitting a UTF-8
    character), with byte `column` two thirds of the way in (a slip usually comes before the error)."""
    a = min(max(column - (2 * room) // 3, 0), len(line) - room)
    b = a + room
    while a < b and 0x80 <= line[a] < 0xC0:
        a += 1
    while b > a and b < len(line) and 0x80 <= line[b] < 0xC0:
        b -= 1
    return a, b


def _core(lines: Sequence[str], line: int, spec: WindowShape, column: int) -> Window:
    for window in shrinking_windows(window_for_error(len(lines), line, spec), line):
        broken = "".join(lines[window[0]:window[1]]).encode("utf-8")
        if len(broken) < spec.slot:
            return Window(window, broken)
    text = lines[line]
    broken = text.encode("utf-8")
    column = len(text[:min(max(column, 0), len(text))].encode("utf-8"))
    a, b = _cut(broken, column, spec.slot - 1)
    return Window((line, line + 1), broken[a:b], broken[:a], broken[b:])


def _with_reach(lines: Sequence[str], core: Window, spec: WindowShape) -> Window:
    start, end = core.lines
    widest = (max(0, start - spec.reach_before), min(len(lines), end + spec.reach_after))
    for window in shrinking_windows(widest, core.lines):
        before = "".join(lines[window[0]:start]).encode("utf-8")
        after = "".join(lines[end:window[1]]).encode("utf-8")
        if len(before) + len(after) < spec.reach_slot:
            return Window(window, before + core.broken + after, reach_head=len(before), reach_tail=len(after),
                          reach_lines=(start - window[0], window[1] - end))
    return core  # not reached: the last window tried is the core itself


def choose_window(lines: Sequence[str], error_line: int, spec: WindowShape, column: int = 0) -> Window | None:
    """The window for the error compile() reports at 0-based `error_line` and `column` (in characters); see the
    module docstring. There is always room left for <|endoftext|> in each slot; None only when there are no
    lines."""
    if not lines:
        return None
    core = _core(lines, min(max(error_line, 0), len(lines) - 1), spec, column)
    if spec.reach_slot <= 0 or core.head or core.tail:
        return core
    return _with_reach(lines, core, spec)
