"""Writes small TF2 SavedModels exported from Keras 3, for the SavedModel reader's tests.

    .venv/bin/python tools/make_savedmodel_fixtures.py [--out Tests/Fixtures/savedmodel]

For each model NAME (sequential, functional, multi_input) it removes and rewrites OUT/NAME/:

    model/                 the SavedModel directory: saved_model.pb, fingerprint.pb,
                           variables/variables.index, variables/variables.data-00000-of-00001
                           (the empty assets/ folder export writes is removed)
    input_<k>.npy          float32 input k (k = 0, 1, ... in the order of info.json "inputs"),
                           a batch of 2, seeded uniform [-1, 1]
    expected.npy           TensorFlow's output of the reloaded SavedModel's serving_default
                           signature on those inputs; for a model with several outputs,
                           expected_<output name>.npy, one per output, instead
    info.json              the serving_default signature: inputs [{name, tensor, shape, dtype}]
                           (name: the signature key, the order of input_<k>.npy; tensor: the
                           graph's placeholder "node:0"; shape with -1 for unknown), outputs
                           [{name, tensor, shape, dtype, file}], and the versions that wrote it

Models:
    sequential   Input 16x16x3, Conv2D(8, 3, same), BatchNormalization, ReLU, DepthwiseConv2D(3),
                 MaxPooling2D, Flatten, Dense(10)
    functional   Input 16x16x3, Conv2D(8, 3), BatchNormalization, swish, Dropout(0.3),
                 Add(x, Conv2D(8, 1)(x)), GlobalAveragePooling2D, Dense(10)
    multi_input  image 16x16x3 and vector 8; GlobalAveragePooling2D(image) concatenated with the
                 vector, Dense(4), two heads Dense(3) and Dense(2): two signature outputs

Every BatchNormalization gets non-trivial gamma, beta, moving mean and moving variance (seeded)
so that folding or dropping any of them changes the output.

Save API. The venv has TensorFlow 2.21 with Keras 3 (tf.keras is Keras 3, tf_keras is not
installed). The models are saved with Keras 3's `model.export(path, format="tf_saved_model")`
(keras.export.ExportArchive), its documented way to write a TF SavedModel for inference: it traces
the model's call in inference mode and writes "serving_default" (and the same endpoint as "serve")
with the model's inputs keyed by their Input names ("image", "vector"). tf.saved_model.save also
accepts a Keras 3 model, but its default signature names the inputs "inputs", "inputs_1", ...

Determinism: seeds are fixed and oneDNN is off, so the weights, inputs and expected outputs are
the same on every run (the .npy files are byte-identical). The files under model/ are not: the
export lists the variables a second time under "_all_variables/<i>" in an order that changes from
run to run, which changes variables.index, the data file, saved_model.pb and fingerprint.pb; the
values stored under each "variables/<i>" key do not change.
"""
import argparse
import json
import os
import shutil

# Read by TensorFlow at import time. oneDNN may reorder float reductions: plain Eigen kernels
# make the expected outputs reproducible.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402

BATCH = 2


def sequential():
    return keras.Sequential([
        keras.Input((16, 16, 3), name="image"),
        layers.Conv2D(8, 3, padding="same", name="conv"),
        layers.BatchNormalization(name="bn"),
        layers.ReLU(name="relu"),
        layers.DepthwiseConv2D(3, name="depthwise"),
        layers.MaxPooling2D(name="pool"),
        layers.Flatten(name="flatten"),
        layers.Dense(10, name="logits"),
    ], name="sequential")


def functional():
    image = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(8, 3, name="conv")(image)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Activation("swish", name="swish")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    branch = layers.Conv2D(8, 1, name="conv_1x1")(x)
    x = layers.Add(name="residual")([x, branch])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    logits = layers.Dense(10, name="logits")(x)
    return keras.Model(image, logits, name="functional")


def multi_input():
    image = keras.Input((16, 16, 3), name="image")
    vector = keras.Input((8,), name="vector")
    pooled = layers.GlobalAveragePooling2D(name="gap")(image)
    x = layers.Concatenate(name="concat")([pooled, vector])
    x = layers.Dense(4, name="hidden")(x)
    head_a = layers.Dense(3, name="head_a")(x)
    head_b = layers.Dense(2, name="head_b")(x)
    return keras.Model([image, vector], [head_a, head_b], name="multi_input")


MODELS = {"sequential": sequential, "functional": functional, "multi_input": multi_input}


def randomize_batch_norm(model, rng):
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([
                rng.uniform(0.5, 1.5, n).astype(np.float32),   # gamma
                rng.normal(0, 0.2, n).astype(np.float32),      # beta
                rng.normal(0, 0.3, n).astype(np.float32),      # moving mean
                rng.uniform(0.5, 2.0, n).astype(np.float32),   # moving variance
            ])


def spec_json(spec):
    return {"shape": [-1 if d is None else int(d) for d in spec.shape], "dtype": spec.dtype.name}


def write(name, out):
    folder = os.path.join(out, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    keras.utils.set_random_seed(0)
    model = MODELS[name]()
    randomize_batch_norm(model, np.random.default_rng(1))
    path = os.path.join(folder, "model")
    model.export(path, format="tf_saved_model", verbose=False)
    assets = os.path.join(path, "assets")
    if os.path.isdir(assets) and not os.listdir(assets):
        os.rmdir(assets)  # empty: git would not keep it, so the fixture does not have it either

    loaded = tf.saved_model.load(path)
    signature = loaded.signatures["serving_default"]
    input_specs = signature.structured_input_signature[1]  # {input name: TensorSpec}
    output_specs = signature.structured_outputs           # {output name: TensorSpec}
    # Inputs in the model's order (the Input names are the signature keys).
    input_names = [t.name.split(":")[0] for t in model.inputs]
    assert sorted(input_names) == sorted(input_specs), (input_names, list(input_specs))
    rng = np.random.default_rng(2)
    feeds = {}
    for k, key in enumerate(input_names):
        shape = [BATCH] + [int(d) for d in input_specs[key].shape[1:]]
        feeds[key] = rng.uniform(-1, 1, shape).astype(np.float32)
        np.save(os.path.join(folder, f"input_{k}.npy"), feeds[key])
    results = signature(**{key: tf.constant(v) for key, v in feeds.items()})
    # Cross-check against the Keras model itself.
    direct = model([feeds[key] for key in input_names] if len(input_names) > 1 else feeds[input_names[0]],
                   training=False)
    direct = direct if isinstance(direct, (list, tuple)) else [direct]
    flat = [results[key].numpy() for key in sorted(results)]
    for a, b in zip(sorted(flat, key=lambda a: a.shape), sorted([d.numpy() for d in direct], key=lambda a: a.shape)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

    # The signature's graph tensor names ("serving_default_image:0", ...) from the MetaGraphDef.
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    sig = saved_model.meta_graphs[0].signature_def["serving_default"]

    outputs = []
    for key in sorted(output_specs):
        file = "expected.npy" if len(output_specs) == 1 else f"expected_{key}.npy"
        np.save(os.path.join(folder, file), results[key].numpy())
        outputs.append({"name": key, "tensor": sig.outputs[key].name, **spec_json(output_specs[key]), "file": file})
    info = {
        "signature": "serving_default",
        "inputs": [{"name": key, "tensor": sig.inputs[key].name, **spec_json(input_specs[key]),
                    "file": f"input_{k}.npy"} for k, key in enumerate(input_names)],
        "outputs": outputs,
        "saved_by": f"keras {keras.__version__} model.export(format='tf_saved_model'), tensorflow {tf.__version__}",
    }
    with open(os.path.join(folder, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(folder) for n in ns)
    print(f"{name}: {model.count_params()} parameters, {size} bytes in {folder}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="Tests/Fixtures/savedmodel")
    args = parser.parse_args()
    for name in MODELS:
        write(name, args.out)


if __name__ == "__main__":
    main()
