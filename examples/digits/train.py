"""Trains the example model of this repository: a small TF1-style CNN on scikit-learn's bundled
8x8 digits (no download), upsampled to 32x32 so that convolutions, depthwise convolution, batch
norm, a residual add, a concat, pooling and a dense layer all appear.

Writes, relative to this folder:
  models/digits/inference_graph.pb   the inference graph (BN in inference mode, variables unfrozen)
  models/digits/train_dir/           checkpoints at two training steps + the `checkpoint` state file
  data/calib.npy                     200 training images for calibration   (float32 [200,32,32,1])
  data/eval_x.npy, data/eval_y.npy   the held-out images and labels        (float32, int64)
and prints the float top-1 accuracy of each checkpoint on the held-out set.

usage: python train.py [--steps 400,800]     (needs tensorflow-cpu and scikit-learn)
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

tf1 = tf.compat.v1
HERE = os.path.dirname(os.path.abspath(__file__))


def dataset():
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)                     # [1797, 8, 8] in [0, 1]
    images = np.kron(images, np.ones((1, 4, 4), np.float32))[..., None]   # nearest upsampling to 32x32
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], digits.target[order].astype(np.int64)
    return (images[:1397], labels[:1397]), (images[1397:], labels[1397:])


def model(x, training):
    """The network; variable names are the same whether `training` is True or False."""
    def conv(h, name, k, out, stride=1, bias=True):
        w = tf1.get_variable(f"{name}/weights", [k, k, h.shape[-1], out], initializer=tf1.glorot_uniform_initializer())
        h = tf.nn.conv2d(h, w, stride, "SAME", name=f"{name}/Conv2D")
        if bias:
            h = tf.nn.bias_add(h, tf1.get_variable(f"{name}/biases", [out], initializer=tf1.zeros_initializer()))
        return h

    def bn(h, name):
        c = h.shape[-1]
        gamma = tf1.get_variable(f"{name}/gamma", [c], initializer=tf1.ones_initializer())
        beta = tf1.get_variable(f"{name}/beta", [c], initializer=tf1.zeros_initializer())
        mean = tf1.get_variable(f"{name}/moving_mean", [c], initializer=tf1.zeros_initializer(), trainable=False)
        var = tf1.get_variable(f"{name}/moving_variance", [c], initializer=tf1.ones_initializer(), trainable=False)
        if not training:
            return tf1.nn.fused_batch_norm(h, gamma, beta, mean, var, epsilon=1e-3, is_training=False, name=name)[0]
        y, batch_mean, batch_var = tf1.nn.fused_batch_norm(h, gamma, beta, epsilon=1e-3, is_training=True, name=name)
        for variable, value in ((mean, batch_mean), (var, batch_var)):
            tf1.add_to_collection(tf1.GraphKeys.UPDATE_OPS, tf1.assign_sub(variable, 0.1 * (variable - value)))
        return y

    h = tf.nn.relu(bn(conv(x, "conv1", 3, 16, bias=False), "bn1"))                     # [N,32,32,16]
    h = tf.nn.max_pool2d(h, 2, 2, "VALID")                                             # [N,16,16,16]
    dw = tf1.get_variable("dw1/depthwise_weights", [3, 3, 16, 1], initializer=tf1.glorot_uniform_initializer())
    d = tf.nn.relu(bn(tf.nn.depthwise_conv2d(h, dw, [1, 1, 1, 1], "SAME", name="dw1/depthwise"), "bn_dw1"))
    res = tf.nn.relu(tf.add(h, conv(d, "pw1", 1, 16), name="res1"))                     # residual add
    c2 = tf.nn.relu(bn(conv(res, "conv2", 3, 32, stride=2, bias=False), "bn2"))         # [N,8,8,32]
    side = tf.nn.avg_pool2d(res, 2, 2, "VALID")                                         # [N,8,8,16]
    cat = tf.concat([c2, side], axis=3, name="concat")                                  # [N,8,8,48]
    pooled = tf.reduce_mean(cat, [1, 2])
    w = tf1.get_variable("fc/weights", [48, 10], initializer=tf1.glorot_uniform_initializer())
    b = tf1.get_variable("fc/biases", [10], initializer=tf1.zeros_initializer())
    return tf.identity(tf.nn.bias_add(tf.matmul(pooled, w), b), name="logits")


def train(steps, train_dir, data):
    (x_train, y_train), _ = data
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(1)
        x = tf1.placeholder(tf.float32, [None, 32, 32, 1], name="input")
        y = tf1.placeholder(tf.int64, [None], name="labels")
        logits = model(x, training=True)
        loss = tf1.losses.sparse_softmax_cross_entropy(y, logits)
        step = tf1.train.get_or_create_global_step()
        with tf.control_dependencies(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)):
            rate = tf1.train.cosine_decay(0.003, step, max(steps))   # decays to 0: a stable final model
            optimize = tf1.train.AdamOptimizer(rate).minimize(loss, global_step=step)
        # Only the model's variables: the inference graph has no optimizer slots or global step.
        model_vars = [v for v in tf1.global_variables() if "Adam" not in v.op.name and v.op.name not in ("global_step", "beta1_power", "beta2_power")]
        saver = tf1.train.Saver(model_vars, max_to_keep=len(steps), save_relative_paths=True)
        rng = np.random.default_rng(1)
        with tf1.Session(graph=graph) as sess:
            sess.run(tf1.global_variables_initializer())
            for i in range(1, max(steps) + 1):
                batch = rng.integers(0, len(x_train), 64)
                sess.run(optimize, {x: x_train[batch], y: y_train[batch]})
                if i in steps:
                    saver.save(sess, os.path.join(train_dir, "model.ckpt"), global_step=i, write_meta_graph=False)


def export_and_evaluate(steps, model_dir, data):
    _, (x_eval, y_eval) = data
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 32, 32, 1], name="input")
        logits = model(x, training=False)
        saver = tf1.train.Saver()
        tf.io.write_graph(graph.as_graph_def(), model_dir, "inference_graph.pb", as_text=False)
        with tf1.Session(graph=graph) as sess:
            for s in steps:
                saver.restore(sess, os.path.join(model_dir, "train_dir", f"model.ckpt-{s}"))
                accuracy = np.mean(np.argmax(sess.run(logits, {x: x_eval}), 1) == y_eval)
                print(f"step {s}: float top-1 {accuracy:.4f} on {len(y_eval)} held-out digits")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="400,800", help="training steps at which to save checkpoints")
    steps = [int(s) for s in parser.parse_args().steps.split(",")]
    data = dataset()
    model_dir = os.path.join(HERE, "models", "digits")
    train_dir = os.path.join(model_dir, "train_dir")
    for f in os.listdir(train_dir) if os.path.isdir(train_dir) else []:
        os.remove(os.path.join(train_dir, f))
    os.makedirs(train_dir, exist_ok=True)
    train(steps, train_dir, data)
    export_and_evaluate(steps, model_dir, data)
    os.makedirs(os.path.join(HERE, "data"), exist_ok=True)
    np.save(os.path.join(HERE, "data", "calib.npy"), data[0][0][:200])
    np.save(os.path.join(HERE, "data", "eval_x.npy"), data[1][0])
    np.save(os.path.join(HERE, "data", "eval_y.npy"), data[1][1])


if __name__ == "__main__":
    main()
