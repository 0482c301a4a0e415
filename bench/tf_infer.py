"""Times TensorFlow CPU float inference of a frozen graph, the reference for bench/infer.sh.

    tf_infer.py --graph DIR/<model>.pb --meta DIR/<model>.json --batch N [--threads 2] [--warmup 3] [--iters K]
                [--input X.npy]
    tf_infer.py GRAPH INPUT.npy INPUT_NODE OUTPUT_NODE BATCH THREADS ITERS     (bench/infer.sh; 2 warm-ups)

Session with intra_op_parallelism_threads=THREADS and one inter-op thread; the input is fed from
a preallocated array (the first BATCH images of --input, or seeded uniform [-1, 1] data); median
of ITERS runs after the warm-ups. Prints one JSON line: model, batch, threads, median_ms,
images_per_s, peak_rss_mb (ru_maxrss of this process: graph, session and buffers) and onednn
(TF_ENABLE_ONEDNN_OPTS as set, "default (on)" when unset, and whether TensorFlow reports its oneDNN
kernels as enabled). TensorFlow is used as it ships: oneDNN on for x86 unless the variable says 0.
"""
import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def onednn_enabled():
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def run(graph_path, model, x, input_node, output_node, threads, warmup, iters):
    graph_def = tf.compat.v1.GraphDef()
    with open(graph_path, "rb") as f:
        graph_def.ParseFromString(f.read())
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g, config=config) as s:
            out = g.get_tensor_by_name(output_node + ":0")
            feed = {g.get_tensor_by_name(input_node + ":0"): x}
            for _ in range(warmup):
                s.run(out, feed)
            times = []
            for _ in range(iters):
                t = time.perf_counter()
                s.run(out, feed)
                times.append(time.perf_counter() - t)
    median = sorted(times)[len(times) // 2]
    batch = x.shape[0]
    env = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    print(json.dumps({"what": "tf_infer", "model": model, "graph": graph_path, "batch": batch, "threads": threads,
                      "warmup": warmup, "iters": iters, "median_ms": median * 1e3, "images_per_s": batch / median,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "onednn": env if env else "default (on)", "onednn_enabled": onednn_enabled(),
                      "tensorflow": tf.__version__, "times_ms": [round(t * 1e3, 3) for t in times]}))


def main(argv):
    if argv and not argv[0].startswith("-"):  # positional form used by bench/infer.sh
        graph, input_path, input_node, output_node, batch, threads, iters = argv[:7]
        x = np.ascontiguousarray(np.load(input_path)[:int(batch)])
        model = os.path.splitext(os.path.basename(graph))[0]
        run(graph, model, x, input_node, output_node, int(threads), 2, int(iters))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", required=True)
    parser.add_argument("--meta", help="<model>.json from tools/make_keras_models.py (default: next to --graph)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--input", help=".npy with at least BATCH images (default: seeded uniform [-1, 1])")
    args = parser.parse_args(argv)
    with open(args.meta or os.path.splitext(args.graph)[0] + ".json") as f:
        meta = json.load(f)
    output = meta["output"] if isinstance(meta["output"], str) else meta["output"][0]
    if args.input:
        x = np.load(args.input)[:args.batch]
        if x.shape[0] < args.batch:
            sys.exit(f"{args.input} holds {x.shape[0]} images, fewer than --batch {args.batch}")
    else:
        shape = [args.batch] + [d for d in meta["input_shape"][1:]]
        x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    model = os.path.splitext(os.path.basename(args.graph))[0]
    run(args.graph, model, np.ascontiguousarray(x, dtype=np.float32), meta["input"], output, args.threads,
        args.warmup, args.iters)


if __name__ == "__main__":
    main(sys.argv[1:])
