#!/usr/bin/env bash
# Build-engine checks with real processes on a real ~100 MB model (made with TensorFlow):
#  - a build killed with SIGKILL mid-way leaves a cache from which the next build completes,
#    with outputs byte-identical to an uninterrupted build;
#  - two `vaiq-build all` started at once on one repository both succeed with identical outputs;
#  - on the digits example: 20 SIGKILLs at seeded random moments, 4 concurrent builds x 3 rounds,
#    a build beside `cache gc` and `cache verify`.
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

# 5-7 on a copy of the digits example (its whole matrix: freeze, optimize, calibrate, finetune,
# quantize, qat, deploy, evaluate), against an uninterrupted build of it.
digits_repo() {
  rm -rf "$1" && mkdir -p "$1"
  cp -r examples/digits/manifests examples/digits/models examples/digits/data "$1/"
  sed -i 's/target: \[DPUCZDX8G, DPUCADF8H, DPUCVDX8G\]/target: [DPUCZDX8G, DPUCADF8H]/' "$1/manifests/digits.yaml"
}
digits_outputs() { (cd "$1" && find build -type f ! -name '.*' | sort | xargs sha256sum); }
digits_repo "$WORK/digits-ref"
"$VAIQ" -C "$WORK/digits-ref" all >/dev/null || bad "digits reference build"
reference=$(digits_outputs "$WORK/digits-ref")
start=$(date +%s%N); "$VAIQ" clean --cache -C "$WORK/digits-ref" >/dev/null; "$VAIQ" -C "$WORK/digits-ref" all >/dev/null
full_ms=$(( ($(date +%s%N) - start) / 1000000 ))

# 5. 20 SIGKILLs at seeded random moments of a build from scratch, each followed by a full build:
#    outputs identical to the reference, no temporary file left in build/ or the cache.
RANDOM=1
digits_repo "$WORK/digits-kill"
kills_ok=0
for k in $(seq 20); do
  rm -rf "$WORK/digits-kill/build" "$WORK/digits-kill/cache"
  [ $((k % 2)) = 0 ] && "$VAIQ" -C "$WORK/digits-kill" all >/dev/null 2>&1 && rm -rf "$WORK/digits-kill/build"  # half: kill a materialization
  "$VAIQ" -C "$WORK/digits-kill" all > "$WORK/kill.log" 2>&1 &
  pid=$!
  delay=$(( RANDOM % (full_ms + 1) ))
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  if "$VAIQ" -C "$WORK/digits-kill" all > "$WORK/kill-resumed.log" 2>&1 \
     && [ "$(digits_outputs "$WORK/digits-kill")" = "$reference" ] \
     && [ -z "$(find "$WORK/digits-kill/build" "$WORK/digits-kill/cache" -name '.*.tmp-*')" ]; then
    kills_ok=$((kills_ok + 1))
  else
    echo "  kill $k after ${delay} ms:"; cat "$WORK/kill-resumed.log"
  fi
done
if [ $kills_ok = 20 ]; then ok "20 SIGKILLs at random moments (build ${full_ms} ms): each next build completes identically, no temporary files"
else bad "SIGKILLs: $kills_ok of 20 recovered"; fi

# 6. Four concurrent builds on one repository and cache, three rounds from an empty cache.
digits_repo "$WORK/digits-four"
four_ok=0
for round in 1 2 3; do
  rm -rf "$WORK/digits-four/build" "$WORK/digits-four/cache"
  pids=()
  for i in 1 2 3 4; do "$VAIQ" -C "$WORK/digits-four" all > "$WORK/four-$i.log" 2>&1 & pids+=($!); done
  statuses=0
  for p in "${pids[@]}"; do wait "$p" || statuses=$((statuses + 1)); done
  if [ $statuses = 0 ] && [ "$(digits_outputs "$WORK/digits-four")" = "$reference" ]; then four_ok=$((four_ok + 1))
  else echo "  round $round: $statuses failed"; cat "$WORK"/four-*.log; fi
done
if [ $four_ok = 3 ]; then ok "4 concurrent builds x 3 rounds: all succeed, identical outputs"; else bad "concurrent builds: $four_ok of 3 rounds"; fi

# 7. A build beside `cache gc` (which keeps what the manifests use) and `cache verify`.
digits_repo "$WORK/digits-gc"
"$VAIQ" -C "$WORK/digits-gc" all >/dev/null
rm -rf "$WORK/digits-gc/build"
"$VAIQ" -C "$WORK/digits-gc" all > "$WORK/gc-build.log" 2>&1 & b=$!
"$VAIQ" cache gc --max-size 0 -C "$WORK/digits-gc" > "$WORK/gc.log" 2>&1 & g=$!
"$VAIQ" cache verify -C "$WORK/digits-gc" > "$WORK/verify.log" 2>&1 & v=$!
wait $b; sb=$?; wait $g; sg=$?; wait $v; sv=$?
if [ $sb = 0 ] && [ $sg = 0 ] && [ $sv = 0 ] && [ "$(digits_outputs "$WORK/digits-gc")" = "$reference" ] \
   && "$VAIQ" -C "$WORK/digits-gc" all | grep -q 'nothing to do'; then
  ok "a build beside cache gc and cache verify: all succeed, identical outputs, then a no-op"
else
  bad "build beside gc (exit $sb, gc $sg, verify $sv)"; cat "$WORK/gc-build.log" "$WORK/gc.log" "$WORK/verify.log"
fi

echo "engine: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
