#!/usr/bin/env bash
# The quantize-aware training loop on the digits example, end to end:
#   vaiq-build all (PTQ at 4-bit weights; writes quantize_train_graph.pb)
#   -> TensorFlow fine-tunes it (examples/digits/qat.py, 300 steps, checkpoints + state file)
#   -> vaiq-build all picks the new model up and writes quantize_eval_model_<step>_<date>.pb
# and checks that QAT's quantized top-1 is not worse than PTQ's. The same loop with pof2s_tqt
# (trainable thresholds): the trained log_th variables set the positions of the quantized model,
# and a checkpoint that only moves one threshold moves exactly that position.
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
  w4a8: {extends: pof2s_tf1, weight_bit: 4}
  w4tqt: {extends: pof2s_tqt, weight_bit: 4, method: 1}
builds:
  - {model: digits, calibration: calib, evaluation: test, strategy: w4a8, target: dpu-sim}
  - {model: digits, calibration: calib, evaluation: test, strategy: w4tqt, target: dpu-sim}
$2
YAML
}
manifest "" ""
"$VAIQ" all -C "$WORK" -j2 >/dev/null
"$PY" "$WORK/qat.py" --graphs "$WORK/build/digits/w4a8/dpu-sim" --out "$WORK/models/digits_qat" --steps 300 2>/dev/null
"$PY" "$WORK/qat.py" --graphs "$WORK/build/digits/w4tqt/dpu-sim" --out "$WORK/models/digits_tqt" --steps 300 2>/dev/null
manifest "  digits_qat:
    graph: models/digits_qat/inference_graph.pb
    checkpoint: models/digits_qat/train_dir
    input_nodes: [input]
    output_nodes: [logits]
    input_shapes: [[-1, 32, 32, 1]]
  digits_tqt:
    graph: models/digits_tqt/inference_graph.pb
    checkpoint: models/digits_tqt/train_dir
    input_nodes: [input]
    output_nodes: [logits]
    input_shapes: [[-1, 32, 32, 1]]" \
         "  - {model: digits_qat, calibration: calib, evaluation: test, strategy: w4a8, target: dpu-sim}
  - {model: digits_tqt, calibration: calib, evaluation: test, strategy: w4tqt, target: dpu-sim}"
out=$("$VAIQ" all -C "$WORK" -j2) || { echo "$out"; exit 1; }
echo "$out" | grep -q "ran quantize/digits_qat/w4a8/dpu-sim" || { echo "QAT model was not quantized"; exit 1; }
echo "$out" | grep -q "ran quantize/digits/" && { echo "the PTQ chain reran"; exit 1; }
ls "$WORK"/build/digits_qat/w4a8/dpu-sim/quantize_eval_model_300_*.pb >/dev/null
"$PY" - "$WORK" <<'PYEOF'
import json, math, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
work = sys.argv[1]
ok = True
for strategy, model in [("w4a8", "digits_qat"), ("w4tqt", "digits_tqt")]:
    ptq = json.load(open(f"{work}/build/digits/{strategy}/dpu-sim/metrics.json"))
    qat = json.load(open(f"{work}/build/{model}/{strategy}/dpu-sim/metrics.json"))
    print(f"{strategy} (4-bit weights): PTQ top-1 {ptq['quantizedTop1']:.4f} (SQNR {ptq['sqnrDB']:.2f} dB), "
          f"QAT top-1 {qat['quantizedTop1']:.4f} (SQNR {qat['sqnrDB']:.2f} dB); float {ptq['floatTop1']:.4f}")
    ok &= qat["quantizedTop1"] >= ptq["quantizedTop1"]
# pof2s_tqt: every trained threshold in the checkpoint set its tensor's position, p = b - 1 - ceil(log_th).
reader = tf.train.load_checkpoint(f"{work}/models/digits_tqt/train_dir/model.ckpt-300")
trained = {k[:-len("/log_th")]: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if k.endswith("/log_th")}
info = json.load(open(f"{work}/build/digits_tqt/w4tqt/dpu-sim/quant_info.json"))
used = 0
for t in info["tensors"]:
    name = t["node"] + ("/aquant" if t["kind"] == "activation" else "/wquant")
    if name in trained:
        used += 1
        ok &= abs(t["trainedLogThreshold"] - float(trained[name])) < 1e-6
        if not t["adjustedBy"]:
            ok &= t["position"] == t["bitWidth"] - 1 - math.ceil(float(trained[name]))
print(f"pof2s_tqt: {len(trained)} trained thresholds in the checkpoint, {used} quantized tensors took their position from one")
ok &= len(trained) > 0 and used >= len(trained)
sys.exit(0 if ok else 1)
PYEOF

cp "$WORK/build/digits_tqt/w4tqt/dpu-sim/quant_info.json" "$WORK/moved_before.json"
# A checkpoint that raises one threshold by 1 (weights unchanged) lowers exactly that position by 1.
"$PY" - "$WORK" <<'PYEOF'
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
work = sys.argv[1]
train_dir = f"{work}/models/digits_tqt/train_dir"
info = json.load(open(f"{work}/build/digits_tqt/w4tqt/dpu-sim/quant_info.json"))
target = next(t for t in info["tensors"] if t.get("trainedLogThreshold") is not None and not t["adjustedBy"] and t["kind"] == "activation")
reader = tf.train.load_checkpoint(f"{train_dir}/model.ckpt-300")
names = sorted(reader.get_variable_to_shape_map())
values = [reader.get_tensor(n) for n in names]
key = target["node"] + "/aquant/log_th"
values[names.index(key)] = values[names.index(key)] + 1
tf.raw_ops.SaveV2(prefix=f"{train_dir}/model.ckpt-301", tensor_names=names, shape_and_slices=[""] * len(names),
                  tensors=[tf.constant(v) for v in values])
with open(f"{train_dir}/checkpoint", "w") as f:
    f.write('model_checkpoint_path: "model.ckpt-301"\n')
json.dump({"node": target["node"], "position": target["position"]}, open(f"{work}/moved.json", "w"))
PYEOF
out=$("$VAIQ" all -C "$WORK" -j2) || { echo "$out"; exit 1; }
# Only the threshold changed: the frozen graph's bytes are the same, so optimize and calibrate stay cached.
echo "$out" | grep -q "ran quantize/digits_tqt/w4tqt" || { echo "the new thresholds were not quantized"; exit 1; }
echo "$out" | grep -Eq "ran (optimize|calibrate)/digits_tqt" && { echo "a threshold change reran float stages"; echo "$out"; exit 1; }
"$PY" - "$WORK" <<'PYEOF'
import json, sys
work = sys.argv[1]
moved = json.load(open(f"{work}/moved.json"))
before = {t["node"]: t["position"] for t in json.load(open(f"{work}/moved_before.json"))["tensors"]}
after = {t["node"]: t["position"] for t in json.load(open(f"{work}/build/digits_tqt/w4tqt/dpu-sim/quant_info.json"))["tensors"]}
changed = sorted(n for n in after if after[n] != before[n])
print(f"pof2s_tqt: log_th of {moved['node']} + 1 -> positions changed: {changed} ({before[moved['node']]} -> {after[moved['node']]})")
sys.exit(0 if changed == [moved["node"]] and after[moved["node"]] == moved["position"] - 1 else 1)
PYEOF
