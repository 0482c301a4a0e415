"""Shared TensorFlow helpers for the fixture generator and the check scripts.

Import this module before anything else that imports TensorFlow: it sets the
environment TensorFlow reads at import time.
"""
import json
import os
import sys

# Must be set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# oneDNN kernels may reorder floating-point reductions; the reference outputs
# come from TensorFlow's plain Eigen kernels instead (this also silences the
# "oneDNN custom operations are on" banner).
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf import text_format  # noqa: E402

tf.compat.v1.disable_eager_execution()
tf.get_logger().setLevel("ERROR")

# Two logical CPUs so graphs pinned to /cpu:1 (the `sharded` fixture) can run;
# soft placement lets any other device annotation fall back to the CPU.
# Single-threaded kernels keep the generated reference outputs reproducible.
SESSION_CONFIG = tf.compat.v1.ConfigProto(
    device_count={"CPU": 2},
    allow_soft_placement=True,
    intra_op_parallelism_threads=1,
    inter_op_parallelism_threads=1,
)

# Op types that must not survive a freeze.
VARIABLE_OPS = {"Variable", "VariableV2", "VarHandleOp", "ReadVariableOp"}
TRAINING_OP_PREFIXES = ("Assign", "Save", "Restore")


def fail(message):
    """Print an error and exit non-zero."""
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def load_graph_def(path):
    """Read a GraphDef from a binary .pb or a text .pbtxt file."""
    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith((".pbtxt", ".txt")):
        text_format.Parse(data.decode("utf-8"), graph_def)
    else:
        graph_def.ParseFromString(data)
    return graph_def


def load_meta(fixture_dir):
    with open(os.path.join(fixture_dir, "meta.json")) as f:
        return json.load(f)


def expected_file_name(output_node):
    return "expected_" + output_node.replace("/", "_") + ".npy"


def load_inputs(fixture_dir, meta):
    """Feed dict {input node name: array}; every fixture has a single input, stored in input.npy."""
    if len(meta["input_nodes"]) != 1:
        fail(f"expected exactly one input node in meta.json, got {meta['input_nodes']}")
    return {meta["input_nodes"][0]: np.load(os.path.join(fixture_dir, "input.npy"))}


def forbidden_nodes(graph_def):
    """Nodes (name, op) that a frozen graph must not contain."""
    return [(n.name, n.op) for n in graph_def.node
            if n.op in VARIABLE_OPS or n.op.startswith(TRAINING_OP_PREFIXES)]


def run_graph(graph_def, feeds, output_nodes, checkpoint=None, saver=None):
    """Import graph_def into a fresh graph and evaluate output_nodes (output 0 of each).

    If checkpoint is given, first restore it through the graph's own saver
    nodes: saver = {"filename_tensor": ..., "restore_op": ...} from meta.json.
    """
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph, config=SESSION_CONFIG) as sess:
        if checkpoint is not None:
            sess.run(saver["restore_op"], {saver["filename_tensor"]: checkpoint})
        fetches = [graph.get_tensor_by_name(name + ":0") for name in output_nodes]
        feed_dict = {graph.get_tensor_by_name(name + ":0"): value for name, value in feeds.items()}
        return dict(zip(output_nodes, sess.run(fetches, feed_dict)))


def tolerance(expected):
    return 1e-5 * max(1.0, float(np.max(np.abs(expected.astype(np.float64)))) if expected.size else 1.0)


def compare(actual, expected):
    """Return (ok, description). Floats use tolerance(); integers and bools must match exactly."""
    if actual.shape != expected.shape:
        return False, f"shape {list(actual.shape)} != expected {list(expected.shape)}"
    if actual.dtype != expected.dtype:
        return False, f"dtype {actual.dtype} != expected {expected.dtype}"
    if not np.issubdtype(expected.dtype, np.floating):
        mismatches = int(np.count_nonzero(actual != expected))
        return mismatches == 0, f"{mismatches} mismatching elements (exact match required)"
    if not np.all(np.isfinite(actual)):
        return False, "non-finite values in output"
    err = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64)))) if actual.size else 0.0
    tol = tolerance(expected)
    return err <= tol, f"max abs err {err:.3e} (tol {tol:.1e})"
