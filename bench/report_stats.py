"""Writes the calibration statistics section of bench/RESULTS.md from bench/stats.sh's measurements.

usage: report_stats.py RESULTS.jsonl RESULTS.md
"""
import json
import sys

from report_io import replace_section


def main(results_path, results_md):
    rows = [json.loads(line) for line in open(results_path)]
    lines = [
        "## Calibration statistics (`make bench`, bench/stats.sh)",
        "",
        "`BatchStatistics` of 4M relu6-like values (a third zeros, the rest uniform on [0, 6]): min and max, and the squared "
        "error of every candidate position (5 per bit width) of the bit widths asked, in both activation ranges, in one pass "
        "(`ck_activation_errors`; the positions chosen equal the exhaustive search's but at near ties). Best of 5; ns per "
        "value of wall time (per thread: x threads); the kernel body used (the widest the CPU has unless limited). Target: "
        "2 ns per value per thread. Earlier designs on this benchmark, 1 thread: all of bit widths 1-16 bucketed per "
        "position, 41.0 ns per value; only the bit widths a build uses, bucketed per position, 6.49 ns (8 bits).",
        "",
        "| bit widths | threads | kernel | ms | ns per value | ns per value per thread |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        bits = r["bits"]
        label = "1-16" if len(bits) == 16 else ", ".join(str(b) for b in bits)
        lines.append("| %s | %d | %s | %.1f | %.2f | %.2f |" % (label, r["threads"], r.get("isa", "-"), r["ms"], r["ns_per_value"],
                                                             r["ns_per_value"] * r["threads"]))
    section = "\n".join(lines)
    print(section)
    replace_section(results_md, "stats", section)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
