#!/usr/bin/env bash
# Checks that need TensorFlow: vaiq-build's outputs loaded and run by TensorFlow itself.
# Each check prints "ok"/"FAIL" and the run ends with "N passed, N failed".
#   VAIQ=path/to/vaiq-build PY=path/to/python tools/oracle_tests.sh
set -uo pipefail
cd "$(dirname "$0")/.."
VAIQ=${VAIQ:-.build/debug/vaiq-build}
PY=${PY:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=3
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
passed=0 failed=0

check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@" >"$OUT/log" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$OUT/log" | grep -v '^     [IW]0000' | tail -20
  fi
}

outputs() { "$PY" -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["output_nodes"]))' "$1/meta.json"; }

for model in allops resource sharded snappy mixed_dtypes; do
  F=Tests/Fixtures/$model
  nodes=$(outputs "$F")
  # freeze the binary graph with the latest checkpoint; TF runs it and must match its own freeze.
  check "$model: freeze .pb + train_dir, run in TF" \
    bash -c "'$VAIQ' freeze --graph $F/inference_graph.pb --checkpoint $F/train_dir --output_nodes $nodes -o $OUT/$model.pb \
             && '$PY' tools/check_frozen.py --graph $OUT/$model.pb --fixture $F"
  # the text graph freezes to the very same bytes.
  check "$model: freeze .pbtxt gives identical bytes" \
    bash -c "'$VAIQ' freeze --graph $F/inference_graph.pbtxt --checkpoint $F/train_dir --output_nodes $nodes -o $OUT/$model-txt.pb \
             && cmp $OUT/$model.pb $OUT/$model-txt.pb"
  # an older checkpoint named by prefix.
  check "$model: freeze model.ckpt-1 by prefix, run in TF" \
    bash -c "'$VAIQ' freeze --graph $F/inference_graph.pb --checkpoint $F/train_dir/model.ckpt-1 --output_nodes $nodes -o $OUT/$model-1.pb \
             && '$PY' tools/check_frozen.py --graph $OUT/$model-1.pb --fixture $F --checkpoint-step 1"
  # read and written back: TF sees the same graph and computes the same outputs.
  check "$model: .pbtxt -> .pb round trip loads in TF unchanged" \
    bash -c "'$VAIQ' convert $F/inference_graph.pbtxt -o $OUT/$model-rt.pb \
             && '$PY' tools/check_roundtrip.py --original $F/inference_graph.pb --rewritten $OUT/$model-rt.pb --fixture $F"
  check "$model: frozen .pb -> .pbtxt -> .pb round trip" \
    bash -c "'$VAIQ' convert $F/frozen_tf.pb -o $OUT/$model-frozen.pbtxt && '$VAIQ' convert $OUT/$model-frozen.pbtxt -o $OUT/$model-frozen.pb \
             && '$PY' tools/check_roundtrip.py --original $F/frozen_tf.pb --rewritten $OUT/$model-frozen.pb --fixture $F"
done

# Keras SavedModels (tools/make_savedmodel_fixtures.py) frozen natively: TensorFlow runs our frozen
# graph and agrees with the SavedModel's own serving signature within 1e-4 of the largest output.
for model in sequential functional multi_input; do
  F=Tests/Fixtures/savedmodel/$model
  check "savedmodel $model: freeze --saved_model, run in TF" \
    bash -c "'$VAIQ' freeze --saved_model $F/model -o $OUT/sm-$model.pb && '$PY' tools/check_savedmodel_freeze.py --graph $OUT/sm-$model.pb --fixture $F"
done

# The committed fix-position fixture is exactly what the NumPy reference computes.
check "fixpos: Tests/Fixtures/fixpos/cases.json is the NumPy reference's output" \
  bash -c "'$PY' tools/fixpos_reference.py $OUT/fixpos.json >/dev/null && cmp $OUT/fixpos.json Tests/Fixtures/fixpos/cases.json"

# The committed per-op fixtures are exactly what tools/make_op_fixtures.py makes with this TensorFlow.
check "ops: Tests/Fixtures/ops is what make_op_fixtures.py writes" \
  bash -c "'$PY' tools/make_op_fixtures.py $OUT/ops >/dev/null 2>&1 && diff -r $OUT/ops Tests/Fixtures/ops"

# Whole Keras models frozen by TensorFlow (generated, ~115 MB, kept in bench/out/keras between runs):
# vaiq-build run gives TensorFlow's logits within 1e-4 of their largest magnitude.
KERAS=bench/out/keras
[ -f $KERAS/resnet50_logits_b8.npy ] && [ -f $KERAS/mobilenet_v2_logits_b8.npy ] || "$PY" tools/make_keras_models.py --out $KERAS >/dev/null 2>&1
for model in mobilenet_v2 resnet50; do
  logits=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["logits"])' $KERAS/$model.json)
  check "$model: vaiq-build run (batch 8) matches TensorFlow's logits" \
    bash -c "'$VAIQ' run $KERAS/$model.pb --input input=$KERAS/${model}_input_b8.npy --outputs $logits -o $OUT/$model.npy \
             && '$PY' -c 'import numpy as np, sys; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]); e = abs(a - b).max() / abs(b).max(); print(\"relative error\", e); sys.exit(int(e > 1e-4))' $OUT/$model.npy $KERAS/${model}_logits_b8.npy"
done

# Post-training quantization: TensorFlow runs the stock-TF variant of each quantized fixture model
# (and the digits example) and gets vaiq-build's own simulation of quantize_eval_model.pb to
# within one step of the output's fix position.
check "quantize: stock-TF models equal vaiq-build's quantized simulation within 1 LSB (32 models, and digits quantized after its first layer with nothing quantized upstream); optimized float graphs equal the originals in TF (5)" \
  "$PY" tools/quantize_oracle.py "$VAIQ" Tests/Fixtures/ops examples/digits "$OUT/quantize"
check "quantize pof2s (bias correction): stock-TF models equal vaiq-build's quantized simulation within 1 LSB (32 models)" \
  "$PY" tools/quantize_oracle.py "$VAIQ" Tests/Fixtures/ops examples/digits "$OUT/quantize-pof2s" pof2s

# Float-scale strategies (fs, fsx): TensorFlow runs the written stock-TF model and agrees with vaiq-build.
check "fs/fsx: TensorFlow runs the float-scale models and gets vaiq-build's outputs" \
  bash tools/fs_oracle_test.sh "$OUT/fs"

# Quantize-aware training: TensorFlow fine-tunes vaiq-build's quantize_train_graph.pb, vaiq-build
# quantizes the new checkpoints, and 4-bit-weight accuracy is not worse than post-training's.
check "qat: TensorFlow trains quantize_train_graph.pb; 4-bit QAT top-1 >= PTQ top-1" \
  bash tools/qat_loop_test.sh "$OUT/qat"

echo "oracle: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
