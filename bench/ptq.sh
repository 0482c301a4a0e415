#!/usr/bin/env bash
# Post-training quantization against peers: vaiq-build's whole `quantize` process, TFLite's int8
# full-integer converter and onnxruntime's quantize_static (each per-channel and per-tensor), on the
# digits example, Keras MobileNetV2 and ResNet50, all up to the logits node and calibrated on the
# same 100 inputs. Each tool runs as a fresh process in ROUNDS rounds (tool order reversed every
# other round, so machine noise hits all alike); then each quantized model's logits on a held-out
# set are compared with the float graph's. Prints progress and rewrites the ptq section of
# bench/RESULTS.md.     usage: bench/ptq.sh PYTHON [ROUNDS] [MODELS]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv-ptq/bin/python}
ROUNDS=${2:-3}
MODELS=${3:-digits mobilenet_v2 resnet50}
VAIQ=.build/release/vaiq-build
${SWIFT:-swift} build -c release --product vaiq-bench >/dev/null
KERAS=bench/out/keras
OUT=bench/out/ptq
export TF_CPP_MIN_LOG_LEVEL=3
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"
[ -f "$KERAS/resnet50.pb" ] && [ -f "$KERAS/mobilenet_v2.pb" ] || "$PY" tools/make_keras_models.py --out "$KERAS" >/dev/null

peer() { "$PY" bench/ptq_peers.py "$@"; }

# One timed process of TOOL VARIANT for the current model; the outputs of the last round are kept.
run_tool() {
  local tool=$1 variant=$2 round=$3 label
  label=$(printf '{"model":"%s","tool":"%s","variant":"%s","round":%d}' "$model" "$tool" "$variant" "$round")
  case $tool in
    vaiq-build)
      # pof2s_tf1 (the one-shot's default) in vaiq/; other variants in vaiq-<variant>/: a built-in
      # strategy, or fsx_asym (fsx with asymmetric activation ranges).
      local out=$dir/vaiq$([ "$variant" = pof2s_tf1 ] || echo "-$variant") strategy=()
      case $variant in
        pof2s_tf1) ;;
        fsx_asym) strategy=(--quantize_strategy fsx --activation_symmetry 0) ;;
        *) strategy=(--quantize_strategy "$variant") ;;
      esac
      rm -rf "$out"  # a failed round must not leave an earlier round's model behind
      peer time "$label" "$RESULTS" "$out.profile.txt" -- "$VAIQ" quantize --input_frozen_graph "$graph" "${strategy[@]}" \
        --input_nodes input --output_nodes "$logits" --input_shapes "$shape" --calib_data "input=$dir/calib.npy" \
        --calib_iter 10 --calib_batch_size 10 --method 1 -j 2 --output_dir "$out" --profile ;;
    tflite)
      rm -f "$dir/tflite-$variant.tflite"
      peer time "$label" "$RESULTS" /dev/null -- "$PY" bench/ptq_peers.py tflite "$graph" "$logits" "$dir/calib.npy" "$dir/tflite-$variant.tflite" "$variant" ;;
    ort)
      rm -f "$dir/ort-$variant.onnx"
      peer time "$label" "$RESULTS" /dev/null -- "$PY" bench/ptq_peers.py ort "$dir/float.onnx" "$dir/calib.npy" "$dir/ort-$variant.onnx" "$variant" ;;
  esac
}

# Logits SQNR and top-1 agreement against the float graph, or the failure of the step that failed.
# With labels (digits: examples/digits/data/eval_y.npy) also top-1 accuracy against them.
record_accuracy() {
  peer accuracy "$(printf '{"model":"%s","tool":"%s","variant":"%s"}' "$model" "$1" "$2")" \
    "$dir/float_logits.npy" "$3" "$4" "$labels" >> "$RESULTS"
}

PEERS=("tflite per-channel" "tflite per-tensor" "ort per-channel" "ort per-tensor")
for model in $MODELS; do
  # pof2s_tf1 (vai_q_tensorflow's behaviour, the one-shot's default: the timed comparison), pof2s
  # (bias correction, align_rule min), fsx_asym (float scales, per-channel weights, asymmetric KL
  # activation ranges: the peers' scheme) and pof2s_ft (+ fast finetuning). On the Keras models
  # pof2s_ft takes minutes: it runs once, in the last round (ONCE).
  VARIANTS=(pof2s_tf1 pof2s fsx_asym) ONCE=()
  if [ "$model" = digits ]; then VARIANTS+=(pof2s_ft); else ONCE=(pof2s_ft); fi
  TOOLS=()
  for v in "${VARIANTS[@]}"; do TOOLS+=("vaiq-build $v"); done
  TOOLS+=("${PEERS[@]}")
  dir=$OUT/$model
  rm -rf "$dir" && mkdir -p "$dir"
  if [ "$model" = digits ]; then
    graph=$dir/frozen.pb logits=logits shape=?,32,32,1 heldout=examples/digits/data/eval_x.npy labels=examples/digits/data/eval_y.npy
    "$VAIQ" freeze --graph examples/digits/models/digits/inference_graph.pb \
      --checkpoint examples/digits/models/digits/train_dir --output_nodes logits -o "$graph" >/dev/null
    "$PY" -c 'import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1])[:100])' examples/digits/data/calib.npy "$dir/calib.npy"
  else
    labels=
    graph=$KERAS/$model.pb shape=?,224,224,3 heldout=$dir/heldout.npy
    logits=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["logits"])' "$KERAS/$model.json")
    peer inputs 224,224,3 100 1 "$dir/calib.npy"
    peer inputs 224,224,3 32 2 "$heldout"
  fi
  # Float logits and the ONNX model (tf2onnx + quant_pre_process): set-up, not timed.
  peer prepare "$graph" "$logits" "$heldout" "$dir" 2> "$dir/prepare.log" || echo "prepare failed: see $dir/prepare.log"
  for round in $(seq "$ROUNDS"); do
    order=("${TOOLS[@]}")
    if [ $((round % 2)) = 0 ]; then order=(); for ((i = ${#TOOLS[@]} - 1; i >= 0; i--)); do order+=("${TOOLS[$i]}"); done; fi
    for t in "${order[@]}"; do run_tool $t "$round"; done
  done
  for v in "${ONCE[@]}"; do run_tool vaiq-build "$v" "$ROUNDS"; done
  for v in "${VARIANTS[@]}" "${ONCE[@]}"; do
    out=$dir/vaiq$([ "$v" = pof2s_tf1 ] || echo "-$v")
    "$VAIQ" run "$out/quantize_eval_model.pb" --input "input=$heldout" --outputs "$logits" -o "$out.logits.npy" \
      >/dev/null 2> "$out.run.err" || true
    record_accuracy vaiq-build "$v" "$out.logits.npy" "$out.run.err"
  done
  for t in "tflite per-channel" "tflite per-tensor" "ort per-channel" "ort per-tensor"; do
    set -- $t
    model_file=$dir/$1-$2.$([ "$1" = tflite ] && echo tflite || echo onnx)
    if [ -f "$model_file" ]; then
      peer eval "$model_file" "$heldout" "$dir/$1-$2.logits.npy" 2> "$dir/$1-$2.eval.err" || true
    else
      echo "no quantized model (quantization failed)" > "$dir/$1-$2.eval.err"
    fi
    record_accuracy "$1" "$2" "$dir/$1-$2.logits.npy" "$dir/$1-$2.eval.err"
  done
done
# The build path on the Keras graphs: one-cell build = the one-shot, a 4 x 3 matrix (bench/matrix.sh).
bash bench/matrix.sh "$PY" "$ROUNDS" "$MODELS" || echo "build-path checks FAILED: see the matrix section of bench/RESULTS.md"
# The statistics' positions against the exhaustive search on the Keras models' observed tensors
# (10 calibration rows, 8 bits, both ranges).
for model in $MODELS; do
  [ "$model" = digits ] && continue
  logits=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["logits"])' "$KERAS/$model.json")
  .build/release/vaiq-bench positions "$KERAS/$model.pb" "$OUT/$model/calib.npy" input "$logits" 10 > "$OUT/$model/positions.json" \
    || echo "positions differ: see $OUT/$model/positions.json"
done
"$PY" bench/report_ptq.py "$RESULTS" "$OUT" bench/RESULTS.md
