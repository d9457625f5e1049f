"""The repair canvas: where a broken Python window, its context, the compiler's message and the answer sit.

Shared by training (`make_example`) and inference (`make_inference_canvas`,
`decode_answer`, `apply_answer`); docs/model.md describes the same format.
The window (the bytes the model tags) is chosen in window.py: a *core* of
the reported line and the one before it (layout version 2), and in layout
version 3 optionally a *reach* of a few more lines around it. The canvas, in
suffix-prefix-middle order so that the answer slot comes last (dgcode's
engine generates after the prompt):

    <|after|>  lines after the window (BPE tokens, nearest first, cut to a budget)
    <|before|> lines before the window (BPE tokens, nearest last, the rest of the budget)
    <|error|>  the compiler's message (BPE tokens, cut to a budget)
   [<|broken|> the reach's bytes, then <|endoftext|> up to REACH_SLOT]   (version 3 with a reach only)
    <|broken|> the core's bytes, one byte token each, then <|pad|> up to SLOT
    <|fix|>    the answer: SLOT positions for the core, then REACH_SLOT for the
               reach, all <|mask|> at inference; in training one edit
               operation per byte (edit_ops.py), each slot's rest <|endoftext|>

Core byte i and its operation sit exactly SLOT+1 positions apart, a fixed
relative offset (RoPE), so "look at the byte I tag" is one attention pattern;
the reach keeps the core where version 2 has it (its own bytes and operations
are a fixed 2*SLOT+REACH_SLOT+2 apart), so a version 2 model's alignment
carries over unchanged, while a longer slot would move it (the weights learnt
SLOT+1). Since most operations are <|keep|>, the model's real decisions are
few and local. Training canvases are left-padded with <|pad|> to CANVAS
tokens with the pads hidden from attention, so the unpadded prompt at
inference gives the same result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from dgcode.engine.byte_vocab import byte_char_map
from dgcode.repair.edit_ops import OPS, apply_ops, ops_for
from dgcode.repair.window import (  # noqa: F401 (re-exported: the window is part of the canvas's contract)
    Window,
    answer_positions,
    choose_window,
    fixed_bytes,
    shrinking_windows,
    split_lines,
    window_for_error,
)

EOS, PAD, MASK = "<|endoftext|>", "<|pad|>", "<|mask|>"
AFTER, BEFORE, ERROR, BROKEN, FIX = "<|after|>", "<|before|>", "<|error|>", "<|broken|>", "<|fix|>"
MARKERS = (AFTER, BEFORE, ERROR, BROKEN, FIX)
SPECIALS: tuple[str, ...] = (EOS, PAD, MASK) + MARKERS + OPS
_BYTES_IN_ID_ORDER = list(byte_char_map())  # token ids 0..255 are GPT-2's byte characters, in its order
BYTE_TOKEN_IDS: tuple[int, ...] = tuple(_BYTES_IN_ID_ORDER.index(b) for b in range(256))


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...   # plain text, special-token names not parsed

    def special(self, name: str) -> int: ...


V2_WINDOW = (1, 0)
"""Layout version 2's window: the reported line and the one before it (lines before, lines after)."""


@dataclass(frozen=True)
class CanvasSpec:
    """A canvas layout. The defaults have version 2's window and no reach (a GPU-sized canvas); V3_SPEC is layout
    version 3's, and the shipped model's is read from its GGUF (version 2: canvas 288, slot 112)."""

    canvas: int = 352          # training canvas length (prompt + answer)
    slot: int = 128            # core broken slot = its answer slot, in bytes
    after_budget: int = 24     # most tokens of lines after the window (more if the file starts soon)
    error_budget: int = 16     # most tokens of the compiler's message
    lines_before_error: int = 1  # core = [L - lines_before_error, L + lines_after_error]
    lines_after_error: int = 0
    reach_before: int = 0      # reach: whole lines before the core ...
    reach_after: int = 0       # ... and after it
    reach_slot: int = 0        # reach broken slot = its answer slot, in bytes (0: no reach)

    @property
    def layout_version(self) -> int:
        """The oldest GGUF layout version that describes this canvas: 2 for version 2's window, else 3."""
        core = (self.lines_before_error, self.lines_after_error)
        return 2 if core == V2_WINDOW and self.reach_slot == 0 else 3

    @property
    def n_markers(self) -> int:
        return len(MARKERS) + (self.reach_slot > 0)

    @property
    def answer_length(self) -> int:
        """Answer positions: the core's slot, then the reach's."""
        return self.slot + self.reach_slot

    @property
    def context_budget(self) -> int:
        """Tokens for the after + before context and the message (the markers, the slots twice)."""
        return self.canvas - 2 * self.answer_length - self.n_markers

    @property
    def answer_start(self) -> int:
        """Position of the first answer token in a (left-padded) training canvas."""
        return self.canvas - self.answer_length


DEFAULT_SPEC = CanvasSpec()
V3_SPEC = CanvasSpec(canvas=448, slot=112, reach_before=2, reach_after=1, reach_slot=80)
"""Layout version 3 as train.py makes it by default (docs/model.md, "Layout version 3"): the shipped model's core
(canvas 288's slot of 112 bytes, version 2's window, so its alignment carries over) and a reach of two lines before
it and one after in 80 more bytes, chosen by measuring coverage (training/coverage.py); the canvas grows by the
two reach slots and a marker, so the context budget stays version 2's."""
MAX_WINDOW_LINES = 16
"""The most lines a window may reach before or after the reported line (core and reach each)."""


def spec_problem(spec: CanvasSpec) -> str | None:
    """Why `spec` does not make a canvas (a slot with no room, a context budget below zero, a window out of
    range), or None when it does."""
    if spec.slot < 2:
        return f"slot {spec.slot} has no room for a byte and <|endoftext|>"
    if spec.reach_slot == 1 or spec.reach_slot < 0:
        return f"reach_slot {spec.reach_slot} has no room for a byte and <|endoftext|>"
    if spec.reach_slot == 0 and (spec.reach_before or spec.reach_after):
        return "reach lines without a reach slot"
    if spec.context_budget < 0:
        need = 2 * spec.answer_length + spec.n_markers
        return (f"canvas {spec.canvas} is shorter than its slots of {spec.slot} and {spec.reach_slot}, twice, "
                f"and {spec.n_markers} markers ({need} tokens)")
    if min(spec.after_budget, spec.error_budget) < 0:
        return "a negative context budget"
    for name in ("lines_before_error", "lines_after_error", "reach_before", "reach_after"):
        if not 0 <= getattr(spec, name) <= MAX_WINDOW_LINES:
            return f"{name} = {getattr(spec, name)} is outside 0..{MAX_WINDOW_LINES}"
    return None


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
    """(after, before, message) tokens within the context budget: the lines after and before the window's core
    (a reach's lines too, so the core's context is version 2's); a cut line's head ends the lines before, its
    tail starts the lines after."""
    start, end = window.core_lines
    error = tok.encode(clean_message(message))[:min(spec.error_budget, spec.context_budget)]
    budget = spec.context_budget - len(error)
    after = tok.encode(window.tail.decode("utf-8")) + encode_lines(tok, lines[end:end + look])
    before = encode_lines(tok, lines[max(0, start - look):start]) + tok.encode(window.head.decode("utf-8"))
    n_after = min(len(after), spec.after_budget, budget)
    n_before = min(len(before), budget - n_after)
    n_after = min(len(after), budget - n_before)
    return after[:n_after], before[len(before) - n_before:], error


def _byte_slot(tok: Tokenizer, data: bytes, size: int, fill: str) -> list[int]:
    return [tok.special(BROKEN)] + [BYTE_TOKEN_IDS[b] for b in data] + [tok.special(fill)] * (size - len(data))


def _prompt(tok: Tokenizer, after: list[int], before: list[int], error: list[int], window: Window,
            spec: CanvasSpec) -> list[int]:
    # the reach is filled with <|endoftext|>: a version 2 model reads a <|pad|> it can see as the end of the
    # core's bytes (visible pads outside the core cost it nearly all its answers; <|endoftext|> almost none)
    reach = _byte_slot(tok, window.reach, spec.reach_slot, EOS) if spec.reach_slot else []
    return ([tok.special(AFTER)] + after + [tok.special(BEFORE)] + before + [tok.special(ERROR)] + error
            + reach + _byte_slot(tok, window.core, spec.slot, PAD) + [tok.special(FIX)])


def make_example(tok: Tokenizer, broken_lines: Sequence[str], error_line: int, message: str,
                 answer_for: Callable[[tuple[int, int]], Sequence[str] | None],
                 spec: CanvasSpec = DEFAULT_SPEC,
                 error_column: int = 0) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
    """A training canvas: (tokens, loss mask over the answer, window lines), left-padded to spec.canvas.

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
    answer = [tok.special(EOS)] * spec.answer_length
    for position, op in zip(answer_positions(window, spec.slot), ops):
        answer[position] = tok.special(op)
    body = _prompt(tok, after, before, error, window, spec) + answer
    tokens = np.full(spec.canvas, tok.special(PAD), dtype=np.int64)
    tokens[spec.canvas - len(body):] = body
    loss_mask = np.zeros(spec.canvas, dtype=bool)
    loss_mask[spec.answer_start:] = True
    return tokens, loss_mask, window.lines


@dataclass(frozen=True)
class InferenceCanvas:
    prompt: list[int]          # ends with <|fix|>; the answer follows
    answer_slot: int           # positions to generate (all masked)
    window: tuple[int, int]    # the source lines [start, end) the answer replaces (0-based)
    broken: bytes              # the bytes the answer's operations apply to, in file order
    head: bytes = b""          # of a cut line: the bytes before `broken` ...
    tail: bytes = b""          # ... and after it, kept as they are
    positions: tuple[int, ...] = ()
    """The answer position of each byte's operation (window.answer_positions); () for byte i at position i."""

    @property
    def op_positions(self) -> Sequence[int]:
        return self.positions or range(len(self.broken))


def make_inference_canvas(tok: Tokenizer, source: str, error_lineno: int, message: str,
                          spec: CanvasSpec = DEFAULT_SPEC, error_offset: int = 0) -> InferenceCanvas | None:
    """The prompt for repairing `source`, for which compile() reported SyntaxError(message) at
    lineno `error_lineno` and offset `error_offset` (1-based; 0 when not known). None for an empty source."""
    lines = split_lines(source)
    window = choose_window(lines, error_lineno - 1, spec, max(error_offset - 1, 0))
    if window is None:
        return None
    after, before, error = _context(tok, lines, window, message, spec)
    return InferenceCanvas(_prompt(tok, after, before, error, window, spec), spec.answer_length, window.lines,
                           window.broken, window.head, window.tail, answer_positions(window, spec.slot))


def answer_ended(answer: Sequence[int], spec: CanvasSpec, eos: int, mask: int) -> bool:
    """Whether denoising can stop: in each slot of the answer (the core's, then the reach's) an <|endoftext|>
    is committed with nothing masked before it, or nothing is masked at all."""
    for lo, hi in ((0, spec.slot), (spec.slot, spec.answer_length)):
        part = list(answer[lo:hi])
        end = part.index(eos) if eos in part else len(part)
        if mask in part[:end]:
            return False
    return True


def decode_answer(tok: Tokenizer, canvas: InferenceCanvas, answer_tokens: Sequence[int]) -> list[str] | None:
    """The replacement lines an answer's operations make of the window; None if they are not UTF-8. An answer
    cut short (at its <|endoftext|>) keeps the bytes it has no operation for."""
    names = {tok.special(op): op for op in OPS}
    return rewrite_window(canvas, [names.get(int(answer_tokens[p]), "") if p < len(answer_tokens) else ""
                                   for p in canvas.op_positions])


def rewrite_window(canvas: InferenceCanvas, ops: Sequence[str]) -> list[str] | None:
    """The replacement lines that operations for the window's bytes, in file order, make; None if not UTF-8."""
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
