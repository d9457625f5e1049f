"""What one decode costs by the number of rows in its batch, after a long cached prompt (issue #12's floor).

A denoising step's time is mostly one llama.cpp decode of the rows it must
recompute; AR's token is one such decode of a single row. This prints the
median time of a decode of N new rows (logits for every row, and for N=16
also for one row only) after a cached prompt, causal and not, so the
break-even a step can reach on this machine can be read off: a step that
decodes R rows costs about time(R) / time(1) AR tokens.

    DGCODE_LIBLLAMA=build/libllama PYTHONPATH=. python docs/step_rows_cost.py \
        [--shape qwen2.5-0.5b] [--quant Q8_0] [--prompt 2048] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dgcode.engine.benchmark import synthetic_model
from dgcode.engine.engine import Engine, EngineOptions

ROWS = (1, 2, 4, 8, 12, 16, 24, 32)


def median_ms(ctx, rng, n: int, prompt: int, repeats: int, logit_rows=None) -> float:
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        tokens = rng.integers(100, 30000, n)
        t0 = time.perf_counter()
        ctx.decode_at(tokens, range(prompt, prompt + n), range(n) if logit_rows is None else logit_rows)
        times.append((time.perf_counter() - t0) * 1e3)
        ctx.drop_from(prompt)
    return float(np.median(times[1:]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", default="qwen2.5-0.5b")
    p.add_argument("--quant", default=None)
    p.add_argument("--prompt", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    model = synthetic_model(args.shape, args.quant)
    rng = np.random.default_rng(0)
    with Engine(model, EngineOptions(n_ctx=args.prompt + max(ROWS) + 1, n_threads=args.threads,
                                     max_window=max(ROWS))) as engine:
        ctx = engine.ctx
        ctx.set_causal(False)
        ctx.decode(rng.integers(100, 30000, args.prompt), 0)
        print(f"{args.shape} {args.quant or 'F16'}, {args.prompt}-token cached prompt, "
              f"{engine.describe().get('n_threads', '?')} threads; median of {args.repeats}")
        print(f"{'rows':>5} {'causal ms':>10} {'non-causal ms':>14} {'x one row':>10}")
        one = None
        for n in ROWS:
            ctx.set_causal(True)
            causal = median_ms(ctx, rng, n, args.prompt, args.repeats)
            ctx.set_causal(False)
            bidirectional = median_ms(ctx, rng, n, args.prompt, args.repeats)
            one = one or causal
            print(f"{n:>5} {causal:>10.1f} {bidirectional:>14.1f} {bidirectional / one:>10.2f}")
        print(f"16 rows, logits for one row only (non-causal): "
              f"{median_ms(ctx, rng, 16, args.prompt, args.repeats, [0]):.1f} ms")


if __name__ == "__main__":
    main()
