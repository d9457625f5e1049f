"""The repair canvas: where a broken Python window, its context, the compiler's message and the answer sit.

Shared by training (`make_example`) and inference (`make_inference_canvas`,
`decode_answer`, `apply_answer`); docs/model.md describes the same format.
Given the line L that compile() reports, the *window* is lines [L-1, L], or
line L alone when both do not fit the slot, or, for a line longer than the
slot, the part of line L around the error's column, its head and tail then
joining the context (`choose_window`). The canvas, in
suffix-prefix-middle order so that the answer slot comes last (dgcode's
engine generates after the prompt):

    <|after|>  lines after the window (BPE tokens, nearest first, cut to a budget)
    <|before|> lines before the window (BPE tokens, nearest last, the rest of the budget)
    <|error|>  the compiler's message (BPE tokens, cut to a budget)
    <|broken|> the window's bytes, one byte token each, then <|pad|> up to SLOT
    <|fix|>    the answer slot: SLOT positions, all <|mask|> at inference; in
               training one edit operation per window byte (edit_ops.py), then
               <|endoftext|> to the end

Broken byte i and its operation sit exactly SLOT+1 positions apart, a fixed
relative offset (RoPE), so "look at the byte I tag" is one attention pattern;
and since most operations are <|keep|>, the model's real decisions are few
and local. Training canvases are left-padded with <|pad|> to CANVAS tokens
with the pads hidden from attention, so the unpadded prompt at inference gives
the same result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from dgcode.engine.byte_vocab import byte_char_map
from dgcode.repair.edit_ops import OPS, apply_ops, ops_for

EOS, PAD, MASK = "<|endoftext|>", "<|pad|>", "<|mask|>"
AFTER, BEFORE, ERROR, BROKEN, FIX = "<|after|>", "<|before|>", "<|error|>", "<|broken|>", "<|fix|>"
MARKERS = (AFTER, BEFORE, ERROR, BROKEN, FIX)
SPECIALS: tuple[str, ...] = (EOS, PAD, MASK) + MARKERS + OPS
_BYTES_IN_ID_ORDER = list(byte_char_map())  # token ids 0..255 are GPT-2's byte characters, in its order
BYTE_TOKEN_IDS: tuple[int, ...] = tuple(_BYTES_IN_ID_ORDER.index(b) for b in range(256))


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...   # plain text, special-token names not parsed

    def special(self, name: str) -> int: ...


@dataclass(frozen=True)
class CanvasSpec:
    canvas: int = 352          # training canvas length (prompt + answer slot)
    slot: int = 128            # broken slot = answer slot length, in bytes
    after_budget: int = 24     # most tokens of lines after the window (more if the file starts soon)
    error_budget: int = 16     # most tokens of the compiler's message
    lines_before_error: int = 1  # window = [L - lines_before_error, L]

    @property
    def context_budget(self) -> int:
        """Tokens for the after + before context and the message (five markers, two slots)."""
        return self.canvas - 2 * self.slot - len(MARKERS)

    @property
    def answer_start(self) -> int:
        """Position of the first answer token in a (left-padded) training canvas."""
        return self.canvas - self.slot


DEFAULT_SPEC = CanvasSpec()


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split at "\\n" as compile() counts lines (not at form feeds as
    str.splitlines does; a lone "\\r", which compile() also counts, is not handled)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def window_for_error(n_lines: int, error_line: int, spec: CanvasSpec = DEFAULT_SPEC) -> tuple[int, int]:
    """Lines [start, end) around the 0-based line compile() reported, before any length check."""
    error_line = min(max(error_line, 0), max(n_lines - 1, 0))
    return max(0, error_line - spec.lines_before_error), min(n_lines, error_line + 1)


@dataclass(frozen=True)
class Window:
    """What the model tags: source lines [start, end) (0-based), or the middle of one long line."""

    lines: tuple[int, int]
    broken: bytes           # the bytes the model sees and tags
    head: bytes = b""       # bytes of the line before `broken` (a long line cut to fit the slot)
    tail: bytes = b""       # bytes of the line after it


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


def choose_window(lines: Sequence[str], error_line: int, spec: CanvasSpec = DEFAULT_SPEC,
                  column: int = 0) -> Window | None:
    """window_for_error's lines; the reported line alone when they are too long together; the part of
    that line around `column` (0-based, in characters) when it alone is too long. There is always room
    left for <|endoftext|>; None only when there are no lines."""
    if not lines:
        return None
    window = window_for_error(len(lines), error_line, spec)
    broken = "".join(lines[window[0]:window[1]]).encode("utf-8")
    if len(broken) < spec.slot:
        return Window(window, broken)
    line = min(max(error_line, 0), len(lines) - 1)
    text = lines[line]
    broken = text.encode("utf-8")
    if len(broken) < spec.slot:
        return Window((line, line + 1), broken)
    column = len(text[:min(max(column, 0), len(text))].encode("utf-8"))
    a, b = _cut(broken, column, spec.slot - 1)
    return Window((line, line + 1), broken[a:b], broken[:a], broken[b:])


_LINE_REFERENCE = re.compile(r" \(detected at line \d+\)| on line \d+")


def clean_message(message: str) -> str:
    """The compiler's message without line numbers (they depend on where the window sits) and runs of spaces."""
    return " ".join(_LINE_REFERENCE.sub("", message).split())


def encode_lines(tok: Tokenizer, lines: Sequence[str]) -> list[int]:
    """Each line tokenized on its own, so its tokens never depend on its neighbours."""
    out: list[int] = []
    for line in lines:
        out.extend(tok.encode(line))
    return out


def _context(tok: Tokenizer, lines: Sequence[str], window: Window, message: str, spec: CanvasSpec,
             look: int = 24) -> tuple[list[int], list[int], list[int]]:
    """(after, before, message) tokens within the context budget; a cut line's head ends the lines
    before, its tail starts the lines after."""
    start, end = window.lines
    error = tok.encode(clean_message(message))[:min(spec.error_budget, spec.context_budget)]
    budget = spec.context_budget - len(error)
    after = tok.encode(window.tail.decode("utf-8")) + encode_lines(tok, lines[end:end + look])
    before = encode_lines(tok, lines[max(0, start - look):start]) + tok.encode(window.head.decode("utf-8"))
    n_after = min(len(after), spec.after_budget, budget)
    n_before = min(len(before), budget - n_after)
    n_after = min(len(after), budget - n_before)
    return after[:n_after], before[len(before) - n_before:], error


def _prompt(tok: Tokenizer, after: list[int], before: list[int], error: list[int], broken: bytes,
            spec: CanvasSpec) -> list[int]:
    return ([tok.special(AFTER)] + after + [tok.special(BEFORE)] + before + [tok.special(ERROR)] + error
            + [tok.special(BROKEN)] + [BYTE_TOKEN_IDS[b] for b in broken]
            + [tok.special(PAD)] * (spec.slot - len(broken)) + [tok.special(FIX)])


def make_example(tok: Tokenizer, broken_lines: Sequence[str], error_line: int, message: str,
                 answer_for: Callable[[tuple[int, int]], Sequence[str] | None],
                 spec: CanvasSpec = DEFAULT_SPEC,
                 error_column: int = 0) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
    """A training canvas: (tokens, loss mask over the answer slot, window lines), left-padded to spec.canvas.

    `broken_lines` is the whole broken file, `error_line` the 0-based line
    compile() reports, `error_column` its 0-based column and `message` its
    message; the window is chosen as at inference. `answer_for(lines)` gives
    the correct text of those lines, or None when the window does not cover
    the error. None too when the repair cannot be said as one edit operation
    per byte (or, for a cut line, not within the cut).
    """
    window = choose_window(broken_lines, error_line, spec, error_column)
    if window is None:
        return None
    answer_lines = answer_for(window.lines)
    if answer_lines is None:
        return None
    fixed = fixed_bytes(window, answer_lines)
    ops = None if fixed is None else ops_for(window.broken, fixed)
    if ops is None:
        return None
    after, before, error = _context(tok, broken_lines, window, message, spec)
    prompt = _prompt(tok, after, before, error, window.broken, spec)
    body = prompt + [tok.special(op) for op in ops] + [tok.special(EOS)] * (spec.slot - len(ops))
    tokens = np.full(spec.canvas, tok.special(PAD), dtype=np.int64)
    tokens[spec.canvas - len(body):] = body
    loss_mask = np.zeros(spec.canvas, dtype=bool)
    loss_mask[spec.answer_start:] = True
    return tokens, loss_mask, window.lines


@dataclass(frozen=True)
class InferenceCanvas:
    prompt: list[int]          # ends with <|fix|>; the answer slot follows
    answer_slot: int           # positions to generate (all masked)
    window: tuple[int, int]    # the source lines [start, end) the answer replaces (0-based)
    broken: bytes              # the bytes the answer's operations apply to
    head: bytes = b""          # of a cut line: the bytes before `broken` ...
    tail: bytes = b""          # ... and after it, kept as they are


def make_inference_canvas(tok: Tokenizer, source: str, error_lineno: int, message: str,
                          spec: CanvasSpec = DEFAULT_SPEC, error_offset: int = 0) -> InferenceCanvas | None:
    """The prompt for repairing `source`, for which compile() reported SyntaxError(message) at
    lineno `error_lineno` and offset `error_offset` (1-based; 0 when not known). None for an empty source."""
    lines = split_lines(source)
    window = choose_window(lines, error_lineno - 1, spec, max(error_offset - 1, 0))
    if window is None:
        return None
    after, before, error = _context(tok, lines, window, message, spec)
    return InferenceCanvas(_prompt(tok, after, before, error, window.broken, spec), spec.slot, window.lines,
                           window.broken, window.head, window.tail)


def decode_answer(tok: Tokenizer, canvas: InferenceCanvas, answer_tokens: Sequence[int]) -> list[str] | None:
    """The replacement lines an answer's operations make of the window; None if they are not UTF-8."""
    names = {tok.special(op): op for op in OPS}
    ops = [names.get(int(t), "") for t in answer_tokens[:len(canvas.broken)]]
    try:
        return split_lines((canvas.head + apply_ops(canvas.broken, ops) + canvas.tail).decode("utf-8"))
    except UnicodeDecodeError:
        return None


def apply_answer(source: str, window: tuple[int, int], replacement: Sequence[str]) -> str:
    """The source with lines [start, end) replaced; a replacement missing its last line ending gets
    one when lines follow."""
    lines = split_lines(source)
    start, end = window
    new = list(replacement)
    if new and end < len(lines) and not new[-1].endswith(("\n", "\r")):
        new[-1] += "\n"
    return "".join(lines[:start] + new + lines[end:])
