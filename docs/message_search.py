"""The message search alone (no model): on held-out cases whose compiler message names a bracket, an
unterminated string, an indentation error or invalid syntax, how often the bracket, quote, indentation and
joined-line searches give a repair, how often it is the original code, and how long they take.

    PYTHONPATH=. python docs/message_search.py --per-kind 100 --seed 1
    PYTHONPATH=. python docs/message_search.py --per-kind 50 --root .venv/lib/python3.11/site-packages/textual
    PYTHONPATH=. python docs/message_search.py --split train --kinds missing_bracket,extra_bracket \
        --per-kind 200 --seed 7 --bracket-only      # the bracket search alone, on training files

The cases are training/evaluate.py's for the same flags (every kind, `--per-kind` each), so the rows match
its table. Used for docs/model.md ("The message search").
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from dgcode.repair.bracket_candidates import MISMATCHED, NEVER_CLOSED, UNMATCHED, best_bracket_repair
from dgcode.repair.canvas import apply_answer
from dgcode.repair.indent_candidates import best_indent_move, indent_moves
from dgcode.repair.joined_candidates import INVALID, best_joined_split
from dgcode.repair.quote_candidates import UNTERMINATED, best_quote_repair
from dgcode.repair.repair_model import syntax_error
from training.corpus import Corpus
from training.corrupt import KINDS
from training.examples import heldout_cases


def named(error: SyntaxError) -> bool:
    """Whether the message names a bracket, an unterminated string, an indentation error or invalid syntax (the
    searches' cases)."""
    message = error.msg or ""
    if isinstance(error, IndentationError) and not isinstance(error, TabError):
        return True
    if INVALID.match(message):
        return True
    return any(pattern.match(message) for pattern in (UNMATCHED, NEVER_CLOSED, MISMATCHED, UNTERMINATED))


def search(source: str, error: SyntaxError, bracket_only: bool = False) -> str | None:
    """The repaired source, as the message search of `dgcode fix` gives it (only its bracket search when
    ``bracket_only``), or None."""
    found = best_bracket_repair(source, error)
    if found is not None:
        return found.applied_to(source)
    if bracket_only:
        return None
    change = best_quote_repair(source, error)  # (row, what replaces that line)
    if change is None:
        move = best_indent_move(indent_moves(source, error))
        change = None if move is None else (move.row, move.new_line)
    if change is None:
        change = best_joined_split(source, error)
    if change is None:
        return None
    return apply_answer(source, (change[0], change[0] + 1), (change[1],))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--per-kind", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--root", type=Path, default=None, help="another project's package (every file is held out)")
    p.add_argument("--split", choices=("heldout", "train"), default="heldout", help="this CPython's files to draw from")
    p.add_argument("--kinds", default=",".join(KINDS), help="the error kinds drawn, comma-separated")
    p.add_argument("--bracket-only", action="store_true", help="only the bracket search")
    args = p.parse_args()
    kinds = args.kinds.split(",")
    if unknown := set(kinds) - set(KINDS):
        p.error(f"unknown kinds {sorted(unknown)}; the kinds are {', '.join(KINDS)}")
    corpus = Corpus(args.split) if args.root is None else Corpus("all", root=args.root)
    tally: Counter[tuple[str, str]] = Counter()  # (kind, exact / WRONG / none)
    seconds: list[float] = []
    kind_seconds: dict[str, list[float]] = {}
    for case in heldout_cases(corpus, args.per_kind, args.seed, kinds):
        error = syntax_error(case.broken_source)
        if error is None:
            continue
        if not named(error):
            continue
        began = time.perf_counter()
        repaired = search(case.broken_source, error, args.bracket_only)
        seconds.append(time.perf_counter() - began)
        kind_seconds.setdefault(case.kind, []).append(seconds[-1])
        outcome = "none" if repaired is None else "exact" if repaired == case.original_source else "WRONG"
        tally[(case.kind, outcome)] += 1
    print(f"{len(seconds)} cases whose message names a bracket, an unterminated string, an indentation error or invalid syntax; search time "
          f"{1000 * sum(seconds) / max(1, len(seconds)):.0f} ms mean, {1000 * max(seconds, default=0):.0f} ms max")
    print(f"{'kind':20s} {'asked':>6s} {'repair':>7s} {'exact':>6s} {'wrong':>6s} {'ms mean':>8s}")
    for kind in ("all",) + KINDS:
        rows = {o: sum(v for (k, o2), v in tally.items() if o2 == o and kind in ("all", k))
                for o in ("exact", "WRONG", "none")}
        asked = sum(rows.values())
        if asked:
            spent = seconds if kind == "all" else kind_seconds.get(kind, [])
            print(f"{kind:20s} {asked:6d} {rows['exact'] + rows['WRONG']:7d} {rows['exact']:6d} {rows['WRONG']:6d} "
                  f"{1000 * sum(spent) / max(1, len(spent)):8.0f}")


if __name__ == "__main__":
    main()
