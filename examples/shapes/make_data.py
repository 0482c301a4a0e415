"""Generates the image data of the shapes example: synthetic RGB photos of a red or blue circle,
square or triangle on a green-ish, gray or textured background with lighting gradients and noise.
The shape's color is what separates red_* from blue_*, so feeding the channels in BGR order
instead of RGB swaps those classes. Image sizes vary (heights and widths in 72..110, rarely
square); the shape stays inside the central 64x64 of "resize the shorter side to 72, center-crop
64x64". Everything is deterministic (fixed seeds).

Writes, relative to this folder:
  data/calib/calib_000.jpg ...     60 unlabeled images for calibration (flat folder, 2/3 JPEG, 1/3 PNG)
  data/eval/<class>/*.jpg|*.png    30 labeled images per class for evaluation (same mix)
The classes are, in sorted order (= label index): blue_circle, blue_square, blue_triangle,
red_circle, red_square, red_triangle. `generate` is also imported by train.py, which builds its
training set in memory with another seed.

usage: ../../.venv/bin/python make_data.py     (then ../../.venv/bin/python train.py)
"""
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = sorted(f"{color}_{shape}" for color in ("red", "blue") for shape in ("circle", "square", "triangle"))
CALIB_SEED, EVAL_SEED = 1, 2          # train.py uses another seed
CALIB_COUNT, EVAL_PER_CLASS = 60, 30
JPEG_QUALITY = 90
SUPERSAMPLE = 4                        # sub-pixel samples per axis for anti-aliased edges


def _smooth_noise(rng, height, width, cells):
    """Low-frequency noise in [0, 1]: a random `cells` x `cells` grid upsampled bilinearly."""
    grid = rng.random((cells + 1, cells + 1))
    ys = np.linspace(0, cells, height)
    xs = np.linspace(0, cells, width)
    y0 = np.minimum(ys.astype(int), cells - 1)
    x0 = np.minimum(xs.astype(int), cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _background(rng, height, width):
    """A float [H, W, 3] background in 0..255 whose red and blue channels stay close to each other."""
    kind = rng.integers(0, 3)
    if kind == 0:    # green-ish: grass, foliage
        base = np.array([rng.uniform(50, 120), rng.uniform(110, 190), 0.0])
        base[2] = base[0] + rng.uniform(-20, 20)
    elif kind == 1:  # gray: concrete, paper, sky on an overcast day
        v = rng.uniform(70, 200)
        base = np.array([v, v, v]) + rng.uniform(-10, 10, 3)
    else:            # textured: a mottled or striped gray-green surface
        v = rng.uniform(80, 170)
        base = np.array([v, v + rng.uniform(0, 40), v]) + rng.uniform(-8, 8, 3)
    image = np.broadcast_to(base, (height, width, 3)).copy()
    if kind == 2:
        mottle = _smooth_noise(rng, height, width, int(rng.integers(4, 9))) - 0.5
        image += rng.uniform(30, 60) * mottle[..., None]
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:height, 0:width]
        stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * rng.uniform(0.2, 0.6))
        image += rng.uniform(5, 15) * stripes[..., None]
    else:
        image += rng.uniform(10, 25) * (_smooth_noise(rng, height, width, 3) - 0.5)[..., None]
    return image


def _coverage(shape, height, width, cy, cx, radius, angle):
    """Fraction of each pixel covered by the shape (supersampled), float [H, W] in [0, 1]."""
    s = SUPERSAMPLE
    ys = (np.arange(height * s) + 0.5) / s - cy
    xs = (np.arange(width * s) + 0.5) / s - cx
    y, x = np.meshgrid(ys, xs, indexing="ij")
    c, si = np.cos(angle), np.sin(angle)
    u, v = x * c + y * si, -x * si + y * c                  # coordinates in the shape's frame
    if shape == "circle":
        inside = u * u + v * v <= radius * radius
    elif shape == "square":
        half = radius * 0.85                                   # similar area to the circle
        inside = (np.abs(u) <= half) & (np.abs(v) <= half)
    else:                                                      # equilateral triangle, circumradius `radius`
        inside = np.ones_like(u, dtype=bool)
        for k in range(3):
            a = np.pi / 2 + k * 2 * np.pi / 3                    # outward normal of edge k
            inside &= (u * np.cos(a) + v * np.sin(a)) <= radius * 0.5
    return inside.reshape(height, s, width, s).mean(axis=(1, 3))


def _shape_color(rng, color):
    """An RGB color: red is high R and low B, blue high B and low R, with shade jitter."""
    strong, weak, green = rng.uniform(150, 250), rng.uniform(0, 70), rng.uniform(0, 90)
    return np.array([strong, green, weak]) if color == "red" else np.array([weak, green, strong])


def render(rng, label):
    """One uint8 [H, W, 3] RGB image of class CLASSES[label]."""
    color, shape = CLASSES[label].split("_")
    height, width = (int(v) for v in rng.integers(72, 111, 2))
    background = _background(rng, height, width)
    # After "shorter side to 72, center crop 64" the kept region is the central square of side
    # 64 * shorter / 72 (source pixels); keep the shape inside 90% of it.
    keep = 0.9 * 32 * min(height, width) / 72
    radius = keep * rng.uniform(0.45, 0.75)
    room = keep - radius * (1.0 if shape != "square" else 0.85 * np.sqrt(2))
    cy = height / 2 + rng.uniform(-1, 1) * max(room, 0) * 0.7
    cx = width / 2 + rng.uniform(-1, 1) * max(room, 0) * 0.7
    angle = rng.uniform(-0.35, 0.35) if shape == "square" else rng.uniform(0, 2 * np.pi)
    mask = _coverage(shape, height, width, cy, cx, radius, angle)[..., None]
    # The shape is lit from one side: a linear brightness ramp across it.
    yy, xx = np.mgrid[0:height, 0:width]
    light_angle = rng.uniform(0, 2 * np.pi)
    ramp = ((xx - cx) * np.cos(light_angle) + (yy - cy) * np.sin(light_angle)) / radius
    fill = _shape_color(rng, color) * (1 + rng.uniform(0.05, 0.2) * ramp)[..., None]
    image = background * (1 - mask) + fill * mask
    # Whole-image exposure, a soft shadow-like vignette and sensor noise.
    image *= rng.uniform(0.75, 1.15)
    vignette = 1 - rng.uniform(0, 0.25) * (((yy - height / 2) / height) ** 2 + ((xx - width / 2) / width) ** 2) * 2
    image *= vignette[..., None]
    image += rng.normal(0, rng.uniform(1.5, 4), image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def generate(count, seed, labels=None):
    """`count` images (a list of uint8 [H, W, 3] arrays) and their labels (int64 [count]); with
    `labels` None the classes cycle evenly."""
    rng = np.random.default_rng(seed)
    if labels is None:
        labels = rng.permutation(np.arange(count) % len(CLASSES))
    labels = np.asarray(labels, np.int64)
    return [render(rng, int(label)) for label in labels], labels


def encode(image, png):
    """The file bytes of `image`: PNG, or JPEG at quality 90 with default chroma subsampling."""
    if png:
        return tf.io.encode_png(image).numpy()
    return tf.io.encode_jpeg(image, quality=JPEG_QUALITY).numpy()


def write(path, image):
    with open(path, "wb") as f:
        f.write(encode(image, path.endswith(".png")))


def main():
    data = os.path.join(HERE, "data")
    for sub in ("calib", "eval"):
        shutil.rmtree(os.path.join(data, sub), ignore_errors=True)
    os.makedirs(os.path.join(data, "calib"))
    images, _ = generate(CALIB_COUNT, CALIB_SEED)
    for i, image in enumerate(images):                      # every third file is a PNG
        write(os.path.join(data, "calib", f"calib_{i:03d}.{'png' if i % 3 == 2 else 'jpg'}"), image)
    labels = np.repeat(np.arange(len(CLASSES)), EVAL_PER_CLASS)
    images, labels = generate(len(labels), EVAL_SEED, labels)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(data, "eval", CLASSES[label])
        os.makedirs(folder, exist_ok=True)
        j = i % EVAL_PER_CLASS
        write(os.path.join(folder, f"{CLASSES[label]}_{j:03d}.{'png' if j % 3 == 2 else 'jpg'}"), image)
    print(f"wrote {CALIB_COUNT} calibration images and {len(labels)} evaluation images under {data}")


if __name__ == "__main__":
    main()
