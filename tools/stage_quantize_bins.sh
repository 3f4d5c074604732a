#!/usr/bin/env bash
# Copies the quantizer's programs built here (a CUDA build dir) into .quantbin/, with the shared
# libraries they need that the GPU machine's image may lack (not glibc, libstdc++, the driver or
# cuBLAS, which it has), so a GPU call carries them and spends no device time compiling.
# The programs embed every kernel's machine code (~13 MB each), more than a call may carry, so
# they travel as .quantpack/quantbin.tar.xz (~12 MB) and quantize_device_run.sh unpacks them.
# Usage: tools/stage_quantize_bins.sh [BUILD_DIR]   (then carry .quantpack)
set -euo pipefail
build=${1:-build-quant}
dest=.quantbin
rm -rf "$dest"
mkdir -p "$dest/lib"
bins="app/cli/hlwq kernels/hlwq-quantize-bench tests/kernels/test_cuda_quantize tests/kernels/test_cuda_quantize_cli"
for b in $bins; do
  cp "$build/$b" "$dest/"
  strip "$dest/$(basename "$b")"
done
for b in $bins; do ldd "$build/$b"; done | awk '/=> \//{print $3}' | sort -u |
  grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux[^/]*|libpthread|libdl|librt|libcuda|libcublas|libcublasLt)\.so' |
  while read -r lib; do cp -L "$lib" "$dest/lib/"; done
for d in /.quantbin/ /.quantpack/; do grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
mkdir -p .quantpack
tar -cf - "$dest" | xz -T2 -6 > .quantpack/quantbin.tar.xz
ls -la "$dest" "$dest/lib" .quantpack
