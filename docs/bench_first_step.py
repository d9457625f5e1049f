"""Benchmark: from `dgcode fix` starting to its first denoising step, against llama.cpp's own load time.

Writes (once) a random-weight Dream-architecture GGUF with a real model's
shape and vocabulary (default qwen2.5-0.5b: 151,936 tokens, about 1 GB f16),
then, side by side in one run, best of ``--repeat``, each in a fresh process
with the file in the page cache:

- the one-time aliased copy dgcode makes of a dream model (timed once, into
  the benchmark's own cache folder; every later step uses that copy);
- llama.cpp's own load time on the file dgcode loads (the aliased copy):
  ``llama_model_load_from_file`` plus ``llama_init_from_model`` with the
  context dgcode makes (n_ctx, batch, outputs, threads, flash attention), and
  ``llama_cpp.Llama(model_path, n_ctx)`` for reference; the import of
  ``llama_cpp`` is reported apart;
- ``dgcode fix broken.py --model FILE --dry-run`` (the installed entry point)
  in a temp git repository whose broken.py has a syntax error: from just
  before the process is spawned to the engine's first denoising step, read
  from the engine's ``DGCODE_TRACE_FILE`` milestones (engine/worker.py); the
  run is interrupted once that step is done.  The step's own work (prefill of
  the prompt and the first forward pass) is reported apart, so that
  ``overhead = first step - llama.cpp load - generation work`` is what dgcode
  adds (Python start-up, imports, the child process, the prompt);
- the terminal app (the real Textual app, headless through ``App.run_test``)
  in a fresh process: a message submitted as soon as the app is mounted, then
  the time to the first canvas drawn with a step.

Run: ``.venv/bin/python docs/bench_first_step.py [--shape qwen2.5-0.5b] [--folder /tmp/dgcode-bench] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BROKEN = "def area(width, height)\n    return width * height\n\n\nprint(area(2, 3))\n"
VENV_BIN = Path(sys.executable).parent


def probe_llama(path: str, n_ctx: int, n_outputs: int, n_threads: int, flash_attn: bool, high_level: bool,
                prefill_tokens: int = 0) -> dict:
    """In a fresh process: llama.cpp loading `path` with dgcode's context settings (or through Llama()); then,
    with `prefill_tokens`, one bidirectional decode of that many tokens (what dgcode's prefill asks of it)."""
    began = time.perf_counter()
    import llama_cpp

    times = {"import_llama_cpp_s": time.perf_counter() - began}
    if high_level:
        began = time.perf_counter()
        llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, n_threads=n_threads,
                              flash_attn=flash_attn, vocab_only=False, verbose=False)
        times["llama_high_level_s"] = time.perf_counter() - began
        llm.close()
        return times
    began = time.perf_counter()
    quiet = llama_cpp.llama_log_callback(lambda *_a: None)  # kept alive: llama.cpp holds the pointer
    llama_cpp.llama_log_set(quiet, None)
    llama_cpp.llama_backend_init()
    times["backend_init_s"] = time.perf_counter() - began
    began = time.perf_counter()
    mparams = llama_cpp.llama_model_default_params()
    mparams.n_gpu_layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    model = llama_cpp.llama_model_load_from_file(path.encode(), mparams)
    times["model_load_s"] = time.perf_counter() - began
    began = time.perf_counter()
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = cparams.n_batch = cparams.n_ubatch = n_ctx
    cparams.n_seq_max, cparams.n_outputs_max = 1, n_outputs
    cparams.n_threads = cparams.n_threads_batch = n_threads
    cparams.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                               else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
    cparams.no_perf = True
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    times["context_s"] = time.perf_counter() - began
    assert model and ctx, "llama.cpp failed to load the model"
    if prefill_tokens:
        tokens = (llama_cpp.llama_token * prefill_tokens)(*[i % 256 for i in range(prefill_tokens)])
        llama_cpp.llama_set_causal_attn(ctx, False)
        began = time.perf_counter()
        assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(tokens, prefill_tokens)) == 0
        times["prefill_s"] = time.perf_counter() - began
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    return times


def probe_tui(repo: Path, trace: Path, spawned: float) -> dict:
    """In a fresh process: the real app, headless; a message at mount; the first canvas drawn with a step."""
    import asyncio

    began = time.time()
    from dgcode.config import load_config
    from dgcode.tui.app import DgcodeApp

    times = {"process_start_to_main_s": began - spawned, "import_app_s": time.time() - began}

    async def scenario() -> None:
        config = load_config(repo)
        times["app_start"] = time.time()
        app = DgcodeApp(repo, config)
        async with app.run_test(size=(100, 30)) as pilot:
            times["mounted"] = time.time()
            app.main.prompt.set_text("fix the syntax error in broken.py")
            await pilot.press("enter")
            times["submitted"] = time.time()
            while app.main.canvas.redraws < 1:
                await pilot.pause(0.005)
            times["first_canvas"] = time.time()
            await pilot.press("escape")
            while app.main.answering:
                await pilot.pause(0.02)

    asyncio.run(asyncio.wait_for(scenario(), 600))
    events = milestones(trace)
    return {**times, "first_step": events["first_step"]["t"], "generation_work_s": events["first_step"]["elapsed_s"],
            "spawned": spawned}


def milestones(trace: Path) -> dict[str, dict]:
    """The first trace line of each event."""
    found: dict[str, dict] = {}
    if trace.exists():
        for line in trace.read_text().splitlines():
            if line.strip():
                event = json.loads(line)
                found.setdefault(event["event"], event)
    return found


def run_fix(repo: Path, model: Path, env: dict[str, str], trace: Path, timeout: float = 600) -> dict:
    """`dgcode fix` in a fresh process, from spawn to the first step's trace line; then interrupted."""
    trace.unlink(missing_ok=True)
    log = repo.parent / "fix.log"
    with open(log, "wb") as out:
        spawned = time.time()
        proc = subprocess.Popen([str(VENV_BIN / "dgcode"), "fix", "broken.py", "--model", str(model), "--dry-run"],
                                cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while "first_step" not in milestones(trace):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"dgcode fix ended before its first step:\n{log.read_text()}")
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)  # the CLI closes its engine on Ctrl-C
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    events = milestones(trace)
    prompt = re.search(r"prefilling (\d+) prompt tokens", log.read_text())
    return {"spawned": spawned, **{name: event["t"] for name, event in events.items()},
            "generation_work_s": events["first_step"]["elapsed_s"], "prompt_tokens": int(prompt[1])}


def make_repo(folder: Path) -> Path:
    repo = folder / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "broken.py").write_text(BROKEN)
    return repo


def best(runs: list[dict], key: str) -> float:
    return min(run[key] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shape", default="qwen2.5-0.5b")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/dgcode-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-tui", action="store_true", help="Leave out the terminal app's first canvas.")
    parser.add_argument("--probe", choices=("llama", "llama-high", "tui"), help=argparse.SUPPRESS)
    parser.add_argument("--probe-args", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        given = json.loads(args.probe_args)
        if args.probe == "tui":
            result = probe_tui(Path(given["repo"]), Path(given["trace"]), given["spawned"])
        else:
            result = probe_llama(**given, high_level=args.probe == "llama-high")
        print(json.dumps(result))
        return

    from dgcode.engine import alias
    from dgcode.engine.engine import DEFAULT_N_CTX, EngineOptions, use_flash_attention
    from dgcode.engine.llama_native import gpu_offload_supported, physical_cores
    from dgcode.engine.model_file import read_model_info
    from dgcode.engine.synthetic import write_synthetic_gguf

    args.folder.mkdir(parents=True, exist_ok=True)
    path = args.folder / f"{args.shape}-dream-f16.gguf"
    if not path.exists():
        write_synthetic_gguf(path, args.shape, arch="dream", dtype="f16")
    info = read_model_info(path)
    cache = args.folder / "first-step-cache"
    shutil.rmtree(cache, ignore_errors=True)  # the one-time copy, timed from nothing
    began = time.perf_counter()
    copy = alias.make_aliased_copy(info, cache)
    copy_s = time.perf_counter() - began
    n_ctx = min(info.context_length, DEFAULT_N_CTX)
    settings = {"path": str(copy.path), "n_ctx": n_ctx, "n_outputs": min(EngineOptions().max_window, n_ctx),
                "n_threads": physical_cores(),
                "flash_attn": use_flash_attention(info, n_ctx, gpu_offload_supported())}

    def probe(kind: str, given: dict, env=None) -> dict:
        done = subprocess.run([sys.executable, __file__, "--probe", kind, "--probe-args", json.dumps(given)],
                              capture_output=True, text=True, check=True, env=env)
        return json.loads(done.stdout.strip().splitlines()[-1])

    work = Path(tempfile.mkdtemp(prefix="dgcode-first-step-"))
    try:
        repo = make_repo(work)
        trace = work / "trace.jsonl"
        home = work / "home"
        home.mkdir()
        env = dict(os.environ, HOME=str(home), DGCODE_DATA_DIR=str(work / "data"), DGCODE_CACHE_DIR=str(cache),
                   DGCODE_TRACE_FILE=str(trace), DGCODE_FIX_ROUNDS="1", GIT_CONFIG_NOSYSTEM="1")
        env.pop("DGCODE_MODEL", None)
        # A user's Python writes bytecode on a command's first run and reads it from then on; with
        # PYTHONDONTWRITEBYTECODE set (as in dgcode's CI sandbox) every run would compile dgcode's modules
        # from source again (about 0.1 s a process). The untimed runs below write it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        probe("llama", settings)  # page cache and first-load effects out of the timed runs
        n_prompt = run_fix(repo, path, env, trace)["prompt_tokens"]  # and how long fix's prompt is
        llama, high, fix, tui = [], [], [], []
        for _ in range(args.repeat):
            one = probe("llama", {**settings, "prefill_tokens": n_prompt})
            one["load_s"] = one["backend_init_s"] + one["model_load_s"] + one["context_s"]
            llama.append(one)
            high.append(probe("llama-high", settings))
            run = run_fix(repo, path, env, trace)
            run["first_step_s"] = run["first_step"] - run["spawned"]
            run["engine_spawn_s"] = run["engine_spawn"] - run["spawned"]
            run["child_start_s"] = run["engine_child_start"] - run["engine_spawn"]
            run["child_load_s"] = run["engine_loaded"] - run["engine_child_start"]
            run["child_imports_s"] = run["engine_imported"] - run["engine_child_start"]
            run["loaded_to_generate_s"] = run["generate"] - run["engine_loaded"]
            run["generate_to_first_step_s"] = run["first_step"] - run["generate"]
            fix.append(run)
            if not args.skip_tui:
                trace.unlink(missing_ok=True)
                spawned = time.time()
                one = probe("tui", {"repo": str(repo), "trace": str(trace), "spawned": spawned},
                            env=dict(env, DGCODE_MODEL=str(path)))
                one["process_start_to_first_canvas_s"] = one["first_canvas"] - spawned
                one["app_start_to_first_canvas_s"] = one["first_canvas"] - one["app_start"]
                one["submit_to_first_canvas_s"] = one["first_canvas"] - one["submitted"]
                one["first_step_to_canvas_s"] = one["first_canvas"] - one["first_step"]
                one["submit_to_first_canvas_less_generation_work_s"] = (one["submit_to_first_canvas_s"]
                                                                        - one["generation_work_s"])
                tui.append(one)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load = best(llama, "load_s")
    first = min(fix, key=lambda r: r["first_step_s"])
    results = {
        "file": str(path), "size_bytes": path.stat().st_size, "n_vocab": info.n_vocab, "loaded_file": str(copy.path),
        "context": settings, "repeat": args.repeat,
        "aliased_copy_once_s": copy_s, "aliased_copy_cloned": copy.cloned,
        "llama_import_s": best(llama, "import_llama_cpp_s"),
        "llama_backend_init_s": best(llama, "backend_init_s"),
        "llama_model_load_s": best(llama, "model_load_s"),
        "llama_context_s": best(llama, "context_s"),
        "llama_load_s": load,
        "llama_high_level_s": best(high, "llama_high_level_s"),
        "prompt_tokens": n_prompt,
        "llama_prefill_s": best(llama, "prefill_s"),
        "fix_first_step_s": first["first_step_s"],
        "fix_generation_work_s": first["generation_work_s"],
        "fix_first_step_minus_llama_load_s": first["first_step_s"] - load,
        "fix_overhead_s": first["first_step_s"] - load - first["generation_work_s"],
        "fix_breakdown_best_run": {key: first[key] for key in (
            "engine_spawn_s", "child_start_s", "child_imports_s", "child_load_s", "loaded_to_generate_s",
            "generate_to_first_step_s")},
        "fix_first_step_runs_s": [r["first_step_s"] for r in fix],
        "fix_overhead_runs_s": [r["first_step_s"] - load - r["generation_work_s"] for r in fix],
        "fix_overhead_median_s": statistics.median(r["first_step_s"] - load - r["generation_work_s"] for r in fix),
        "llama_load_runs_s": [r["load_s"] for r in llama],
    }
    if tui:
        results.update({key: best(tui, key) for key in (
            "process_start_to_first_canvas_s", "app_start_to_first_canvas_s", "submit_to_first_canvas_s",
            "first_step_to_canvas_s", "import_app_s", "generation_work_s",
            "submit_to_first_canvas_less_generation_work_s")})
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
