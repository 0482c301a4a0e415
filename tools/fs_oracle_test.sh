#!/usr/bin/env bash
# Float-scale strategies (fs, fsx with calib_method minmax, fsx with asymmetric activation ranges,
# and power-of-two weights under fsx: per tensor, and per channel with narrow ranges) on the
# digits example, for the cpu target: the written
# model is stock TensorFlow (FakeQuantWithMinMaxVars[PerChannel]); TensorFlow running it must give
# vaiq-build's own outputs. Tolerance: the two engines sum convolutions in different orders, so
# an activation sitting on a rounding tie may land one fake-quantization step apart and carry
# that downstream: max |vaiq - TF| <= 2% of max |logits| and the same class for >= 99.5% of rows.
#   VAIQ=... PY=... tools/fs_oracle_test.sh WORK_DIR
set -euo pipefail
VAIQ=$(realpath "$VAIQ"); PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
WORK=$1
SRC=$(cd "$(dirname "$0")/../examples/digits" && pwd)
rm -rf "$WORK" && mkdir -p "$WORK/manifests"
cp -r "$SRC/models" "$SRC/data" "$WORK/"
cat > "$WORK/manifests/m.yaml" <<'YAML'
models:
  digits:
    graph: models/digits/inference_graph.pb
    checkpoint: models/digits/train_dir
    input_nodes: [input]
    output_nodes: [logits]
    input_shapes: [[-1, 32, 32, 1]]
calibration:
  calib: {inputs: {input: data/calib.npy}, batch_size: 20, calib_iter: 10}
evaluation:
  test: {inputs: {input: data/eval_x.npy}, labels: data/eval_y.npy, metric: top1}
strategies:
  fs_minmax: {extends: fs, calib_method: minmax}
  fs_kl: {extends: fs}
  fsx_minmax: {extends: fsx, calib_method: minmax}
  fsx_asym: {extends: fsx, calib_method: minmax, activation_symmetry: false}
  pof2w_fsx: {extends: fsx_minmax, weight: {scheme: pof2s, per_channel: false}}
  pof2w_pc_narrow: {extends: fsx_minmax, weight: {scheme: pof2s, per_channel: true, narrow_range: true}}
builds:
  - {model: digits, calibration: calib, evaluation: test,
     matrix: {strategy: [fs_minmax, fsx_minmax, fs_kl, fsx_asym, pof2w_fsx, pof2w_pc_narrow], target: [cpu]}}
YAML
out=$("$VAIQ" all -C "$WORK" -j2) || { echo "$out"; exit 1; }
for s in fs_minmax fsx_minmax fs_kl fsx_asym pof2w_fsx pof2w_pc_narrow; do
  dir="$WORK/build/digits/$s/cpu"
  model=$(ls "$dir"/quantize_eval_model_[0-9]*.pb)
  "$VAIQ" run "$model" --input input="$WORK/data/eval_x.npy" --outputs logits -o "$dir/ours.npy" >/dev/null
  "$PY" - "$model" "$dir" "$WORK/data/eval_x.npy" <<'PYEOF'
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, tensorflow as tf
model, folder, data = sys.argv[1:4]
g = tf.compat.v1.GraphDef(); g.ParseFromString(open(model, "rb").read())
assert not any(n.op == "FixNeuron" for n in g.node)
if "pof2w" in folder:
    # Power-of-two weights: every weight's fake-quantization step is an exact power of two.
    consts = {n.name: tf.make_ndarray(n.attr["value"].tensor) for n in g.node if n.op == "Const"}
    for n in g.node:
        if n.name.endswith("/wquant"):
            lo, hi = consts[n.input[1]], consts[n.input[2]]
            levels = 2 ** n.attr["num_bits"].i - (2 if n.attr["narrow_range"].b else 1)
            step = (hi.astype(np.float64) - lo) / levels
            assert np.all(np.exp2(np.round(np.log2(step))) == step), (n.name, step)
with tf.Graph().as_default() as graph:
    tf.import_graph_def(g, name="")
    with tf.compat.v1.Session(graph=graph) as s:
        theirs = s.run("logits:0", {"input:0": np.load(data)})
ours = np.load(f"{folder}/ours.npy")
metrics = json.load(open(f"{folder}/metrics.json"))
rel = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
same = float((ours.argmax(1) == theirs.argmax(1)).mean())
print(f"{os.path.basename(os.path.dirname(folder))}: max |vaiq - TF| = {rel:.3g} of max |logits|, same class {same:.4f}; "
      f"top-1 {metrics['quantizedTop1']:.4f} (float {metrics['floatTop1']:.4f}), SQNR {metrics['sqnrDB']:.2f} dB")
sys.exit(0 if rel <= 0.02 and same >= 0.995 else 1)
PYEOF
done
