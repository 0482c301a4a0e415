#!/usr/bin/env bash
# Build-engine checks with real processes on a real ~100 MB model (made with TensorFlow):
#  - a build killed with SIGKILL mid-way leaves a cache from which the next build completes,
#    with outputs byte-identical to an uninterrupted build;
#  - two `vaiq-build all` started at once on one repository both succeed with identical outputs.
# Ends with "N passed, N failed".   VAIQ=... PY=... tools/engine_tests.sh
set -uo pipefail
cd "$(dirname "$0")/.."
VAIQ=$(realpath "${VAIQ:-.build/debug/vaiq-build}")
PY=${PY:-.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }

# A repository of four "models" over one ~100 MB graph, frozen at different outputs (four
# distinct freeze actions of ~100 MB each).
MODEL=bench/out/io
[ -f "$MODEL/inference_graph.pb" ] || "$PY" bench/make_io_model.py "$MODEL" >/dev/null 2>&1
make_repo() {
  mkdir -p "$1/manifests" "$1/models"
  cp -r "$MODEL/train_dir" "$1/models/"
  cp "$MODEL/inference_graph.pb" "$1/models/"
  {
    echo "models:"
    for out in output Relu_40 Relu_39 Relu_38; do
      printf '  m-%s: {graph: models/inference_graph.pb, checkpoint: models/train_dir, input_nodes: [input], output_nodes: [%s]}\n' "$out" "$out"
    done
  } > "$1/manifests/models.yaml"
}
outputs_of() { (cd "$1" && find build -name '*.pb' -type f | sort | xargs sha256sum); }

make_repo "$WORK/reference"
"$VAIQ" -C "$WORK/reference" all -j1 >/dev/null || bad "reference build"

# 1. SIGKILL in the middle of a build.
make_repo "$WORK/killed"
"$VAIQ" -C "$WORK/killed" all -j1 > "$WORK/killed.log" 2>&1 &
pid=$!
# Kill right after the first stage has finished, while the second is running.
for _ in $(seq 600); do grep -q ' ran ' "$WORK/killed.log" && break; sleep 0.05; done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null; status=$?
ran_before=$(grep -c ' ran ' "$WORK/killed.log")
if "$VAIQ" -C "$WORK/killed" all -j1 > "$WORK/resumed.log" 2>&1 \
   && [ "$(outputs_of "$WORK/killed")" = "$(outputs_of "$WORK/reference")" ] \
   && [ -z "$(find "$WORK/killed/build" -name '.*tmp*')" ]; then
  ok "SIGKILL after ${ran_before} of 4 stages (exit $status): the next build completes with identical outputs"
else
  bad "build after SIGKILL"; cat "$WORK/resumed.log"
fi
if "$VAIQ" -C "$WORK/killed" all --json | grep -q '"ran" : 0'; then ok "and a third build runs nothing"; else bad "third build reran stages"; fi

# 2. Two builds at once on one repository and cache.
make_repo "$WORK/twice"
"$VAIQ" -C "$WORK/twice" all -j1 > "$WORK/a.log" 2>&1 & a=$!
"$VAIQ" -C "$WORK/twice" all -j1 > "$WORK/b.log" 2>&1 & b=$!
wait $a; sa=$?; wait $b; sb=$?
if [ $sa -eq 0 ] && [ $sb -eq 0 ] && [ "$(outputs_of "$WORK/twice")" = "$(outputs_of "$WORK/reference")" ]; then
  ok "two concurrent builds both succeed with identical outputs ($(grep -c ' ran ' "$WORK/a.log") + $(grep -c ' ran ' "$WORK/b.log") stages ran)"
else
  bad "concurrent builds (exit $sa, $sb)"; cat "$WORK/a.log" "$WORK/b.log"
fi

# 3. Ctrl-C (SIGINT) mid-build: exit status 2, nothing half-written, and the next build completes.
make_repo "$WORK/interrupted"
"$VAIQ" -C "$WORK/interrupted" all -j1 > "$WORK/int.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q ' ran ' "$WORK/int.log" && break; sleep 0.05; done
kill -INT "$pid"
wait "$pid"; status=$?
ran=$(grep -c ' ran ' "$WORK/int.log")
if [ $status -eq 2 ] && grep -q 'interrupted; stopping' "$WORK/int.log" && [ "$ran" -lt 4 ] \
   && [ -z "$(find "$WORK/interrupted" -name '.*tmp*')" ] \
   && "$VAIQ" -C "$WORK/interrupted" all -j1 >/dev/null && [ "$(outputs_of "$WORK/interrupted")" = "$(outputs_of "$WORK/reference")" ]; then
  ok "SIGINT after $ran of 4 stages: exit 2, no temporary files, the next build completes identically"
else
  bad "SIGINT (exit $status, $ran stages ran)"; cat "$WORK/int.log"
fi

# 4. -j1 and -j2 give byte-identical outputs.
make_repo "$WORK/j2"
if "$VAIQ" -C "$WORK/j2" all -j2 >/dev/null && [ "$(outputs_of "$WORK/j2")" = "$(outputs_of "$WORK/reference")" ]; then
  ok "-j2 outputs equal -j1 outputs"
else
  bad "-j2 outputs differ"
fi

echo "engine: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
