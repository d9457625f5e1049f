#!/usr/bin/env bash
# Reproduces the tables in docs/benchmarks.md and docs/engine.md (CPU, synthetic models).
# Usage: docs/run_engine_benchmarks.sh OUTPUT_DIR     (about 5 minutes on 2 cores)
set -euo pipefail
out="${1:?output folder}"
mkdir -p "$out"
dg="${DGCODE:-dgcode}"
# 1. The target: 2,048-token prompt, 256-token answer, 64 steps, three modes side by side.
"$dg" bench --synthetic small --prompt-tokens 2048 --gen-tokens 256 --steps 64 --json > "$out/small-f16.json"
# 2. The same with the quantization people run.
"$dg" bench --synthetic small --quant Q4_K_M --prompt-tokens 2048 --gen-tokens 256 --steps 64 \
    --modes dgcode,ar --json > "$out/small-q4km.json"
# 3. Sub-block sizes (dgcode only).
for sb in 8 16 32 64 128 256; do
  "$dg" bench --synthetic small --prompt-tokens 2048 --gen-tokens 256 --steps 64 --sub-block "$sb" \
      --modes dgcode --json > "$out/subblock-$sb.json"
done
