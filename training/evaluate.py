"""Evaluation of an exported repair GGUF through dgcode's own engine, on held-out files.

Each held-out case is a whole stdlib file (from the held-out split) with one
injected error. As dgcode would at inference, the whole broken file is
compiled to get SyntaxError.lineno, the canvas is built with llama.cpp's
tokenizer (dgcode/repair/canvas.py, layout read from the GGUF), and the answer slot
is denoised by Engine.generate with the threshold schedule: exactly dgcode's
own repair step (dgcode/repair/repair_model.py:repair_window). Reported per error
kind: exact repairs (the repaired file equals the original), repaired files
that compile, how often the window covers the injected error, next to the
no-change baseline; and tokens committed per step, tokens per second.
By default the repair is exactly `dgcode fix`'s (file_repair.repair_source
with its attempt plan and ranked alternatives); `--attempts 1
--alternatives 0 --without-message-search` measures the model's first answer
alone (the message search, bracket_candidates.py and quote_candidates.py, is
the plan's first entry and asks no model).

    python -m training.evaluate --model runs/repair/dgcode-repair.gguf --per-kind 50
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from dgcode.engine.engine import Engine, EngineOptions
from dgcode.repair.abstain import DEFAULT_POLICY, AbstainPolicy, policy_for
from dgcode.repair.canvas import CanvasSpec, choose_window, fixed_bytes, split_lines
from dgcode.repair.file_repair import ATTEMPT_PLAN, ATTEMPTS, Attempt, repair_source
from dgcode.repair.repair_model import RANKED_ALTERNATIVES, read_layout, repair_window
from training.corpus import Corpus
from training.corrupt import KINDS, syntax_error
from training.examples import RepairCase, heldout_cases


@dataclass
class EngineOutcome:
    kind: str
    fits: bool
    covered: bool
    exact: bool
    compiles: bool
    baseline_exact: bool
    baseline_compiles: bool
    tokens: int = 0
    steps: int = 0
    wall_s: float = 0.0
    windows: tuple[dict, ...] = ()
    """What the abstention rule sees of each accepted rewrite (dgcode/repair/abstain.py evidence)."""
    offered: bool = False
    """The repair compiles and the abstention policy offers it (what `dgcode fix` would write)."""


def repair_case(engine: Engine, case: RepairCase, spec: CanvasSpec, threshold: float,
                attempts: int = 2, alternatives: int = 0,
                policy: AbstainPolicy = DEFAULT_POLICY, mask_window: int = 0,
                sub_block: int = 0, plan: tuple[Attempt, ...] = ATTEMPT_PLAN) -> EngineOutcome | None:
    """None when the whole broken file compiles (the snippet-level error vanished in the full file).

    The repair is dgcode's own (file_repair.repair_source): rounds until the file compiles, each
    round up to `attempts` entries of its attempt plan (2: the bracket search and the model's first
    answer) judged by the compiler, the model's first answer with up to `alternatives` ranked rewrites.
    """
    source = case.broken_source
    err = syntax_error(source)
    if err is None:
        return None
    original = case.original_source
    base = dict(kind=case.kind, baseline_exact=source == original, baseline_compiles=False)
    chosen = choose_window(split_lines(source), (err.lineno or 1) - 1, spec, max((err.offset or 1) - 1, 0))
    if chosen is None:
        return EngineOutcome(fits=False, covered=False, exact=False, compiles=False, **base)

    def ask(text: str, lineno: int, message: str, attempt: int, offset: int = 0):
        return repair_window(engine, text, lineno, message, spec, threshold, attempt, alternatives, offset,
                             mask_window=mask_window, sub_block=sub_block)

    result = repair_source(case.path, source, ask, attempts=attempts, policy=policy, plan=plan)  # as dgcode fix
    repaired = result.withheld if result.abstained else result.repaired  # the repair, offered or not
    answer = case.answer_for(chosen.lines)
    windows = tuple({"plan": w.plan, "rank": w.rank, "cost": w.costs[0] if w.costs else 0.0,
                     "runner_up": w.runner_up, "runner_up_cost": w.runner_up_cost,
                     "min_confidence": min(w.confidence, default=0.0),
                     "mean_confidence": sum(w.confidence) / len(w.confidence) if w.confidence else 0.0,
                     "tokens": len(w.confidence)} for w in result.windows)
    compiles = syntax_error(repaired) is None
    return EngineOutcome(fits=True, covered=answer is not None and fixed_bytes(chosen, answer) is not None,
                         exact=repaired == original, compiles=compiles,
                         tokens=result.tokens, steps=result.steps, wall_s=result.wall_s, windows=windows,
                         offered=compiles and not result.abstained, **base)


def summarize(outcomes: list[EngineOutcome]) -> dict:
    groups: dict[str, list[EngineOutcome]] = defaultdict(list)
    for o in outcomes:
        groups["all"].append(o)
        groups[o.kind].append(o)

    def rates(g: list[EngineOutcome]) -> dict:
        n, steps, wall = len(g), sum(o.steps for o in g), sum(o.wall_s for o in g)
        offered = sum(o.offered for o in g)
        return {"n": n, "exact": sum(o.exact for o in g) / n, "compiles": sum(o.compiles for o in g) / n,
                "offered": offered / n,
                "offered_exact": sum(o.exact and o.offered for o in g) / offered if offered else 0.0,
                "covered": sum(o.covered for o in g) / n, "fits": sum(o.fits for o in g) / n,
                "baseline_exact": sum(o.baseline_exact for o in g) / n,
                "baseline_compiles": sum(o.baseline_compiles for o in g) / n,
                "tokens_per_step": sum(o.tokens for o in g) / steps if steps else 0.0,
                "tokens_per_s": sum(o.tokens for o in g) / wall if wall else 0.0,
                "ms_per_repair": 1e3 * wall / n}

    return {k: rates(groups[k]) for k in ["all"] + sorted(k for k in groups if k != "all")}


def format_table(summary: dict) -> str:
    head = (f"{'kind':<20} {'n':>4} {'exact':>6} {'compiles':>8} {'offered':>7} {'off ex':>6} {'covered':>7}"
            f" {'base ex':>7} {'base co':>7} {'tok/step':>8} {'tok/s':>7} {'ms':>6}")
    rows = [head]
    for kind, r in summary.items():
        rows.append(f"{kind:<20} {r['n']:>4} {r['exact']:>6.1%} {r['compiles']:>8.1%} {r['offered']:>7.1%}"
                    f" {r['offered_exact']:>6.1%} {r['covered']:>7.1%}"
                    f" {r['baseline_exact']:>7.1%} {r['baseline_compiles']:>7.1%} {r['tokens_per_step']:>8.2f}"
                    f" {r['tokens_per_s']:>7.1f} {r['ms_per_repair']:>6.0f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="a GGUF written by training/export.py")
    p.add_argument("--per-kind", type=int, default=50, help="held-out cases per error kind")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--attempts", type=int, default=ATTEMPTS,
                   help=f"entries of file_repair.ATTEMPT_PLAN tried per error: the message search, model calls "
                        f"and the slip candidates (dgcode fix: {ATTEMPTS}; 2: the message search and the "
                        f"model's trained window)")
    p.add_argument("--without-message-search", action="store_true",
                   help="leave the message search (brackets, quotes, indentation, joined lines) out of the plan: with --attempts 1 "
                        "--alternatives 0, the model's first answer alone")
    p.add_argument("--alternatives", type=int, default=RANKED_ALTERNATIVES,
                   help="ranked rewrites the compiler may check after the first answer (dgcode fix: "
                        f"{RANKED_ALTERNATIVES}; 0: the denoised answer only)")
    p.add_argument("--min-margin", type=float, default=DEFAULT_POLICY.min_margin,
                   help="the abstention policy's repair.min_margin (dgcode/repair/abstain.py; 0: offer every "
                        "repair that compiles); 'offered' and 'off ex' report it")
    p.add_argument("--mask-window", type=int, default=0,
                   help="each step proposes only the first N masked positions (SamplerSettings.mask_window)")
    p.add_argument("--sub-block", type=int, default=0,
                   help="denoise the answer slot in sub-blocks of N tokens (0: the whole slot at once, as dgcode "
                   "fix does); a stress test of the steps' commit")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-files", type=int, default=None, help="use only the first N held-out files")
    p.add_argument("--root", default=None,
                   help="evaluate on every .py file under this folder instead (code from another project)")
    p.add_argument("--json", default=None, help="also write the summary here")
    p.add_argument("--cases-json", default=None, help="also write every case's outcome and evidence here")
    args = p.parse_args(argv)
    plan = tuple(a for a in ATTEMPT_PLAN if a.search != "message") if args.without_message_search else ATTEMPT_PLAN

    spec = read_layout(args.model)
    corpus = (Corpus("all", root=Path(args.root), max_files=args.max_files) if args.root
              else Corpus("heldout", max_files=args.max_files))
    cases = heldout_cases(corpus, args.per_kind, args.seed, KINDS)
    outcomes, skipped = [], 0
    t0 = time.time()
    with Engine(args.model, EngineOptions(n_ctx=spec.canvas, n_threads=args.threads)) as engine:
        engine.warm_up()
        for case in cases:
            outcome = repair_case(engine, case, spec, args.threshold, args.attempts, args.alternatives,
                                  policy_for(args.min_margin), args.mask_window, args.sub_block, plan)
            if outcome is None:
                skipped += 1
            else:
                outcomes.append(outcome)
    summary = summarize(outcomes)
    if args.cases_json:
        with open(args.cases_json, "w", encoding="utf-8") as f:
            json.dump([asdict(o) for o in outcomes], f)
    print(f"{len(outcomes)} held-out cases ({skipped} skipped: the whole file compiled), threshold "
          f"{args.threshold}, {args.attempts} attempt(s), {args.alternatives} ranked alternatives, "
          f"{time.time() - t0:.0f}s\n{format_table(summary)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "threshold": args.threshold, "attempts": args.attempts,
                       "min_margin": args.min_margin, "mask_window": args.mask_window, "sub_block": args.sub_block,
                       "forward_backend": os.environ.get("DGCODE_FORWARD_BACKEND", "default"),
                       "alternatives": args.alternatives, "message_search": not args.without_message_search,
                       "skipped": skipped, "summary": summary},
                      f, indent=1)
    return summary


if __name__ == "__main__":
    main()
