"""Trains the shapes example: a small Keras 3 CNN with batch norm, swish activations and dropout that
tells a red or blue circle, square or triangle apart, and exports it as a TF2 SavedModel.

The training images come from make_data.generate with their own seed, built in memory and passed
through the same file formats as the shipped data (2/3 JPEG at quality 90, 1/3 PNG), so that
training sees JPEG artifacts as deployment does. Every image, for training and evaluation, is
preprocessed the way the manifest declares:
  1. decode to 8-bit RGB (JPEG with dct_method="INTEGER_ACCURATE");
  2. tf.image.resize bilinear (half-pixel centers, no antialias) so that the shorter side becomes 72
     and the longer one floor(longer * 72 / shorter);
  3. center crop 64x64 starting at ((H - 64) // 2, (W - 64) // 2);
  4. keras.applications "tf" preset: x / 127.5 - 1, channels in RGB order.

Writes, relative to this folder:
  models/saved_model/           the SavedModel (signature serving_default: image [N,64,64,3] -> logits [N,6])
  data/eval_reference.json      float top-1 on data/eval with RGB input and with BGR input, and the
                                class names (label = index in the sorted folder names)
and prints the same accuracies. Needs the images of make_data.py.

usage: ../../.venv/bin/python make_data.py && ../../.venv/bin/python train.py
"""
import json
import os
import shutil
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

from make_data import CLASSES, encode, generate  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_SEED, TRAIN_COUNT = 3, 3000
SHORTER, CROP = 72, 64
EPOCHS, BATCH = 20, 64


def decode(data, png):
    """File bytes -> uint8 [H, W, 3] RGB."""
    if png:
        return tf.io.decode_png(data, channels=3)
    return tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")


def preprocess(image, bgr=False):
    """uint8 [H, W, 3] RGB -> float32 [64, 64, 3] as the manifest declares; `bgr` reverses the channels."""
    height, width = int(image.shape[0]), int(image.shape[1])
    if height <= width:
        size = [SHORTER, width * SHORTER // height]
    else:
        size = [height * SHORTER // width, SHORTER]
    x = tf.image.resize(image, size, method="bilinear", antialias=False)      # float32, half-pixel centers
    top, left = (size[0] - CROP) // 2, (size[1] - CROP) // 2
    x = x[top:top + CROP, left:left + CROP, :]
    if bgr:
        x = x[..., ::-1]
    return (x / 127.5 - 1.0).numpy()


def training_set():
    images, labels = generate(TRAIN_COUNT, TRAIN_SEED)
    x = np.stack([preprocess(decode(encode(image, i % 3 == 2), i % 3 == 2)) for i, image in enumerate(images)])
    return x, labels


def eval_set(bgr=False):
    """data/eval/<class>/* preprocessed, and the labels (index of the class in sorted folder names)."""
    root = os.path.join(HERE, "data", "eval")
    classes = sorted(os.listdir(root))
    assert classes == CLASSES, classes
    xs, ys = [], []
    for label, name in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(root, name))):
            with open(os.path.join(root, name, f), "rb") as fh:
                xs.append(preprocess(decode(fh.read(), f.endswith(".png")), bgr))
            ys.append(label)
    return np.stack(xs), np.array(ys, np.int64)


def build_model():
    def conv_bn_swish(h, name, filters, strides):
        h = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(h)
        h = layers.BatchNormalization(name=f"{name}_bn")(h)
        return layers.Activation("swish", name=f"{name}_swish")(h)

    image = keras.Input((CROP, CROP, 3), name="image")
    h = conv_bn_swish(image, "block1", 16, 2)                                   # [N,32,32,16]
    h = conv_bn_swish(h, "block2", 32, 2)                                       # [N,16,16,32]
    h = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="block3_dwconv")(h)
    h = layers.BatchNormalization(name="block3_bn")(h)
    h = layers.Activation("swish", name="block3_swish")(h)                      # [N,16,16,32]
    h = conv_bn_swish(h, "block4", 48, 2)                                       # [N,8,8,48]
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    h = layers.Dropout(0.3, name="dropout")(h)
    logits = layers.Dense(len(CLASSES), name="logits")(h)
    return keras.Model(image, logits, name="shapes")


def top1(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=128, verbose=0), 1) == y))


def export(model, path):
    """A SavedModel whose serving_default signature maps `image` to `logits` (a dict output names
    the signature's output key; a plain output would be `output_0`)."""
    shutil.rmtree(path, ignore_errors=True)
    named = keras.Model(model.inputs, {"logits": model.outputs[0]}, name=model.name)
    named.export(path, format="tf_saved_model", verbose=False)
    assets = os.path.join(path, "assets")
    if os.path.isdir(assets) and not os.listdir(assets):
        os.rmdir(assets)


def main():
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    start = time.time()
    x_train, y_train = training_set()
    print(f"built {len(y_train)} training images in {time.time() - start:.1f}s")
    model = build_model()
    steps = EPOCHS * -(-len(y_train) // BATCH)                                  # batches, the last one partial
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.time()
    model.fit(x_train, y_train, batch_size=BATCH, epochs=EPOCHS, shuffle=True, verbose=2)
    print(f"trained {EPOCHS} epochs in {time.time() - start:.1f}s")

    x_eval, y_eval = eval_set()
    x_bgr, _ = eval_set(bgr=True)
    rgb, bgr = top1(model, x_eval, y_eval), top1(model, x_bgr, y_eval)
    print(f"float top-1 on {len(y_eval)} evaluation images: {rgb:.4f} (RGB input), {bgr:.4f} (BGR input)")

    export(model, os.path.join(HERE, "models", "saved_model"))
    with open(os.path.join(HERE, "data", "eval_reference.json"), "w") as f:
        json.dump({"top1_rgb": rgb, "top1_bgr": bgr, "classes": CLASSES}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
