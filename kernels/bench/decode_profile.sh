#!/usr/bin/env bash
# Where one 27B decode token's time goes (issue #6), at the given contexts with fp16 KV:
# 1. hlwq-cuda-bench --profile: the graph's ms/token, then an eager step with CUDA events
#    after each kernel group (GEMV by matrix, DeltaNet step, attention, embedding, lm_head,
#    sampler), summed per kind; the graph's time minus that sum is what launch gaps,
#    dependency latency and programmatic-launch overlap add or remove.
# 2. ncu (--clock-control none, gpu__time_duration.sum) over one eager step per context
#    (--ncu-step brackets it with cudaProfilerStart/Stop): pure kernel durations per kernel
#    name, without the gaps, summed.
# Usage: decode_profile.sh <dir with hlwq-cuda-bench> [contexts]
# env: OUT (where logs go), EVENTS=0 / NCU=0 skip a part, NCU_CONTEXTS (default: contexts),
# NCU_TIMEOUT (s, default 90), BENCH_ARGS (more options for the events run, e.g. --sampler).
set -uo pipefail
bin=${1:?usage: decode_profile.sh BIN_DIR [contexts]}
contexts=${2:-0,32768}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
if [ "${EVENTS:-1}" = 1 ]; then
timeout 60 "$bin/hlwq-cuda-bench" --contexts "$contexts" --kv fp16 --prefill "" --repeats 20 --profile ${BENCH_ARGS:-} \
  --json "$OUT/profile.json" --command "hlwq-cuda-bench --contexts $contexts --kv fp16 --prefill '' --repeats 20 --profile" \
  > "$OUT/profile.log" 2>&1
grep -E "copy bandwidth|^fp16|^   |NONFINITE|skipped" "$OUT/profile.log"
fi
[ "${NCU:-1}" = 1 ] || exit 0
command -v ncu >/dev/null || { echo "ncu not found: kernel durations skipped"; exit 0; }
ncu_contexts=${NCU_CONTEXTS:-$contexts}
timeout "${NCU_TIMEOUT:-90}" ncu --profile-from-start off --clock-control none --metrics gpu__time_duration.sum --csv \
  "$bin/hlwq-cuda-bench" --contexts "$ncu_contexts" --kv fp16 --prefill "" --repeats 3 --ncu-step \
  > "$OUT/ncu-step.csv" 2> "$OUT/ncu-step.err"
echo "ncu rc=$?"
python3 - "$OUT/ncu-step.csv" "$ncu_contexts" <<'EOF' | tee "$OUT/ncu-step-summary.txt"
# One row per kernel launch; the --ncu-step ranges come one per context, in order, with the
# same number of launches each, so the list splits evenly.
import csv, re, sys
rows = []
with open(sys.argv[1]) as f:
    lines = [l for l in f if l.startswith('"')]
for r in csv.DictReader(lines):
    if r.get("Metric Name") != "gpu__time_duration.sum":
        continue
    v = float(r["Metric Value"].replace(",", ""))
    unit = r.get("Metric Unit", "ns")
    us = v / 1e3 if unit in ("nsecond", "ns") else v if unit in ("usecond", "us") else v * 1e3
    name = re.sub(r"^void ", "", r["Kernel Name"])
    name = re.sub(r"\(anonymous namespace\)::|<?unnamed>::|hlwq::cuda::", "", name)
    if name.endswith(")"):  # drop the parameter list: the trailing balanced (...)
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += name[i] == ")"
            depth -= name[i] == "("
            if depth == 0:
                name = name[:i]
                break
    rows.append((name, us))
ctxs = sys.argv[2].split(",")
n = len(rows) // max(1, len(ctxs))
for ci, c in enumerate(ctxs):
    part = rows[ci * n:(ci + 1) * n]
    agg = {}
    for name, us in part:
        a = agg.setdefault(name, [0, 0.0])
        a[0] += 1
        a[1] += us
    total = sum(us for _, us in part)
    print(f"context {c}: {len(part)} kernels, {total / 1e3:.3f} ms of kernel time (ncu, serialized)")
    for name, (k, us) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name:<60} {k:5d} {us / 1e3:9.3f} ms {us / k:9.2f} us/launch {100 * us / total:6.1f}%")
EOF
