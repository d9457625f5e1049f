"""dgcode's repair model as a GGUF: recognising one, reading its canvas layout, and one repair step in the engine.

A repair model is a `dream` GGUF whose metadata carries `dgcode.repair.*`
(the canvas layout it was trained with, canvas.py; read and checked by
layout.py, whose names this module re-exports). `repair_window` runs
inside the engine's process (`EngineClient.call`): it lays out the canvas
for a file and its compiler error, denoises the answer slot with the engine's
threshold sampler, and turns the edit operations back into lines. It can also
rank alternative rewrites from one more forward pass (ranked_ops.py), for the
compiler to judge when the denoised answer does not compile.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from dgcode.repair.canvas import (
    EOS,
    MASK,
    SPECIALS,
    CanvasSpec,
    InferenceCanvas,
    Tokenizer,
    answer_ended,
    apply_answer,
    decode_answer,
    make_inference_canvas,
    rewrite_window,
    split_lines,
)
from dgcode.repair.edit_ops import OPS
from dgcode.repair.layout import LAYOUT_KEY, LAYOUT_VERSION, NotARepairModel, read_layout  # noqa: F401 (re-exported)
from dgcode.repair.ranked_ops import ranked_choices


def syntax_error(source: str, filename: str = "<file>") -> SyntaxError | None:
    """The SyntaxError compile() raises for `source` (never run), or None when it compiles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(source, filename, "exec", dont_inherit=True)
        except SyntaxError as error:
            return error
        except (ValueError, RecursionError, MemoryError) as error:  # null bytes, too deeply nested
            return SyntaxError(str(error))
    return None


class ModelTokenizer:
    """canvas.Tokenizer over llama.cpp's own tokenizer and the model's special tokens."""

    def __init__(self, model):
        self.model = model
        self.ids: dict[str, int] = {}
        for name in SPECIALS:
            ids = model.tokenize(name, parse_special=True)
            if len(ids) != 1:
                raise NotARepairModel(f"the model has no special token {name}")
            self.ids[name] = ids[0]

    def encode(self, text: str) -> list[int]:
        return self.model.tokenize(text, parse_special=False)

    def special(self, name: str) -> int:
        return self.ids[name]


@dataclass(frozen=True)
class WindowRepair:
    """The model's rewrite of lines [start, end) (0-based) of a file, and its next most likely rewrites."""

    start: int
    end: int
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]
    steps: int
    tokens: int
    wall_s: float
    alternatives: tuple[tuple[str, ...], ...] = ()   # other rewrites of the same lines, most likely first
    confidence: tuple[float, ...] = ()
    """The probability each token of the denoised answer had when it was committed (``new_lines``' tokens)."""
    costs: tuple[float, ...] = ()
    """Each alternative's log-probability below the most likely operations' (0 = as likely; ranked_ops.py)."""
    rank: int = 0
    """Which of ``rewrites()`` a repair took: 0 the denoised answer, k the k-th alternative."""
    plan: int = 0
    """Which attempt of file_repair.ATTEMPT_PLAN gave it (0: the trained window, most likely answer)."""
    runner_up: int | None = None
    """The rank of the next rewrite after the taken one that also compiles (None: none does)."""
    runner_up_cost: float | None = None
    """That rewrite's cost (see ``costs``)."""
    unknown_names: tuple[str, ...] = ()
    """Names the taken rewrite loads that the rest of the file never mentions (unknown_names.py); a rewrite
    with some is taken only when no clean one compiles."""
    rejected_calls: tuple[str, ...] = ()
    """``unittest.TestCase`` methods the taken rewrite calls on ``self`` with arguments their signature rejects
    (testcase_calls.py); a rewrite with some is taken only when no clean one compiles."""
    rival_moves: int = 0
    """For an indentation error the search did not settle: how many one-line indentation moves other than the
    taken rewrite compile (indent_candidates.py; 0: none, or the search took one)."""

    @classmethod
    def one_line(cls, source: str, row: int, new_line: str) -> "WindowRepair":
        """Line ``row`` (0-based) of ``source`` rewritten as ``new_line``, found with no model call (the caller
        sets ``wall_s``)."""
        return cls(row, row + 1, (split_lines(source)[row],), (new_line,), steps=0, tokens=0, wall_s=0.0)

    def applied_to(self, source: str, new_lines: tuple[str, ...] | None = None) -> str:
        return apply_answer(source, (self.start, self.end), self.new_lines if new_lines is None else new_lines)

    def rewrites(self) -> tuple[tuple[str, ...], ...]:
        """The denoised rewrite, then the alternatives."""
        return (self.new_lines,) + self.alternatives


@dataclass(frozen=True)
class RepairStep:
    """Picklable: one repair of `source`'s error, run inside the engine's process (EngineClient.call)."""

    source: str
    lineno: int
    message: str
    spec: CanvasSpec
    attempt: int = 0
    threshold: float = 0.9
    alternatives: int = 0
    offset: int = 0

    def __call__(self, engine) -> WindowRepair | None:
        return repair_window(engine, self.source, self.lineno, self.message, self.spec, self.threshold,
                             self.attempt, self.alternatives, self.offset)


_TOKENIZERS: dict[int, ModelTokenizer] = {}


RETRY_TEMPERATURE = 0.7


RANKED_ALTERNATIVES = 32
"""How many alternative rewrites dgcode fix asks for with its first attempt at an error."""


def repair_window(engine, source: str, lineno: int, message: str, spec: CanvasSpec,
                  threshold: float = 0.9, attempt: int = 0, alternatives: int = 0,
                  offset: int = 0, mask_window: int = 0, sub_block: int = 0) -> WindowRepair | None:
    """The model's repair of the lines around `lineno` (1-based; `offset`: the 1-based column of the
    error there, 0 if not known); None for an empty source or an answer that is not UTF-8. Attempt 0 takes the most likely operations (greedy); attempt k > 0
    samples them at RETRY_TEMPERATURE with seed k, for a different guess when the first did not compile.
    With `alternatives` > 0, attempt 0 also ranks up to that many other rewrites (ranked_rewrites)."""
    from dgcode.engine.settings import SamplerSettings

    tok = _TOKENIZERS.get(id(engine.model))
    if tok is None:
        tok = _TOKENIZERS.setdefault(id(engine.model), ModelTokenizer(engine.model))
    canvas = make_inference_canvas(tok, source, lineno, message, spec, offset)
    if canvas is None:
        return None
    n = spec.answer_length
    # one slot: the sampler ends the answer at its <|endoftext|>; with a reach, `bounded` ends it once both slots
    # have theirs (the core's <|endoftext|> run is not the end of the answer)
    settings = SamplerSettings(schedule="threshold", threshold=threshold, max_tokens=n, canvas_size=n,
                               sub_block_size=sub_block or n, seed=attempt,
                               temperature=RETRY_TEMPERATURE if attempt else 0.0,
                               stop_at_eos=spec.reach_slot == 0, mask_window=mask_window)
    eos, mask = tok.special(EOS), tok.special(MASK)
    last: list = []

    def bounded(event) -> bool:  # each step commits at least one position: never more steps than positions
        last[:] = [event]
        return event.step < n and not (spec.reach_slot and answer_ended(event.tokens, spec, eos, mask))

    generation = engine.generate(canvas.prompt, settings, on_step=bounded)
    answer, committed = generation.tokens, ()
    if last and spec.reach_slot:
        answer = last[0].tokens  # every position (masked ones hold the mask id: decoded as keep)
        committed = tuple(last[0].confidence[p] for p in canvas.op_positions)
    elif last:
        committed = tuple(last[0].confidence[:len(generation.tokens)])
    replacement = decode_answer(tok, canvas, answer)
    if replacement is None:
        return None
    start, end = canvas.window
    old = tuple(split_lines(source)[start:end])
    ranked: tuple[tuple[tuple[str, ...], float], ...] = ()
    wall_s = generation.wall_s
    if alternatives > 0 and attempt == 0:
        t0 = time.perf_counter()
        ranked = ranked_rewrites(engine, tok, canvas, alternatives, exclude={old, tuple(replacement)})
        wall_s += time.perf_counter() - t0
    n_tokens = len(generation.tokens) if not spec.reach_slot else sum(t != mask for t in answer)
    return WindowRepair(start, end, old, tuple(replacement), generation.steps, n_tokens,
                        wall_s, tuple(lines for lines, _ in ranked), committed, tuple(cost for _, cost in ranked))


def ranked_rewrites(engine, tok: Tokenizer, canvas: InferenceCanvas, limit: int,
                    exclude: set[tuple[str, ...]] = frozenset()) -> tuple[tuple[tuple[str, ...], float], ...]:
    """Up to `limit` distinct rewrites of the window with their costs, most likely first: the operation
    sequences that ranked_ops ranks highest under one forward pass over the all-masked answer slot (not
    UTF-8, or in `exclude`: skipped), each with its log-probability below the most likely sequence's."""
    op_ids = np.array([tok.special(op) for op in OPS])
    logits = engine.masked_logits(canvas.prompt, canvas.answer_slot)[list(canvas.op_positions)]
    logits = logits[:, op_ids].astype(np.float64)
    logprobs = logits - logits.max(axis=1, keepdims=True)
    logprobs -= np.log(np.exp(logprobs).sum(axis=1, keepdims=True))
    seen, out = set(exclude), []
    for cost, choice in ranked_choices(logprobs):
        lines = rewrite_window(canvas, [OPS[i] for i in choice])
        if lines is None or tuple(lines) in seen:
            continue
        seen.add(tuple(lines))
        out.append((tuple(lines), float(cost)))
        if len(out) >= limit:
            break
    return tuple(out)

