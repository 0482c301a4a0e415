"""Turns the vaiq-bench and tf_io.py measurements into a table (stdout) and rewrites the I/O
section of bench/RESULTS.md (between its BEGIN/END markers).

usage: report_io.py VAIQ.jsonl TF.jsonl RUNS RESULTS.md
"""
import json
import os
import platform
import sys


def load(path):
    return {m["what"]: m for m in map(json.loads, open(path))}


def main(vaiq_path, tf_path, runs, results):
    v, t = load(vaiq_path), load(tf_path)
    mb = lambda n: n / 1e6  # noqa: E731
    rows = [
        ("parse frozen GraphDef (%.0f MB)" % mb(v["graph"]["bytes"]), v["graph"]["seconds"], t["graph"]["seconds"],
         "GraphDef.ParseFromString"),
        ("parse frozen GraphDef (%.0f MB)" % mb(v["graph"]["bytes"]), v["graph"]["seconds"], t["graph_import"]["seconds"],
         "ParseFromString + import_graph_def"),
        ("read + CRC-check every checkpoint tensor (%.0f MB)" % mb(v["checkpoint"]["bytes"]), v["checkpoint"]["seconds"],
         t["checkpoint"]["seconds"], "load_checkpoint + get_tensor"),
        ("freeze (graph + checkpoint -> frozen .pb)", v["freeze"]["seconds"], t["freeze"]["seconds"],
         "Session restore + convert_variables_to_constants"),
    ]
    lines = [
        "## TensorFlow file I/O (`make bench`, bench/run.sh)",
        "",
        "Best of %s runs, page cache warm, both tools on the same files in the same run; "
        "ratio = TensorFlow time / vaiq-build time (> 1 means vaiq-build is faster)." % runs,
        "Machine: %s, %d cores." % (platform.processor() or platform.machine(), os.cpu_count()),
        "",
        "| job | vaiq-build | TensorFlow | TF path | ratio |",
        "|---|---|---|---|---|",
    ]
    for job, ours, theirs, how in rows:
        lines.append("| %s | %.1f ms | %.1f ms | %s | %.2fx |" % (job, ours * 1e3, theirs * 1e3, how, theirs / ours))
    ck = v["checkpoint"]
    lines += ["", "Checkpoint read throughput: vaiq-build %.0f MB/s, TensorFlow %.0f MB/s." % (
        mb(ck["bytes"]) / ck["seconds"], mb(t["checkpoint"]["bytes"]) / t["checkpoint"]["seconds"])]
    section = "\n".join(lines)
    print(section)
    replace_section(results, "io", section)


def replace_section(results, name, section):
    """Replaces the text between <!-- BEGIN name --> and <!-- END name --> (appending it if absent)."""
    begin, end = "<!-- BEGIN %s -->" % name, "<!-- END %s -->" % name
    block = begin + "\n" + section + "\n" + end
    text = open(results).read() if os.path.exists(results) else "# Benchmark results\n"
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    open(results, "w").write(text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
