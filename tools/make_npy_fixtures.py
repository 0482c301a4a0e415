"""Writes Tests/Fixtures/npy/: .npy and .npz files made by NumPy itself, for the Swift reader's tests.

Each file's values are listed in Tests/Fixtures/npy/expected.json so the test needs no NumPy.
"""
import json
import os
import sys

import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/npy"
os.makedirs(out, exist_ok=True)
arrays = {
    "f32_2x3": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
    "f64_be": np.array([1.5, -2.25, 1e300], dtype=">f8"),
    "i64_1d": np.array([-3, 0, 7, 2**40], dtype=np.int64),
    "u8_2x2x2": np.arange(8, dtype=np.uint8).reshape(2, 2, 2),
    "bool": np.array([True, False, True]),
    "scalar_f32": np.array(3.5, dtype=np.float32),
    "empty_0x4": np.zeros((0, 4), dtype=np.float32),
    "i16_be": np.array([[1, -2], [300, -400]], dtype=">i2"),
}
expected = {}
for name, a in arrays.items():
    np.save(os.path.join(out, name + ".npy"), a)
    expected[name] = {"shape": list(a.shape), "values": [float(v) for v in a.astype(np.float64).ravel()]}
np.savez(os.path.join(out, "stored.npz"), x=arrays["f32_2x3"], labels=arrays["i64_1d"])
np.savez_compressed(os.path.join(out, "compressed.npz"), x=arrays["f32_2x3"], labels=arrays["i64_1d"])
# Format version 2.0 (4-byte header length), as NumPy writes for very wide structured dtypes.
with open(os.path.join(out, "v2.npy"), "wb") as f:
    np.lib.format.write_array(f, arrays["f32_2x3"], version=(2, 0))
expected["v2"] = expected["f32_2x3"]
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"wrote {len(arrays) + 3} files to {out}")
