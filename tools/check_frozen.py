#!/usr/bin/env python3
"""Check a frozen GraphDef (e.g. one written by vaiq-build) against a fixture.

    check_frozen.py --graph FROZEN.pb --fixture Tests/Fixtures/<model> [--checkpoint-step N]

1. The graph must contain no Variable / VariableV2 / VarHandleOp /
   ReadVariableOp node and no node whose op starts with Assign, Save or Restore.
2. It is imported with tf.compat.v1.import_graph_def and run on the fixture's
   input.npy for every output node listed in meta.json.
3. Each output is compared with the fixture's expected_<output>.npy and with
   TensorFlow's own freeze (frozen_tf.pb) run on the same input. With
   --checkpoint-step N it is compared instead with the fixture's
   inference_graph.pb run after restoring train_dir/model.ckpt-N.

Tolerance: float outputs pass when max|actual - reference| <=
1e-5 * max(1, max|reference|); integer and bool outputs must match exactly;
shapes and dtypes must match. One line is printed per output and reference;
the exit status is non-zero on any failure.
"""
import argparse
import os
import sys

from tf_common import (compare, expected_file_name, fail, forbidden_nodes, load_graph_def, load_inputs,
                       load_meta, np, run_graph)


def references(fixture, meta, feeds, checkpoint_step):
    """{reference label: {output node: array}}"""
    outputs = meta["output_nodes"]
    if checkpoint_step is not None:
        prefix = os.path.join(fixture, "train_dir", f"model.ckpt-{checkpoint_step}")
        if not os.path.exists(prefix + ".index"):
            fail(f"no checkpoint {prefix}")
        graph_def = load_graph_def(os.path.join(fixture, "inference_graph.pb"))
        return {f"ckpt-{checkpoint_step}": run_graph(graph_def, feeds, outputs, prefix, meta["saver"])}
    expected = {name: np.load(os.path.join(fixture, expected_file_name(name))) for name in outputs}
    frozen_tf = run_graph(load_graph_def(os.path.join(fixture, "frozen_tf.pb")), feeds, outputs)
    return {"expected": expected, "frozen_tf.pb": frozen_tf}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", required=True, help="frozen GraphDef to check (.pb, or .pbtxt)")
    parser.add_argument("--fixture", required=True, help="fixture directory (with meta.json, input.npy, ...)")
    parser.add_argument("--checkpoint-step", type=int,
                        help="compare with outputs of train_dir/model.ckpt-N instead of the ckpt-2 references")
    args = parser.parse_args()

    graph_def = load_graph_def(args.graph)
    leftovers = forbidden_nodes(graph_def)
    if leftovers:
        fail(f"{args.graph} still has {len(leftovers)} variable/training node(s): "
             + ", ".join(f"{name} ({op})" for name, op in leftovers[:20]))

    meta = load_meta(args.fixture)
    feeds = load_inputs(args.fixture, meta)
    missing = sorted(set(meta["output_nodes"]) - {n.name for n in graph_def.node})
    if missing:
        fail(f"{args.graph} lacks output node(s) {missing}")
    actual = run_graph(graph_def, feeds, meta["output_nodes"])

    failures = 0
    for label, reference in references(args.fixture, meta, feeds, args.checkpoint_step).items():
        for name in meta["output_nodes"]:
            ok, detail = compare(actual[name], reference[name])
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name} vs {label}: {detail}")
    if failures:
        fail(f"{failures} output comparison(s) failed for {args.graph}")
    print(f"PASS: {args.graph} matches {args.fixture}")


if __name__ == "__main__":
    sys.exit(main())
