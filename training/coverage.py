"""Window coverage: for a canvas shape, the share of held-out errors whose fix the model could write at all.

No model is needed. A case is *covered* by a shape when the window
canvas.choose_window picks for it (from the whole broken file's compiler
error, as at inference) contains the injected slip and the repair is
expressible as one edit operation per broken byte (edit_ops.ops_for): the
ceiling on what any model of that layout can repair with its trained window.
Used to choose layout version 3's reach (docs/model.md, "Layout version 3").

    python -m training.coverage --per-kind 500 --shape 1:0:112 --shape 2:1:160 --shape 1:0:112+2:1:80
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Sequence

from dgcode.repair.canvas import CanvasSpec, choose_window, fixed_bytes, split_lines
from dgcode.repair.edit_ops import ops_for
from training.corpus import Corpus
from training.corrupt import KINDS, syntax_error
from training.examples import RepairCase, heldout_cases


@dataclass(frozen=True)
class ReportedError:
    """A held-out case with the error compile() reports for its whole broken file (0-based line and column)."""

    case: RepairCase
    line: int
    column: int


def reported_errors(cases: Sequence[RepairCase]) -> list[ReportedError]:
    """The cases whose whole broken file fails to compile, with the error inference would see."""
    out = []
    for case in cases:
        error = syntax_error(case.broken_source)
        if error is not None:
            out.append(ReportedError(case, (error.lineno or 1) - 1, max((error.offset or 1) - 1, 0)))
    return out


def window_covers(error: ReportedError, spec: CanvasSpec) -> bool:
    """The window chosen for this error holds the slip, and its repair is one operation per byte."""
    window = choose_window(split_lines(error.case.broken_source), error.line, spec, error.column)
    if window is None:
        return False
    answer = error.case.answer_for(window.lines)
    fixed = None if answer is None else fixed_bytes(window, answer)
    return fixed is not None and ops_for(window.broken, fixed) is not None


def coverage_by_kind(errors: Sequence[ReportedError], spec: CanvasSpec) -> dict[str, float]:
    """Covered share per error kind, and over all cases under "all"."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for error in errors:
        covered = window_covers(error, spec)
        hits["all"].append(covered)
        hits[error.case.kind].append(covered)
    return {kind: sum(v) / len(v) for kind, v in hits.items()}


def parse_shape(text: str, base: CanvasSpec = CanvasSpec()) -> CanvasSpec:
    """'BEFORE:AFTER:SLOT' (the core: lines before and after the reported line, slot bytes), optionally
    '+BEFORE:AFTER:SLOT' for a reach around the core (window.py), as a spec."""
    core, _, reach = text.partition("+")
    try:
        before, after, slot = (int(part) for part in core.split(":"))
        reach_before, reach_after, reach_slot = (int(part) for part in reach.split(":")) if reach else (0, 0, 0)
    except ValueError:
        raise SystemExit(f"--shape {text!r}: expected BEFORE:AFTER:SLOT[+BEFORE:AFTER:SLOT], e.g. 2:1:160 or "
                         "1:0:112+2:1:64") from None
    return replace(base, lines_before_error=before, lines_after_error=after, slot=slot, reach_before=reach_before,
                   reach_after=reach_after, reach_slot=reach_slot)


def format_coverage(table: dict[str, dict[str, float]]) -> str:
    """A markdown table: one column per shape, one row per kind."""
    shapes = list(table)
    kinds = ["all"] + [k for k in KINDS if k in table[shapes[0]]]
    rows = ["| error kind | " + " | ".join(shapes) + " |", "| --- |" + " --- |" * len(shapes)]
    for kind in kinds:
        rows.append(f"| {kind} | " + " | ".join(f"{table[s][kind]:.1%}" for s in shapes) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--per-kind", type=int, default=300, help="held-out cases per error kind")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-files", type=int, default=None)
    p.add_argument("--shape", action="append", default=None,
                   help="BEFORE:AFTER:SLOT[+BEFORE:AFTER:SLOT] (core[+reach]), repeatable (default: version 2's "
                        "1:0:112, wider cores, and reaches)")
    args = p.parse_args(argv)
    shapes = args.shape or ["1:0:112", "2:1:160", "3:1:176", "1:0:112+2:1:64", "1:0:112+2:1:80", "1:0:112+3:1:96"]
    t0 = time.time()
    errors = reported_errors(heldout_cases(Corpus("heldout", max_files=args.max_files), args.per_kind, args.seed,
                                           KINDS))
    table = {shape: coverage_by_kind(errors, parse_shape(shape)) for shape in shapes}
    print(f"{len(errors)} held-out cases (seed {args.seed}; window shape BEFORE:AFTER:SLOT[+reach]), "
          f"{time.time() - t0:.0f}s\n{format_coverage(table)}")
    return table


if __name__ == "__main__":
    main()
