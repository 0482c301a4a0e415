#!/usr/bin/env python3
"""Generate the image decoding and preprocessing fixtures for ImagingTests.

    .venv/bin/python tools/make_image_fixtures.py             # writes Tests/Fixtures/images/
    .venv/bin/python tools/make_image_fixtures.py --out DIR   # the same, into DIR

Images are synthesized with numpy (fixed seeds) and encoded with TensorFlow
(tf.io.encode_jpeg / tf.io.encode_png); palette PNGs and PNGs with gamma chunks
are written byte by byte. The output is deterministic.

For every good image NAME the directory holds:

    NAME                 the encoded file
    NAME.rgb.npy         uint8 HWC, TensorFlow's decode with channels=3
    NAME.gray.npy        uint8 HW1, TensorFlow's decode with channels=1
    NAME.<config>.npy    float32 HWC, TensorFlow's preprocessing of those pixels

JPEGs are decoded with tf.io.decode_jpeg(dct_method='INTEGER_ACCURATE'), PNGs
with tf.io.decode_png. Preprocessing starts from the decoded pixels: resize with
tf.image.resize(method='bilinear', antialias=False), center crop by slicing
(offsets (H - h) // 2, (W - w) // 2), channel reversal for BGR, then
keras.applications.imagenet_utils.preprocess_input(x, mode=...) for a preset or
float32 (x - mean) / std or (x - mean) * scale. The configurations are listed in
CONFIGS below; ImagingTests repeats them.

Bad inputs (decoding must fail with a one-line error) are in bad/.
"""

import argparse
import os
import struct
import zlib

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from keras.applications import imagenet_utils  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "Tests", "Fixtures", "images")

# name: (decode color, resize, center crop [h, w] or None, channel order, preset, mean, std, scale)
# resize: ("none",), ("shorter", N) or ("exact", h, w)
CONFIGS = {
    "tf_shorter24_crop20": ("rgb", ("shorter", 24), [20, 20], "rgb", "tf", [], [], None),
    "caffe_exact41x9": ("rgb", ("exact", 41, 9), None, "rgb", "caffe", [], [], None),
    "torch_shorter20_crop16x18": ("rgb", ("shorter", 20), [16, 18], "rgb", "torch", [], [], None),
    "bgr_none_crop16x20_meanscale": ("rgb", ("none",), [16, 20], "bgr", None,
                                     [120.0, 110.5, 100.25], [], 0.0171),
    "gray_shorter40_crop24x30_meanstd": ("gray", ("shorter", 40), [24, 30], "gray", None, [127.5], [64.0], None),
}
COLOR_CONFIGS = [k for k, v in CONFIGS.items() if v[0] == "rgb"]
GRAY_CONFIGS = [k for k, v in CONFIGS.items() if v[0] == "gray"]


def natural_image(h, w, seed, channels=3):
    """Smooth gradients, a sinusoid, a few flat shapes and mild noise, as uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        a, b = rng.uniform(-2.5, 2.5, size=2)
        fx, fy = rng.uniform(0.05, 0.3, size=2)
        img[..., c] = 110 + a * x + b * y + 45 * np.sin(fx * x + fy * y + c)
    for _ in range(3):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(min(h, w) / 8, min(h, w) / 3)
        color = rng.uniform(0, 255, size=3)
        mask = (y - cy) ** 2 + (x - cx) ** 2 < r * r
        img[mask] = 0.35 * img[mask] + 0.65 * color
    y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
    img[y0:y0 + h // 3, x0:x0 + w // 4] = rng.uniform(0, 255, size=3)
    img += rng.normal(0, 6, size=img.shape)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if channels == 1:
        img = np.clip(np.rint(img.astype(np.float64) @ [0.299, 0.587, 0.114]), 0, 255).astype(np.uint8)[..., None]
    return img


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width, height, bit_depth, color_type, rows, extra_before_idat=b""):
    """A PNG from already packed rows (each without the filter byte)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra_before_idat
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def insert_after_ihdr(png, chunk):
    end = 8 + 8 + 13 + 4
    assert png[12:16] == b"IHDR"
    return png[:end] + chunk + png[end:]


def palette_png(h, w, seed, bits, trns=False):
    rng = np.random.default_rng(seed)
    n = 1 << bits
    palette = rng.integers(0, 256, size=(n, 3), dtype=np.uint8)
    palette[: n // 2] = np.sort(palette[: n // 2], axis=0)  # some similar neighbours
    y, x = np.mgrid[0:h, 0:w]
    idx = ((x * 3 + y * 2) // 5 + rng.integers(0, 2, size=(h, w))) % n
    rows = []
    for r in idx:
        if bits == 8:
            rows.append(r.astype(np.uint8).tobytes())
        else:
            per = 8 // bits
            padded = np.concatenate([r, np.zeros((-len(r)) % per, dtype=r.dtype)])
            packed = bytearray()
            for i in range(0, len(padded), per):
                v = 0
                for j in range(per):
                    v = (v << bits) | int(padded[i + j])
                packed.append(v)
            rows.append(bytes(packed))
    extra = png_chunk(b"PLTE", palette.tobytes())
    if trns:
        extra += png_chunk(b"tRNS", bytes([0, 128] + [255] * (n - 2)))
    return png_bytes(w, h, bits, 3, rows, extra)


def resize(img, size):
    return tf.image.resize(img, size, method="bilinear", antialias=False).numpy().astype(np.float32)


def preprocess(pixels, config):
    _, rs, crop, order, preset, mean, std, scale = CONFIGS[config]
    h, w = pixels.shape[:2]
    if rs[0] == "none":
        x = pixels.astype(np.float32)
    else:
        if rs[0] == "exact":
            size = [rs[1], rs[2]]
        else:
            n = rs[1]
            if h == w:
                size = [n, n]
            elif h < w:
                size = [n, w * n // h]
            else:
                size = [h * n // w, n]
        x = resize(pixels, size)
    if crop is not None:
        H, W = x.shape[:2]
        top, left = (H - crop[0]) // 2, (W - crop[1]) // 2
        assert top >= 0 and left >= 0
        x = x[top:top + crop[0], left:left + crop[1]]
    if order == "bgr":
        x = x[..., ::-1]
    x = np.ascontiguousarray(x, dtype=np.float32)
    if preset is not None:
        x = imagenet_utils.preprocess_input(x.copy(), mode=preset)
    else:
        if mean:
            x = x - np.asarray(mean, dtype=np.float32)
        if std:
            x = x / np.asarray(std, dtype=np.float32)
        if scale is not None:
            x = x * np.float32(scale)
    assert x.dtype == np.float32, x.dtype
    return np.ascontiguousarray(x)


def decode(data, name, channels):
    if name.endswith(".png"):
        return tf.io.decode_png(data, channels=channels).numpy()
    return tf.io.decode_jpeg(data, channels=channels, dct_method="INTEGER_ACCURATE").numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    out = ap.parse_args().out
    os.makedirs(os.path.join(out, "bad"), exist_ok=True)

    a = natural_image(37, 53, seed=1)
    b = natural_image(64, 48, seed=2)
    g = natural_image(45, 31, seed=3, channels=1)

    def jpeg(img, quality, subsample=True, progressive=False):
        return tf.io.encode_jpeg(img, quality=quality, chroma_downsampling=subsample,
                                 progressive=progressive).numpy()

    good = {
        "a_420_q90.jpg": jpeg(a, 90),
        "a_444_q75.jpg": jpeg(a, 75, subsample=False),
        "b_420_q75.jpg": jpeg(b, 75),
        "b_444_q90.jpg": jpeg(b, 90, subsample=False),
        "b_progressive.jpg": jpeg(b, 85, progressive=True),
        "gray.jpg": jpeg(g, 90),
        "a_rgb.png": tf.io.encode_png(a).numpy(),
        "g_gray.png": tf.io.encode_png(g).numpy(),
        "palette8.png": palette_png(29, 41, seed=4, bits=8),
        "palette4.png": palette_png(23, 19, seed=5, bits=4),
        # Gamma chunks: TensorFlow ignores them for RGB output but converts to gray in linear light.
        "a_rgb_gama45455.png": insert_after_ihdr(tf.io.encode_png(a).numpy(),
                                                 png_chunk(b"gAMA", struct.pack(">I", 45455))),
        "a_rgb_gama100000.png": insert_after_ihdr(tf.io.encode_png(a).numpy(),
                                                  png_chunk(b"gAMA", struct.pack(">I", 100000))),
        "a_rgb_srgb.png": insert_after_ihdr(tf.io.encode_png(a).numpy(), png_chunk(b"sRGB", b"\x00")),
    }
    # Check the encodings: SOF0 (baseline) or SOF2 (progressive), and the luma sampling factors
    # (0x22: chroma 4:2:0, 0x11: 4:4:4 or grayscale).
    for name, sof, luma in [("a_420_q90.jpg", 0xC0, 0x22), ("a_444_q75.jpg", 0xC0, 0x11),
                            ("b_420_q75.jpg", 0xC0, 0x22), ("b_444_q90.jpg", 0xC0, 0x11),
                            ("b_progressive.jpg", 0xC2, 0x22), ("gray.jpg", 0xC0, 0x11)]:
        data = good[name]
        at = data.find(bytes([0xFF, sof]))
        assert at > 0 and data[at + 11] == luma, name

    for name, data in good.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        rgb = decode(data, name, 3)
        gray = decode(data, name, 1)
        np.save(os.path.join(out, name + ".rgb.npy"), rgb)
        np.save(os.path.join(out, name + ".gray.npy"), gray)
        # Gamma variants only check decoding; the preprocessing configs run on the others.
        if "gama" in name or "srgb" in name:
            continue
        is_gray = name.startswith("g")
        for config in ([] if is_gray else COLOR_CONFIGS[:1] if name.startswith("palette") else COLOR_CONFIGS):
            np.save(os.path.join(out, f"{name}.{config}.npy"), preprocess(rgb, config))
        for config in GRAY_CONFIGS:
            np.save(os.path.join(out, f"{name}.{config}.npy"), preprocess(gray, config))

    rng = np.random.default_rng(7)
    src = good["a_420_q90.jpg"]
    sos = src.index(b"\xff\xda")
    scan_len = len(src) - sos
    garbage = bytearray(good["b_420_q75.jpg"])
    bsos = garbage.index(b"\xff\xda")
    mid = bsos + (len(garbage) - bsos) // 2
    # Random bytes alone often still decode without a libjpeg warning; a stray marker in the
    # entropy-coded data always ends the segment early ("premature end of data segment").
    garbage[mid:mid + 40] = rng.integers(0, 255, size=40, dtype=np.uint8).tobytes()
    garbage[mid + 20:mid + 22] = b"\xff\xd3"
    huge_jpeg = bytearray(src)
    sof = huge_jpeg.index(b"\xff\xc0")
    huge_jpeg[sof + 5:sof + 9] = struct.pack(">HH", 40000, 40000)
    rgba = np.concatenate([a, np.full(a.shape[:2] + (1,), 200, np.uint8)], axis=2)
    bad = {
        "truncated.jpg": src[: sos + scan_len // 2],
        "garbage.jpg": bytes(garbage),
        "huge.jpg": bytes(huge_jpeg),
        "rgba.png": tf.io.encode_png(rgba).numpy(),
        "rgb16.png": tf.io.encode_png(a.astype(np.uint16) * 257).numpy(),
        "palette_trns.png": palette_png(9, 11, seed=6, bits=8, trns=True),
        "huge.png": png_bytes(20000, 20000, 8, 0, []),
        "truncated.png": good["a_rgb.png"][: len(good["a_rgb.png"]) * 2 // 3],
        "not_image.gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        "empty.jpg": b"",
    }
    for name, data in bad.items():
        with open(os.path.join(out, "bad", name), "wb") as f:
            f.write(data)
    # TensorFlow refuses the corrupt JPEGs too (with try_recover_truncated off).
    for name in ["truncated.jpg", "garbage.jpg"]:
        try:
            tf.io.decode_jpeg(bad[name], dct_method="INTEGER_ACCURATE").numpy()
            print(f"note: TensorFlow decodes bad/{name} without an error")
        except tf.errors.InvalidArgumentError:
            pass

    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print(f"wrote {out} ({total} bytes)")


if __name__ == "__main__":
    main()
