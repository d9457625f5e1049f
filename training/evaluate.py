"""Evaluation of an exported repair GGUF through dgcode's own engine, on held-out files.

Each held-out case is a whole stdlib file (from the held-out split) with one
injected error. As dgcode would at inference, the whole broken file is
compiled to get SyntaxError.lineno, the canvas is built with llama.cpp's
tokenizer (training/layout.py, layout read from the GGUF), and the answer slot
is denoised by Engine.generate with the threshold schedule. Reported per error
kind: exact repairs (the repaired file equals the original), repaired files
that compile, how often the window covers the injected error, next to the
no-change baseline; and tokens committed per step, tokens per second.

    python -m training.evaluate --model runs/repair/dgcode-repair.gguf --per-kind 50
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import dataclass

from dgcode.engine.engine import Engine, EngineOptions
from dgcode.engine.llama_native import LlamaModel
from dgcode.engine.unmasking import SamplerSettings
from training.corpus import Corpus
from training.corrupt import KINDS, syntax_error
from training.examples import RepairCase, heldout_cases
from training.export import read_layout
from training.layout import CanvasSpec, apply_answer, decode_answer, make_inference_canvas
from training.tokenizer import SPECIALS


class LlamaTokenizer:
    """training/layout.py's Tokenizer protocol over llama.cpp's own tokenizer (what dgcode uses)."""

    def __init__(self, model: LlamaModel):
        self.model = model
        self.ids = {}
        for name in SPECIALS:
            ids = model.tokenize(name, parse_special=True)
            if len(ids) != 1:
                raise ValueError(f"the model has no special token {name}")
            self.ids[name] = ids[0]

    def encode(self, text: str) -> list[int]:
        return self.model.tokenize(text, parse_special=False)

    def decode(self, ids) -> str:
        return self.model.detokenize([int(i) for i in ids])

    def special(self, name: str) -> int:
        return self.ids[name]


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


def repair_case(engine: Engine, tok: LlamaTokenizer, case: RepairCase, spec: CanvasSpec,
                settings: SamplerSettings) -> EngineOutcome | None:
    """None when the whole broken file compiles (the snippet-level error vanished in the full file)."""
    source = case.broken_source
    err = syntax_error(source)
    if err is None:
        return None
    original = case.original_source
    base = dict(kind=case.kind, baseline_exact=source == original, baseline_compiles=False)
    canvas = make_inference_canvas(tok, source, err.lineno or 1, spec)
    if canvas is None:
        return EngineOutcome(fits=False, covered=False, exact=False, compiles=False, **base)

    def guard(event) -> bool:  # an unconverged model could commit <|mask|> forever: cap the steps
        return event.step < spec.slot

    gen = engine.generate(canvas.prompt, settings, on_step=guard)
    repaired = apply_answer(source, canvas.window, decode_answer(tok, gen.tokens))
    return EngineOutcome(fits=True, covered=case.answer_for(canvas.window) is not None,
                         exact=repaired == original, compiles=syntax_error(repaired) is None,
                         tokens=len(gen.tokens), steps=gen.steps, wall_s=gen.wall_s, **base)


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
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-files", type=int, default=None, help="use only the first N held-out files")
    p.add_argument("--json", default=None, help="also write the summary here")
    args = p.parse_args(argv)

    spec = read_layout(args.model)
    cases = heldout_cases(Corpus("heldout", max_files=args.max_files), args.per_kind, args.seed, KINDS)
    settings = SamplerSettings(schedule="threshold", threshold=args.threshold, max_tokens=spec.slot,
                               canvas_size=spec.slot, sub_block_size=spec.slot)
    outcomes, skipped = [], 0
    t0 = time.time()
    with Engine(args.model, EngineOptions(n_ctx=spec.canvas, n_threads=args.threads)) as engine:
        engine.warm_up()
        tok = LlamaTokenizer(engine.model)
        for case in cases:
            outcome = repair_case(engine, tok, case, spec, settings)
            if outcome is None:
                skipped += 1
            else:
                outcomes.append(outcome)
    summary = summarize(outcomes)
    print(f"{len(outcomes)} held-out cases ({skipped} skipped: the whole file compiled), threshold "
          f"{args.threshold}, {time.time() - t0:.0f}s\n{format_table(summary)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "threshold": args.threshold, "skipped": skipped, "summary": summary},
                      f, indent=1)
    return summary


if __name__ == "__main__":
    main()
