"""K answers to one prompt denoised together: one shared prefill, then one batched decode per step for all K.

``denoise_candidates`` is the K-way twin of sampler.denoise, kept as plain as
that loop. The prompt is prefilled once on sequence 0 of a
MultiSequenceContext and shared with sequences 1..K-1. Then, step after step,
every candidate still running contributes its active window (its sub-block,
plus the last final token for logit-shifting models) at its own positions,
tagged with its own sequence id, to ONE llama_decode that returns logits for
each candidate's masked rows; the window cells are dropped again, and each
candidate proposes and commits with its own settings and random generator
(engine/unmasking.py), so candidates advance independently: one may finish a
sub-block, or the whole answer, while another still works. Finished
sub-blocks are kept as each candidate's own cached prefix, batched into one
decode for every candidate that finished one at that step.

Diversity (``candidate_settings``): candidate 0 is denoised with the user's
settings exactly (with greedy settings it gives the single-answer path's
tokens); candidate i > 0 uses seed ``seed + i`` and, when the user's settings
are greedy, temperature ``DIVERSE_TEMPERATURE`` (otherwise the user's own), so
the candidates differ where the model is unsure.

Each step reports a CandidateStepEvent: a StepEvent (the candidate's own
canvas, its own step count) plus ``candidate`` (0..K-1) and ``batch_step``
(the shared decode number). The callback may return False to cancel the whole
request, before the next batched decode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from dgcode.engine import unmasking as um
from dgcode.engine.multi_sequence import MultiSequenceContext, Part
from dgcode.engine.sampler import (
    Generation,
    SpecialTokens,
    StepEvent,
    choose_rows,
    final_prefix,
    first_end,
    step_event,
)
from dgcode.engine.unmasking import SamplerSettings

DIVERSE_TEMPERATURE = 0.7
"""Temperature of candidates 1..K-1 when the user's settings are greedy."""


def candidate_settings(settings: SamplerSettings, index: int) -> SamplerSettings:
    """The settings candidate ``index`` is denoised with (see the module docstring)."""
    if index == 0:
        return settings
    return replace(settings, seed=settings.seed + index,
                   temperature=settings.temperature if settings.temperature > 0 else DIVERSE_TEMPERATURE)


@dataclass
class CandidateStepEvent(StepEvent):
    """One step of one candidate: its canvas as a StepEvent, which candidate, and the shared decode number."""

    candidate: int = 0
    batch_step: int = 0


@dataclass
class CandidateRun:
    """K finished (or cancelled) answers and what computing them cost."""

    generations: list[Generation]
    prompt_tokens: int
    prefill_tokens: int             # prompt tokens decoded: the prompt once (less the lead token), not K times
    decode_calls: int               # llama_decode calls, prefill and commits included
    batch_steps: int                # batched denoising steps (each one decode for every running candidate)
    prefill_ms: float
    wall_s: float
    settings: list[SamplerSettings] = field(default_factory=list)


CandidateCallback = Callable[[CandidateStepEvent], "bool | None"]


@dataclass
class _Candidate:
    """One answer's state inside the loop."""

    index: int
    settings: SamplerSettings
    seq: np.ndarray
    rng: np.random.Generator
    confidence: np.ndarray
    cached: int
    budgets: list
    sub: int = 0
    local_step: int = 0
    steps: int = 0
    step_ms: list = field(default_factory=list)
    stop_reason: str = ""
    answer_end: int = 0

    @property
    def running(self) -> bool:
        return not self.stop_reason


def denoise_candidates(ctx: MultiSequenceContext, prompt: list[int], settings: SamplerSettings, k: int,
                       special: SpecialTokens, token_text: Callable[[int], str],
                       detokenize: Callable[[list[int]], str], *, shift_logits: bool, causal_prefill: bool = False,
                       on_step: CandidateCallback | None = None) -> CandidateRun:
    """Denoise ``k`` answers of ``settings.max_tokens`` after ``prompt`` on ``ctx`` (which has >= k sequences)."""
    settings.validate()
    if not 1 <= k <= ctx.n_seq:
        raise ValueError(f"k must be in 1..{ctx.n_seq}, not {k}")
    lead = 1 if shift_logits else 0
    n_prompt, n_answer = len(prompt), settings.max_tokens
    subs = um.sub_block_ranges(n_answer, settings.sub_block_size)
    started = time.perf_counter()
    calls_before, prefill_before = ctx.decode_calls, ctx.prefill_tokens
    keep = max(n_prompt - lead, 0)
    ctx.prefill_shared(np.asarray(prompt[:keep], dtype=np.int64), causal_prefill, k)
    prefill_ms = (time.perf_counter() - started) * 1e3

    candidates = []
    for index in range(k):
        own = candidate_settings(settings, index)
        seq = np.full(n_prompt + n_answer, special.mask, dtype=np.int64)
        seq[:n_prompt] = prompt
        budgets = (um.steps_per_sub_block(own.steps, len(subs)) if own.schedule != "threshold"
                   else [None] * len(subs))
        candidates.append(_Candidate(index, own, seq, np.random.default_rng(own.seed),
                                     np.zeros(n_answer, dtype=np.float32), keep, budgets, answer_end=n_answer))
    batch_step = 0
    while any(c.running for c in candidates):
        running = [c for c in candidates if c.running]
        parts, masked_of = [], {}
        for c in running:
            a, b = subs[c.sub]
            masked = a + np.flatnonzero(c.seq[n_prompt + a:n_prompt + b] == special.mask)
            masked_of[c.index] = masked
            rows = n_prompt + masked - lead - c.cached
            parts.append(Part(c.index, c.seq[c.cached:n_prompt + b], c.cached, rows))
        t0 = time.perf_counter()
        try:
            all_logits = ctx.decode(parts)
        finally:
            for c in running:
                ctx.drop_from(c.index, c.cached)
        shared_ms = (time.perf_counter() - t0) * 1e3
        batch_step += 1
        finished_sub = []
        cancelled = False
        for c, logits in zip(running, all_logits):
            t1 = time.perf_counter()
            masked = masked_of[c.index]
            logits[:, special.mask] = -np.inf
            proposal = um.propose(logits, c.settings, c.rng)
            chosen = _choose(proposal, c, subs[c.sub])
            answer = c.seq[n_prompt:]
            answer[masked[chosen]] = proposal.tokens[chosen]
            c.confidence[masked[chosen]] = proposal.probability[chosen]
            c.step_ms.append(shared_ms + (time.perf_counter() - t1) * 1e3)
            c.steps += 1
            c.local_step += 1
            a, b = subs[c.sub]
            end = first_end(answer, b, special) if c.settings.stop_at_eos else None
            if on_step is not None and not cancelled:
                final = end if end is not None else final_prefix(answer, special.mask)
                event = _event(c, (a, b), masked[chosen], special.mask, token_text, final,
                               time.perf_counter() - started, batch_step)
                cancelled = on_step(event) is False
            if end is not None:
                c.stop_reason, c.answer_end = "eos", end
            elif not (answer[a:b] == special.mask).any():
                if c.sub == len(subs) - 1:
                    c.stop_reason = "length"
                else:
                    finished_sub.append(c)
        if cancelled:
            for c in candidates:
                if c.running:
                    c.stop_reason = "cancelled"
                    c.answer_end = final_prefix(c.seq[n_prompt:], special.mask)
            break
        if finished_sub:  # keep each finished sub-block as its candidate's prefix, all in one decode
            commits = []
            for c in finished_sub:
                keep_to = n_prompt + subs[c.sub][1] - lead
                commits.append((c, keep_to))
            ctx.decode([Part(c.index, c.seq[c.cached:keep_to], c.cached, np.zeros(0, dtype=np.int64))
                        for c, keep_to in commits])
            for c, keep_to in commits:
                c.cached = keep_to
                c.sub += 1
                c.local_step = 0

    wall = time.perf_counter() - started
    generations = []
    for c in candidates:
        tokens = [int(t) for t in c.seq[n_prompt:n_prompt + c.answer_end]]
        generations.append(Generation(tokens=tokens, text=detokenize(tokens), stop_reason=c.stop_reason,
                                      steps=c.steps, prompt_tokens=n_prompt, prefill_ms=prefill_ms,
                                      step_ms=c.step_ms, wall_s=wall))
    return CandidateRun(generations, n_prompt, ctx.prefill_tokens - prefill_before, ctx.decode_calls - calls_before,
                        batch_step, prefill_ms, wall, [c.settings for c in candidates])


def _event(c: _Candidate, active: tuple[int, int], committed: np.ndarray, mask: int,
           token_text: Callable[[int], str], final: int, elapsed: float, batch_step: int) -> CandidateStepEvent:
    answer = c.seq[len(c.seq) - c.settings.max_tokens:]
    event = step_event(c.steps, c.settings.canvas_size, active, answer, c.confidence, committed, mask, token_text,
                       final, elapsed)
    return CandidateStepEvent(**vars(event), candidate=c.index, batch_step=batch_step)


def _choose(proposal: um.Proposal, c: _Candidate, sub: tuple[int, int]) -> np.ndarray:
    """Which rows candidate ``c`` commits this step: sampler.denoise's schedule rules for its own sub-block."""
    budget = c.budgets[c.sub]
    counts = um.block_transfer_counts(sub[1] - sub[0], budget) if c.settings.schedule == "block" else None
    return choose_rows(proposal, c.settings, budget, c.local_step, counts, c.rng)
