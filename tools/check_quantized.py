"""Checks that TensorFlow, running the stock-TF quantized model (FakeQuant activations, quantized
weights), computes what vaiq-build's own simulation of quantize_eval_model.pb computed, to within
one step of the output's fix position.

    check_quantized.py --stock quantize_eval_model_tf.pb --ours ours.npy --input NAME=FILE.npy \
        --output NODE --quant-info quant_info.json [--max-lsb 1]
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--stock", required=True)
    a.add_argument("--ours", required=True)
    a.add_argument("--input", action="append", required=True)
    a.add_argument("--output", required=True)
    a.add_argument("--quant-info", required=True)
    a.add_argument("--max-lsb", type=float, default=1.0)
    args = a.parse_args()
    graph_def = tf.compat.v1.GraphDef()
    with open(args.stock, "rb") as f:
        graph_def.ParseFromString(f.read())
    feeds = {}
    for spec in args.input:
        name, path = spec.split("=", 1)
        feeds[name + ":0"] = np.load(path)
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as s:
            theirs = s.run(args.output + ":0", feeds)
    ours = np.load(args.ours)
    info = json.load(open(args.quant_info))
    # The quantized tensor feeding the output (the output itself, or the tensor an Identity forwards).
    producer = {n.name: n for n in graph_def.node}
    node = args.output
    positions = {t["node"]: t["position"] for t in info["tensors"] if t["kind"] == "activation"}
    while node not in positions:
        inputs = [i for i in producer[node].input if not i.startswith("^")]
        node = inputs[0].split(":")[0].removesuffix("/aquant")
    lsb = 2.0 ** -positions[node]
    err = np.abs(ours.astype(np.float64) - theirs).max()
    differing = int((np.abs(ours - theirs) > 0).sum())
    print(f"{args.output}: max |vaiq - TF| = {err:.6g} = {err / lsb:.3g} LSB (position {positions[node]}), "
          f"{differing} of {ours.size} values differ")
    raise SystemExit(0 if err <= args.max_lsb * lsb + 1e-7 else 1)


if __name__ == "__main__":
    main()
