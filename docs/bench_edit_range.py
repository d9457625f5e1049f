"""Benchmark: `dgcode edit`'s answer budget against the span it rewrites, on random-weight GGUF models.

Writes (once) a synthetic dream-architecture GGUF (``--shape test``: the test
suite's tiny model; ``small``: 512 wide, 8 layers, 8,192 tokens), puts a
Python file with functions of several sizes in a temporary git repository,
and rewrites each function with the real pipeline (``run_edit``, dry run, the
real engine process), printing per span: its lines and tokens, the budget the
rule chose, every denoising pass (slot, answer tokens, stop reason, steps,
wall time) and the prompt and suffix the slot sat between.  A random-weight
model writes noise and rarely emits end-of-text, so most passes fill their
slot and grow once: the numbers show the rule's sizes and the cost of a pass,
not the quality of an answer.

Run: ``.venv/bin/python docs/bench_edit_range.py [--shape test] [--threads 2] [--sub-block 32] [--threshold 0.9]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

SIZES = (1, 4, 12, 30)
"""Body lines of the functions rewritten."""


def source() -> str:
    parts = ["import math\n\n"]
    for size in SIZES:
        body = "".join(f"    t = t + {i} * x\n" for i in range(size))
        parts.append(f"\ndef f{size}(x):\n    t = 0\n{body}    return t\n\n")
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shape", default="test")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/dgcode-bench"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--sub-block", type=int, default=32)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--json", action="store_true", help="Print the rows as JSON.")
    args = parser.parse_args()

    from dgcode.engine.engine import EngineOptions
    from dgcode.engine.synthetic import write_synthetic_gguf
    from dgcode.engine.unmasking import SamplerSettings
    from dgcode.engine.worker import EngineClient
    from dgcode.workflows.edit.engine import RangeModelEngine
    from dgcode.workflows.edit.pipeline import EditRequest, run_edit
    from dgcode.workflows.edit.range_target import resolve_target

    args.folder.mkdir(parents=True, exist_ok=True)
    model = args.folder / f"{args.shape}-dream-f32-edit.gguf"
    if not model.exists():
        write_synthetic_gguf(model, args.shape, arch="dream", dtype="f32", seed=1)
    settings = SamplerSettings(sub_block_size=args.sub_block, canvas_size=args.sub_block * max(1, 256 // args.sub_block),
                               threshold=args.threshold)
    engine = RangeModelEngine(EngineClient(model, EngineOptions(n_ctx=args.n_ctx, n_threads=args.threads)))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
        (root / "calc.py").write_text(source())
        try:
            for size in SIZES:
                target = resolve_target(root, f"calc.py::f{size}")
                report = run_edit(EditRequest(root, target, "make it faster", settings, dry_run=True), engine)
                budget = report.budget
                rows.append({"span_lines": target.end - target.start + 1, "span_tokens": budget.span_tokens,
                             "first_budget": report.attempts[0].budget.tokens, "prompt_tokens": report.prompt_tokens,
                             "suffix_tokens": report.suffix_tokens, "status": report.status,
                             "passes": [a.to_json() for a in report.attempts]})
        finally:
            engine.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{model.name}, n_ctx {args.n_ctx}, {args.threads} threads, sub-block {args.sub_block}, "
          f"threshold {args.threshold}")
    print("| span lines | span tokens | budget | prompt + suffix | pass: slot -> answer tokens, stop, steps, wall s |")
    print("|---:|---:|---:|---:|---|")
    for row in rows:
        passes = "; ".join(f"{p['budget']} -> {p['answer_tokens']}, {p['stop_reason']}, {p['steps']} steps, "
                           f"{p['wall_s']:.2f} s" for p in row["passes"])
        print(f"| {row['span_lines']} | {row['span_tokens']} | {row['first_budget']} | "
              f"{row['prompt_tokens']} + {row['suffix_tokens']} | {passes} |")


if __name__ == "__main__":
    main()
