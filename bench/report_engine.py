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
    verify = [r for r in rows if r["what"] == "verify"]
    if verify:
        lines += [
            "",
            "Verified reads: every cache object a build reads (a stage's input, a file it places under build/) "
            "is hashed (XXH3-128) against its name. A no-op build reads none (the stat cache answers: the "
            "no-op above verifies 0 bytes). The cost per GB, over 2 GB of distinct objects in the page "
            "cache, as a build that just made them or a warm store sees them (best of 3, one thread):",
            "",
            "| objects | read, unchecked | read + hash (placement) | hash streamed from the file (stage inputs, `cache verify`) | XXH3 alone, in memory | verification adds |",
            "|---|---|---|---|---|---|",
        ]
        for r in verify:
            gb = r["bytes"] / 2**30
            lines.append("| %d x %d MB | %.0f ms/GB | %.0f ms/GB | %.0f ms/GB | %.0f ms/GB (%.1f GB/s) | %.0f ms/GB |" % (
                r["objects"], r["bytes"] // r["objects"] // 2**20, r["read"] / gb * 1e3, r["verified"] / gb * 1e3,
                r["stream"] / gb * 1e3, r["hash"] / gb * 1e3, gb / r["hash"], (r["verified"] - r["read"]) / gb * 1e3))
        big = max(verify, key=lambda r: r["bytes"] // r["objects"])
        lines += [
            "",
            "On the 2 GB checkpoint benchmark, a build that verifies all 2 GB (every frozen graph distinct) "
            "spends about %.2f s hashing, against the %.1f s it takes to read them." % (
                (big["verified"] - big["read"]) * 2e9 / big["bytes"], big["read"] * 2e9 / big["bytes"]),
        ]
    section = "\n".join(lines)
    print(section)
    replace_section(results_md, "engine", section)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
