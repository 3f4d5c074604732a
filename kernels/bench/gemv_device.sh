#!/usr/bin/env bash
# One GPU-machine call for the decode GEMV work: binaries built on the workstation travel
# gzipped in build-gemv-carry/ (the GPU machine's time is for running, not compiling):
# test_cuda_gemv_q5, test_cuda_prefill_gemm, hlwq-cuda-bench (this tree) and old-bench (the
# 5bbe4d8 kernels, for the A/B on the same card in the same call).
# Default bench: context 0, fp16 KV, no prefill, 10 repeats. Env: NCU=1, FULL=1 (the whole
# default bench grid for the new kernel), TESTS=0, PDL_AB=1 (new kernel again without PDL).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
dir=build-gemv-carry
(cd $dir && for f in *.gz; do gunzip -f "$f"; done; chmod +x ./*)
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
if [ "${TESTS:-1}" = 1 ]; then
  for t in test_cuda_gemv_q5 test_cuda_prefill_gemm; do
    [ -x $dir/$t ] || continue
    $dir/$t 2>&1 | tee "$OUT/$t.log" | grep -E "^\[  (PASSED|FAILED|SKIPPED) |Failure|out\[|error|Expected|Which is" | head -20
  done
fi
if [ "${OLD:-1}" = 1 ] && [ -x $dir/old-bench ]; then
  $dir/old-bench --contexts 0 --kv fp16 --prefill "" --repeats 10 --json "$OUT/old.json" 2>&1 | tee "$OUT/old.log" | grep -E "tok/s|GB/s|fp16|gemv" | head -20
fi
if [ "${FULL:-0}" = 1 ]; then
  $dir/hlwq-cuda-bench --repeats 20 --json "$OUT/new.json" --command "hlwq-cuda-bench --repeats 20" 2>&1 | tee "$OUT/new.log"
else
  $dir/hlwq-cuda-bench --contexts 0 --kv fp16 --prefill "" --repeats 10 --json "$OUT/new.json" 2>&1 | tee "$OUT/new.log" | grep -E "tok/s|GB/s|fp16|gemv" | head -20
fi
if [ "${PDL_AB:-0}" = 1 ]; then
  HLWQ_GEMV_PDL=0 $dir/hlwq-cuda-bench --contexts 0 --kv fp16 --prefill "" --repeats 10 --json "$OUT/nopdl.json" 2>&1 | tee "$OUT/nopdl.log" | grep -E "tok/s|GB/s|fp16|gemv" | head -20
fi
if [ "${NCU:-0}" = 1 ]; then  # one gate/up GEMV launch, hardware counters (clocks left alone)
  ncu --clock-control none -k regex:gemv_q5_kernel --launch-skip 20 --launch-count 1 \
    --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis \
    --section Occupancy --section LaunchStats --section InstructionStats \
    $dir/hlwq-cuda-bench --contexts 0 --kv fp16 --prefill "" --repeats 3 > "$OUT/ncu.txt" 2>&1
  grep -E "Throughput|Duration|Issue|Stall|Occupancy|Bank|Warp Cycles|Eligible|Active Warps|Executed Ipc|Grid Size|Registers" "$OUT/ncu.txt" | head -40
fi
