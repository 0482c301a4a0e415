#!/usr/bin/env bash
# The `make demo` walk-through on the example model repository (examples/digits).
set -euo pipefail
VAIQ=$(realpath "${1:-.build/release/vaiq-build}")
cd "$(dirname "$0")/digits"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$VAIQ" inspect models/digits/train_dir
step "$VAIQ" inspect models/digits/inference_graph.pb --no-nodes
mkdir -p build/digits
step "$VAIQ" freeze --graph models/digits/inference_graph.pb --checkpoint models/digits/train_dir \
    --output_nodes logits -o build/digits/frozen_graph.pb
step "$VAIQ" inspect build/digits/frozen_graph.pb --input_shapes 1,32,32,1
