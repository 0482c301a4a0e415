#!/usr/bin/env python3
"""Check that a rewritten GraphDef is the same graph as the original.

    check_roundtrip.py --original A.pb|A.pbtxt --rewritten B.pb|B.pbtxt [--fixture DIR]

Both files are parsed by TensorFlow's protobuf classes (binary, or text for
.pbtxt) and compared with protobuf equality after sorting the nodes by name:
node names, ops, inputs, devices and attrs, plus the versions and function
library, must all be equal. Differences are listed per node.

With --fixture, both graphs are also imported and run on the fixture's
input.npy for the output nodes in its meta.json: a graph without variables
directly, a graph with variables after restoring the fixture's latest
checkpoint through the graph's own saver nodes. Outputs must agree within
1e-5 * max(1, max|original output|) (integers and bools exactly).
Exits non-zero on any mismatch.
"""
import argparse
import os
import sys

from tf_common import (VARIABLE_OPS, compare, fail, load_graph_def, load_inputs, load_meta, run_graph, tf)

MAX_REPORTED = 20


def sorted_copy(graph_def):
    result = tf.compat.v1.GraphDef()
    result.CopyFrom(graph_def)
    del result.node[:]
    result.node.extend(sorted(graph_def.node, key=lambda n: n.name))
    return result


def node_differences(a, b):
    """Human-readable differences between two GraphDefs with nodes in the same order."""
    diffs = []
    nodes_a = {n.name: n for n in a.node}
    nodes_b = {n.name: n for n in b.node}
    for name in sorted(nodes_a.keys() - nodes_b.keys()):
        diffs.append(f"node {name} ({nodes_a[name].op}) only in original")
    for name in sorted(nodes_b.keys() - nodes_a.keys()):
        diffs.append(f"node {name} ({nodes_b[name].op}) only in rewritten")
    for name in sorted(nodes_a.keys() & nodes_b.keys()):
        na, nb = nodes_a[name], nodes_b[name]
        if na == nb:
            continue
        if na.op != nb.op:
            diffs.append(f"node {name}: op {na.op} != {nb.op}")
        if list(na.input) != list(nb.input):
            diffs.append(f"node {name}: inputs {list(na.input)} != {list(nb.input)}")
        if na.device != nb.device:
            diffs.append(f"node {name}: device {na.device!r} != {nb.device!r}")
        for key in sorted(set(na.attr) | set(nb.attr)):
            if key not in nb.attr:
                diffs.append(f"node {name}: attr {key} missing in rewritten")
            elif key not in na.attr:
                diffs.append(f"node {name}: attr {key} only in rewritten")
            elif na.attr[key] != nb.attr[key]:
                diffs.append(f"node {name}: attr {key} differs")
    if len(nodes_a) != len(a.node) or len(nodes_b) != len(b.node):
        diffs.append("duplicate node names")
    if a.versions != b.versions:
        diffs.append(f"versions differ: {a.versions} vs {b.versions}".replace("\n", " "))
    if a.library != b.library:
        diffs.append("function libraries differ")
    return diffs or ["graphs differ outside nodes, versions and library"]


def run_outputs(graph_def, fixture, meta, feeds):
    if any(n.op in VARIABLE_OPS for n in graph_def.node):
        checkpoint = tf.train.latest_checkpoint(os.path.join(fixture, "train_dir"))
        if checkpoint is None:
            fail(f"graph has variables but {fixture}/train_dir has no checkpoint")
        return run_graph(graph_def, feeds, meta["output_nodes"], checkpoint, meta["saver"]), checkpoint
    return run_graph(graph_def, feeds, meta["output_nodes"]), None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", required=True, help="original GraphDef (.pb or .pbtxt)")
    parser.add_argument("--rewritten", required=True, help="rewritten GraphDef (.pb or .pbtxt)")
    parser.add_argument("--fixture", help="fixture directory: also run both graphs on its input.npy")
    args = parser.parse_args()

    original = sorted_copy(load_graph_def(args.original))
    rewritten = sorted_copy(load_graph_def(args.rewritten))
    if original != rewritten:
        diffs = node_differences(original, rewritten)
        for line in diffs[:MAX_REPORTED]:
            print(line)
        if len(diffs) > MAX_REPORTED:
            print(f"... and {len(diffs) - MAX_REPORTED} more")
        fail(f"{args.rewritten} is not the same graph as {args.original}")
    print(f"ok   protos equal: {len(original.node)} nodes")

    if args.fixture:
        meta = load_meta(args.fixture)
        feeds = load_inputs(args.fixture, meta)
        expected, checkpoint = run_outputs(original, args.fixture, meta, feeds)
        actual, _ = run_outputs(rewritten, args.fixture, meta, feeds)
        failures = 0
        for name in meta["output_nodes"]:
            ok, detail = compare(actual[name], expected[name])
            failures += not ok
            restored = f" (restored {os.path.basename(checkpoint)})" if checkpoint else ""
            print(f"{'ok  ' if ok else 'FAIL'} {name}{restored}: {detail}")
        if failures:
            fail(f"{failures} output(s) differ between {args.original} and {args.rewritten}")
    print(f"PASS: {args.rewritten} round-trips {args.original}")


if __name__ == "__main__":
    sys.exit(main())
