"""Benchmark: the share of small-model answers dgcode applies correctly, on the cases of tests/edit_answer_cases.py.

Each case is a model answer as small local models write them (file name in its
own fence, aider's ``<source>`` fence, a blank first SEARCH line, ``...``
elision, an exact match beside an indented one, a new file in two blocks),
plus well-formed answers and dangerous ones that must be refused. Each runs
through ``apply_response`` in a fresh git repository in a temp folder. A case
counts as correct when the files hold exactly the expected bytes, or, for a
must-refuse case, when the answer is refused and nothing is written.

``--code DIR`` measures another checkout's ``dgcode`` (e.g. the commit before a
change, from ``git worktree add /tmp/before HEAD~1``) against the same cases.

Run: ``.venv/bin/python docs/bench_edit_forgiveness.py [--code DIR] [--json]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=HERE.parent, help="checkout whose dgcode/ to measure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path[:0] = [str(args.code.resolve()), str(HERE.parent / "tests")]
    from edit_answer_cases import CASES, run_case

    import dgcode

    by_habit: dict[str, list[bool]] = defaultdict(list)
    failures = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            git = ["git", "-C", folder, "-c", "user.name=b", "-c", "user.email=b@b"]
            subprocess.run(["git", "init", "-q", folder], check=True)
            for path, text in case.files.items():
                (root / path).write_text(text)
            if case.files:
                subprocess.run([*git, "add", "."], check=True)
                subprocess.run([*git, "commit", "-qm", "cases"], check=True)
            ok, detail = run_case(case, root)
        by_habit[case.habit].append(ok)
        if not ok:
            failures.append({"case": case.name, "habit": case.habit, "detail": detail})
    total = sum(len(v) for v in by_habit.values())
    correct = sum(sum(v) for v in by_habit.values())
    result = {"code": str(Path(dgcode.__file__).parent), "correct": correct, "cases": total,
              "by_habit": {habit: f"{sum(v)}/{len(v)}" for habit, v in by_habit.items()}, "failures": failures}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"dgcode from {result['code']}: {correct}/{total} answers handled correctly ({correct / total:.0%})")
    for habit, shown in result["by_habit"].items():
        print(f"  {habit:40} {shown}")
    for failure in failures:
        print(f"  wrong: {failure['case']}: {failure['detail'][:140]}")


if __name__ == "__main__":
    main()
