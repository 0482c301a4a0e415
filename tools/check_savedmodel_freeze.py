#!/usr/bin/env python3
"""TensorFlow runs vaiq-build's freeze of a SavedModel fixture and must agree with the SavedModel.

    check_savedmodel_freeze.py --graph FROZEN.pb --fixture Tests/Fixtures/savedmodel/<name>

The frozen graph (`vaiq-build freeze --saved_model`) must hold no function call, variable handle
or ReadVariableOp. It is imported with tf.compat.v1.import_graph_def and run on the fixture's
inputs (placeholders named by the signature's input keys); each output (an Identity named by the
signature's output key) must equal the fixture's expected file, which TensorFlow computed with the
SavedModel's own serving signature, within 1e-4 * max|expected|. One line per output; the exit
status is non-zero on any failure.
"""
import argparse
import json
import os
import sys

import numpy as np
import tensorflow as tf


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--graph", required=True)
    parser.add_argument("--fixture", required=True)
    args = parser.parse_args()
    info = json.load(open(os.path.join(args.fixture, "info.json")))
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(open(args.graph, "rb").read())
    left = [n.name for n in graph_def.node if n.op in ("StatefulPartitionedCall", "PartitionedCall", "VarHandleOp", "ReadVariableOp")]
    if left:
        print("function or variable nodes left:", left)
        return 1
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    feeds = {graph.get_tensor_by_name(i["name"] + ":0"): np.load(os.path.join(args.fixture, i["file"])) for i in info["inputs"]}
    failed = 0
    with tf.compat.v1.Session(graph=graph) as session:
        for output in info["outputs"]:
            got = session.run(graph.get_tensor_by_name(output["name"] + ":0"), feeds)
            expected = np.load(os.path.join(args.fixture, output["file"]))
            error = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
            ok = error <= 1e-4 * max(float(np.abs(expected).max()), 1e-6)
            failed += not ok
            print("%s %s: max error %.3g (max |expected| %.3g)" % ("ok" if ok else "FAIL", output["name"], error, float(np.abs(expected).max())))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
