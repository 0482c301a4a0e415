#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/, one file per input, named by its
SHA-1 as libFuzzer names what it adds) from the repository's fixtures. Deterministic.
usage: tools/make_fuzz_corpus.py [RECORDS_DIR]   (RECORDS_DIR: a cache's actions/ to take records from)"""
import glob, hashlib, os, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def npy_payload(data):
    """The array bytes of an .npy file (after its header)."""
    major = data[6]
    n = struct.unpack("<H", data[8:10])[0] if major == 1 else struct.unpack("<I", data[8:12])[0]
    return data[(10 if major == 1 else 12) + n:]


for path in sorted(glob.glob(os.path.join(ROOT, "manifests", "*.yaml")) + glob.glob(os.path.join(ROOT, "examples", "*", "manifests", "*.yaml"))):
    put("yaml", read(path))
put("yaml", b"models: [[[[[[[[1]]]]]]]]\n")
put("yaml", b"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n")

ops = sorted(glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "ops", "*", "model.pb")))
small = [p for p in ops if os.path.getsize(p) <= 16384]
for path in small:
    graph = read(path)
    put("graphdef", graph)
    inputs = sorted(glob.glob(os.path.join(os.path.dirname(path), "in_*.npy")))
    calib = npy_payload(read(inputs[0]))[:4096] if inputs else b""
    put("quantize", struct.pack("<I", len(graph)) + graph + calib)
put("graphdef", read("Tests/Fixtures/allops/frozen_tf.pb"))

for path in sorted(glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "*", "inference_graph.pbtxt"))):
    put("pbtxt", read(path))

for path in sorted(glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "allops", "train_dir", "*.index"))):
    put("checkpoint", read(path))

for path in sorted(glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "npy", "*.np[yz]"))):
    put("npy", read(path))

# SavedModels: the target reads each beside the functional fixture's variables bundle.
for path in sorted(glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "savedmodel", "*", "model", "saved_model.pb"))):
    put("savedmodel", read(path))

# Images: every fixture, good and bad.
for path in sorted(glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "images", "*.jpg")) + glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "images", "*.png"))
                   + glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "images", "bad", "*"))):
    put("image", read(path))

def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def field(number, payload):
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def action_result(outputs, extra=b""):
    """A REAPI ActionResult: output_files (2) of {path (1), digest (2): {hash (1), size_bytes (2)}}."""
    out = b""
    for name, data in outputs:
        digest = field(1, hashlib.sha256(data).hexdigest().encode()) + (varint(2 << 3) + varint(len(data)) if data else b"")
        out += field(2, field(1, name.encode()) + field(2, digest))
    return out + extra


put("actionresult", action_result([("graph", b"x" * 300), ("quant_info", b"{}")]))
put("actionresult", action_result([("statistics", b"")]))
put("actionresult", action_result([("a", b"1")], extra=field(5, b"stdout") + bytes([0x20, 0x00])))
put("actionresult", action_result([("a", b"1"), ("a", b"2")]))

records = sys.argv[1] if len(sys.argv) > 1 else None
if records:
    for path in sorted(glob.glob(os.path.join(records, "*", "*")))[:16]:
        with open(path, "rb") as f:
            put("record", f.read())

for target in sorted(os.listdir(OUT)):
    print("%-10s %4d seeds" % (target, len(os.listdir(os.path.join(OUT, target)))))
