"""Benchmark: `dgcode serve` under load, many concurrent streaming clients, each checking its own answer.

Writes a random-weight Dream GGUF (``--shape``, default ``test``: its
random answers are distinct per seed, so each client can check its own; the
``small`` shape's random answers are mostly tokens with no text, so they are
not), serves it on a free loopback port (uvicorn in a thread, the
real app and engine process), asks each client's reference answer one at a
time, then streams all clients at once (tests/serve_load.py) and reports:
answers wrong (lost, cut, or another client's: must be 0), wall time,
completion tokens per second over the whole run, and p50/p95 latency (whole
answer, and to the first text) as each client saw it. One engine serves the
clients in FIFO order, so latency grows with the queue; the figures say what
a queue of that length costs on this machine.

Run: ``.venv/bin/python docs/bench_serve_load.py [--clients 50] [--max-tokens 32] [--shape test] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--shape", default="test")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import uvicorn
    from serve_load import run_load

    from dgcode.config import load_config
    from dgcode.engine.synthetic import write_synthetic_gguf
    from dgcode.serve import create_app, open_service
    from dgcode.serve.launch import bind

    with tempfile.TemporaryDirectory() as folder:
        model = write_synthetic_gguf(Path(folder) / f"{args.shape}.gguf", args.shape, arch="dream", seed=1)
        config = load_config(Path(folder), flags={"model": str(model)}, env={},
                             user_file=Path(folder) / "no-user-config.toml")
        service = open_service(config)
        sock = bind("127.0.0.1", 0)
        server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        try:
            report = run_load(f"http://127.0.0.1:{sock.getsockname()[1]}", args.clients, args.max_tokens)
        finally:
            server.should_exit = True
            thread.join(30)
            service.close()
    figures = {"shape": args.shape, "max_tokens": args.max_tokens, **report.to_json()}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{report.clients} concurrent streaming clients, {args.max_tokens} tokens each, shape {args.shape}:")
    print(f"  wrong answers: {len(report.wrong)} (distinct references: {report.distinct_references})")
    print(f"  wall {report.wall_s:.2f} s, {report.tokens} tokens, {report.tokens_per_s:.1f} tokens/s")
    print(f"  latency p50 {report.p50_s:.2f} s, p95 {report.p95_s:.2f} s; first text p50 {report.p50_first_s:.2f} s, "
          f"p95 {report.p95_first_s:.2f} s")


if __name__ == "__main__":
    main()
