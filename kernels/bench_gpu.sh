#!/usr/bin/env bash
# dgcode's GPU kernel checks and benchmarks, prepared for a CUDA machine
# (written for one H200, 16 cores, no internet, 10 minutes per command; see
# docs/kernels-gpu.md). Run from the repository root:
#
#   OUT=/some/dir bash kernels/bench_gpu.sh
#
# Phase 1 (always): nvidia-smi, build kernels/cuda/harness for the GPU's own
#   architecture, run it (correctness checks against the CPU references, then
#   timings), write $OUT/harness.jsonl and $OUT/summary.txt; then the kernel
#   tests (tests/test_kernels_cuda.py, --noconftest: they need numpy and
#   pytest, not dgcode's dependencies).
# Phase 2 (only where a CUDA build of llama-cpp-python and dgcode import in
#   $DGC_PYTHON): `dgcode bench` end to end, dgcode against AR, with the C
#   confidence kernel (DGCODE_KERNELS=c) and without (numpy). The CUDA kernels
#   of phase 1 are NOT used by dgcode yet (no llama.cpp integration); phase 2
#   measures the engine as it is.
#
# Environment (all optional):
#   OUT             output folder (default ./gpu-bench-out)
#   DGC_BUDGET_S    whole-script budget in seconds (default 540: under the 10-minute limit)
#   DGC_HARNESS     a prebuilt harness to use when nvcc is absent
#   DGC_QUICK=1     harness --quick (fewer shapes and iterations)
#   DGC_PYTHON      python for phase 2 (default .venv/bin/python, else python3)
#   DGC_E2E_SHAPE   synthetic shape for phase 2 (default dream-7b), DGC_E2E_QUANT (default Q4_K_M)
#   DGC_E2E=0       skip phase 2;  DGC_PYTEST=0  skip the kernel tests
#
# $OUT gets at most 6 files (the device tool returns 8): summary.txt,
# harness.jsonl, logs.txt (nvidia-smi, build, stderr of every step),
# pytest.txt, e2e-c.json, e2e-numpy.json.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu-bench-out}"
BUDGET="${DGC_BUDGET_S:-540}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
LOGS="$OUT/logs.txt"
: > "$SUMMARY"
: > "$LOGS"
say() { echo "$*" | tee -a "$SUMMARY"; }
section() { echo "==== $* ====" >> "$LOGS"; }
left() { echo $((BUDGET - SECONDS)); }

say "# dgcode GPU kernels bench, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo no-git) (+ working tree)"

# ---- the card -----------------------------------------------------------
if ! command -v nvidia-smi >/dev/null 2>&1; then
    say "FAIL: nvidia-smi not found: not a CUDA machine"
    exit 2
fi
section nvidia-smi
nvidia-smi >> "$LOGS" 2>&1
if ! nvidia-smi -L >/dev/null 2>&1; then
    say "FAIL: nvidia-smi finds no GPU (see logs.txt)"
    exit 2
fi
say "card: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,compute_cap --format=csv,noheader 2>&1 | head -1)"
say "      (name, driver, memory, max SM clock, compute capability)"
CAP="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
case "$CAP" in
    [0-9][0-9]|[0-9][0-9][0-9]) ARCH="sm_$CAP" ;;
    *) ARCH="sm_90"; say "compute capability not reported ('$CAP'): assuming sm_90" ;;
esac

# ---- phase 1: build and run the harness -----------------------------------
NVCC="$(command -v nvcc || true)"
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
BUILD="$(mktemp -d)"
HARNESS="$BUILD/harness"
if [ -n "$NVCC" ]; then
    say "building the harness for $ARCH with $NVCC ($("$NVCC" --version | tail -1))"
    # The GPU's own architecture only: a build for one target takes a fraction of a fat binary's time.
    if ! "$NVCC" -O3 -std=c++17 -arch="$ARCH" -o "$HARNESS" \
        "$ROOT/kernels/cuda/harness.cu" "$ROOT/kernels/cuda/fused_confidence.cu" \
        "$ROOT/kernels/cuda/block_attention.cu" > "$BUILD/build.log" 2>&1; then
        say "FAIL: the harness did not build (logs.txt)"
        tail -20 "$BUILD/build.log" | tee -a "$SUMMARY"
        section build; cat "$BUILD/build.log" >> "$LOGS"
        exit 3
    fi
    section build; cat "$BUILD/build.log" >> "$LOGS"
elif [ -n "${DGC_HARNESS:-}" ] && [ -x "${DGC_HARNESS}" ]; then
    HARNESS="$DGC_HARNESS"
    say "no nvcc here: using the prebuilt harness $HARNESS"
else
    say "FAIL: no nvcc and no DGC_HARNESS prebuilt binary"
    exit 3
fi

HARGS=()
[ "${DGC_QUICK:-0}" = "1" ] && HARGS+=(--quick)
P1_LIMIT=$(( $(left) > 330 ? 300 : $(left) - 30 ))
say "running the harness${HARGS[*]:+ ${HARGS[*]}} (limit ${P1_LIMIT}s)"
timeout "$P1_LIMIT" "$HARNESS" "${HARGS[@]}" > "$OUT/harness.jsonl" 2> "$BUILD/harness.stderr"
HRC=$?
section harness stderr; cat "$BUILD/harness.stderr" >> "$LOGS"
say "harness exit status: $HRC (0: every check passed; 1: a check failed; 2: CUDA error; 124: timed out)"

PY="${DGC_PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY="$(command -v python3 || true)"; fi
fi
# dgcode from this tree; wheels carried in .whl/ (docs/kernels-gpu.md) installed beside it.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "$PY" ] && ls "$ROOT"/.whl/*.whl >/dev/null 2>&1; then
    section wheels
    if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$BUILD/site" \
        "$ROOT"/.whl/*.whl >> "$LOGS" 2>&1; then
        export PYTHONPATH="$BUILD/site:$PYTHONPATH"
        say "installed the carried wheels: $(ls "$ROOT"/.whl | tr '\n' ' ')"
    else
        say "the carried wheels did not install (logs.txt)"
    fi
fi

# A readable summary of the JSON lines (python if there is one, else the raw lines).
if [ -n "$PY" ] && "$PY" -c 'import json' 2>/dev/null; then
    "$PY" - "$OUT/harness.jsonl" <<'EOF' | tee -a "$SUMMARY"
import json, sys
rows = []
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        try:
            rows.append(json.loads(line))
        except ValueError:
            print("unparsed:", line[:200])
checks = [r for r in rows if r.get("kind") == "check"]
bad = [r for r in checks if not r.get("pass")]
print(f"checks: {len(checks)} run, {len(bad)} failed")
for r in bad[:10]:
    print("  FAILED", json.dumps(r))
for r in rows:
    if r.get("kind") in ("error", "mismatch"):
        print("  ", json.dumps(r))
for r in rows:
    if r.get("kind") != "bench":
        continue
    if r["kernel"] == "fused_confidence":
        print(f"fused_confidence {r['dtype']} rows={r['rows']} vocab={r['vocab']} sampling={r['sampling']}: "
              f"kernel {r['kernel_us']:.1f} us vs logits copy {r['d2h_pinned_us']:.1f} us pinned / "
              f"{r['d2h_pageable_us']:.1f} us pageable (+ CPU ref {r['cpu_ref_1thread_us'] / 1e3:.1f} ms, 1 thread); "
              f"{r['bytes_to_host_kernel']} B vs {r['bytes_to_host_copy']} B to the host")
    else:
        print(f"block_attention {r['dtype']} cand={r['n_cand']} q={r['n_q']} prefix={r['n_prefix']} "
              f"heads={r['n_head']}/{r['n_kv_head']} d={r['head_dim']}: {r['kernel_us']:.1f} us, "
              f"{r['TFLOPs']:.2f} TFLOP/s, {r['min_bytes_GBps']:.0f} GB/s of minimum traffic")
EOF
else
    cat "$OUT/harness.jsonl" >> "$SUMMARY"
fi

# ---- the kernel tests ---------------------------------------------------------
if [ "${DGC_PYTEST:-1}" != "0" ] && [ -n "$PY" ] && "$PY" -c 'import numpy, pytest' 2>/dev/null; then
    LIMIT=$(( $(left) - 200 ))
    if [ "$LIMIT" -ge 90 ]; then
        [ "$LIMIT" -gt 240 ] && LIMIT=240
        # DGC_PYTEST=0 inside: the tests run this script (with a fake nvidia-smi), which must not recurse.
        (cd "$ROOT" && DGC_PYTEST=0 timeout "$LIMIT" "$PY" -m pytest -q -p no:cacheprovider --noconftest \
            tests/test_kernels_cuda.py) > "$OUT/pytest.txt" 2>&1
        say "kernel tests: exit status $? ($(tail -1 "$OUT/pytest.txt"))"
    else
        say "kernel tests skipped: ${LIMIT}s left for them"
    fi
else
    say "kernel tests skipped (DGC_PYTEST=0, or no python with numpy and pytest)"
fi

# ---- phase 2: end to end, only with a CUDA llama-cpp-python ---------------
if [ "${DGC_E2E:-1}" = "0" ]; then
    say "phase 2 skipped: DGC_E2E=0"
    exit $HRC
fi
if [ -z "$PY" ]; then
    say "phase 2 skipped: no python"
    exit $HRC
fi
section phase 2 probe
GPU_OK="$(cd "$ROOT" && "$PY" -c 'import dgcode.cli.main, llama_cpp; print(int(bool(llama_cpp.llama_supports_gpu_offload())))' 2>>"$LOGS")"
if [ "$GPU_OK" != "1" ]; then
    say "phase 2 skipped: $PY has no CUDA build of llama-cpp-python with dgcode's dependencies (llama_supports_gpu_offload: '${GPU_OK:-import failed}'; logs.txt)"
    exit $HRC
fi
SHAPE="${DGC_E2E_SHAPE:-dream-7b}"
QUANT="${DGC_E2E_QUANT:-Q4_K_M}"
DGCODE=("$PY" -m dgcode)
[ -x "$(dirname "$PY")/dgcode" ] && DGCODE=("$(dirname "$PY")/dgcode")
export DGCODE_CACHE_DIR="${DGCODE_CACHE_DIR:-$BUILD/cache}"   # the synthetic model is built (and quantized) here
export DGCODE_KERNELS_QUIET=1
for KERNELS in c numpy; do
    LIMIT=$(( $(left) - 15 ))
    if [ "$LIMIT" -lt 60 ]; then
        say "phase 2 ($KERNELS) skipped: ${LIMIT}s left of the budget"
        continue
    fi
    say "phase 2: dgcode bench --synthetic $SHAPE --quant $QUANT, DGCODE_KERNELS=$KERNELS (limit ${LIMIT}s)"
    section "phase 2 DGCODE_KERNELS=$KERNELS stderr"
    (cd "$ROOT" && DGCODE_KERNELS="$KERNELS" timeout "$LIMIT" "${DGCODE[@]}" bench --synthetic "$SHAPE" \
        --quant "$QUANT" --prompt-tokens 2048 --gen-tokens 256 --modes dgcode,ar --json) \
        > "$OUT/e2e-$KERNELS.json" 2>> "$LOGS"
    say "  exit status $? (e2e-$KERNELS.json)"
done
exit $HRC
