"""Benchmark: K candidates denoised together (one shared prefill, one batched decode per step) against K=1.

Runs in one process on one loaded random-weight model (``dgcode bench``'s
cached synthetic models: ``--shape small`` is 512 wide, 8 layers, 8,192
tokens), the same random prompt, LLaDA's block schedule with a fixed step
count and early stopping off, so every answer is exactly ``--gen-tokens``
tokens in the same number of steps. Modes, interleaved ``--repeats`` times:

- ``single``: the single-answer path (``Engine.generate``), one answer;
- ``K=k batched``: ``Engine.generate_candidates(prompt, settings, k)``, k answers;
- ``K=k in turn`` (with ``--in-turn``): k single-answer generations one after another, the naive way.

Printed per mode (best of the repeats): wall time, wall time per answer, prefill, decode calls,
prompt tokens prefilled.  On a GPU pass ``--n-gpu-layers -1`` (the default when llama.cpp was built
with CUDA or Metal): there a batched step of K windows should cost about one window's step.

Run: ``.venv/bin/python docs/bench_candidates.py [--shape small] [--k 1 4] [--threads 2]``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shape", default="small")
    parser.add_argument("--quant", default=None, help="Q4_K_M, Q8_0 ... (default f16 weights)")
    parser.add_argument("--prompt-tokens", type=int, default=1024)
    parser.add_argument("--gen-tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=None, help="default gen_tokens // 4")
    parser.add_argument("--sub-block", type=int, default=32)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--n-gpu-layers", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--in-turn", action="store_true", help="Also time K single answers one after another.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from dgcode.engine.benchmark import synthetic_model
    from dgcode.engine.candidates import candidate_settings
    from dgcode.engine.engine import Engine, EngineOptions
    from dgcode.engine.unmasking import SamplerSettings

    path = synthetic_model(args.shape, args.quant)
    steps = args.steps or max(1, args.gen_tokens // 4)
    settings = SamplerSettings(schedule="block", steps=steps, max_tokens=args.gen_tokens,
                               canvas_size=-(-args.gen_tokens // args.sub_block) * args.sub_block,
                               sub_block_size=args.sub_block, stop_at_eos=False)
    n_ctx = -(-(args.prompt_tokens + args.gen_tokens + 64) // 256) * 256
    options = EngineOptions(n_ctx=n_ctx, n_threads=args.threads, n_gpu_layers=args.n_gpu_layers)
    rows: dict[str, dict] = {}
    with Engine(path, options) as engine:
        rng = np.random.default_rng(0)
        prompt = rng.integers(0, 256, size=args.prompt_tokens).tolist()  # byte tokens: never specials
        engine.warm_up()
        lead = 1 if engine.shift_logits else 0

        def single():
            g = engine.generate(prompt, settings)
            return {"answers": 1, "prefill_ms": g.prefill_ms, "decode_calls": None,
                    "prefill_tokens": g.prompt_tokens - lead, "steps": g.steps}

        def batched(k):
            run = engine.generate_candidates(prompt, settings, k)
            return {"answers": k, "prefill_ms": run.prefill_ms, "decode_calls": run.decode_calls,
                    "prefill_tokens": run.prefill_tokens, "steps": run.batch_steps}

        def in_turn(k):
            gens = [engine.generate(prompt, candidate_settings(settings, i)) for i in range(k)]
            return {"answers": k, "prefill_ms": sum(g.prefill_ms for g in gens), "decode_calls": None,
                    "prefill_tokens": sum(g.prompt_tokens - lead for g in gens), "steps": sum(g.steps for g in gens)}

        modes = [("single", single)] + [(f"K={k} batched", lambda k=k: batched(k)) for k in sorted(args.k)]
        if args.in_turn:
            modes += [(f"K={k} in turn", lambda k=k: in_turn(k)) for k in args.k if k > 1]
        for _name, run in modes:  # once untimed: the K-sequence context is opened on first use
            run()
        for _ in range(args.repeats):
            for name, run in modes:
                began = time.perf_counter()
                row = run()
                row["wall_s"] = time.perf_counter() - began
                best = rows.get(name)
                if best is None or row["wall_s"] < best["wall_s"]:
                    rows[name] = row
        described = engine.describe()
    for row in rows.values():
        row["wall_per_answer_s"] = row["wall_s"] / row["answers"]
    header = {"model": f"synthetic {args.shape}" + (f" {args.quant}" if args.quant else " f16"),
              "prompt_tokens": args.prompt_tokens, "gen_tokens": args.gen_tokens, "steps": steps,
              "sub_block": args.sub_block, "threads": described["n_threads"], "flash_attn": described["flash_attn"],
              "repeats": args.repeats}
    if args.json:
        print(json.dumps({"setup": header, "rows": rows}, indent=2))
        return
    print(" ".join(f"{k}={v}" for k, v in header.items()))
    print("| mode | answers | wall (s) | wall per answer (s) | prefill (ms) | prompt tokens prefilled | decode calls |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        calls = row["decode_calls"] if row["decode_calls"] is not None else "-"
        print(f"| {name} | {row['answers']} | {row['wall_s']:.2f} | {row['wall_per_answer_s']:.2f} | "
              f"{row['prefill_ms']:.0f} | {row['prefill_tokens']} | {calls} |")


if __name__ == "__main__":
    main()
