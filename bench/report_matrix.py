"""Checks bench/matrix.sh's runs and writes the build-path section of bench/RESULTS.md.

usage: report_matrix.py OUT_DIR ROUNDS RESULTS.md MODEL...

Reads, per model and round, OUT_DIR/<model>.round<N>/: build.json (`vaiq-build all --json`),
oneshot.profile.txt (`vaiq-build quantize --profile`) and identical.txt (bench/matrix.sh's byte
comparison of the one-cell build with the one-shot). Three checks per model, each printed as a
PASS or FAIL line; the exit status is 1 when any fails:
  - the one-cell build's outputs (and those of matrix/w8a8/DPUCZDX8G, the same settings) are the
    one-shot's, byte for byte, in every round;
  - calibrate is one stage of the build and ran once, in every round;
  - each cell's own stages (every stage but freeze, optimize, calibrate and evaluate; cached ones
    count their lookup) take at most 1.2 x the one-shot's non-calibration stages (all but
    calibrate: optimize, quantize, deploy, qat), medians over the rounds.
"""
import collections
import json
import os
import re
import statistics
import sys

from report_io import replace_section

TITLES = {"mobilenet_v2": "Keras MobileNetV2 (224x224x3)", "resnet50": "Keras ResNet50 (224x224x3)"}
SHARED = {"freeze", "optimize", "calibrate"}
MARGIN = 1.2


def oneshot_stages(path):
    """Stage id -> seconds from the profile text (`  <id>  <seconds>  <phases>` lines)."""
    stages = {}
    for line in open(path):
        m = re.match(r"^  (\S+)\s+([0-9.]+)  ", line)
        if m and not line.startswith("  phases:"):
            stages[m.group(1)] = float(m.group(2))
    return stages


def load_build(path):
    try:
        build = json.load(open(path))
    except (OSError, ValueError) as e:
        return {"ok": False, "stages": [], "error": "no build JSON (%s)" % e}
    if not isinstance(build, dict) or not isinstance(build.get("stages"), list):
        return {"ok": False, "stages": [], "error": "%s is not a build report" % path}
    return build


def cell_costs(build):
    """Cell -> {kind: (seconds, outcome)} over each cell's own stages (evaluate excluded)."""
    cells = collections.defaultdict(dict)
    for s in build["stages"]:
        if s["kind"] in SHARED or s["kind"] == "evaluate":
            continue
        cells[s["id"].split("/", 1)[1]][s["kind"]] = (s.get("seconds") or 0.0, s["outcome"])
    return cells


def profile_text(build):
    """The build's stages that ran in `--profile`'s layout, then the phases summed."""
    ran = [s for s in build["stages"] if s["outcome"] == "ran"]
    width = max((len(s["id"]) for s in ran), default=0)
    lines, totals = [], collections.OrderedDict()
    for s in ran:
        phases = s.get("phases") or {}
        for k, v in phases.items():
            totals[k] = totals.get(k, 0.0) + v
        parts = ", ".join("%s %.2f" % kv for kv in sorted(phases.items(), key=lambda kv: -kv[1]))
        lines.append("  %s  %.2f  %s" % (s["id"].ljust(width), s["seconds"], parts))
    lines.append("  phases: " + ", ".join("%s %.2f" % kv for kv in totals.items()))
    lines.append("  stages %.2f s summed (%d ran, %d cached; independent stages run in parallel), build %.2f s" % (
        sum(s["seconds"] for s in ran), len(ran), build.get("cached", 0), build.get("seconds", 0.0)))
    return "\n".join(lines)


def model_section(out_dir, rounds, model):
    """The model's lines and whether every check passed."""
    runs = []
    for r in range(1, rounds + 1):
        d = os.path.join(out_dir, "%s.round%d" % (model, r))
        runs.append({"build": load_build(os.path.join(d, "build.json")),
                     "oneshot": oneshot_stages(os.path.join(d, "oneshot.profile.txt")),
                     "oneshot_text": open(os.path.join(d, "oneshot.profile.txt")).read().rstrip(),
                     "identical": [line.split() for line in open(os.path.join(d, "identical.txt"))]})
    checks = []

    # 1. Byte identity with the one-shot.
    differing = sorted({"%s (%s)" % (f, how) for run in runs for f, how in run["identical"] if how != "same"})
    files = len(runs[-1]["identical"]) // 2
    ok = not differing and all(run["identical"] for run in runs)
    checks.append((ok, "the one-cell build's %d outputs (and matrix/w8a8/DPUCZDX8G's) are byte-identical to the "
                       "one-shot's in %d of %d rounds%s" % (
        files, sum(all(h == "same" for _, h in run["identical"]) and bool(run["identical"]) for run in runs), rounds,
        "; differ: " + ", ".join(differing) if differing else "")))

    # 2. One calibration for the whole repository (the one-cell build and the 12-cell matrix).
    failed = [run["build"].get("error") or "build failed: " + "; ".join(
        "%s %s" % (s["id"], s.get("message") or s["outcome"]) for s in run["build"]["stages"]
        if s["outcome"] in ("failed", "skipped"))[:300] for run in runs if not run["build"].get("ok")]
    calibrations = [[s for s in run["build"]["stages"] if s["kind"] == "calibrate"] for run in runs]
    ran = [sum(s["outcome"] == "ran" for s in c) for c in calibrations]
    per_round = [cell_costs(run["build"]) for run in runs]
    cells = sorted({c for pr in per_round for c in pr})
    ok = not failed and all(len(c) == 1 for c in calibrations) and ran == [1] * rounds
    checks.append((ok, "calibrate: %s stage(s), ran %s time(s) per round for %d cells%s" % (
        "/".join(str(len(c)) for c in calibrations), "/".join(map(str, ran)), len(cells),
        "; " + " | ".join(failed) if failed else "")))

    # 3. Each cell's own stages against the one-shot's non-calibration stages.
    noncal = [sum(v for k, v in run["oneshot"].items() if not k.startswith("calibrate/")) for run in runs]
    percell = [sum(v for k, v in run["oneshot"].items() if k.split("/")[0] not in SHARED) for run in runs]
    bound = MARGIN * statistics.median(noncal)
    rows, worst = [], None
    kinds = sorted({k for pr in per_round for c in pr.values() for k in c}, key=["quantize", "deploy", "qat", "dump"].index)
    for cell in cells:
        costs = [sum(v for v, _ in pr.get(cell, {}).values()) for pr in per_round]
        cost = statistics.median(costs)
        if worst is None or cost > worst[1]:
            worst = (cell, cost)
        outcomes = ["".join("R" if o == "ran" else "c" if o == "cached" else "!" for _, o in (pr.get(cell, {}).get(k, (0, "!")) for k in kinds))
                    for pr in per_round]
        stage_medians = ["%.2f" % statistics.median(pr.get(cell, {}).get(k, (0.0, ""))[0] for pr in per_round) for k in kinds]
        rows.append("| %s | %s | %.2f | %.2f | %s | %s |" % (cell, " | ".join(stage_medians), cost, max(costs),
                                                               "ok" if cost <= bound else "**over**", " ".join(outcomes)))
    ok = worst is not None and worst[1] <= bound and not failed
    checks.append((ok, "each cell's own stages <= %.1f x the one-shot's non-calibration stages: median bound %.2f s "
                       "(1.2 x %.2f s: optimize, quantize, deploy, qat); worst cell %s %.2f s (%.0f %% of the bound)" % (
                           MARGIN, bound, statistics.median(noncal), worst[0] if worst else "-", worst[1] if worst else 0,
                           100 * worst[1] / bound if worst else 0)))

    build_seconds = [run["build"].get("seconds", 0.0) for run in runs]
    calibrate_seconds = [c[0].get("seconds") or 0.0 for c in calibrations if c]
    oneshot_calibrate = [sum(v for k, v in run["oneshot"].items() if k.startswith("calibrate/")) for run in runs]
    lines = ["### " + TITLES.get(model, model), ""]
    lines += ["%s %s" % ("PASS" if ok else "**FAIL**", text) for ok, text in checks]
    bits = {s.split("/")[1] for s in cells if s.startswith("matrix/")}
    lines += ["", "Medians over %d rounds: the build `all -j 2` %.1f s wall for %d cells (calibrate %.1f s for %d activation "
              "bit widths); the one-shot's calibrate %.1f s (8 bits), its quantize + deploy + qat %.2f s (a cell's own "
              "stages, like for like: the worst cell is %.1fx that)." % (
                  rounds, statistics.median(build_seconds), len(cells), statistics.median(calibrate_seconds or [0]),
                  len(bits), statistics.median(oneshot_calibrate), statistics.median(percell),
                  worst[1] / statistics.median(percell) if worst and statistics.median(percell) else 0), ""]
    lines += ["| cell | %s | own stages s (median) | max | vs bound | %s per round (R ran, c cached) |" % (
        " | ".join(k + " s" for k in kinds), "/".join(kinds)), "|---" * (len(kinds) + 5) + "|"] + rows
    lines += ["", "Build profile (`vaiq-build all -j 2 --json`, the stages that ran, last round):", "", "```",
              profile_text(runs[-1]["build"]), "```", "", "One-shot `vaiq-build quantize --profile` (last round):", "", "```",
              runs[-1]["oneshot_text"], "```", ""]
    return lines, all(ok for ok, _ in checks)


def main(out_dir, rounds, results_md, *models):
    rounds = int(rounds)
    lines = [
        "## The build path on the Keras graphs (`make bench-ptq`, bench/matrix.sh)",
        "",
        "A model repository per graph (bench/out/matrix/<model>, manifests written by bench/matrix.sh): the frozen "
        "graph up to its logits node, the 100 calibration inputs of the ptq section (10 batches of 10), a one-cell "
        "build with the settings of its one-shot (pof2s_tf1, DPUCZDX8G, method 1) and a matrix build of 4 bit widths "
        "(w4a4, w6a6, w8a8, w16a16: weight_bit = activation_bit) x 3 targets (DPUCZDX8G, DPUCADF8H, DPUCVDX8G). "
        "Each of %d rounds runs `vaiq-build quantize ... -j 2 --profile` and `vaiq-build all -j 2 --json` from an "
        "empty cache (order swapped every other round); stage times are the build JSON's per-stage seconds. "
        "A cell's own stages are quantize, deploy and qat (no evaluation set here; evaluate would be excluded), "
        "a cached one counting its lookup; the bound is 1.2 x the one-shot's stages other than calibrate "
        "(optimize, quantize, deploy, qat), both as medians over the rounds. DPUCZDX8G and DPUCVDX8G share "
        "arch_type, so their cells' stages have the same action keys: one runs, the other waits for it and finds "
        "it cached; the one-cell build shares its keys with matrix/w8a8/DPUCZDX8G likewise." % rounds,
        "",
    ]
    passed = True
    for model in models:
        section, ok = model_section(out_dir, rounds, model)
        lines += section
        passed &= ok
    text = "\n".join(lines).rstrip("\n")
    replace_section(results_md, "matrix", text)
    print("\n".join(line for line in lines if line.startswith(("PASS", "**FAIL", "###"))))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
