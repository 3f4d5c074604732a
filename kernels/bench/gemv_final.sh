#!/usr/bin/env bash
# The GEMV work's final GPU-machine call: GPU tests (GEMV, prefill GEMM, backend end to end),
# the full decode bench of this tree, the 5bbe4d8 kernels at context 0 for the A/B on the same
# card, an ncu profile of one gate/up GEMV launch and the transformers baseline. Binaries come
# gzipped in build-gemv-carry/ (see gemv_device.sh). Usage: gemv_final.sh <commit>
set -uo pipefail
commit=${1:-unknown}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
dir=build-gemv-carry
(cd $dir && for f in *.gz; do gunzip -f "$f"; done; chmod +x ./*)
mkdir -p /work && { [ -e /work/main ] || ln -s "$PWD" /work/main; }  # the backend test's fixture path
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv > "$OUT/new.log"
for t in test_cuda_gemv_q5 test_cuda_prefill_gemm test_cuda_backend; do
  [ -x $dir/$t ] || { echo "$t: not carried" >> "$OUT/tests.log"; continue; }
  $dir/$t 2>&1 | tee -a "$OUT/tests.log" | grep -E "^\[  (PASSED|FAILED|SKIPPED) |Failure" | head -20
done
$dir/old-bench --contexts 0 --kv fp16 --prefill "" --repeats 20 --commit 5bbe4d8 --json "$OUT/old.json" \
  --command "hlwq-cuda-bench --contexts 0 --kv fp16 --prefill '' --repeats 20" > "$OUT/old.log" 2>&1
grep -A2 "^kv " "$OUT/old.log"
$dir/hlwq-cuda-bench --repeats 20 --commit "$commit" --json "$OUT/new.json" \
  --command "hlwq-cuda-bench --repeats 20" 2>&1 | tee -a "$OUT/new.log" | tail -32
ncu --clock-control none -k regex:gemv_q5_kernel --launch-skip 20 --launch-count 1 \
  --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis \
  --section Occupancy --section LaunchStats --section InstructionStats \
  $dir/hlwq-cuda-bench --contexts 0 --kv fp16 --prefill "" --repeats 3 > "$OUT/ncu.txt" 2>&1
grep -E "DRAM Throughput|Duration|Issued Instructions  |Issued Warp|Eligible Warps|Warp Cycles Per Issued" "$OUT/ncu.txt" | head
if [ "${BASELINE:-1}" = 1 ]; then
  PYTHONUNBUFFERED=1 python3 tools/bench_transformers.py --json "$OUT/transformers.json" > "$OUT/transformers.log" 2>&1
  tail -8 "$OUT/transformers.log"
fi
