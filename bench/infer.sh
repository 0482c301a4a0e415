#!/usr/bin/env bash
# Float inference benchmark: vaiq-build's runtime against TensorFlow CPU on Keras MobileNetV2 and
# ResNet50 (224x224, batch 1 and 8, 2 threads), in the same run; plus the sgemm peak of this
# machine and the peak RSS of a ResNet50 batch-8 `vaiq-build run`. Prints the table and rewrites
# its section of bench/RESULTS.md.   usage: bench/infer.sh PYTHON [ITERS] [ROUNDS]
# Each (model, batch) is measured in ROUNDS alternating rounds (one process per tool per round);
# the report pools every timed run of a tool, so a burst of machine noise cannot decide the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
ITERS=${2:-9}
ROUNDS=${3:-3}
OUT=bench/out/keras
swift build -c release --product vaiq-bench >/dev/null
swift build -c release --product vaiq-build >/dev/null
BENCH=.build/release/vaiq-bench
[ -f "$OUT/resnet50.pb" ] && [ -f "$OUT/mobilenet_v2.pb" ] || "$PY" tools/make_keras_models.py --out "$OUT" >/dev/null
export TF_CPP_MIN_LOG_LEVEL=3
: > "$OUT/results.jsonl"
# The peak is the best of three processes per thread count (one slow process once halved the 2-thread figure).
for _ in 1 2 3; do
  "$BENCH" sgemm 1 >> "$OUT/results.jsonl"
  "$BENCH" sgemm 2 >> "$OUT/results.jsonl"
done
for model in mobilenet_v2 resnet50; do
  for batch in 1 8; do
    # Alternate the two tools so that machine noise hits both alike.
    for _ in $(seq "$ROUNDS"); do
      "$BENCH" infer "$OUT/$model.pb" "$OUT/${model}_input_b8.npy" input Identity "$batch" 2 "$ITERS" >> "$OUT/results.jsonl"
      "$PY" bench/tf_infer.py "$OUT/$model.pb" "$OUT/${model}_input_b8.npy" input Identity "$batch" 2 "$ITERS" 2>/dev/null >> "$OUT/results.jsonl"
    done
  done
done
"$PY" bench/report_infer.py "$OUT/results.jsonl" .build/release/vaiq-build "$OUT" bench/RESULTS.md
