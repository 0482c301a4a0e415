"""Turns bench/infer.sh's measurements into a table (stdout) and rewrites the inference section
of bench/RESULTS.md; also measures the peak RSS of `vaiq-build run` on ResNet50 at batch 8.

usage: report_infer.py RESULTS.jsonl VAIQ_BUILD KERAS_DIR RESULTS.md
"""
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile

from report_io import replace_section


def peak_rss_mb(vaiq, keras):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([vaiq, "run", f"{keras}/resnet50.pb", "--input", f"input={keras}/resnet50_input_b8.npy",
                        "-o", f"{tmp}/out.npy", "-j2"], check=True, stdout=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main(results, vaiq, keras, out):
    rows = [json.loads(line) for line in open(results)]
    sgemm = {}
    for r in rows:
        if r["what"] == "sgemm":
            best = sgemm.setdefault(r["threads"], dict(r))
            for key in ("openblas_gflops", "tiled_gflops"):
                best[key] = max(best[key], r[key])
    ours = pooled([r for r in rows if r["what"] == "infer"])
    tf = pooled([r for r in rows if r["what"] == "tf_infer"])
    peak = sgemm[2]["openblas_gflops"]
    lines = [
        "## Float inference (`make bench`, bench/infer.sh)",
        "",
        "Keras MobileNetV2 and ResNet50 (weights=None, randomized batch-norm statistics, frozen by "
        "tools/make_keras_models.py), 224x224, 2 threads. Each tool runs in %d alternating rounds (a fresh process "
        "each, 2 warm-ups, %d timed runs); times are the median of all timed runs of a tool, and the ratio range is "
        "the lowest and highest ratio of one round's medians. TensorFlow %s CPU with oneDNN (its default); ratio = vaiq-build "
        "images/s / TensorFlow images/s (> 1 means vaiq-build is faster). GFLOP/s counts 2 per multiply-add "
        "of convolutions and matrix products (Winograd convolutions count the direct convolution's, so %% of peak "
        "can exceed 100%%)." % (rounds(rows), iters(rows), tf_version()),
        "Machine: %s, %d cores. sgemm 1024^3 peak (OpenBLAS, best of 3 processes x 30 runs): %.0f GFLOP/s on 1 thread, %.0f on 2; "
        "our fixed-tile matmul on 2 threads: %.0f." % (platform.processor() or platform.machine(), os.cpu_count(),
                                                        sgemm[1]["openblas_gflops"], peak, sgemm[2]["tiled_gflops"]),
        "",
        "| model | batch | vaiq-build | TensorFlow | ratio | ratio range | vaiq-build GFLOP/s | % of sgemm peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(ours):
        o, t = ours[key], tf[key]
        per_round = [tr / orr for orr, tr in zip(o["round_medians"], t["round_medians"])]
        gflops = o["flops"] / o["median_ms"] / 1e6
        lines.append("| %s | %d | %.1f ms (%.1f img/s) | %.1f ms (%.1f img/s) | %.2fx | %.2f-%.2fx | %.0f | %.0f%% |" % (
            key[0].replace(".pb", ""), key[1], o["median_ms"], key[1] / o["median_ms"] * 1e3, t["median_ms"],
            key[1] / t["median_ms"] * 1e3, t["median_ms"] / o["median_ms"], min(per_round), max(per_round), gflops,
            100 * gflops / peak))
    rss = peak_rss_mb(vaiq, keras)
    tf_rss = tf[("resnet50.pb", 8)]["peak_rss_mb"]
    lines += ["", "Peak RSS, ResNet50 batch 8: `vaiq-build run` (whole process: 100 MB graph parse, plan, run) "
              "%.0f MB; the TensorFlow timing process %.0f MB." % (rss, tf_rss)]
    section = "\n".join(lines)
    print(section)
    replace_section(out, "infer", section)


def pooled(rows):
    """One entry per (graph, batch): the median over every timed run of every round, and each round's median."""
    out = {}
    for r in rows:
        key = (os.path.basename(r["graph"]), r["batch"])
        entry = out.setdefault(key, dict(r, times=[], round_medians=[]))
        entry["times"] += r["times_ms"]
        entry["round_medians"].append(r["median_ms"])
    for entry in out.values():
        entry["median_ms"] = median(entry["times"])
    return out


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def rounds(rows):
    return sum(1 for r in rows if r["what"] == "infer" and r["batch"] == 8 and "resnet50" in r["graph"])


def iters(rows):
    return len(next(r for r in rows if r["what"] == "infer")["times_ms"])


def tf_version():
    import importlib.metadata
    return importlib.metadata.version("tensorflow-cpu")


if __name__ == "__main__":
    main(*sys.argv[1:5])
