#!/usr/bin/env bash
# One GPU-machine call over binaries built on the workstation and carried (the GPU machine's
# time is for running, not compiling): every GPU test binary in the folder, the decode and
# prefill bench, the VRAM measurement at 32K and the transformers baseline, all on one card.
# Usage: carried_run.sh <folder with test_cuda_* / hlwq-cuda-bench / hlwq-fit-measure> <commit>
# Env: TESTS=0 skips the tests, BASELINE=0 the transformers run, BENCH="..." replaces the
# bench's grid options, BASE_BENCH=<an older hlwq-cuda-bench> adds its decode at contexts 0 and
# 32K (fp16, q3, q2) in the same call for the A/B, WEIGHT_BITS="4 3" (default) the widths benched
# besides Q5. Logs and JSON go to $OUT.
set -uo pipefail
dir=$1; commit=${2:-unknown}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
mkdir -p /work && { [ -e /work/main ] || ln -s "$PWD" /work/main; }  # compiled-in fixture paths
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,driver_version --format=csv | tee "$OUT/gpu.txt"

if [ "${TESTS:-1}" = 1 ]; then
  for t in "$dir"/test_cuda_*; do
    [ -x "$t" ] || continue
    echo "== $(basename "$t")" >> "$OUT/gpu-tests.log"
    timeout 120 "$t" >> "$OUT/gpu-tests.log" 2>&1
    echo "$(basename "$t"): rc=$?"
  done
  grep -E "^\[  (PASSED|FAILED) |^\[  SKIPPED \] [0-9]" "$OUT/gpu-tests.log"
fi

bench=${BENCH:---kv fp16,q5,q4,q3,q2 --contexts 0,4096,32768,131072 --prefill 64,512,4096 --repeats 10}
# shellcheck disable=SC2086
"$dir/hlwq-cuda-bench" $bench --commit "$commit" --json "$OUT/bench.json" \
  --command "hlwq-cuda-bench $bench" > "$OUT/bench.log" 2>&1
tail -40 "$OUT/bench.log"

if [ -n "${BASE_BENCH:-}" ]; then
  base="--contexts 0,32768 --kv fp16,q3,q2 --prefill 512,4096 --repeats 10"
  # shellcheck disable=SC2086
  "$BASE_BENCH" $base --json "$OUT/base-bench.json" --command "hlwq-cuda-bench $base" > "$OUT/base-bench.log" 2>&1
  grep -E "copy bandwidth|^(fp16|q3|q2) |full model" "$OUT/base-bench.log"
fi

# Q4 and Q3 weight codes (the Q5 grid above is the default width): decode and prefill.
for bits in ${WEIGHT_BITS:-4 3}; do
  wb="--weight-bits $bits --kv q3 --contexts 0,32768 --prefill 512,4096 --repeats 10"
  # shellcheck disable=SC2086
  "$dir/hlwq-cuda-bench" $wb --commit "$commit" --json "$OUT/bench-q$bits.json" --command "hlwq-cuda-bench $wb" \
    > "$OUT/bench-q$bits.log" 2>&1
  grep -E "copy bandwidth|^q3 |full model" "$OUT/bench-q$bits.log"
done

if [ -x "$dir/hlwq-gemv-bench" ]; then  # the GEMV per 27B shape, width and token count
  "$dir/hlwq-gemv-bench" --repeats 5 --json "$OUT/gemv-bench.json" > "$OUT/gemv-bench.log" 2>&1
  tail -3 "$OUT/gemv-bench.log"
fi

if [ "${PROFILE:-1}" = 1 ]; then  # where a token's time goes, at 0 and 32K (decode_profile.sh)
  mkdir -p "$OUT/profile"
  OUT="$OUT/profile" BENCH_ARGS="--sampler --drop-profile" NCU_TIMEOUT=40 bash kernels/bench/decode_profile.sh "$dir" 0,32768 | tail -40
fi

if [ -x "$dir/hlwq-fit-measure" ]; then
  "$dir/hlwq-fit-measure" --contexts 32768 --kv q3,fp16 --embedding host --json "$OUT/fit.json" > "$OUT/fit.log" 2>&1
  tail -6 "$OUT/fit.log"
fi

if [ "${BASELINE:-1}" = 1 ]; then
  PYTHONUNBUFFERED=1 timeout "${BASELINE_TIMEOUT:-240}" python3 tools/bench_transformers.py --json "$OUT/transformers.json" > "$OUT/transformers.log" 2>&1
  tail -8 "$OUT/transformers.log"
fi
