"""Micro-benchmark: numpy's `propose_numpy` against the C confidence kernel on the same float32 logits.

    .venv/bin/python docs/bench_confidence_kernel.py [--rows 33,256] [--vocab 151936] [--repeats 15]

Both run in one process on the same seeded logits (normal, scale 4, the mask
column at -inf as the sampler sets it), alternating call by call so a busy
machine slows both alike; the table gives the median and the best of each and
the ratio of medians. It also checks that both chose the same tokens.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from dgcode.engine import confidence_kernel as ck
from dgcode.engine import unmasking as um

SETTINGS = {
    "greedy, confidence": um.SamplerSettings(),
    "greedy, entropy": um.SamplerSettings(schedule="block", steps=8, algorithm="entropy"),
    "temperature 0.8": um.SamplerSettings(temperature=0.8),
    "t 0.8, top-p 0.9": um.SamplerSettings(temperature=0.8, top_p=0.9),
    "t 0.8, top-k 50": um.SamplerSettings(temperature=0.8, top_k=50),
}


def _time(fn, logits, settings) -> tuple[float, object]:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    out = fn(logits, settings, rng)
    return (time.perf_counter() - t0) * 1e3, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="33,256")
    parser.add_argument("--vocab", type=int, default=151936)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="kernel threads (default: usable CPUs)")
    args = parser.parse_args()
    ck.reset()
    state = ck.status()
    if state.backend != "c":
        raise SystemExit(f"the C kernel is not available: {state.reason}")
    kernel = ck.active()
    if args.threads:
        kernel.threads = args.threads
    print(f"{platform.processor() or platform.machine()}, {ck.default_threads()} usable CPUs; "
          f"kernel {ck.KernelStatus('c', kernel.threads, kernel.isa, state.path).describe()}; "
          f"numpy {np.__version__}")
    print(f"{'logits':>16}  {'settings':<20} {'numpy ms (best)':>16} {'C ms (best)':>14} {'ratio':>7}  same tokens")
    for rows in (int(r) for r in args.rows.split(",")):
        rng = np.random.default_rng(rows)
        logits = (rng.standard_normal((rows, args.vocab)) * 4).astype(np.float32)
        logits[:, args.vocab - 271] = -np.inf  # a mask id near the end, as in Qwen2's vocabulary
        for name, settings in SETTINGS.items():
            slow, fast, same = [], [], True
            for _ in range(args.repeats):
                t, ref = _time(um.propose_numpy, logits, settings)
                slow.append(t)
                t, got = _time(ck.propose, logits, settings)
                fast.append(t)
                same &= bool((ref.tokens == got.tokens).all())
            ms_np, ms_c = statistics.median(slow), statistics.median(fast)
            print(f"{rows:>5} x {args.vocab:<8}  {name:<20} {ms_np:>8.2f} ({min(slow):5.2f}) "
                  f"{ms_c:>6.2f} ({min(fast):5.2f}) {ms_np / ms_c:>6.1f}x  {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
