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
    sgemm = {r["threads"]: r for r in rows if r["what"] == "sgemm"}
    ours = {(os.path.basename(r["graph"]), r["batch"]): r for r in rows if r["what"] == "infer"}
    tf = {(os.path.basename(r["graph"]), r["batch"]): r for r in rows if r["what"] == "tf_infer"}
    peak = sgemm[2]["openblas_gflops"]
    lines = [
        "## Float inference (`make bench`, bench/infer.sh)",
        "",
        "Keras MobileNetV2 and ResNet50 (weights=None, randomized batch-norm statistics, frozen by "
        "tools/make_keras_models.py), 224x224, 2 threads, median of runs after 2 warm-ups, both tools "
        "in the same run and alternated. TensorFlow %s CPU with oneDNN (its default); ratio = vaiq-build "
        "images/s / TensorFlow images/s (> 1 means vaiq-build is faster). GFLOP/s counts 2 per multiply-add "
        "of convolutions and matrix products." % tf_version(),
        "Machine: %s, %d cores. sgemm 1024^3 peak (OpenBLAS): %.0f GFLOP/s on 1 thread, %.0f on 2; "
        "our fixed-tile matmul on 2 threads: %.0f." % (platform.processor() or platform.machine(), os.cpu_count(),
                                                        sgemm[1]["openblas_gflops"], peak, sgemm[2]["tiled_gflops"]),
        "",
        "| model | batch | vaiq-build | TensorFlow | ratio | vaiq-build GFLOP/s | % of sgemm peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in sorted(ours):
        o, t = ours[key], tf[key]
        lines.append("| %s | %d | %.1f ms (%.1f img/s) | %.1f ms (%.1f img/s) | %.2fx | %.0f | %.0f%% |" % (
            key[0].replace(".pb", ""), key[1], o["median_ms"], o["images_per_s"], t["median_ms"], t["images_per_s"],
            o["images_per_s"] / t["images_per_s"], o["gflops"], 100 * o["gflops"] / peak))
    rss = peak_rss_mb(vaiq, keras)
    tf_rss = tf[("resnet50.pb", 8)]["peak_rss_mb"]
    lines += ["", "Peak RSS, ResNet50 batch 8: `vaiq-build run` (whole process: 100 MB graph parse, plan, run) "
              "%.0f MB; the TensorFlow timing process %.0f MB." % (rss, tf_rss)]
    section = "\n".join(lines)
    print(section)
    replace_section(out, "infer", section)


def tf_version():
    import importlib.metadata
    return importlib.metadata.version("tensorflow-cpu")


if __name__ == "__main__":
    main(*sys.argv[1:5])
