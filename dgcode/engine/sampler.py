"""The diffusion sampler: one plain loop that denoises an answer sub-block by sub-block.

The answer is a row of masked positions after the prompt. It is shown to the
user as canvases of `canvas_size` tokens, and denoised left to right in
sub-blocks of `sub_block_size`: each step asks the forward pass for logits of
the masked positions of the active sub-block only (with `mask_window`, its first
N masked positions), commits some of them (see
engine/unmasking.py), and reports a StepEvent; the step callback may return
False to cancel, which takes effect before the next forward pass. A finished
sub-block is committed to the forward's KV cache and becomes prefix. The answer
ends early once end-of-text is committed with everything before it final.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from dgcode.engine import unmasking as um
from dgcode.engine.unmasking import SamplerSettings


class BlockForward(Protocol):
    """The model as the sampler sees it; positions are absolute in `seq` (prompt, then answer)."""

    def prefill(self, prompt: np.ndarray) -> None: ...

    def logits(self, seq: np.ndarray, active_end: int, targets: np.ndarray) -> np.ndarray:
        """Logits predicting the tokens at `targets` (sorted), seeing seq[:active_end]."""

    def commit(self, seq: np.ndarray, upto: int) -> None:
        """seq[:upto] is final: keep it as prefix."""


@dataclass(frozen=True)
class SpecialTokens:
    mask: int
    eos: int | None
    pad: int | None = None


@dataclass
class StepEvent:
    """What one denoising step did to the canvas a front end is drawing."""

    step: int                       # 1-based step number over the whole answer
    canvas_index: int               # which canvas of the answer (0 = first canvas_size tokens)
    active: tuple[int, int]         # the sub-block being denoised, canvas positions [start, end)
    tokens: list[int]               # canvas tokens; the mask id where still masked
    texts: list[str]                # text of each position; '' where masked
    confidence: list[float]         # probability each token had when committed; 0.0 where masked
    masked: list[bool]
    committed: list[int]            # canvas positions committed by this step
    answer_final: int               # answer tokens final so far (a prefix of the answer)
    elapsed_s: float                # since generation started


@dataclass
class Generation:
    """A finished (or cancelled) answer and how it was produced."""

    tokens: list[int]
    text: str
    stop_reason: str                # "eos", "length" or "cancelled"
    steps: int
    prompt_tokens: int
    prefill_ms: float
    step_ms: list[float] = field(default_factory=list)
    commit_ms: float = 0.0
    wall_s: float = 0.0
    reused_prompt_tokens: int = 0   # prompt tokens whose KV cells were kept from the previous request

    @property
    def tokens_per_step(self) -> float:
        return len(self.tokens) / self.steps if self.steps else 0.0

    @property
    def tok_per_s(self) -> float:
        return len(self.tokens) / self.wall_s if self.wall_s > 0 else 0.0


StepCallback = Callable[[StepEvent], "bool | None"]


def first_end(seq_answer: np.ndarray, upto: int, special: SpecialTokens) -> int | None:
    """Answer index of the first committed end token, if everything before it is final."""
    segment = seq_answer[:upto]
    ends = segment == special.eos if special.eos is not None else np.zeros(len(segment), bool)
    if special.pad is not None:
        ends |= segment == special.pad
    if not ends.any():
        return None
    first = int(np.argmax(ends))
    return None if (segment[:first] == special.mask).any() else first


def denoise(forward: BlockForward, prompt: list[int], settings: SamplerSettings, special: SpecialTokens,
            token_text: Callable[[int], str], detokenize: Callable[[list[int]], str],
            on_step: StepCallback | None = None, suffix: list[int] = ()) -> Generation:
    """Denoise `max_tokens` masked positions after `prompt`.

    With a `suffix` this is infilling: the masked slot sits between the prompt
    and fixed suffix tokens, and every step's window reaches the end of the
    suffix, so the slot is denoised with the code on both sides in view.
    """
    settings.validate()
    rng = np.random.default_rng(settings.seed)
    n_prompt, n_answer = len(prompt), settings.max_tokens
    seq = np.full(n_prompt + n_answer + len(suffix), special.mask, dtype=np.int64)
    seq[:n_prompt] = prompt
    seq[n_prompt + n_answer:] = suffix
    answer = seq[n_prompt:n_prompt + n_answer]  # a view
    confidence = np.zeros(n_answer, dtype=np.float32)

    started = time.perf_counter()
    forward.prefill(seq[:n_prompt])
    prefill_ms = (time.perf_counter() - started) * 1e3

    subs = um.sub_block_ranges(n_answer, settings.sub_block_size)
    budgets = (um.steps_per_sub_block(settings.steps, len(subs))
               if settings.schedule != "threshold" else [None] * len(subs))
    step_ms: list[float] = []
    commit_ms = 0.0
    stop_reason, answer_end = "length", n_answer
    step = 0

    for index, ((a, b), budget) in enumerate(zip(subs, budgets)):
        counts = (um.block_transfer_counts(b - a, budget) if settings.schedule == "block" else None)
        local_step = 0
        while True:
            masked = a + np.flatnonzero(answer[a:b] == special.mask)
            if masked.size == 0:
                break
            if settings.mask_window:
                masked = masked[:settings.mask_window]  # the later masks stay in view, unproposed
            t0 = time.perf_counter()
            window_end = len(seq) if len(suffix) else n_prompt + b
            logits = forward.logits(seq, window_end, n_prompt + masked)
            logits[:, special.mask] = -np.inf  # a position may never 'commit' to staying masked
            proposal = um.propose(logits, settings, rng)
            chosen = choose_rows(proposal, settings, budget, local_step, counts, rng)
            answer[masked[chosen]] = proposal.tokens[chosen]
            confidence[masked[chosen]] = proposal.probability[chosen]
            step_ms.append((time.perf_counter() - t0) * 1e3)
            step += 1
            local_step += 1
            end = first_end(answer, b, special) if settings.stop_at_eos else None
            if on_step is not None:
                final = end if end is not None else final_prefix(answer, special.mask)
                event = step_event(step, settings.canvas_size, (a, b), answer, confidence, masked[chosen],
                                   special.mask, token_text, final, time.perf_counter() - started)
                if on_step(event) is False:
                    stop_reason = "cancelled"
                    break
            if end is not None:
                stop_reason, answer_end = "eos", end
                break
        if stop_reason != "length" or index == len(subs) - 1:
            break  # nothing follows: no need to keep the sub-block in the cache
        t0 = time.perf_counter()
        forward.commit(seq, n_prompt + b)
        commit_ms += (time.perf_counter() - t0) * 1e3

    if stop_reason == "cancelled":
        answer_end = final_prefix(answer, special.mask)
    tokens = [int(t) for t in answer[:answer_end]]
    return Generation(tokens=tokens, text=detokenize(tokens), stop_reason=stop_reason, steps=step,
                      prompt_tokens=n_prompt, prefill_ms=prefill_ms, step_ms=step_ms, commit_ms=commit_ms,
                      wall_s=time.perf_counter() - started)


def choose_rows(proposal: um.Proposal, settings: SamplerSettings, budget: int | None, local_step: int,
                counts: list[int] | None, rng: np.random.Generator) -> np.ndarray:
    """Which of the proposal's rows this step commits, by the settings' schedule (``counts``: the block
    schedule's transfer counts for this sub-block)."""
    n = len(proposal.score)
    if settings.schedule == "threshold":
        return um.choose_by_threshold(proposal.score, settings.threshold)
    last = budget is None or local_step >= budget - 1
    if settings.schedule == "block":
        count = n if last or counts is None else min(counts[local_step], n)  # n < count: a mask window
        fraction = count / n
    else:
        fraction = um.timestep_transfer_fraction(local_step, budget, settings.eps)
        count = n if last else int(n * fraction)
    if settings.algorithm == "origin":
        return np.arange(n) if last else um.choose_origin(n, fraction, rng)
    return um.choose_top(proposal.score, count, settings.alg_temp, rng)


def final_prefix(answer: np.ndarray, mask: int) -> int:
    """How many answer positions are final before the first masked one."""
    masked = np.flatnonzero(answer == mask)
    return int(masked[0]) if masked.size else len(answer)


def step_event(step: int, canvas_size: int, active: tuple[int, int], answer: np.ndarray, confidence: np.ndarray,
               committed: np.ndarray, mask: int, token_text: Callable[[int], str], final: int,
               elapsed: float) -> StepEvent:
    """The StepEvent of the canvas holding ``active`` (answer positions), as a front end draws it."""
    canvas_index = active[0] // canvas_size
    lo = canvas_index * canvas_size
    hi = min(lo + canvas_size, len(answer))
    tokens = [int(t) for t in answer[lo:hi]]
    masked = [t == mask for t in tokens]
    return StepEvent(
        step=step, canvas_index=canvas_index, active=(active[0] - lo, active[1] - lo), tokens=tokens,
        texts=["" if m else token_text(t) for t, m in zip(tokens, masked)],
        confidence=[float(c) for c in confidence[lo:hi]], masked=masked,
        committed=[int(i) - lo for i in committed], answer_final=final, elapsed_s=elapsed)
