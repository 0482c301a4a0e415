#!/usr/bin/env bash
# The quantize-aware training loop on the digits example, end to end:
#   vaiq-build all (PTQ at 4-bit weights; writes quantize_train_graph.pb)
#   -> TensorFlow fine-tunes it (examples/digits/qat.py, 300 steps, checkpoints + state file)
#   -> vaiq-build all picks the new model up and writes quantize_eval_model_<step>_<date>.pb
# and checks that QAT's quantized top-1 is not worse than PTQ's.
#   VAIQ=... PY=... tools/qat_loop_test.sh WORK_DIR
set -euo pipefail
VAIQ=$(realpath "$VAIQ"); PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")   # not realpath: a venv python is a symlink
WORK=$1
SRC=$(cd "$(dirname "$0")/../examples/digits" && pwd)
rm -rf "$WORK" && mkdir -p "$WORK/manifests"
cp -r "$SRC/models" "$SRC/data" "$SRC/train.py" "$SRC/qat.py" "$WORK/"
manifest() {
  cat > "$WORK/manifests/digits.yaml" <<YAML
models:
  digits:
    graph: models/digits/inference_graph.pb
    checkpoint: models/digits/train_dir
    input_nodes: [input]
    output_nodes: [logits]
    input_shapes: [[-1, 32, 32, 1]]
$1
calibration:
  calib: {inputs: {input: data/calib.npy}, batch_size: 20, calib_iter: 10}
evaluation:
  test: {inputs: {input: data/eval_x.npy}, labels: data/eval_y.npy, metric: top1}
strategies:
  w4a8: {extends: pof2s, weight_bit: 4}
builds:
  - {model: digits, calibration: calib, evaluation: test, strategy: w4a8, target: DPUCZDX8G}
$2
YAML
}
manifest "" ""
"$VAIQ" all -C "$WORK" -j2 >/dev/null
"$PY" "$WORK/qat.py" --graphs "$WORK/build/digits/w4a8/DPUCZDX8G" --out "$WORK/models/digits_qat" --steps 300 2>/dev/null
manifest "  digits_qat:
    graph: models/digits_qat/inference_graph.pb
    checkpoint: models/digits_qat/train_dir
    input_nodes: [input]
    output_nodes: [logits]
    input_shapes: [[-1, 32, 32, 1]]" \
         "  - {model: digits_qat, calibration: calib, evaluation: test, strategy: w4a8, target: DPUCZDX8G}"
out=$("$VAIQ" all -C "$WORK" -j2) || { echo "$out"; exit 1; }
echo "$out" | grep -q "ran quantize/digits_qat/w4a8/DPUCZDX8G" || { echo "QAT model was not quantized"; exit 1; }
echo "$out" | grep -q "ran quantize/digits/" && { echo "the PTQ chain reran"; exit 1; }
ls "$WORK"/build/digits_qat/w4a8/DPUCZDX8G/quantize_eval_model_300_*.pb >/dev/null
"$PY" - "$WORK" <<'PYEOF'
import json, sys
work = sys.argv[1]
ptq = json.load(open(f"{work}/build/digits/w4a8/DPUCZDX8G/metrics.json"))
qat = json.load(open(f"{work}/build/digits_qat/w4a8/DPUCZDX8G/metrics.json"))
print(f"4-bit weights: PTQ top-1 {ptq['quantizedTop1']:.4f} (SQNR {ptq['sqnrDB']:.2f} dB), "
      f"QAT top-1 {qat['quantizedTop1']:.4f} (SQNR {qat['sqnrDB']:.2f} dB); float {ptq['floatTop1']:.4f}")
sys.exit(0 if qat["quantizedTop1"] >= ptq["quantizedTop1"] else 1)
PYEOF
