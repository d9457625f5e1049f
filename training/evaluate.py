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
--alternatives 0` measures the model's first answer alone.

    python -m training.evaluate --model runs/repair/dgcode-repair.gguf --per-kind 50
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from dgcode.engine.engine import Engine, EngineOptions
from dgcode.repair.canvas import CanvasSpec, choose_window, fixed_bytes, split_lines
from dgcode.repair.file_repair import ATTEMPTS, repair_source
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


def repair_case(engine: Engine, case: RepairCase, spec: CanvasSpec, threshold: float,
                attempts: int = 1, alternatives: int = 0) -> EngineOutcome | None:
    """None when the whole broken file compiles (the snippet-level error vanished in the full file).

    The repair is dgcode's own (file_repair.repair_source): rounds until the file compiles, each
    round up to `attempts` model calls judged by the compiler, the first with up to `alternatives`
    ranked rewrites.
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
        return repair_window(engine, text, lineno, message, spec, threshold, attempt, alternatives, offset)

    result = repair_source(case.path, source, ask, attempts=attempts)
    answer = case.answer_for(chosen.lines)
    return EngineOutcome(fits=True, covered=answer is not None and fixed_bytes(chosen, answer) is not None,
                         exact=result.repaired == original, compiles=syntax_error(result.repaired) is None,
                         tokens=result.tokens, steps=result.steps, wall_s=result.wall_s, **base)


def summarize(outcomes: list[EngineOutcome]) -> dict:
    groups: dict[str, list[EngineOutcome]] = defaultdict(list)
    for o in outcomes:
        groups["all"].append(o)
        groups[o.kind].append(o)

    def rates(g: list[EngineOutcome]) -> dict:
        n, steps, wall = len(g), sum(o.steps for o in g), sum(o.wall_s for o in g)
        return {"n": n, "exact": sum(o.exact for o in g) / n, "compiles": sum(o.compiles for o in g) / n,
                "covered": sum(o.covered for o in g) / n, "fits": sum(o.fits for o in g) / n,
                "baseline_exact": sum(o.baseline_exact for o in g) / n,
                "baseline_compiles": sum(o.baseline_compiles for o in g) / n,
                "tokens_per_step": sum(o.tokens for o in g) / steps if steps else 0.0,
                "tokens_per_s": sum(o.tokens for o in g) / wall if wall else 0.0,
                "ms_per_repair": 1e3 * wall / n}

    return {k: rates(groups[k]) for k in ["all"] + sorted(k for k in groups if k != "all")}


def format_table(summary: dict) -> str:
    head = (f"{'kind':<20} {'n':>4} {'exact':>6} {'compiles':>8} {'covered':>7} {'base ex':>7} {'base co':>7}"
            f" {'tok/step':>8} {'tok/s':>7} {'ms':>6}")
    rows = [head]
    for kind, r in summary.items():
        rows.append(f"{kind:<20} {r['n']:>4} {r['exact']:>6.1%} {r['compiles']:>8.1%} {r['covered']:>7.1%}"
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
                   help=f"model calls per error, following file_repair.ATTEMPT_PLAN (dgcode fix: {ATTEMPTS}; "
                        "1: the trained window only)")
    p.add_argument("--alternatives", type=int, default=RANKED_ALTERNATIVES,
                   help="ranked rewrites the compiler may check after the first answer (dgcode fix: "
                        f"{RANKED_ALTERNATIVES}; 0: the denoised answer only)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-files", type=int, default=None, help="use only the first N held-out files")
    p.add_argument("--root", default=None,
                   help="evaluate on every .py file under this folder instead (code from another project)")
    p.add_argument("--json", default=None, help="also write the summary here")
    args = p.parse_args(argv)

    spec = read_layout(args.model)
    corpus = (Corpus("all", root=Path(args.root), max_files=args.max_files) if args.root
              else Corpus("heldout", max_files=args.max_files))
    cases = heldout_cases(corpus, args.per_kind, args.seed, KINDS)
    outcomes, skipped = [], 0
    t0 = time.time()
    with Engine(args.model, EngineOptions(n_ctx=spec.canvas, n_threads=args.threads)) as engine:
        engine.warm_up()
        for case in cases:
            outcome = repair_case(engine, case, spec, args.threshold, args.attempts, args.alternatives)
            if outcome is None:
                skipped += 1
            else:
                outcomes.append(outcome)
    summary = summarize(outcomes)
    print(f"{len(outcomes)} held-out cases ({skipped} skipped: the whole file compiled), threshold "
          f"{args.threshold}, {args.attempts} attempt(s), {args.alternatives} ranked alternatives, "
          f"{time.time() - t0:.0f}s\n{format_table(summary)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "threshold": args.threshold, "attempts": args.attempts,
                       "alternatives": args.alternatives,
                       "skipped": skipped, "summary": summary},
                      f, indent=1)
    return summary


if __name__ == "__main__":
    main()
