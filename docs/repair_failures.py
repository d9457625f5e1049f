"""Reading the repair model's misses: every held-out case of one error kind that `dgcode fix` does not repair
exactly or withholds, with the compiler's message, the slip's line against the reported one, the attempt plan
entries taken, the lines around them (original and broken) and the repair it made.

    PYTHONPATH=. python docs/repair_failures.py missing_bracket --per-kind 100 --seed 1

The cases are drawn as `training/evaluate.py` draws them for that kind alone (its index in the list given, so
a different sample from the evaluation's for the same seed); `--as-evaluated` draws the evaluation's own sample
(every kind, then this kind's cases kept), `--root` draws from another project's files as the evaluation's
`--root` does, and `--wrong` shows only the repairs offered that are not exact. Used for docs/model.md ("A runner-up that keeps a
slip's joined name is no rival").
"""

from __future__ import annotations

import argparse
import difflib
from collections import Counter
from pathlib import Path

from dgcode.engine.engine import Engine, EngineOptions
from dgcode.repair.abstain import DEFAULT_POLICY
from dgcode.repair.file_repair import repair_source
from dgcode.repair.repair_model import RANKED_ALTERNATIVES, read_layout, repair_window, syntax_error
from training.corpus import Corpus
from training.corrupt import KINDS
from training.examples import heldout_cases


def show(lines: list[str], lo: int, hi: int, reported: int, tag: str) -> None:
    for i in range(lo, min(len(lines), hi)):
        print(f"   {tag}{i - reported:4d}|{lines[i].rstrip(chr(10))}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--model", default="dgcode/repair/dgcode-repair.gguf")
    p.add_argument("--per-kind", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--root", default=None, help="draw from every .py file under this folder (another project)")
    p.add_argument("--as-evaluated", action="store_true",
                   help="the cases training/evaluate.py draws for this kind (all kinds drawn, this one kept)")
    p.add_argument("--wrong", action="store_true", help="show only offered repairs that are not exact")
    args = p.parse_args()
    spec = read_layout(args.model)
    corpus = Corpus("all", root=Path(args.root)) if args.root else Corpus("heldout")
    if args.as_evaluated:
        cases = [c for c in heldout_cases(corpus, args.per_kind, args.seed, KINDS) if c.kind == args.kind]
    else:
        cases = heldout_cases(corpus, args.per_kind, args.seed, [args.kind])
    tally: Counter[str] = Counter()
    with Engine(args.model, EngineOptions(n_ctx=spec.canvas, n_threads=args.threads)) as engine:
        engine.warm_up()

        def ask(text, lineno, message, attempt, offset=0):
            return repair_window(engine, text, lineno, message, spec, 0.9, attempt, RANKED_ALTERNATIVES, offset)

        for case in cases:
            source, original = case.broken_source, case.original_source
            error = syntax_error(source)
            if error is None:
                continue
            result = repair_source(case.path, source, ask, policy=DEFAULT_POLICY)
            repaired = result.withheld if result.abstained else result.repaired
            outcome = ("exact" if repaired == original else
                       "compiles" if syntax_error(repaired) is None else "fails")
            tally[outcome if outcome == "fails" else f"{outcome}, {'withheld' if result.abstained else 'offered'}"] += 1
            if outcome == "exact" and not result.abstained:
                continue
            if args.wrong and (result.abstained or outcome != "compiles"):
                continue
            reported = (error.lineno or 1) - 1
            print("=" * 70)
            print(f"{outcome}{' (withheld)' if result.abstained else ''}: {error.msg} | slip line "
                  f"{case.edit.start - reported:+d} from the reported one | plan entries, ranks "
                  f"{[(w.plan, w.rank) for w in result.windows]} | {result.problem[:120]}")
            lo = max(0, min(case.edit.start, reported) - 2)
            hi = max(case.edit.start, reported) + 2
            show(case.original, lo, hi, reported, "O")
            show(case.broken, lo, hi, reported, "B")
            if outcome != "exact" and repaired != source:
                diff = list(difflib.unified_diff(original.splitlines(), repaired.splitlines(), lineterm="", n=0))
                print("   the repair against the original:", *diff[2:10], sep="\n      ")
    print(dict(tally))


if __name__ == "__main__":
    main()
