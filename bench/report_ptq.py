"""Writes the post-training quantization section of bench/RESULTS.md from bench/ptq.sh's records.

usage: report_ptq.py RESULTS.jsonl OUT_DIR RESULTS.md
(OUT_DIR/<model>/vaiq.profile.txt is vaiq-build's --profile text of the last round.)
"""
import collections
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys

from report_io import replace_section

TITLES = {"digits": "digits example (32x32x1, 400 held-out rows of eval_x.npy)",
          "mobilenet_v2": "Keras MobileNetV2 (224x224x3)", "resnet50": "Keras ResNet50 (224x224x3)"}


def versions():
    vaiq = subprocess.run([".build/release/vaiq-build", "--version"], capture_output=True, text=True).stdout.strip()
    peers = ", ".join("%s %s" % (p, importlib.metadata.version(p)) for p in ("tensorflow-cpu", "tf2onnx", "onnx", "onnxruntime"))
    return "vaiq-build %s; %s" % (vaiq or "?", peers)


def cpu():
    names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
    return "%s, %d cores" % (names[0] if names else "?", os.cpu_count())


def cell(text):
    return " ".join(str(text).split()).replace("|", "/")


def model_table(runs, accuracy):
    """One model's table rows, then the ratios of vaiq-build's process time to the peers'."""
    labeled = any("top1" in a for a in accuracy.values())
    lines = ["| tool | variant | process s (median) | quantize call s (median) | peak RSS MB | logits SQNR dB | top-1 agreement |"
             + (" top-1 (labels) |" if labeled else ""),
             "|---|---|---|---|---|---|---|" + ("---|" if labeled else "")]
    process, calls = {}, {}
    for key, rs in runs.items():
        ok = [r for r in rs if r["rc"] == 0]
        failed = [r for r in rs if r["rc"] != 0]
        acc = accuracy.get(key, {})
        quality = ("%.1f | %.1f %%" % (acc["sqnr_db"], 100 * acc["top1_agreement"]) if "sqnr_db" in acc
                   else "%s | -" % cell(acc.get("accuracy_error", "-")))
        if labeled:
            quality += " | %s" % ("%.2f %%" % (100 * acc["top1"]) if "top1" in acc else "-")
        note = " (%d of %d runs failed: %s)" % (len(failed), len(rs), cell(failed[0]["error"])) if failed else ""
        if not ok:
            lines.append("| %s | %s | failed%s | - | - | %s |" % (key + (note, quality)))
            continue
        process[key] = statistics.median(r["seconds"] for r in ok)
        if "call_seconds" in ok[0]:
            calls[key] = statistics.median(r["call_seconds"] for r in ok)
        lines.append("| %s | %s | %.2f%s | %s | %.0f | %s |" % (key + (
            process[key], note, "%.2f" % calls[key] if key in calls else "-",
            max(r["peak_rss_kb"] for r in ok) / 1024, quality)))
    ours = process.get(("vaiq-build", "pof2s_tf1"))
    peers = {k: v for k, v in process.items() if k[0] != "vaiq-build"}
    ort_calls = {k: v for k, v in calls.items() if k[0] == "ort"}
    ratios = []
    if ours and peers:
        fastest = min(peers, key=peers.get)
        ratios.append("vaiq-build / fastest peer process (%s %s): %.2fx" % (fastest + (ours / peers[fastest],)))
    if ours and ort_calls:
        fastest = min(ort_calls, key=ort_calls.get)
        ratios.append("vaiq-build's whole process / onnxruntime's quantize_static call alone (%s): %.2fx" % (
            fastest[1], ours / ort_calls[fastest]))
    return lines + ["", "; ".join(ratios) + " (< 1: vaiq-build is faster)." if ratios else "No ratio: a tool failed."]


def main(results_path, out_dir, results_md):
    runs = collections.defaultdict(lambda: collections.OrderedDict())
    accuracy = collections.defaultdict(dict)
    for r in map(json.loads, open(results_path)):
        key = (r["tool"], r["variant"])
        if "round" in r:
            runs[r["model"]].setdefault(key, []).append(r)
        else:
            accuracy[r["model"]][key] = r
    rounds = max(r["round"] for rs in runs.values() for v in rs.values() for r in v)
    lines = [
        "## Post-training quantization against peers (`make bench-ptq`, bench/ptq.sh)",
        "",
        "Machine: %s (shared). Versions: %s." % (cpu(), versions()),
        "",
        "Every tool quantizes the frozen GraphDef up to its logits node (the Keras models' softmax input), "
        "calibrated on the same 100 inputs, and runs as a fresh process: median wall time of %d rounds (tool "
        "order reversed every other round), peak RSS the largest of them (getrusage of the child). "
        "vaiq-build: `vaiq-build quantize --calib_iter 10 --calib_batch_size 10 --method 1 -j 2` (pof2s_tf1, "
        "vai_q_tensorflow's behaviour and the command's default; DPUCZDX8G), the whole process (optimize, "
        "calibrate, quantize, deploy and the QAT graphs); the ratios are of this one. Also `--quantize_strategy "
        "pof2s` (the builds' default: bias correction, align_rule min), `pof2s_ft` (+ fast finetuning; on "
        "the Keras models one run, in the last round), and fsx_asym = `--quantize_strategy fsx "
        "--activation_symmetry 0` (float scales for CPU/GPU targets: per-channel weights, asymmetric KL "
        "activation ranges). TFLite: "
        "`tf.compat.v1.lite.TFLiteConverter.from_frozen_graph`, int8 full-integer ops with float input and "
        "output, representative dataset = the 100 inputs at batch 1; per-tensor is "
        "`_experimental_disable_per_channel`; the call time is `convert()`, the process includes importing "
        "TensorFlow. onnxruntime: `quantize_static` (QDQ, int8 activations and weights, MinMax, a "
        "CalibrationDataReader giving the 100 inputs at batch 1; the calibration session uses ORT's default "
        "threads, one per core = 2) on the model converted by tf2onnx (opset 17) and `quant_pre_process`ed "
        "beforehand, not timed; the call time is `quantize_static`." % rounds,
        "",
        "Inputs: Keras models: calibration = 100 seeded N(0, 1) float32 images (numpy default_rng(1)), "
        "held-out = 32 more (default_rng(2)); digits: the first 100 rows of examples/digits/data/calib.npy "
        "and the 400 rows of eval_x.npy. Accuracy is against the float graph's logits on the held-out set "
        "(TensorFlow): SQNR = 10 log10(sum f^2 / sum (f - q)^2) over all logits, and the share of rows whose "
        "top-1 class agrees; vaiq-build's quantized logits come from `vaiq-build run` on "
        "quantize_eval_model.pb (FixNeuron-simulated), TFLite's from its interpreter, ORT's from an "
        "InferenceSession on the QDQ model.",
    ]
    for model in runs:
        lines += ["", "### %s" % TITLES.get(model, model), ""] + model_table(runs[model], accuracy[model])
        floats = [a["float_top1"] for a in accuracy[model].values() if "float_top1" in a]
        if floats:
            lines += ["", "Top-1 (labels): accuracy against the held-out set's labels; the float graph's is %.2f %%." % (100 * floats[0])]
    for model in runs:
        positions = os.path.join(out_dir, model, "positions.json")
        if os.path.exists(positions) and os.path.getsize(positions) > 0:
            p = json.load(open(positions))
            lines += ["", "%s: calibration statistics' positions against the exhaustive search (10 calibration rows, "
                      "8 bits, both activation ranges, `vaiq-bench positions`): %d compared, %d differ, %d near ties."
                      % (TITLES.get(model, model), p["compared"], p["differ"], p["near_ties"])]
    for model in runs:
        profile = os.path.join(out_dir, model, "vaiq.profile.txt")
        if model != "digits" and os.path.exists(profile):
            lines += ["", "vaiq-build `--profile`, %s (last round):" % TITLES.get(model, model), "",
                      "```", open(profile).read().rstrip("\n"), "```"]
    section = "\n".join(lines)
    print(section)
    replace_section(results_md, "ptq", section)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
