"""Quantize-aware fine-tuning of the digits model with stock TensorFlow, from the graphs vaiq-build
writes (build/<cell>/quantize_train_graph.pb and qat_inference_graph.pb).

The training graph holds the folded weights as variables and, for pof2s strategies, a
FakeQuantWithMinMaxVars at every position vaiq-build calibrated; for pof2s_tqt every quantizer has
a trainable log2 threshold `<quantizer>/log_th` instead (trained quantization thresholds, with
their own learning rate here). This script imports the graph, adds a cross-entropy loss, trains
with Adam (gradients pass straight through the quantizers inside their range), and saves TF1
checkpoints of all the variables next to a copy of qat_inference_graph.pb. That directory is an
ordinary model for vaiq-build (`checkpoint:` pointing at its train_dir), which freezes and
quantizes each new checkpoint into quantize_eval_model_<step>_<date>.pb; with pof2s_tqt the
positions come from the trained thresholds.

    python qat.py --graphs build/digits/w4a8/DPUCZDX8G --out models/digits_qat --steps 300
"""
import argparse
import os
import shutil
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import train  # noqa: E402  (the digits dataset, as the float model was trained on it)

tf1 = tf.compat.v1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--graphs", required=True, help="directory with quantize_train_graph.pb and qat_inference_graph.pb")
    parser.add_argument("--out", required=True, help="model directory to write: inference_graph.pb + train_dir/")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--save-every", type=int, default=150)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--threshold-learning-rate", type=float, default=1e-3,
                        help="for the log2 thresholds of pof2s_tqt quantizers")
    args = parser.parse_args()

    graph_def = tf1.GraphDef()
    with open(os.path.join(args.graphs, "quantize_train_graph.pb"), "rb") as f:
        graph_def.ParseFromString(f.read())
    variables = [n.name for n in graph_def.node if n.op == "VariableV2"]
    (x_train, y_train), _ = train.dataset()

    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
        x = graph.get_tensor_by_name("input:0")
        logits = graph.get_tensor_by_name("logits:0")
        labels = tf1.placeholder(tf.int64, [None], name="labels")
        loss = tf1.losses.sparse_softmax_cross_entropy(labels, logits)
        reads = [graph.get_tensor_by_name(f"{v}/read:0") for v in variables]
        refs = [graph.get_tensor_by_name(f"{v}:0") for v in variables]
        grads = tf.gradients(loss, reads)
        feeds = [tf1.placeholder(tf.float32, r.shape) for r in reads]
        assign = [tf1.assign(ref, value) for ref, value in zip(refs, feeds)]
        prefix = tf1.placeholder(tf.string, [])
        save = tf.raw_ops.SaveV2(prefix=prefix, tensor_names=variables, shape_and_slices=[""] * len(variables), tensors=reads)
        init = graph.get_operation_by_name("init")

    train_dir = os.path.join(args.out, "train_dir")
    shutil.rmtree(train_dir, ignore_errors=True)
    os.makedirs(train_dir)
    shutil.copy(os.path.join(args.graphs, "qat_inference_graph.pb"), os.path.join(args.out, "inference_graph.pb"))
    rng = np.random.default_rng(0)
    saved = []
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        values = sess.run(reads)
        initial = [v.copy() for v in values]
        m = [np.zeros_like(v) for v in values]
        s = [np.zeros_like(v) for v in values]
        for step in range(1, args.steps + 1):
            batch = rng.integers(0, len(x_train), 64)
            g, value = sess.run([grads, loss], {x: x_train[batch], labels: y_train[batch]})
            decay = 0.5 * (1 + np.cos(np.pi * step / args.steps))   # cosine decay to 0
            for i, gi in enumerate(g):   # Adam, in NumPy: the graph's variables are plain VariableV2 nodes
                rate = (args.threshold_learning_rate if variables[i].endswith("/log_th") else args.learning_rate) * decay
                m[i] = 0.9 * m[i] + 0.1 * gi
                s[i] = 0.999 * s[i] + 0.001 * gi * gi
                values[i] = values[i] - rate * (m[i] / (1 - 0.9 ** step)) / (np.sqrt(s[i] / (1 - 0.999 ** step)) + 1e-8)
            sess.run(assign, dict(zip(feeds, values)))
            if step % args.save_every == 0 or step == args.steps:
                sess.run(save, {prefix: os.path.join(train_dir, f"model.ckpt-{step}")})
                saved.append(step)
                moved = sum(1 for i, v in enumerate(variables) if v.endswith("/log_th") and np.ceil(values[i]) != np.ceil(initial[i]))
                thresholds = sum(1 for v in variables if v.endswith("/log_th"))
                note = f", {moved} of {thresholds} thresholds changed position" if thresholds else ""
                print(f"step {step}: loss {value:.4f}, saved model.ckpt-{step}{note}")
    now = time.time()
    with open(os.path.join(train_dir, "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "model.ckpt-{saved[-1]}"\n')
        for step in saved:
            f.write(f'all_model_checkpoint_paths: "model.ckpt-{step}"\n')
        for _ in saved:
            f.write(f"all_model_checkpoint_timestamps: {now:.6f}\n")
        f.write(f"last_preserved_timestamp: {now:.6f}\n")


if __name__ == "__main__":
    main()
