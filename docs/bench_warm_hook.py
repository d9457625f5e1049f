"""Benchmark: a pre-commit hook run that needs the model, against a cold start and against a warm `dgcode serve`.

In a temp git repository with a staged file and a check command that fails
(so the hook asks the model for a fix, one round), times ``dgcode hook run``
as git runs it, best of ``--repeat``, side by side in one run:

- cold: the hook loads the model itself (``DGCODE_WARM_SERVER=false``);
- warm: a ``dgcode serve`` of the same file is running, and the hook uses it
  (workflows/warm_server.py).

The model is a random-weight Dream GGUF (``--shape``, default ``small``); its
answer is noise, so the commit stops either way: what is measured is the
cost of getting an answer. The aliased cache copy is made before timing.

Run: ``.venv/bin/python docs/bench_warm_hook.py [--shape small] [--repeat 3] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *args], cwd=root, check=True,
                   capture_output=True)


def hook_seconds(repo: Path, env: dict[str, str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dgcode", "hook", "run"], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=600)
    return time.perf_counter() - began, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="small")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    from dgcode.engine.synthetic import write_synthetic_gguf

    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        model = write_synthetic_gguf(base / f"{args.shape}.gguf", args.shape, arch="dream", seed=1)
        repo = base / "repo"
        repo.mkdir()
        git(repo, "init", "-q")
        (repo / "m.py").write_text("def f():\n    return 1\n")
        git(repo, "add", "m.py")
        env = {**os.environ, "DGCODE_DATA_DIR": str(base / "data"), "DGCODE_CACHE_DIR": str(base / "cache"),
               "DGCODE_MODEL": str(model), "DGCODE_FIX_CMD": f"{sys.executable} -c 'raise SystemExit(1)'",
               "DGCODE_FIX_ROUNDS": "1", "DGCODE_MAX_TOKENS": "16", "DGCODE_HOOK_BUDGET_S": "300"}
        env.pop("XDG_RUNTIME_DIR", None)
        cold_env = {**env, "DGCODE_WARM_SERVER": "false"}
        hook_seconds(repo, cold_env)  # the aliased copy, made once, outside the timings
        cold = [hook_seconds(repo, cold_env) for _ in range(args.repeat)]
        server = subprocess.Popen([sys.executable, "-m", "dgcode", "serve", "--port", "0"], cwd=base, env=env,
                                  stderr=subprocess.PIPE, text=True)
        try:
            line = ""
            while "serving" not in line:
                line = server.stderr.readline()
                if not line and server.poll() is not None:
                    raise SystemExit("dgcode serve exited")
            url = re.search(r"(http://\S+/v1)", line).group(1)
            warm = [hook_seconds(repo, env) for _ in range(args.repeat)]
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
    used = all("using the running `dgcode serve`" in out for _, out in warm)
    figures = {"shape": args.shape, "repeat": args.repeat, "cold_s": round(min(t for t, _ in cold), 3),
               "warm_s": round(min(t for t, _ in warm), 3), "warm_server_used": used, "server": url}
    figures["cold_over_warm"] = round(figures["cold_s"] / figures["warm_s"], 2)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"hook run needing the model ({args.shape}, best of {args.repeat}): cold {figures['cold_s']} s, "
          f"warm {figures['warm_s']} s ({figures['cold_over_warm']}x); warm server used: {used}")


if __name__ == "__main__":
    main()
