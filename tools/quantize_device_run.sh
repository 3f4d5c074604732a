#!/usr/bin/env bash
# One GPU-machine call for the quantizer (issue #3): the GPU-vs-CPU byte tests, the kernel and
# BlockQuantizer throughput on a 27B MLP tensor, and `hlwq quantize` end to end on a synthetic
# BF16 checkpoint with 27B layer shapes, --device cpu (every core) and cuda, 3 runs each, outputs
# compared byte for byte. Runs the programs tools/stage_quantize_bins.sh put in .quantbin/.
# Usage: tools/quantize_device_run.sh [LAYERS]; logs and JSON go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
B=$PWD/.quantbin
[ -x "$B/hlwq" ] || tar -xJf .quantpack/quantbin.tar.xz || exit 1
layers=${1:-2}
# cuBLAS and the CUDA runtime come from the image; find the folder that holds them.
cudalib=$(dirname "$(find /usr/local/cuda* /usr/lib/x86_64-linux-gnu /opt -name 'libcublasLt.so.13' 2>/dev/null | head -1)" 2>/dev/null)
export LD_LIBRARY_PATH="$B/lib:${cudalib:-/usr/local/cuda/lib64}:$PWD/.deps/root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
{ nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv; echo "cores: $(nproc)"; free -g | head -2; } | tee "$OUT/machine.txt"
if ldd "$B/hlwq" "$B/test_cuda_quantize" | grep -q 'not found'; then
  ldd "$B/hlwq" "$B/test_cuda_quantize" | grep 'not found'
  exit 1
fi
echo "== tests"
"$B/test_cuda_quantize" 2>&1 | tee "$OUT/tests.log" | grep -E '^\[  (PASSED|FAILED|SKIPPED)|Failure|differ|Expected|Which is' | head -30
HLWQ_CLI="$B/hlwq" "$B/test_cuda_quantize_cli" 2>&1 | tee -a "$OUT/tests.log" | grep -E '^\[  (PASSED|FAILED|SKIPPED)|Failure|differ|Expected' | head -20
echo "== kernel and BlockQuantizer, one 17408 x 5120 BF16 tensor"
"$B/hlwq-quantize-bench" kernel --repeats 10 --json "$OUT/quantize-kernel.json" 2>&1 | tee "$OUT/bench.log"
echo "== end to end: hlwq quantize on a synthetic $layers-layer 27B-shape BF16 checkpoint"
src=/tmp/quant-synth
"$B/hlwq-quantize-bench" write "$src" --layers "$layers" 2>&1 | tee -a "$OUT/bench.log"
for i in 1 2 3; do
  s=$(date +%s.%N); cat "$src"/*.safetensors > /dev/null; e=$(date +%s.%N)
  echo "cat source (page cache): $(echo "$s $e" | awk '{print $2-$1}') s" | tee -a "$OUT/bench.log"
done
for args in "--bits 5" "--bits 4 --scale mse"; do
  for dev in cpu cuda; do
    for i in 1 2 3; do
      rm -rf "/tmp/quant-$dev"
      echo "hlwq quantize $args --device $dev #$i: $("$B/hlwq" quantize "$src" "/tmp/quant-$dev" $args --device "$dev" --quiet 2>&1 | tr '\n' ' ')" | tee -a "$OUT/bench.log"
    done
  done
  same=identical
  for f in /tmp/quant-cpu/*; do cmp -s "$f" "/tmp/quant-cuda/$(basename "$f")" || same="DIFFERENT: $f"; done
  echo "$args: --device cpu and cuda outputs $same" | tee -a "$OUT/bench.log"
done
# Cold page cache (when the VM lets root drop it): disk read, then each device once.
for dev in cat cpu cuda; do
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || { echo "cannot drop the page cache here" | tee -a "$OUT/bench.log"; break; }
  rm -rf "/tmp/quant-$dev"
  if [ $dev = cat ]; then
    s=$(date +%s.%N); cat "$src"/*.safetensors > /dev/null; e=$(date +%s.%N)
    echo "cold: cat source $(echo "$s $e" | awk '{print $2-$1}') s" | tee -a "$OUT/bench.log"
  else
    echo "cold: hlwq quantize --bits 5 --device $dev: $("$B/hlwq" quantize "$src" "/tmp/quant-$dev" --bits 5 --device "$dev" --quiet 2>&1 | tr '\n' ' ')" | tee -a "$OUT/bench.log"
  fi
done
du -sh "$src" /tmp/quant-cuda | tee -a "$OUT/bench.log"
