"""Benchmark: opening a model before llama.cpp starts, gguf's full reader against dgcode's bounded header reader.

Writes (once) a random-weight GGUF with a real model's shape and vocabulary
(default qwen2.5-0.5b: 151,936 tokens, about 1 GB f16), then times, side by
side in one process, best of ``--repeat``:

- ``gguf.GGUFReader`` building every field (what dgcode did before, once for
  the model facts and once more for the alias patches);
- ``read_model_info`` on dgcode's reader, and the alias patches computed from
  its key offsets;
- ``dgcode models info FILE`` as a user runs it (a fresh process).

Run: ``.venv/bin/python docs/bench_model_open.py [--shape qwen2.5-0.5b] [--folder /tmp/dgcode-bench]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shape", default="qwen2.5-0.5b")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/dgcode-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import gguf

    from dgcode.engine.alias import header_patches
    from dgcode.engine.model_file import read_model_info
    from dgcode.engine.synthetic import write_synthetic_gguf

    args.folder.mkdir(parents=True, exist_ok=True)
    path = args.folder / f"{args.shape}-dream-f16.gguf"
    if not path.exists():
        write_synthetic_gguf(path, args.shape, arch="dream", dtype="f16")
    info = read_model_info(path)

    def gguf_reader() -> None:
        reader = gguf.GGUFReader(path, "r")
        len(reader.fields["tokenizer.ggml.tokens"].data)

    results = {
        "file": str(path), "size_bytes": path.stat().st_size, "n_vocab": info.n_vocab,
        "gguf_reader_s": best_of(args.repeat, gguf_reader),
        "read_model_info_s": best_of(args.repeat, lambda: read_model_info(path)),
        "alias_patches_s": best_of(args.repeat, lambda: header_patches(info, "qwen2")),
    }
    results["old_open_s_estimate"] = 2 * results["gguf_reader_s"]  # facts + patches, each a full read
    results["speedup"] = results["old_open_s_estimate"] / (results["read_model_info_s"] + results["alias_patches_s"])
    # the installed entry point, as a user runs it, with bytecode written on an untimed first run (a user's
    # Python writes it; PYTHONDONTWRITEBYTECODE, set in dgcode's CI sandbox, would recompile every run)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    command = [str(Path(sys.executable).parent / "dgcode"), "models", "info", str(path)]
    subprocess.run(command, capture_output=True, check=True, env=env)
    results["models_info_cli_s"] = best_of(args.repeat, lambda: subprocess.run(command, capture_output=True,
                                                                               check=True, env=env))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
