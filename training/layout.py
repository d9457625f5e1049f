"""The repair canvas: how a broken Python window, its context and the answer slot sit in token positions.

Shared by training (make_example) and by inference (make_inference_canvas,
decode_answer, apply_answer); docs/model.md describes the same format. Given
the line L that compile() reports, the *window* is lines [L-1, L], or line L
alone when both do not fit the slot (`choose_window`); the model rewrites the
whole window. The canvas, in
suffix-prefix-middle order so that the answer slot comes last (dgcode's engine
generates after the prompt):

    <|after|>  lines after the window (nearest first, cut to a budget)
    <|before|> lines before the window (nearest last, cut to a budget)
    <|broken|> the window as it is now, then <|pad|> up to SLOT tokens
               (the window must leave room: at most SLOT-1 tokens)
    <|fix|>    the answer slot: SLOT positions, all <|mask|> at inference;
               in training the original window, then <|endoftext|> to the end

The broken slot and the answer slot have the same length and are adjacent, so
answer token i sits exactly SLOT+1 positions after broken token i: with RoPE
that fixed relative offset makes copying the unchanged tokens easy (the
"aligned slot" layout of DESIGN.md's training experiment). Every line is
tokenized on its own (text + line ending) so the token boundaries of a line do
not depend on its neighbours. Training canvases are left-padded with <|pad|> to
CANVAS tokens and the model is trained with the pads masked out of attention, so
the unpadded prompt at inference gives the same result (RoPE is relative).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

EOS, PAD, MASK = "<|endoftext|>", "<|pad|>", "<|mask|>"
AFTER, BEFORE, BROKEN, FIX = "<|after|>", "<|before|>", "<|broken|>", "<|fix|>"


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...   # plain text, special-token names not parsed

    def decode(self, ids: Sequence[int]) -> str: ...

    def special(self, name: str) -> int: ...


@dataclass(frozen=True)
class CanvasSpec:
    canvas: int = 256          # training canvas length (prompt + answer slot)
    slot: int = 64             # broken slot = answer slot length
    after_budget: int = 40     # most tokens of lines after the window (more if the file starts soon)
    lines_before_error: int = 1  # window = [L - lines_before_error, L + lines_after_error]
    lines_after_error: int = 0

    @property
    def context_budget(self) -> int:
        """Tokens for the after + before context (four marker tokens, two slots)."""
        return self.canvas - 2 * self.slot - 4

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
    return max(0, error_line - spec.lines_before_error), min(n_lines, error_line + spec.lines_after_error + 1)


def choose_window(tok: Tokenizer, lines: Sequence[str], error_line: int,
                  spec: CanvasSpec = DEFAULT_SPEC) -> tuple[tuple[int, int], list[int]] | None:
    """The window the model rewrites and its tokens: window_for_error's, or the reported line alone
    when that is too long; None when even that does not fit (the broken text must leave room in the
    slot for <|endoftext|>)."""
    if not lines:
        return None
    window = window_for_error(len(lines), error_line, spec)
    broken = encode_lines(tok, lines[window[0]:window[1]])
    if len(broken) < spec.slot:
        return window, broken
    line = min(max(error_line, 0), len(lines) - 1)
    if window == (line, line + 1):
        return None
    broken = encode_lines(tok, lines[line:line + 1])
    return ((line, line + 1), broken) if len(broken) < spec.slot else None


def encode_lines(tok: Tokenizer, lines: Sequence[str]) -> list[int]:
    out: list[int] = []
    for line in lines:
        out.extend(tok.encode(line))
    return out


def _context(tok: Tokenizer, lines: Sequence[str], window: tuple[int, int], spec: CanvasSpec,
             look: int = 40) -> tuple[list[int], list[int]]:
    """(after, before) context tokens within the context budget."""
    start, end = window
    budget = spec.context_budget
    after = encode_lines(tok, lines[end:end + look])
    before = encode_lines(tok, lines[max(0, start - look):start])
    n_after = min(len(after), spec.after_budget)
    n_before = min(len(before), budget - n_after)
    n_after = min(len(after), budget - n_before)
    return after[:n_after], before[len(before) - n_before:]


def _prompt(tok: Tokenizer, after: list[int], before: list[int], broken: list[int], spec: CanvasSpec) -> list[int]:
    pad = tok.special(PAD)
    return ([tok.special(AFTER)] + after + [tok.special(BEFORE)] + before + [tok.special(BROKEN)]
            + broken + [pad] * (spec.slot - len(broken)) + [tok.special(FIX)])


def make_example(tok: Tokenizer, broken_lines: Sequence[str], error_line: int,
                 answer_for: Callable[[tuple[int, int]], Sequence[str] | None],
                 spec: CanvasSpec = DEFAULT_SPEC) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
    """A training canvas: (tokens, loss mask over the answer slot, window), left-padded to spec.canvas.

    `broken_lines` is the whole broken file and `error_line` the 0-based line
    compile() reports; the window is chosen as at inference. `answer_for(window)`
    gives the correct text of the window's lines, or None when the window does
    not cover the error (the example is then skipped). None too when the answer
    does not fit its slot with one <|endoftext|> after it.
    """
    chosen = choose_window(tok, broken_lines, error_line, spec)
    if chosen is None:
        return None
    window, broken = chosen
    answer_lines = answer_for(window)
    if answer_lines is None:
        return None
    answer = encode_lines(tok, answer_lines)
    if len(answer) >= spec.slot:
        return None
    after, before = _context(tok, broken_lines, window, spec)
    prompt = _prompt(tok, after, before, broken, spec)
    eos = tok.special(EOS)
    body = prompt + answer + [eos] * (spec.slot - len(answer))
    tokens = np.full(spec.canvas, tok.special(PAD), dtype=np.int64)
    tokens[spec.canvas - len(body):] = body
    loss_mask = np.zeros(spec.canvas, dtype=bool)
    loss_mask[spec.answer_start:] = True
    return tokens, loss_mask, window


@dataclass(frozen=True)
class InferenceCanvas:
    prompt: list[int]          # ends with <|fix|>; the answer slot follows
    answer_slot: int           # positions to generate (all masked)
    window: tuple[int, int]    # the source lines [start, end) the answer replaces (0-based)


def make_inference_canvas(tok: Tokenizer, source: str, error_lineno: int,
                          spec: CanvasSpec = DEFAULT_SPEC) -> InferenceCanvas | None:
    """The prompt for repairing `source`, whose compile() reported SyntaxError.lineno = error_lineno (1-based).

    None when even the reported line alone does not fit the slot.
    """
    lines = split_lines(source)
    chosen = choose_window(tok, lines, error_lineno - 1, spec)
    if chosen is None:
        return None
    window, broken = chosen
    after, before = _context(tok, lines, window, spec)
    return InferenceCanvas(_prompt(tok, after, before, broken, spec), spec.slot, window)


def decode_answer(tok: Tokenizer, answer_tokens: Sequence[int]) -> list[str]:
    """The replacement lines an answer stands for: its text up to <|endoftext|> (or <|pad|>/<|mask|>)."""
    stops = {tok.special(EOS), tok.special(PAD), tok.special(MASK)}
    ids: list[int] = []
    for t in answer_tokens:
        if int(t) in stops:
            break
        ids.append(int(t))
    return split_lines(tok.decode(ids))


def apply_answer(source: str, window: tuple[int, int], replacement: Sequence[str]) -> str:
    """The source with lines [start, end) replaced; a replacement missing its last line ending gets
    one when lines follow."""
    lines = split_lines(source)
    start, end = window
    new = list(replacement)
    if new and end < len(lines) and not new[-1].endswith(("\n", "\r")):
        new[-1] += "\n"
    return "".join(lines[:start] + new + lines[end:])
