#!/usr/bin/env bash
# The `make demo` walk-through on the example model repositories (examples/digits, examples/shapes).
set -euo pipefail
VAIQ=$(realpath "${1:-.build/release/vaiq-build}")
cd "$(dirname "$0")/digits"
step() { printf '\n\033[1m$ vaiq-build %s\033[0m\n' "$*"; "$VAIQ" "$@"; }
STATE=$PWD/models/digits/train_dir/checkpoint
cp "$STATE" "$STATE.demo-backup"
trap 'mv "$STATE.demo-backup" "$STATE"' EXIT

step inspect models/digits/train_dir
step inspect models/digits/inference_graph.pb --no-nodes
step clean --cache
step targets
step all                       # first build: freeze, optimize, calibrations, 17 cells quantized + evaluated
step report                    # the matrix: accuracy, SQNR, size, stage times (also build/report.html)
step all                       # nothing changed: nothing runs
echo; echo "# switch the training directory to the other checkpoint (step 400)"
sed -i 's/^model_checkpoint_path: .*/model_checkpoint_path: "model.ckpt-400"/' "$STATE"
step why digits
step all --explain             # only that model's chain reruns, with its reasons
mv "$STATE.demo-backup" "$STATE"; cp "$STATE" "$STATE.demo-backup"
echo; echo "# back to step 800: its results are still in the cache"
step all
step inspect build/digits/frozen_graph.pb --input_shapes 1,32,32,1 --no-nodes
echo; echo "# the one-shot commands, as vai_q_tensorflow users know them"
step freeze --graph models/digits/inference_graph.pb --checkpoint models/digits/train_dir/model.ckpt-400 \
    --output_nodes logits -o build/frozen_400.pb
step quantize --input_frozen_graph build/frozen_400.pb --input_nodes input --output_nodes logits \
    --input_shapes ?,32,32,1 --calib_data input=data/calib.npy --calib_iter 10 --output_dir build/quantize_400
step run build/quantize_400/quantize_eval_model.pb --input input=data/eval_x.npy --outputs logits

echo; echo "# the second repository: a Keras SavedModel calibrated and evaluated from image folders"
cd ../shapes
step clean --cache
step inspect-data shapes-calib     # what calibration feeds the model: decoded, resized, cropped, normalized
step all                           # freeze the SavedModel, prepare the images, 3 strategies x 2 targets
step report
step inspect-data shapes-eval      # the float model on the set as declared and with the channels reversed
