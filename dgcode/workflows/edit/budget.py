"""The answer budget for a rewritten span: how many masked tokens the slot between prefix and suffix gets.

The rule (docs/edit.md): the span's current length in the model's own
tokens, times a growth factor, plus slack, with a floor, capped by the
context left after the prompt, the text before the span and the text after
it::

    budget = min(room, max(FLOOR, ceil(GROWTH * span_tokens) + SLACK))
    room   = n_ctx - prompt_tokens - suffix_tokens

``--budget N`` replaces the rule (and must fit in ``room``).

Shrinking is free: the engine ends the answer at the first end-of-text (or
padding) token that is final with everything before it (engine/sampler.py,
``_first_end``), so an answer shorter than its slot leaves the unused tail
out and the span gets shorter.  Growing costs a second pass: an answer that
fills its whole slot without an end-of-text (stop reason ``length``) may be
cut off, so the span is denoised again, once, in a slot twice as large
(``grown``), unless the budget came from ``--budget`` or the slot already
fills the room.  An answer still at ``length`` after that is used as it is,
with a note saying so.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from dgcode.engine.errors import PromptTooLongError
from dgcode.engine.settings import SamplerSettings, sub_block_ranges

FLOOR = 32
GROWTH = 1.5
SLACK = 16
REGROW = 2
"""The second slot is this many times the first (still capped by the room)."""
RULE = f"max({FLOOR}, ceil({GROWTH} x span tokens) + {SLACK}), capped by the context left"


@dataclass(frozen=True)
class Budget:
    """The slot's size and how it was chosen."""

    tokens: int
    span_tokens: int
    room: int
    source: str
    """``"rule"`` (chosen from the span) or ``"flag"`` (``--budget``)."""
    capped: bool = False
    """The rule wanted more than the room left."""

    def to_json(self) -> dict[str, object]:
        return {"tokens": self.tokens, "span_tokens": self.span_tokens, "room": self.room, "source": self.source,
                "capped": self.capped, "rule": RULE if self.source == "rule" else "--budget"}


def wanted(span_tokens: int) -> int:
    """What the rule asks for a span of ``span_tokens``, before the cap."""
    return max(FLOOR, math.ceil(GROWTH * span_tokens) + SLACK)


def choose_budget(span_tokens: int, room: int, requested: int | None = None) -> Budget:
    """The first slot; PromptTooLongError when not even one token (or the requested budget) fits."""
    if room < 1:
        raise PromptTooLongError("the prompt and the file around the span fill the whole context (no room "
                                 "left for an answer); raise n_ctx or rewrite a smaller file")
    if requested is not None:
        if requested > room:
            raise PromptTooLongError(f"--budget {requested} does not fit: the context has room for {room} answer "
                                     "tokens after the prompt and the file around the span; lower it or raise n_ctx")
        return Budget(requested, span_tokens, room, "flag")
    want = wanted(span_tokens)
    return Budget(min(want, room), span_tokens, room, "rule", capped=want > room)


def grown(budget: Budget) -> Budget | None:
    """The second, larger slot after an answer that filled the first; None when it cannot or should not grow."""
    if budget.source != "rule" or budget.tokens >= budget.room:
        return None
    bigger = min(budget.room, budget.tokens * REGROW)
    return dataclasses.replace(budget, tokens=bigger, capped=budget.tokens * REGROW > budget.room)


def settings_for(base: SamplerSettings, tokens: int) -> SamplerSettings:
    """``base`` with a slot of ``tokens``; a step-counted schedule keeps its tokens per step.

    The canvas covers the whole slot (at least the base canvas, rounded up to whole sub-blocks), so a
    front end draws the span crystallizing in one piece, in place between the file's lines.
    """
    steps = base.steps
    if steps is not None and base.schedule != "threshold":
        per_step = base.max_tokens / steps if steps else 1.0
        steps = max(len(sub_block_ranges(tokens, base.sub_block_size)), math.ceil(tokens / per_step))
    canvas = max(base.canvas_size, math.ceil(tokens / base.sub_block_size) * base.sub_block_size)
    return dataclasses.replace(base, max_tokens=tokens, steps=steps, canvas_size=canvas)
