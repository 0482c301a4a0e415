#!/usr/bin/env bash
# Build-engine benchmark:
#  1. a no-op `vaiq-build all` over a generated repository of 200 models (200 targets) whose
#     checkpoints total ~2 GB, and over the same repository with ~0.2 GB of checkpoints: the
#     no-op time must stay < 100 ms and not grow with checkpoint size (the stat cache answers);
#  2. -j2 speedup on a matrix of CPU-bound stages (target >= 1.8x on 2 cores);
#  3. what verified reads cost per GB: 2 GB of distinct cache objects (200 x 10 MB, and 20 x
#     100 MB) read unchecked, read and hashed, hashed streaming from the file, hashed in memory.
# Rewrites the engine section of bench/RESULTS.md.   usage: bench/engine.sh PYTHON [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
RUNS=${2:-10}
OUT=bench/out/engine
MODELS=200
swift build -c release --product vaiq-build >/dev/null
swift build -c release --product vaiq-bench >/dev/null
VAIQ=$(realpath .build/release/vaiq-build)
mkdir -p "$OUT"

# repo NAME LAYERS: 200 copies of one model with LAYERS 3x3x128x128 convolutions (0.59 MB each).
make_repo() {
  local repo=$OUT/$1
  [ -f "$repo/.complete" ] && return
  rm -rf "$repo"; mkdir -p "$repo/manifests"
  "$PY" bench/make_io_model.py "$OUT/model-$1" "$2" 128 >/dev/null 2>&1
  echo "models:" > "$repo/manifests/models.yaml"
  for i in $(seq -w 1 $MODELS); do
    mkdir -p "$repo/models/m$i"
    cp "$OUT/model-$1/inference_graph.pb" "$repo/models/m$i/"
    cp -r "$OUT/model-$1/train_dir" "$repo/models/m$i/"
    printf '  m%s: {graph: models/m%s/inference_graph.pb, checkpoint: models/m%s/train_dir, input_nodes: [input], output_nodes: [output]}\n' "$i" "$i" "$i" >> "$repo/manifests/models.yaml"
  done
  # Files older than the stat cache's racy window, as in a real repository.
  find "$repo" -type f -exec touch -d '1 hour ago' {} +
  "$VAIQ" -C "$repo" all >/dev/null
  touch "$repo/.complete"
}

noop() {  # prints JSON for one repository
  local repo=$OUT/$1
  local bytes; bytes=$(du -cb "$repo"/models/*/train_dir/*.data-* | tail -1 | cut -f1)
  "$VAIQ" -C "$repo" all >/dev/null   # warm the page cache for the binary and manifests
  "$PY" - "$VAIQ" "$repo" "$RUNS" "$bytes" "$1" <<'PYEOF'
import json, subprocess, sys, time
vaiq, repo, runs, size, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
times = []
for _ in range(runs):
    t = time.perf_counter()
    out = subprocess.run([vaiq, "-C", repo, "all", "--json"], check=True, capture_output=True, text=True).stdout
    times.append(time.perf_counter() - t)
    report = json.loads(out)
    assert report["ran"] == 0 and report["cached"] == 200, report
times.sort()
print(json.dumps({"what": "noop", "repo": name, "checkpoint_bytes": size, "targets": 200,
                  "median": times[len(times) // 2], "min": times[0]}))
PYEOF
}

make_repo large 17   # 200 x 10 MB = 2 GB
make_repo small 2    # 200 x 1.2 MB
{
  noop large
  noop small
  .build/release/vaiq-bench engine 16 60000000
  .build/release/vaiq-bench verify 200 10 3
  .build/release/vaiq-bench verify 20 100 3
} > "$OUT/results.jsonl"
"$PY" bench/report_engine.py "$OUT/results.jsonl" bench/RESULTS.md
