"""Builds a benchmark model: a TF1 graph of LAYERS 3x3xCxC convolutions, its checkpoint, and
TensorFlow's own frozen graph of it. The default (42 layers of 256 channels) has ~100 MB of weights.

usage: make_io_model.py OUT_DIR [LAYERS CHANNELS]
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

def main(out, layers=42, channels=256):
    os.makedirs(out + "/train_dir", exist_ok=True)
    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 8, 8, channels], name="input")
        rng = np.random.default_rng(0)
        for i in range(layers):
            w = tf1.get_variable(f"conv{i}/weights", initializer=rng.standard_normal((3, 3, channels, channels), dtype=np.float32) * 0.02,
                                 use_resource=False)
            b = tf1.get_variable(f"conv{i}/biases", initializer=np.zeros(channels, np.float32), use_resource=False)
            x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w, 1, "SAME"), b))
        tf.identity(x, name="output")
        saver = tf1.train.Saver()
        with tf1.Session(graph=graph) as sess:
            sess.run(tf1.global_variables_initializer())
            saver.save(sess, out + "/train_dir/model.ckpt", global_step=1)
            frozen = tf1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), ["output"])
    tf.io.write_graph(graph.as_graph_def(), out, "inference_graph.pb", as_text=False)
    tf.io.write_graph(frozen, out, "frozen_tf.pb", as_text=False)


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:4]))
