"""Times TensorFlow CPU float inference of a frozen graph, the reference for bench/infer.sh.

    tf_infer.py GRAPH INPUT.npy INPUT_NODE OUTPUT_NODE BATCH THREADS ITERS

Session with intra_op_parallelism_threads=THREADS and one inter-op thread, 2 warm-up runs,
median of ITERS; prints one JSON line (oneDNN as TensorFlow ships it, i.e. enabled on x86).
"""
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(graph_path, input_path, input_node, output_node, batch, threads, iters):
    batch, threads, iters = int(batch), int(threads), int(iters)
    graph_def = tf.compat.v1.GraphDef()
    with open(graph_path, "rb") as f:
        graph_def.ParseFromString(f.read())
    x = np.load(input_path)[:batch]
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g, config=config) as s:
            out = g.get_tensor_by_name(output_node + ":0")
            feed = {g.get_tensor_by_name(input_node + ":0"): x}
            for _ in range(2):
                s.run(out, feed)
            times = []
            for _ in range(iters):
                t = time.perf_counter()
                s.run(out, feed)
                times.append(time.perf_counter() - t)
    median = sorted(times)[len(times) // 2]
    print(json.dumps({"what": "tf_infer", "graph": graph_path, "batch": batch, "threads": threads, "median_ms": median * 1e3,
                      "images_per_s": batch / median, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)")}))


if __name__ == "__main__":
    main(*sys.argv[1:8])
