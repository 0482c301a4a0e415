"""Freezes Keras MobileNetV2 and ResNet50 (weights=None, seeded, with randomized batch-norm
statistics so every layer matters) to GraphDefs, with a seeded input batch and TensorFlow's
output for it. Used by the whole-model oracle test and the inference benchmark; the files are
large (14 MB, 100 MB), so they are generated, never committed.

    .venv/bin/python tools/make_keras_models.py --out bench/out/keras [--models mobilenet_v2,resnet50] [--batch 8]

Writes DIR/<model>.pb, DIR/<model>.json ({"input", "output", "input_shape"}),
DIR/<model>_input_b<N>.npy, and TensorFlow's DIR/<model>_output_b<N>.npy and _logits_b<N>.npy.
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


def randomize_batch_norm(model, rng):
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            n = gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n).astype(np.float32), rng.normal(0, 0.1, n).astype(np.float32),
                               rng.normal(0, 0.1, n).astype(np.float32), rng.uniform(0.5, 2.0, n).astype(np.float32)])


def freeze(name, out, batch):
    tf.keras.utils.set_random_seed(0)
    model = MODELS[name](weights=None, input_shape=(224, 224, 3))
    randomize_batch_norm(model, np.random.default_rng(1))
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([None, 224, 224, 3], tf.float32, name="input"))
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    inputs = [n.name for n in graph_def.node if n.op == "Placeholder"]
    output = frozen.outputs[0].name.split(":")[0]
    # Softmax over 1000 random-weight classes is nearly uniform: compare the logits feeding it.
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
    print(f"{name}: {len(graph_def.node)} nodes, input {inputs[0]}, output {output}, logits {logits} std {z.std():.4g}, "
          f"top-1 classes {sorted(set(y.argmax(1).tolist()))}")
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
