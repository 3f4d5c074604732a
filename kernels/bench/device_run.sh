#!/usr/bin/env bash
# What one call on the GPU machine runs: configure against the staged .deps, build the CUDA
# targets, run the GPU tests, the benchmark and (optionally) the transformers baseline.
# Usage: kernels/bench/device_run.sh <commit> [bench options...]; env BASELINE=1 adds the
# baseline, TESTS=0 skips the tests. Logs and JSON go to $OUT.
set -uo pipefail
commit=${1:-unknown}; shift || true
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
export PKG_CONFIG_PATH="$PWD/.deps/root/usr/lib/x86_64-linux-gnu/pkgconfig:$PWD/.deps/root/usr/share/pkgconfig"
pc=()
if ! command -v pkg-config >/dev/null; then  # staged pkgconf (scripts/stage-deps.sh)
  export LD_LIBRARY_PATH="$PWD/.deps/root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  pc=(-DPKG_CONFIG_EXECUTABLE="$PWD/.deps/root/usr/bin/pkgconf")
fi
if ! cmake -S . -B build-dev -G Ninja "${pc[@]}" -DHLWQ_APP=OFF -DHLWQ_CUDA=ON -DHLWQ_CUDA_ARCHS=90-real \
     -DCMAKE_CUDA_FLAGS=-Xptxas=-v >"$OUT/configure.log" 2>&1; then
  echo "full tree does not configure (see configure.log); building the CUDA targets alone"
  rm -rf build-dev
  cmake -S kernels/bench/standalone -B build-dev -G Ninja -DCMAKE_CUDA_ARCHITECTURES=90-real \
    -DCMAKE_CUDA_FLAGS=-Xptxas=-v >>"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
fi
targets="hlwq-cuda-bench test_cuda_gemv_q5 test_cuda_deltanet_step test_cuda_attention test_cuda_sampling test_cuda_prefill_gemm"
cmake --build build-dev --target $targets -j16 >"$OUT/build.log" 2>&1 || { grep -B2 -A8 -E "error|FAILED" "$OUT/build.log" | head -60; exit 1; }
cmake --build build-dev --target test_cuda_backend -j16 >>"$OUT/build.log" 2>&1 \
  || echo "test_cuda_backend not built (standalone build, or see build.log)"
if [ "${SASS:-0}" = 1 ]; then
  cuobjdump -sass build-dev/kernels/hlwq-cuda-bench > "$OUT/sass.txt" 2>&1
  grep -A4 "gemv_q5_kernel" "$OUT/build.log" | grep -E "registers|spill" | head -12
fi
if [ "${TESTS:-1}" = 1 ]; then
  for t in build-dev/tests/kernels/test_cuda_*; do
    [ -x "$t" ] || continue
    "$t" 2>&1 | tee -a "$OUT/tests.log" | grep -E "^\[  (PASSED|FAILED|SKIPPED) |Failure|error|Expected|Which is" | head -20
  done
fi
if [ "${NCU:-0}" = 1 ]; then  # one gate/up GEMV launch, hardware counters (clocks left alone)
  ncu --clock-control none -k regex:gemv_q5_kernel --launch-skip 20 --launch-count 1 \
    --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis \
    --section Occupancy --section LaunchStats \
    ./build-dev/kernels/hlwq-cuda-bench --contexts 0 --kv fp16 --prefill "" --repeats 3 > "$OUT/ncu.txt" 2>&1
  grep -E "Throughput|Duration|Issue|Stall|Occupancy|Bank|Warp Cycles|Eligible|Active Warps" "$OUT/ncu.txt" | head -40
fi
./build-dev/kernels/hlwq-cuda-bench --commit "$commit" --json "$OUT/bench.json" \
  --command "hlwq-cuda-bench $*" "$@" 2>&1 | tee "$OUT/bench.log"
if [ "${BASELINE:-0}" = 1 ]; then
  PYTHONUNBUFFERED=1 python3 tools/bench_transformers.py --json "$OUT/transformers.json" ${BASELINE_ARGS:-} 2>&1 | tail -20 | tee "$OUT/transformers.log"
fi
