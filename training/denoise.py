"""Held-out repair estimates in torch: batched confidence-threshold denoising of the answer slot.

The same decoding dgcode's engine does with its default settings (schedule
"threshold", greedy tokens, one sub-block covering the whole answer slot):
each step commits every masked answer position whose top-1 probability is
above the threshold (at least the most confident one), and an example stops
once <|endoftext|> is committed with everything before it final. Used by
training/train.py to print progress without exporting a GGUF; the authoritative
numbers come from training/evaluate.py through llama.cpp.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import torch

from dgcode.repair.canvas import (
    EOS,
    MASK,
    PAD,
    CanvasSpec,
    Tokenizer,
    answer_ended,
    apply_answer,
    decode_answer,
    make_inference_canvas,
)
from training.corrupt import syntax_error
from training.examples import RepairCase
from training.model import RepairModel, canvas_attention_mask


@dataclass
class Outcome:
    kind: str
    fits: bool            # a canvas could be made (the window fits the slot)
    covered: bool         # the window covers the injected error
    exact: bool           # the repaired file equals the original
    compiles: bool        # the repaired file compiles
    answer_tokens: int = 0
    steps: int = 0


@torch.no_grad()
def denoise_batch(model: RepairModel, prompts: list[list[int]], tok: Tokenizer, spec: CanvasSpec,
                  threshold: float = 0.9, device: str = "cpu") -> tuple[list[list[int]], list[int]]:
    """Answers (tokens up to, not including, <|endoftext|>; with a reach slot, every position, masked ones as
    <|mask|>, as repair_window decodes them) and the steps each took."""
    pad, mask_id, eos = tok.special(PAD), tok.special(MASK), tok.special(EOS)
    b, a = len(prompts), spec.answer_start
    canvas = torch.full((b, spec.canvas), pad, dtype=torch.long)
    for i, p in enumerate(prompts):
        canvas[i, a - len(p):a] = torch.tensor(p)
    canvas[:, a:] = mask_id
    canvas = canvas.to(device)
    attention = canvas_attention_mask(canvas, pad, a)
    steps = torch.zeros(b, dtype=torch.long, device=device)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    n = spec.answer_length
    arange = torch.arange(n, device=device)
    for _ in range(n):  # each step commits at least one position per unfinished example
        if bool(done.all()):
            break
        answer = canvas[:, a:]
        masked = answer == mask_id
        logits = model(canvas, mask=attention, logits_from=a).float()
        logits[..., [mask_id, pad]] = float("-inf")  # never valid answers; committing them would not unmask
        prob, token = logits.softmax(-1).max(-1)
        score = torch.where(masked, prob, torch.full_like(prob, -1.0))
        commit = masked & (score > threshold)
        best = score.argmax(-1)
        commit[torch.arange(b, device=device), best] |= masked.any(-1)
        commit &= ~done[:, None]
        canvas[:, a:] = torch.where(commit, token, answer)
        steps += (~done).long()
        answer, masked = canvas[:, a:], canvas[:, a:] == mask_id
        is_end = answer == eos
        first_end = torch.where(is_end.any(-1), is_end.float().argmax(-1), torch.full_like(steps, n))
        masked_before = (masked & (arange[None] < first_end[:, None])).any(-1)
        if spec.reach_slot:  # the core's <|endoftext|> run is not the end: each slot must have ended
            ended = torch.tensor([answer_ended(row, spec, eos, mask_id) for row in answer.tolist()], device=device)
        else:
            ended = is_end.any(-1) & ~masked_before
        done |= ended | ~masked.any(-1)
    out = []
    for row in canvas[:, a:].tolist():
        if spec.reach_slot:
            out.append(row)
        else:
            out.append(row[:row.index(eos)] if eos in row else [t for t in row if t != mask_id])
    return out, steps.tolist()


def evaluate_cases(model: RepairModel, cases: list[RepairCase], tok: Tokenizer, spec: CanvasSpec,
                   threshold: float = 0.9, device: str = "cpu", batch: int = 64) -> list[Outcome]:
    """Repair each case from its reported error line, as dgcode would, and score it."""
    outcomes: list[Outcome | None] = [None] * len(cases)
    todo = []
    for i, case in enumerate(cases):
        err = syntax_error(case.broken_source)  # as dgcode sees it: the whole file's error
        lineno, message, offset = ((case.error_line + 1, case.message, case.error_column + 1) if err is None
                                   else (err.lineno or 1, err.msg or "", err.offset or 0))
        canvas = make_inference_canvas(tok, case.broken_source, lineno, message, spec, offset)
        if canvas is None:
            outcomes[i] = Outcome(case.kind, False, False, False, False)
        else:
            todo.append((i, canvas))
    was_training = model.training
    model.eval()
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        answers, steps = denoise_batch(model, [c.prompt for _, c in chunk], tok, spec, threshold, device)
        for (i, canvas), answer, n_steps in zip(chunk, answers, steps):
            case = cases[i]
            replacement = decode_answer(tok, canvas, answer)
            repaired = case.broken_source if replacement is None else apply_answer(
                case.broken_source, canvas.window, replacement)
            outcomes[i] = Outcome(case.kind, True, case.answer_for(canvas.window) is not None,
                                  repaired == case.original_source, syntax_error(repaired) is None,
                                  sum(t != tok.special(MASK) for t in answer), n_steps)
    model.train(was_training)
    return outcomes  # type: ignore[return-value]


def summarize(outcomes: list[Outcome]) -> dict:
    """Rates overall and per kind: exact, compiles, covered; and tokens per step."""
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.kind].append(o)

    def rates(group: list[Outcome]) -> dict:
        n = len(group)
        steps = sum(o.steps for o in group)
        return {"n": n, "exact": sum(o.exact for o in group) / n, "compiles": sum(o.compiles for o in group) / n,
                "covered": sum(o.covered for o in group) / n,
                "tokens_per_step": sum(o.answer_tokens for o in group) / steps if steps else 0.0}

    return {"all": rates(outcomes), **{k: rates(v) for k, v in sorted(by_kind.items())}}


def format_summary(summary: dict) -> str:
    rows = [f"{'kind':<20} {'n':>4} {'exact':>6} {'compiles':>8} {'covered':>7} {'tok/step':>8}"]
    for kind, r in summary.items():
        rows.append(f"{kind:<20} {r['n']:>4} {r['exact']:>6.1%} {r['compiles']:>8.1%} {r['covered']:>7.1%}"
                    f" {r['tokens_per_step']:>8.2f}")
    return "\n".join(rows)

