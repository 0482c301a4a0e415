"""Writes the engine section of bench/RESULTS.md from bench/engine.sh's measurements.

usage: report_engine.py RESULTS.jsonl RESULTS.md
"""
import json
import os
import sys

from report_io import replace_section


def main(results_path, results_md):
    rows = [json.loads(line) for line in open(results_path)]
    noop = [r for r in rows if r["what"] == "noop"]
    engine = next(r for r in rows if r["what"] == "engine")
    lines = [
        "## Build engine (`make bench`, bench/engine.sh)",
        "",
        "No-op `vaiq-build all` (release build, whole process: start-up, manifest parsing, planning, "
        "stat-cache lookups, JSON report) over 200 targets; target < 100 ms, independent of checkpoint size.",
        "",
        "| repository | checkpoints | median | min | vs 100 ms target |",
        "|---|---|---|---|---|",
    ]
    for r in noop:
        lines.append("| %s | %.2f GB | %.1f ms | %.1f ms | %.2fx under |" % (
            r["repo"], r["checkpoint_bytes"] / 1e9, r["median"] * 1e3, r["min"] * 1e3, 0.1 / r["median"]))
    lines += [
        "",
        "A matrix of %d CPU-bound stages (fresh cache each time): -j1 %.2f s, -j2 %.2f s, speedup %.2fx "
        "(target >= 1.8x on %d cores)." % (engine["cells"], engine["j1"], engine["j2"], engine["j1"] / engine["j2"], os.cpu_count()),
    ]
    section = "\n".join(lines)
    print(section)
    replace_section(results_md, "engine", section)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
