"""Wall time of `dgcode fix`'s whole repair (model calls and every compile), for side-by-side comparisons.

training/evaluate.py reports model time only; this runs file_repair.repair_source with the default policy on
N held-out cases per kind (seed 1) and prints one JSON line: cases, exact, offered, model calls, mean total and
model ms per case. Compare two versions of the code one after the other on the same machine, e.g.
(docs/model.md, "Unknown names"):

    PYTHONPATH=. python docs/repair_wall_time.py 30 dgcode/repair/dgcode-repair.gguf
    (cd OTHER_CHECKOUT && PYTHONPATH=. python /path/to/docs/repair_wall_time.py 30 dgcode/repair/dgcode-repair.gguf)
"""

import json
import sys
import time

from dgcode.engine.engine import Engine, EngineOptions
from dgcode.repair.abstain import DEFAULT_POLICY
from dgcode.repair.file_repair import ATTEMPTS, repair_source
from dgcode.repair.repair_model import RANKED_ALTERNATIVES, read_layout, repair_window
from training.corpus import Corpus
from training.corrupt import KINDS, syntax_error
from training.examples import heldout_cases

n, model = int(sys.argv[1]), sys.argv[2]
spec = read_layout(model)
cases = heldout_cases(Corpus("heldout"), n, 1, KINDS)
walls, exact, offered, model_s = [], 0, 0, 0.0
with Engine(model, EngineOptions(n_ctx=spec.canvas, n_threads=2)) as engine:
    calls = [0]
    def ask(text, lineno, message, attempt, offset=0):
        calls[0] += 1
        return repair_window(engine, text, lineno, message, spec, 0.9, attempt, RANKED_ALTERNATIVES, offset)
    for case in cases:
        src = case.broken_source
        if syntax_error(src) is None:
            continue
        t = time.perf_counter()
        r = repair_source(case.path, src, ask, attempts=ATTEMPTS, policy=DEFAULT_POLICY)
        walls.append(time.perf_counter() - t)
        model_s += r.wall_s
        exact += (r.withheld if r.abstained else r.repaired) == case.original_source
        offered += not r.abstained and r.repaired_ok
print(json.dumps({"cases": len(walls), "exact": exact, "offered": offered,
                  "calls": calls[0], "mean_total_ms": 1e3 * sum(walls) / len(walls), "mean_model_ms": 1e3 * model_s / len(walls)}))
