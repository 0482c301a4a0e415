"""Times TensorFlow on the same I/O jobs as vaiq-bench (best of N runs, page cache warm), printing
one JSON object per measurement:

  graph:      GraphDef.ParseFromString of the frozen graph (the protobuf C parser)
  graph_import: the same plus tf.import_graph_def (what loading a model in TF costs)
  checkpoint: tf.train.load_checkpoint + get_tensor for every tensor (C++ BundleReader, CRC-checked)
  freeze:     TensorFlow's own freeze: parse, restore the checkpoint in a session,
              convert_variables_to_constants, serialize and write

usage: tf_io.py MODEL_DIR RUNS
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1


def best(runs, fn):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(model, runs):
    frozen = model + "/frozen_tf.pb"
    prefix = model + "/train_dir/model.ckpt-1"

    def parse():
        g = tf1.GraphDef()
        with open(frozen, "rb") as f:
            g.ParseFromString(f.read())
        return g

    def parse_import():
        with tf.Graph().as_default():
            tf.import_graph_def(parse(), name="")

    def checkpoint():
        r = tf.train.load_checkpoint(prefix)
        for name in r.get_variable_to_shape_map():
            r.get_tensor(name)

    def freeze():
        g = tf1.GraphDef()
        with open(model + "/inference_graph.pb", "rb") as f:
            g.ParseFromString(f.read())
        with tf.Graph().as_default() as graph:
            tf.import_graph_def(g, name="")
            with tf1.Session(graph=graph) as sess:
                sess.run("save/restore_all", {"save/Const:0": prefix})
                out = tf1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), ["output"])
        with open(model + "/frozen_tf_bench.pb", "wb") as f:
            f.write(out.SerializeToString())

    size = os.path.getsize(frozen)
    ckpt_bytes = sum(os.path.getsize(prefix + s) for s in [".data-00000-of-00001"])
    print(json.dumps({"what": "graph", "bytes": size, "seconds": best(runs, parse)}))
    print(json.dumps({"what": "graph_import", "bytes": size, "seconds": best(runs, parse_import)}))
    print(json.dumps({"what": "checkpoint", "bytes": ckpt_bytes, "seconds": best(runs, checkpoint)}))
    print(json.dumps({"what": "freeze", "seconds": best(runs, freeze)}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
