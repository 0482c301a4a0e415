"""An independent NumPy reference for power-of-two fix positions (methods 0, 1 and 2) and the
quantize forward, written from the formulas of the reference quantizer's spec (sections 1.3 and
2.1-2.3), and a fixture generator for the Swift tests.

Rounding is done in float64 where it is exact for float32 inputs (so floor(t + 0.5) is the true
round-half-up), squared errors are summed sequentially in float32 (np.cumsum), as the reference's
CPU kernel does.

usage: fixpos_reference.py OUT.json
"""
import json
import sys

import numpy as np

F32 = np.float32


def quantize(x, p, bits, mode, narrow=False):
    s = F32(np.ldexp(1.0, -p))                     # 2^-p as float32 (subnormal when p > 126)
    t = (x.astype(F32) / s).astype(np.float64)     # the float32 quotient, held exactly
    if mode == 1:
        r = np.floor(t + 0.5)                      # round half up, exact in float64
    else:
        r = np.sign(t) * np.floor(np.abs(t) + 0.5)  # round half away from zero
    qmax = 2.0 ** (bits - 1) - 1
    qmin = -(2.0 ** (bits - 1)) + (1 if (narrow and mode == 1) else 0)
    return (np.clip(r, qmin, qmax).astype(F32) * s).astype(F32)


def non_overflow(x, bits):
    lo, hi = F32(x.min()), F32(x.max())
    step = max(lo / F32(-(2.0 ** (bits - 1)) - 0.5), hi / F32(2.0 ** (bits - 1) - 0.5))
    step = F32(step)
    if step == 0:
        return 127
    return int(np.floor(np.log2(F32(1.0) / step, dtype=F32)))


def position(x, bits, mode, method, narrow=False):
    p0 = non_overflow(x, bits)
    if method == 0 or p0 == 127:
        return p0
    best, best_err = p0, np.inf
    for p in range(p0, p0 + 5):
        y = quantize(x, p, bits, mode, narrow)
        if method == 2 and mode == 2:
            terms = np.sqrt(np.abs(y.astype(np.float64) - x) / (np.abs(x.astype(np.float64)) + 1e-9)).astype(F32)
        else:
            d = (y - x).astype(F32)
            terms = (d * d).astype(F32)
        err = np.cumsum(terms, dtype=F32)[-1]
        if err < best_err:
            best, best_err = p, err
    return best


def tensors():
    rng = np.random.default_rng(7)
    return {
        "normal": rng.standard_normal(300).astype(F32),
        "small-normal": (rng.standard_normal(300) * 0.02).astype(F32),
        "relu-activations": np.maximum(rng.standard_normal(300) * 3, 0).astype(F32),
        "heavy-tail": (rng.standard_t(2, 300) * 0.5).astype(F32),
        "uniform-wide": rng.uniform(-300, 200, 300).astype(F32),
        "ties": (np.arange(-40, 40) / 8.0).astype(F32),
        "one-outlier": np.concatenate([[F32(4.0)], np.full(200, 0.01, F32)]).astype(F32),
        "all-zero": np.zeros(50, F32),
    }


def cases(named):
    for name, x in named.items():
        for bits in (4, 8, 16):
            for mode in (0, 1, 2):
                for method in (0, 1, 2):
                    for narrow in ((False, True) if mode == 1 else (False,)):
                        p = position(x, bits, mode, method, narrow)
                        yield {"tensor": name, "bits": bits, "mode": mode, "method": method, "narrow": narrow,
                               "position": p, "quantized": [float(v) for v in quantize(x, p, bits, mode, narrow)]}


def main(out):
    named = tensors()
    doc = {"tensors": {n: [float(v) for v in x] for n, x in named.items()}, "cases": list(cases(named))}
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(f"{len(doc['cases'])} cases -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
