#!/usr/bin/env bash
# Calibration statistics: ns per activation value of BatchStatistics (min/max plus the min-diffs
# errors of every candidate position of the bit widths asked) on 4M relu6-like values, 1 and 2
# threads, for a build's usual bit widths (8; 4 and 8) and for all of 1-16 (what calibration
# computed before it kept only the bit widths a build uses); and 8 bits on 1 thread with the kernel's
# narrower bodies (AVX2, portable). Writes its section of bench/RESULTS.md.
#     bench/stats.sh PYTHON
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
OUT=bench/out/stats
mkdir -p "$OUT"
${SWIFT:-swift} build -c release --product vaiq-bench >/dev/null
{
  for bits in 8 4,8 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16; do
    for threads in 1 2; do .build/release/vaiq-bench stats 4000000 "$threads" "$bits"; done
  done
  for isa in avx2 portable; do .build/release/vaiq-bench stats 4000000 1 8 "$isa"; done
} > "$OUT/results.jsonl"
"$PY" bench/report_stats.py "$OUT/results.jsonl" bench/RESULTS.md
