"""Freezes Keras MobileNetV2 and ResNet50 (weights=None, seeded, with randomized batch-norm
parameters so every layer matters) to GraphDefs, with a seeded input batch and TensorFlow's
output for it. Used by the whole-model oracle test and the inference benchmark; the files are
large (14 MB, 100 MB), so they are generated, never committed.

    .venv/bin/python tools/make_keras_models.py --out bench/out/keras [--models mobilenet_v2,resnet50] [--batch 8]

Writes DIR/<model>.pb, DIR/<model>.json ({"input", "output", "logits", "input_shape"}),
DIR/<model>_input_b<N>.npy (uniform [-1, 1]), and TensorFlow's DIR/<model>_output_b<N>.npy
(softmax) and _logits_b<N>.npy, computed by running the frozen GraphDef itself in a Session.

Batch-norm statistics. With weights=None, Keras initializes moving mean 0 / variance 1, and
glorot-initialized kernels shrink the signal at every layer: the logits of such a network hardly
depend on its input (MobileNetV2: across-image spread 1e-7 of the logits), so comparing them
checks little more than the biases. Instead, as in a trained network, every BatchNormalization
gets gamma in [0.5, 1.5] and beta ~ N(0, 0.2), then its moving statistics are set to the batch
statistics of its own input on a separate seeded calibration batch (one training-mode pass with
momentum 0; upstream layers are normalized in that pass as they will be at inference) and
perturbed (mean + N(0, 0.1) * std, variance * [0.8, 1.25]). The prediction layer's kernel is
scaled so the logits have standard deviation 4 on that batch, so the softmax is far from
uniform. The script prints both spreads.
"""
import argparse
import collections
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

MODELS = {"mobilenet_v2": tf.keras.applications.MobileNetV2, "resnet50": tf.keras.applications.ResNet50}
LOGITS_STD = 4.0


def randomize_batch_norm(model, rng, calibration):
    bns = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    for layer in bns:
        gamma, beta, mean, var = layer.get_weights()
        n = gamma.shape[0]
        layer.set_weights([rng.uniform(0.5, 1.5, n).astype(np.float32), rng.normal(0, 0.2, n).astype(np.float32),
                           mean, var])
    momentum = [layer.momentum for layer in bns]
    for layer in bns:
        layer.momentum = 0.0
    model(calibration, training=True)  # moving statistics := batch statistics of each layer's input
    for layer, m in zip(bns, momentum):
        layer.momentum = m
        gamma, beta, mean, var = layer.get_weights()
        n = gamma.shape[0]
        mean = mean + rng.normal(0, 0.1, n) * np.sqrt(var)
        var = var * np.exp(rng.uniform(np.log(0.8), np.log(1.25), n))
        layer.set_weights([gamma, beta, mean.astype(np.float32), var.astype(np.float32)])
    return len(bns)


def scale_predictions(model, calibration):
    dense = model.get_layer("predictions")  # Dense with the softmax activation built in
    kernel, bias = dense.get_weights()
    features = tf.keras.Model(model.inputs, dense.input)([calibration], training=False).numpy()
    std = float((features @ kernel + bias).std())
    dense.set_weights([kernel * np.float32(LOGITS_STD / std), bias])


def freeze(name, out, batch):
    tf.keras.utils.set_random_seed(0)
    model = MODELS[name](weights=None, input_shape=(224, 224, 3))
    calibration = np.random.default_rng(3).uniform(-1, 1, (16, 224, 224, 3)).astype(np.float32)
    bns = randomize_batch_norm(model, np.random.default_rng(1), calibration)
    scale_predictions(model, calibration)
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([None, 224, 224, 3], tf.float32, name="input"))
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    inputs = [n.name for n in graph_def.node if n.op == "Placeholder"]
    output = frozen.outputs[0].name.split(":")[0]
    softmax = next(n for n in graph_def.node if n.op == "Softmax")
    logits = softmax.input[0].split(":")[0]
    path = os.path.join(out, f"{name}.pb")
    with open(path, "wb") as f:
        f.write(graph_def.SerializeToString(deterministic=True))
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump({"input": inputs[0], "output": output, "logits": logits, "input_shape": [-1, 224, 224, 3]}, f)
    x = np.random.default_rng(2).uniform(-1, 1, (batch, 224, 224, 3)).astype(np.float32)
    # The oracle is the frozen graph itself, run by TensorFlow.
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as s:
            y, z = s.run([f"{output}:0", f"{logits}:0"], {f"{inputs[0]}:0": x})
    np.save(os.path.join(out, f"{name}_input_b{batch}.npy"), x)
    np.save(os.path.join(out, f"{name}_output_b{batch}.npy"), y)
    np.save(os.path.join(out, f"{name}_logits_b{batch}.npy"), z)
    ops = collections.Counter(n.op for n in graph_def.node)
    spread = float((z - z.mean(0)).std())  # the input-dependent part of the logits
    print(f"{name}: {len(graph_def.node)} nodes, {bns} batch norms, input {inputs[0]}, output {output}, logits {logits}")
    print(f"  logits std {z.std():.3g}, across-image std {spread:.3g} ({spread / z.std():.0%}); softmax std {y.std():.3g}, "
          f"max {y.max():.3g}; top-1 classes {y.argmax(1).tolist()}")
    print("  ops: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", default="mobilenet_v2,resnet50")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in args.models.split(","):
        freeze(name, args.out, args.batch)


if __name__ == "__main__":
    main()
