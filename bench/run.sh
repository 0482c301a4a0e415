#!/usr/bin/env bash
# I/O benchmark: vaiq-build's GraphDef parser, checkpoint reader and freeze against TensorFlow's,
# on the same ~100 MB model in the same run. Prints the table and rewrites its section of
# bench/RESULTS.md.  usage: bench/run.sh PYTHON [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
RUNS=${2:-5}
OUT=bench/out/io
swift build -c release --product vaiq-bench >/dev/null
BENCH=.build/release/vaiq-bench
[ -f "$OUT/frozen_tf.pb" ] || "$PY" bench/make_io_model.py "$OUT"

{
  "$BENCH" graph "$OUT/frozen_tf.pb" "$RUNS"
  "$BENCH" checkpoint "$OUT/train_dir/model.ckpt-1" "$RUNS"
  "$BENCH" freeze "$OUT/inference_graph.pb" "$OUT/train_dir" "$OUT/frozen_vaiq.pb" output "$RUNS"
} > "$OUT/vaiq.jsonl"
"$PY" bench/tf_io.py "$OUT" "$RUNS" > "$OUT/tf.jsonl"
"$PY" bench/report_io.py "$OUT/vaiq.jsonl" "$OUT/tf.jsonl" "$RUNS" bench/RESULTS.md
