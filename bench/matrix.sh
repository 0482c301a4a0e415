#!/usr/bin/env bash
# The build path on the Keras graphs: for each model, a model repository under bench/out/matrix/<model>
# whose manifests (written here) declare the frozen graph, the 100 calibration inputs of bench/ptq.sh,
# a one-cell build with the settings of ptq.sh's one-shot `vaiq-build quantize` (pof2s_tf1, DPUCZDX8G,
# method 1, 10 batches of 10) and a matrix build of 4 bit widths (weights and activations alike) x
# 3 DPU targets. Each of ROUNDS rounds runs the one-shot and `vaiq-build all -j 2 --json` from an
# empty cache (order swapped every other round), then compares the one-cell build's outputs (and
# matrix/w8a8/DPUCZDX8G's) with the one-shot's byte for byte. bench/report_matrix.py checks the
# build JSONs (calibrate ran once per model; each cell's own stages within the one-shot's
# non-calibration stages + 20%) and rewrites the matrix section of bench/RESULTS.md; it exits
# non-zero when a check fails.
#     usage: bench/matrix.sh PYTHON [ROUNDS] [MODELS]   (digits in MODELS is skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv-ptq/bin/python}
ROUNDS=${2:-3}
MODELS=${3:-mobilenet_v2 resnet50}
VAIQ=$PWD/.build/release/vaiq-build
KERAS=bench/out/keras
OUT=bench/out/matrix
BITS=(4 6 8 16)
TARGETS=(DPUCZDX8G DPUCADF8H DPUCVDX8G)
[ -x "$VAIQ" ] || { echo "matrix.sh: $VAIQ is missing (make release)" >&2; exit 1; }
[ -f "$KERAS/resnet50.pb" ] && [ -f "$KERAS/mobilenet_v2.pb" ] || "$PY" tools/make_keras_models.py --out "$KERAS" >/dev/null
unset VAIQ_CACHE_DIR  # each repository's own cache, emptied every round

list() { local IFS=,; echo "$*" | sed 's/,/, /g'; }

# The manifests of MODEL's repository (LOGITS: the output node).
manifests() {
  local model=$1 logits=$2 strategies=() b
  for b in "${BITS[@]}"; do strategies+=("w${b}a${b}"); done
  cat <<EOF
# Written by bench/matrix.sh.
models:
  $model:
    graph: models/$model/frozen_graph.pb
    input_nodes: [input]
    output_nodes: [$logits]
    input_shapes: [[-1, 224, 224, 3]]
calibration:
  calib100:
    inputs: {input: data/calib.npy}
    batch_size: 10
    calib_iter: 10
strategies:
EOF
  for b in "${BITS[@]}"; do echo "  w${b}a${b}: {extends: pof2s_tf1, weight_bit: $b, activation_bit: $b, method: 1}"; done
  cat <<EOF
targets:   # the matrix's bit widths on the DPUs' arithmetic, simulated (no 8-bit DPU runs the others)
  DPUCZDX8G: {extends: dpu-sim}
  DPUCADF8H: {extends: dpu-sim, arch_type: DPUCADF8H}
  DPUCVDX8G: {extends: dpu-sim}
builds:
  - name: oneshot    # the settings of bench/ptq.sh's vaiq-build quantize
    model: $model
    calibration: calib100
    strategy: pof2s_tf1
    target: DPUCZDX8G
  - name: matrix
    model: $model
    calibration: calib100
    matrix:
      strategy: [$(list "${strategies[@]}")]
      target: [$(list "${TARGETS[@]}")]
EOF
}

# One line per file of either folder: NAME same|differs|only-oneshot|only-build.
compare() {
  local oneshot=$1 build=$2 f
  for f in $( (ls "$oneshot"; ls "$build") 2>/dev/null | sort -u); do
    if [ ! -f "$build/$f" ]; then echo "$f only-oneshot"
    elif [ ! -f "$oneshot/$f" ]; then echo "$f only-build"
    elif cmp -s "$oneshot/$f" "$build/$f"; then echo "$f same"
    else echo "$f differs"; fi
  done
}

ran=()
for model in $MODELS; do
  [ "$model" = digits ] && continue
  repo=$OUT/$model
  calib=bench/out/ptq/$model/calib.npy
  [ -f "$calib" ] || { mkdir -p "$(dirname "$calib")"; "$PY" bench/ptq_peers.py inputs 224,224,3 100 1 "$calib"; }
  logits=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["logits"])' "$KERAS/$model.json")
  rm -rf "$repo" && mkdir -p "$repo/manifests" "$repo/models/$model" "$repo/data"
  ln -s "$(realpath "$KERAS/$model.pb")" "$repo/models/$model/frozen_graph.pb"
  ln -s "$(realpath "$calib")" "$repo/data/calib.npy"
  manifests "$model" "$logits" > "$repo/manifests/bench.yaml"
  for round in $(seq "$ROUNDS"); do
    rdir=$OUT/$model.round$round
    rm -rf "$rdir" && mkdir -p "$rdir"
    steps=(oneshot build)
    [ $((round % 2)) = 0 ] && steps=(build oneshot)
    for step in "${steps[@]}"; do
      echo "matrix: $model round $round: $step"
      if [ "$step" = oneshot ]; then
        "$VAIQ" quantize --input_frozen_graph "$KERAS/$model.pb" --input_nodes input --output_nodes "$logits" \
          --input_shapes ?,224,224,3 --calib_data "input=$calib" --calib_iter 10 --calib_batch_size 10 --method 1 -j 2 \
          --output_dir "$rdir/oneshot" --profile > "$rdir/oneshot.profile.txt" || true  # the report fails it
      else
        rm -rf "$repo/build" "$repo/cache"
        # A failed build still writes its JSON; the report names what failed.
        "$VAIQ" all -j 2 --json -C "$repo" > "$rdir/build.json" || true
      fi
    done
    # The one-cell build, and the matrix cell of the same settings.
    for cell in oneshot/pof2s_tf1/DPUCZDX8G matrix/w8a8/DPUCZDX8G; do
      compare "$rdir/oneshot" "$repo/build/$cell" | sed "s|^|$cell/|"
    done > "$rdir/identical.txt"
    # The ResNet50 repository holds several GB per round: keep only what the report reads.
    rm -rf "$rdir/oneshot"
  done
  rm -rf "$repo/build" "$repo/cache"
  ran+=("$model")
done
[ ${#ran[@]} -gt 0 ] || exit 0
"$PY" bench/report_matrix.py "$OUT" "$ROUNDS" bench/RESULTS.md "${ran[@]}"
