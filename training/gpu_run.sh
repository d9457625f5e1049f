#!/usr/bin/env bash
# The repair model's GPU run (issue #16), prepared for the device machine: one H200, 16 cores, no network,
# at most 10 minutes a command and 15 minutes of device time a session (docs/model.md, "The GPU run").
# It fine-tunes the shipped model onto layout version 3 at batch 256 with 14 data-loader workers, exports
# the GGUF and hands it back through $OUT in parts the device tool can return (16 MiB a file at most).
# Run from the repository root:
#
#   OUT=/some/dir bash training/gpu_run.sh
#
# Then, on the CPU machine, rebuild the file and evaluate it through dgcode's engine:
#
#   cat DIR/dgcode-repair.gguf.part-* > runs/gpu/dgcode-repair.gguf
#   (cd runs/gpu && sha256sum -c DIR/dgcode-repair.gguf.sha256)
#   python -m training.evaluate --model runs/gpu/dgcode-repair.gguf --per-kind 100 --threads 2 --seed 1
#
# The shape stays the shipped one (4 x 192, 1.97M parameters): a repair must stay under 100 ms mean on a
# 2-core CPU, and the 13.4M default is about seven times the compute per step. DGC_SHAPE=default trains
# that one from scratch instead (with the shipped tokenizer), for comparison.
#
# Environment (all optional):
#   OUT            output folder (default ./gpu-train-out)
#   DGC_TRAIN_S    training seconds (default 390; set-up, the final estimate and the export come on top)
#   DGC_PYTHON     python with torch (default python3 when it imports torch, else .venv/bin/python)
#   DGC_DEVICE     cuda (default) or cpu (the smoke test, tests/test_training_gpu_run.py)
#   DGC_SHAPE      shipped (default) or default
#   DGC_EXTRA      more train.py flags, appended (the smoke test passes --max-files, --batch, --steps ...)
#   DGC_WORKERS    data-loader processes (default: cores - 2, at least 0)
#   DGC_PART_BYTES the size of each returned part (default 15M; split -b)
#
# `gguf` (pure Python, for the export) is not in the device image: carry its wheel in .whl/ (the device
# tool's README), and this script installs it beside dgcode. $OUT gets: summary.txt, train.log, log.jsonl,
# dgcode-repair.gguf.part-00 .. (15 MiB each), dgcode-repair.gguf.sha256.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu-train-out}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
RUN="$(mktemp -d)"
trap 'rm -rf "$RUN"' EXIT

PY="${DGC_PYTHON:-}"
if [ -z "$PY" ]; then
    if python3 -c 'import torch' 2>/dev/null; then PY=python3; else PY="$ROOT/.venv/bin/python"; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
if ! "$PY" -c 'import gguf' 2>/dev/null; then
    if ls "$ROOT"/.whl/*.whl >/dev/null 2>&1 && "$PY" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --target "$RUN/site" "$ROOT"/.whl/*.whl >> "$OUT/train.log" 2>&1; then
        export PYTHONPATH="$RUN/site:$PYTHONPATH"
    fi
    if ! "$PY" -c 'import gguf' 2>/dev/null; then
        say "FAIL: the gguf package is not importable and no wheel in .whl/ installs it (the export needs it)"
        exit 2
    fi
fi

DEVICE="${DGC_DEVICE:-cuda}"
say "# dgcode repair model GPU run, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo no-git)"
if [ "$DEVICE" = cuda ]; then
    say "card: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
    if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        say "FAIL: torch in $PY sees no CUDA device"
        exit 2
    fi
fi
say "python: $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)')"

CORES="$(nproc 2>/dev/null || echo 2)"
WORKERS="${DGC_WORKERS:-$(( CORES > 2 ? CORES - 2 : 0 ))}"
SHIPPED="$ROOT/dgcode/repair/dgcode-repair.gguf"
CANVAS=(--canvas 448 --slot 112 --lines-before 1 --lines-after 0 --reach-before 2 --reach-after 1 --reach-slot 80)
case "${DGC_SHAPE:-shipped}" in
    shipped)
        SHAPE=(--init-from "$SHIPPED" --n-embd 192 --n-layer 4 --n-head 3 --n-head-kv 1 --n-ff 512 --lr 1e-3
               --warmup 300) ;;
    default)
        # The shipped tokenizer, so the file is comparable; train.py uses a tokenizer.json it finds in --out.
        mkdir -p "$RUN/model"
        "$PY" -c 'import sys; from training.gguf_import import read_gguf_model
read_gguf_model(sys.argv[1]).tokenizer.save(sys.argv[2])' "$SHIPPED" "$RUN/model/tokenizer.json" \
            || { say "FAIL: could not read the shipped tokenizer from $SHIPPED"; exit 2; }
        SHAPE=(--lr 1e-3 --warmup 500) ;;
    *) say "FAIL: DGC_SHAPE must be shipped or default, not '${DGC_SHAPE}'"; exit 2 ;;
esac
KIND_WEIGHTS="assign_for_equals=0.5,missing_colon=0.5,extra_bracket=0.5,missing_comma=0.5,joined_lines=1.0"
KIND_WEIGHTS="$KIND_WEIGHTS,unterminated_string=1.3,misspelled_keyword=1.6,bad_indentation=2.2,missing_bracket=2.2"
# shellcheck disable=SC2206
EXTRA=(${DGC_EXTRA:-})
TRAIN=("$PY" -m training.train --out "$RUN/model" --device "$DEVICE" --seed 11 --steps 100000 --batch 256
       --reuse 2 --min-lr-ratio 0.05 "${SHAPE[@]}" "${CANVAS[@]}" --workers "$WORKERS" --log-every 100
       --eval-every 1000000 --eval-per-kind 16 --ckpt-every 1000 --time-limit "${DGC_TRAIN_S:-390}"
       --kind-weights "$KIND_WEIGHTS" "${EXTRA[@]}")
say "train: ${TRAIN[*]}"
START=$SECONDS
"${TRAIN[@]}" > "$OUT/train.log" 2>&1
RC=$?
cp "$RUN/model/log.jsonl" "$OUT/log.jsonl" 2>/dev/null
say "train exit status $RC after $(( SECONDS - START )) s; last lines:"
tail -n 14 "$OUT/train.log" | tee -a "$SUMMARY"
if [ "$RC" -ne 0 ] || [ ! -f "$RUN/model/last.pt" ]; then
    say "FAIL: no checkpoint to export"
    exit 3
fi

if ! "$PY" -m training.export --checkpoint "$RUN/model/last.pt" --out "$RUN/dgcode-repair.gguf" >> "$OUT/train.log" 2>&1; then
    say "FAIL: the export did not finish (train.log)"
    exit 4
fi
(cd "$RUN" && split -b "${DGC_PART_BYTES:-15M}" -d dgcode-repair.gguf "$OUT/dgcode-repair.gguf.part-" \
    && sha256sum dgcode-repair.gguf > "$OUT/dgcode-repair.gguf.sha256")
say "exported: $(stat -c %s "$RUN/dgcode-repair.gguf") bytes in $(ls "$OUT" | grep -c '\.part-') part(s); sha256 $(cut -c1-16 "$OUT/dgcode-repair.gguf.sha256")"
say "done in $SECONDS s"
