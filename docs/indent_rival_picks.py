"""The model's pick among one-line indentation moves the indentation search cannot tell apart: on the
bad-indentation cases where two or more moves compile and none is taken (indent_candidates.indent_search),
how often `dgcode fix`'s repair (offered or withheld) is the original code.

    PYTHONPATH=. python docs/indent_rival_picks.py

Seed 1 and 2 (100 cases per kind), Textual and Rich (50, seed 1), the evaluation's samples. Used for
docs/model.md ("The indentation and joined-line searches"): it is why abstain.py withholds such picks.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from dgcode.engine.engine import Engine, EngineOptions
from dgcode.repair.abstain import DEFAULT_POLICY
from dgcode.repair.file_repair import repair_source
from dgcode.repair.indent_candidates import indent_search
from dgcode.repair.repair_model import RANKED_ALTERNATIVES, read_layout, repair_window, syntax_error
from training.corpus import Corpus
from training.examples import heldout_cases

MODEL = "dgcode/repair/dgcode-repair.gguf"
SITE = Path(".venv/lib/python3.11/site-packages")


def main() -> None:
    spec = read_layout(MODEL)
    samples = [("seed 1", Corpus("heldout"), 100, 1), ("seed 2", Corpus("heldout"), 100, 2),
               ("Textual", Corpus("all", root=SITE / "textual"), 50, 1),
               ("Rich", Corpus("all", root=SITE / "rich"), 50, 1)]
    with Engine(MODEL, EngineOptions(n_ctx=spec.canvas, n_threads=2)) as engine:
        engine.warm_up()

        def ask(text, lineno, message, attempt, offset=0):
            return repair_window(engine, text, lineno, message, spec, 0.9, attempt, RANKED_ALTERNATIVES, offset)

        for name, corpus, per_kind, seed in samples:
            tally: Counter[str] = Counter()
            for case in heldout_cases(corpus, per_kind, seed):
                error = syntax_error(case.broken_source)
                if case.kind != "bad_indentation" or error is None:
                    continue
                window, rivals = indent_search(case.broken_source, error)
                if window is not None or len(rivals) < 2:
                    continue
                result = repair_source(case.path, case.broken_source, ask, policy=DEFAULT_POLICY)
                repaired = result.withheld if result.abstained else result.repaired
                tally["moves left"] += 1
                if repaired in rivals:
                    tally["right pick" if repaired == case.original_source else "wrong pick"] += 1
            print(f"{name}: {dict(tally)}")


if __name__ == "__main__":
    main()
