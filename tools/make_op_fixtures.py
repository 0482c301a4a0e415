"""Writes Tests/Fixtures/ops/: one tiny frozen TF1 graph per case with TensorFlow's own outputs.

Each case directory holds model.pb (Const weights, float32 placeholders of known shape),
in_<placeholder>.npy and out_<node>.npy; index.json lists the cases and their tolerances
(max abs error allowed = rtol_of_max * max|expected|) and "graph_ops", the op-type histogram of
model.pb (e.g. tf.nn.silu emits Identity + IdentityN). Deterministic: seeds per case, the GraphDef
serialized deterministically, and TensorFlow's outputs come from its Eigen kernels on one thread
(tf_common.SESSION_CONFIG, oneDNN off), so a rerun gives identical bytes on any x86 machine.

    .venv/bin/python tools/make_op_fixtures.py [OUT_DIR]
"""
import collections
import json
import os
import shutil
import sys
import zlib

from tf_common import SESSION_CONFIG, np, tf  # first: sets TensorFlow's environment (oneDNN off)

tf1 = tf.compat.v1
OUT = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/ops"
# The directory is wholly generated: start from scratch so a removed case leaves no files behind
# (only a directory that is empty or holds a previous index.json is ever removed).
if os.path.isdir(OUT) and (not os.listdir(OUT) or os.path.isfile(os.path.join(OUT, "index.json"))):
    shutil.rmtree(OUT)
os.makedirs(OUT, exist_ok=True)
cases = []


def case(name, op, build, inputs, rtol=1e-4, why=None, reference=None):
    """build(placeholders: dict, rng) -> {output_name: tensor}; inputs: {name: shape}.
    reference: another build whose outputs are the expected ones (same seed, so the same
    constants), for graphs whose own run is not what inference means (dropout)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    graph = tf.Graph()
    with graph.as_default():
        phs = {n: tf1.placeholder(tf.float32, shape, name=n) for n, shape in inputs.items()}
        outs = build(phs, rng)
        outs = {n: tf.identity(t, name=n) for n, t in outs.items()}
        feeds = {n: rng.standard_normal(shape).astype(np.float32) for n, shape in inputs.items()}
        with tf1.Session(graph=graph, config=SESSION_CONFIG) as s:
            values = s.run(outs, {phs[n]: v for n, v in feeds.items()})
    if reference:
        rng2 = np.random.default_rng(zlib.crc32(name.encode()))
        with tf.Graph().as_default() as g2:
            phs2 = {n: tf1.placeholder(tf.float32, shape, name=n) for n, shape in inputs.items()}
            outs2 = reference(phs2, rng2)
            with tf1.Session(graph=g2, config=SESSION_CONFIG) as s:
                values = s.run(outs2, {phs2[n]: v for n, v in feeds.items()})
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.pb"), "wb") as f:
        f.write(graph.as_graph_def().SerializeToString(deterministic=True))
    for n, v in feeds.items():
        np.save(os.path.join(d, f"in_{n}.npy"), v)
    for n, v in values.items():
        np.save(os.path.join(d, f"out_{n}.npy"), np.asarray(v, dtype=np.float32))
    entry = {"name": name, "op": op, "rtol_of_max": rtol,
             "inputs": [{"node": n, "file": f"in_{n}.npy"} for n in inputs],
             "outputs": [{"node": n, "file": f"out_{n}.npy"} for n in values]}
    if why:
        entry["why"] = why
    entry["graph_ops"] = dict(sorted(collections.Counter(n.op for n in graph.as_graph_def().node).items()))
    if op not in entry["graph_ops"] and op[0].isupper() and op not in NOT_OP_TYPES:
        sys.exit(f"{name}: op {op} does not occur in its graph {entry['graph_ops']}")
    cases.append(entry)


# Labels of composite cases that are not TensorFlow op types.
NOT_OP_TYPES = {"Swish", "Silu", "HardSigmoid", "HardSwish", "KerasHardSigmoid", "KerasHardSwish"}


def shape_of(x):
    """A real Shape node, as Keras graphs have for their unknown batch (tf.shape would fold it
    to a Const at graph construction because every placeholder shape here is fully known)."""
    return tf.raw_ops.Shape(input=x)


def const(rng, shape, scale=1.0):
    return tf.constant((rng.standard_normal(shape) * scale).astype(np.float32))


# Conv2D: strides, padding modes, dilations, kernel shapes, batch 1 and 3, bias.
for i, (n, h, w, c, k, o, s, pad, dil, bias) in enumerate([
    (1, 9, 9, 3, (3, 3), 8, (1, 1), "SAME", 1, True),
    (3, 10, 11, 4, (3, 3), 5, (2, 2), "SAME", 1, False),
    (1, 11, 9, 2, (3, 3), 4, (2, 2), "VALID", 1, True),
    (2, 8, 8, 6, (1, 1), 7, (1, 1), "VALID", 1, True),
    (1, 13, 12, 3, (5, 5), 4, (1, 2), "SAME", 1, False),
    (1, 12, 12, 3, (3, 3), 4, (1, 1), "SAME", 2, True),
    (3, 9, 15, 2, (1, 7), 3, (1, 1), "SAME", 1, False),
    (1, 8, 8, 4, (1, 1), 8, (2, 2), "VALID", 1, False),
    (1, 7, 7, 3, (3, 3), 4, (1, 1), [[0, 0], [1, 2], [2, 0], [0, 0]], 1, True),
    (3, 11, 10, 3, (5, 5), 4, (2, 2), [[0, 0], [2, 1], [1, 3], [0, 0]], 1, False),
    (3, 10, 9, 3, (3, 3), 5, (1, 1), "VALID", 2, True),
    (1, 9, 8, 3, (3, 3), 4, (2, 1), "VALID", 1, True),
    (1, 9, 10, 6, (7, 1), 5, (1, 1), "SAME", 1, True),
    (1, 13, 11, 4, (5, 5), 8, (2, 2), "SAME", 1, True),
]):
    def build(p, rng, k=k, c=c, o=o, s=s, pad=pad, dil=dil, bias=bias):
        y = tf.nn.conv2d(p["x"], const(rng, k + (c, o)), strides=[1, *s, 1], padding=pad, dilations=[1, dil, dil, 1])
        return {"y": tf.nn.bias_add(y, const(rng, (o,))) if bias else y}
    case(f"conv2d_{i}", "Conv2D", build, {"x": (n, h, w, c)})

for i, (n, h, w, c, m, s, pad, dil) in enumerate([
    (1, 9, 9, 8, 1, 1, "SAME", 1), (3, 10, 11, 5, 2, 2, "SAME", 1), (1, 11, 9, 4, 1, 2, "VALID", 1),
    (2, 12, 12, 3, 1, 1, "SAME", 2), (1, 8, 7, 6, 2, 1, "VALID", 1),
]):
    def build(p, rng, c=c, m=m, s=s, pad=pad, dil=dil):
        return {"y": tf.nn.depthwise_conv2d(p["x"], const(rng, (3, 3, c, m)), strides=[1, s, s, 1], padding=pad,
                                            dilations=[dil, dil])}
    case(f"depthwise_{i}", "DepthwiseConv2dNative", build, {"x": (n, h, w, c)})

# The raw op with 5x5 kernels. (Its dilations attribute is not covered: TensorFlow's CPU kernel
# rejects dilations != 1, and tf.nn.depthwise_conv2d turns a rate into SpaceToBatchND/BatchToSpaceND
# around it, as in depthwise_3.)
for i, (n, h, w, c, k, m, s, pad, dil) in enumerate([
    (1, 12, 11, 6, 5, 1, 2, "SAME", 1), (3, 9, 10, 3, 5, 2, 1, "VALID", 1),
]):
    def build(p, rng, c=c, k=k, m=m, s=s, pad=pad, dil=dil):
        return {"y": tf.raw_ops.DepthwiseConv2dNative(input=p["x"], filter=const(rng, (k, k, c, m)), strides=[1, s, s, 1],
                                                      padding=pad, dilations=[1, dil, dil, 1])}
    case(f"depthwise_native_{i}", "DepthwiseConv2dNative", build, {"x": (n, h, w, c)})

case("conv2d_atrous", "SpaceToBatchND",
     lambda p, rng: {"y": tf1.nn.atrous_conv2d(p["x"], const(rng, (3, 3, 4, 6)), 2, "SAME")}, {"x": (1, 12, 11, 4)})

for i, (n, h, w, c, k, o, s, pad, out_hw) in enumerate([
    (1, 5, 5, 4, 3, 3, 1, "SAME", (5, 5)), (2, 4, 5, 3, 2, 4, 2, "VALID", (8, 10)), (1, 4, 4, 3, 3, 2, 2, "SAME", (8, 8)),
    (1, 4, 4, 3, 3, 2, 2, "SAME", (7, 7)), (1, 3, 3, 2, 4, 3, 2, "VALID", (8, 8)),
    (1, 5, 6, 4, 3, 3, 2, "SAME", (9, 11)), (1, 5, 5, 4, 3, 4, 2, "VALID", (12, 12)),
    (3, 6, 7, 3, 4, 4, 2, "SAME", (11, 13)), (1, 7, 7, 5, 4, 4, 2, "SAME", (14, 14)),
]):
    def build(p, rng, n=n, c=c, k=k, o=o, s=s, pad=pad, out_hw=out_hw):
        return {"y": tf.nn.conv2d_transpose(p["x"], const(rng, (k, k, o, c)), output_shape=[n, *out_hw, o],
                                            strides=[1, s, s, 1], padding=pad)}
    case(f"conv2d_transpose_{i}", "Conv2DBackpropInput", build, {"x": (n, h, w, c)})

# Keras-style output_shape: Pack(StridedSlice(Shape(x)), h*2, w*2, c), folded once shapes are known.
def conv2d_transpose_keras(p, rng):
    x = p["x"]
    shape = shape_of(x)
    out_shape = tf.stack([shape[0], shape[1] * 2, shape[2] * 2, 6])
    y = tf.nn.conv2d_transpose(x, const(rng, (3, 3, 6, 4), 0.5), out_shape, [1, 2, 2, 1], "SAME")
    return {"y": tf.nn.bias_add(y, const(rng, (6,)))}
case("conv2d_transpose_keras", "Conv2DBackpropInput", conv2d_transpose_keras, {"x": (1, 5, 7, 4)})

for i, (ta, tb) in enumerate([(False, False), (True, False), (False, True), (True, True)]):
    def build(p, rng, ta=ta, tb=tb):
        b = const(rng, (7, 6) if tb else (6, 7))
        return {"y": tf.nn.bias_add(tf.linalg.matmul(p["a"], b, transpose_a=ta, transpose_b=tb), const(rng, (7,)))}
    case(f"matmul_{i}", "MatMul", build, {"a": (6, 3) if ta else (3, 6)})
case("matmul_runtime_b", "MatMul", lambda p, rng: {"y": tf.linalg.matmul(p["a"], p["b"])}, {"a": (4, 5), "b": (5, 3)})

binary_ops = {"Add": lambda a, b: tf.raw_ops.Add(x=a, y=b),  # tf.math.add emits AddV2
              "AddV2": lambda a, b: tf.raw_ops.AddV2(x=a, y=b), "Sub": tf.math.subtract,
              "Mul": tf.math.multiply, "RealDiv": tf.math.truediv, "Maximum": tf.math.maximum, "Minimum": tf.math.minimum,
              "SquaredDifference": tf.math.squared_difference}
shapes = [((2, 5, 6, 4), (2, 5, 6, 4)), ((2, 5, 6, 4), (4,)), ((2, 5, 6, 4), ()), ((2, 5, 6, 4), (2, 1, 1, 4)),
          ((3, 4), (2, 3, 4)), ((1, 5, 1, 3), (2, 1, 6, 1))]
for op, fn in binary_ops.items():
    for j, (sa, sb) in enumerate(shapes if op in ("Add", "Mul", "Sub") else shapes[:4]):
        def build(p, rng, fn=fn, sb=sb, op=op):
            b = p["b"] if sb != () else tf.constant(np.float32(1.75))
            if op == "RealDiv":
                b = tf.abs(b) + 0.5
            return {"y": fn(p["a"], b)}
        case(f"{op.lower()}_{j}", op, build, {"a": sa, **({"b": sb} if sb != () else {})})
case("add_const_first", "Add", lambda p, rng: {"y": tf.raw_ops.Add(x=const(rng, (3,)), y=p["x"])}, {"x": (2, 4, 3)})

unary = {
    "Relu": tf.nn.relu, "Relu6": tf.nn.relu6, "Sigmoid": tf.math.sigmoid, "Tanh": tf.math.tanh,
    "LeakyRelu": lambda x: tf.nn.leaky_relu(x, alpha=0.1), "LeakyRelu_0.2": lambda x: tf.nn.leaky_relu(x, alpha=0.2),
    "Swish": lambda x: x * tf.math.sigmoid(x), "Silu": tf.nn.silu,
    "HardSigmoid": lambda x: tf.nn.relu6(x + 3.0) / 6.0, "HardSwish": lambda x: x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0),
    "HardSigmoid_mul": lambda x: tf.nn.relu6(x + 3.0) * (1.0 / 6.0),
    "KerasHardSigmoid": tf.keras.activations.hard_sigmoid, "KerasHardSwish": lambda x: tf.keras.activations.hard_silu(x),
}
for op, fn in unary.items():
    case(f"unary_{op.lower()}", op.split("_")[0], lambda p, rng, fn=fn: {"y": fn(p["x"] * 4.0)}, {"x": (2, 5, 7, 3)})

for op, fn in [("FusedBatchNorm", tf.raw_ops.FusedBatchNorm), ("FusedBatchNormV2", tf.raw_ops.FusedBatchNormV2),
               ("FusedBatchNormV3", tf.raw_ops.FusedBatchNormV3)]:
    def build(p, rng, fn=fn):
        c = 5
        var = tf.constant(rng.uniform(0.5, 2.0, c).astype(np.float32))
        return {"y": fn(x=p["x"], scale=const(rng, (c,)), offset=const(rng, (c,)), mean=const(rng, (c,)), variance=var,
                        epsilon=1e-3, is_training=False)[0]}
    case(op.lower(), op, build, {"x": (2, 6, 7, 5)})

def fused_batch_norm_b1(p, rng):
    c = 12
    var = tf.constant(rng.uniform(0.5, 2.0, c).astype(np.float32))
    return {"y": tf.raw_ops.FusedBatchNormV3(x=p["x"], scale=const(rng, (c,)), offset=const(rng, (c,)),
                                             mean=const(rng, (c,)), variance=var, epsilon=1e-5, is_training=False)[0]}
case("fusedbatchnormv3_b1", "FusedBatchNormV3", fused_batch_norm_b1, {"x": (1, 11, 11, 12)})

for i, (kind, k, s, pad, hw) in enumerate([
    ("max", 2, 2, "VALID", (8, 8)), ("max", 3, 2, "SAME", (9, 10)), ("max", 3, 1, "SAME", (7, 7)),
    ("avg", 2, 2, "VALID", (8, 9)), ("avg", 3, 2, "SAME", (9, 10)), ("avg", 3, 1, "SAME", (7, 7)), ("avg", 3, 2, "VALID", (11, 11)),
    ("max", 2, 2, "SAME", (11, 13)), ("avg", 2, 2, "SAME", (11, 13)), ("avg", 7, 1, "VALID", (7, 7)),
]):
    fn = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
    case(f"{kind}pool_{i}", "MaxPool" if kind == "max" else "AvgPool",
         lambda p, rng, fn=fn, k=k, s=s, pad=pad: {"y": fn(p["x"], ksize=k, strides=s, padding=pad)}, {"x": (2, *hw, 3)})

case("mean_spatial_keep", "Mean", lambda p, rng: {"y": tf.reduce_mean(p["x"], [1, 2], keepdims=True)}, {"x": (2, 7, 9, 5)})
case("mean_spatial", "Mean", lambda p, rng: {"y": tf.reduce_mean(p["x"], [1, 2])}, {"x": (2, 7, 9, 5)})
case("mean_channels", "Mean", lambda p, rng: {"y": tf.reduce_mean(p["x"], [3])}, {"x": (2, 3, 4, 5)})
case("sum_spatial", "Sum", lambda p, rng: {"y": tf.reduce_sum(p["x"], [1, 2], keepdims=True)}, {"x": (1, 5, 6, 3)})
case("max_channels", "Max", lambda p, rng: {"y": tf.reduce_max(p["x"], [-1])}, {"x": (2, 3, 4, 5)})

case("pad", "Pad", lambda p, rng: {"y": tf.pad(p["x"], [[0, 0], [1, 2], [2, 1], [0, 0]])}, {"x": (2, 5, 6, 3)})
case("padv2", "PadV2", lambda p, rng: {"y": tf.pad(p["x"], [[0, 0], [1, 1], [0, 3], [1, 0]], constant_values=-1.5)}, {"x": (1, 4, 5, 2)})
case("concat_channels", "ConcatV2", lambda p, rng: {"y": tf.concat([p["a"], p["b"], p["a"]], 3)}, {"a": (2, 4, 5, 3), "b": (2, 4, 5, 2)})
case("concat_height", "ConcatV2", lambda p, rng: {"y": tf.concat([p["a"], p["b"]], 1)}, {"a": (2, 3, 5, 3), "b": (2, 4, 5, 3)})
case("concat_negative_axis", "ConcatV2", lambda p, rng: {"y": tf.concat([p["a"], const(rng, (2, 4, 5, 1))], -1)}, {"a": (2, 4, 5, 3)})
case("reshape", "Reshape", lambda p, rng: {"y": tf.reshape(p["x"], [-1, 12])}, {"x": (2, 3, 4, 3)})
case("squeeze", "Squeeze", lambda p, rng: {"y": tf.squeeze(p["x"], [1, 2])}, {"x": (3, 1, 1, 5)})
case("expand_dims", "ExpandDims", lambda p, rng: {"y": tf.expand_dims(p["x"], 1)}, {"x": (3, 5)})
case("softmax", "Softmax", lambda p, rng: {"y": tf.nn.softmax(p["x"] * 5.0)}, {"x": (4, 10)})
case("softmax_4d", "Softmax", lambda p, rng: {"y": tf.nn.softmax(p["x"] * 3.0)}, {"x": (1, 5, 6, 7)})
case("transpose", "Transpose", lambda p, rng: {"y": tf.transpose(p["x"], [0, 3, 1, 2])}, {"x": (2, 3, 4, 5)})
case("addn", "AddN", lambda p, rng: {"y": tf.math.add_n([p["a"], p["b"], p["a"]])}, {"a": (2, 3, 4), "b": (2, 3, 4)})
case("depth_to_space", "DepthToSpace", lambda p, rng: {"y": tf.nn.depth_to_space(p["x"], 2)}, {"x": (2, 3, 4, 12)})
case("identity", "Identity", lambda p, rng: {"y": tf.identity(p["x"])}, {"x": (2, 3)})
case("strided_slice", "StridedSlice", lambda p, rng: {"y": p["x"][:, 1:5, ::2, :]}, {"x": (2, 7, 8, 3)})
case("strided_slice_shrink", "StridedSlice", lambda p, rng: {"y": p["x"][:, -1, ..., 1:]}, {"x": (2, 7, 8, 3)})
case("slice", "Slice", lambda p, rng: {"y": tf.slice(p["x"], [0, 1, 2, 0], [-1, 3, 2, 2])}, {"x": (2, 7, 8, 3)})

for i, (hw, out, align, half) in enumerate([
    ((5, 7), (10, 14), False, False), ((5, 7), (9, 11), True, False), ((5, 7), (13, 8), False, True),
    ((8, 9), (3, 5), False, False), ((8, 9), (3, 5), False, True), ((4, 4), (7, 7), True, False),
]):
    for op, fn in [("ResizeBilinear", tf1.image.resize_bilinear), ("ResizeNearestNeighbor", tf1.image.resize_nearest_neighbor)]:
        case(f"{op.lower()}_{i}", op, lambda p, rng, fn=fn, out=out, align=align, half=half:
             {"y": fn(p["x"], out, align_corners=align, half_pixel_centers=half)}, {"x": (2, *hw, 3)})

# Shape computations that must fold at load time (Keras-style flatten: Shape -> StridedSlice -> Pack -> Reshape).
def flatten(p, rng):
    x = p["x"]
    batch = shape_of(x)[0]
    return {"y": tf.reshape(x, tf.stack([batch, tf.reduce_prod(shape_of(x)[1:])]))}
case("flatten_shape_ops", "Shape", flatten, {"x": (3, 4, 5, 2)})
# Keras-style upsampling: the size is Mul(StridedSlice(Shape(x)), 2) (the quantizer's "upsampling" pattern).
for op, fn in [("ResizeNearestNeighbor", tf1.image.resize_nearest_neighbor), ("ResizeBilinear", tf1.image.resize_bilinear)]:
    case(f"{op.lower()}_shape_mul", op, lambda p, rng, fn=fn: {"y": fn(p["x"], shape_of(p["x"])[1:3] * tf.constant([2, 2]))},
         {"x": (1, 5, 6, 4)})
case("cast_fill", "Fill", lambda p, rng: {"y": p["x"] + tf.cast(tf.fill(shape_of(p["x"])[1:], 2), tf.float32)}, {"x": (2, 3, 4)})

# Blocks: the patterns the runtime fuses, and the MobileNet/ResNet building blocks.
def conv_bn_relu6(p, rng):
    y = tf.nn.conv2d(p["x"], const(rng, (3, 3, 3, 8), 0.5), 2, "SAME")
    y = tf1.nn.fused_batch_norm(y, const(rng, (8,)), const(rng, (8,)), const(rng, (8,)),
                                tf.constant(rng.uniform(0.5, 2, 8).astype(np.float32)), is_training=False)[0]
    return {"y": tf.nn.relu6(y)}
case("block_conv_bn_relu6", "block", conv_bn_relu6, {"x": (2, 15, 15, 3)})

def residual(p, rng):
    x = p["x"]
    y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, const(rng, (3, 3, 6, 6), 0.3), 1, "SAME"), const(rng, (6,))))
    y = tf.nn.conv2d(y, const(rng, (3, 3, 6, 6), 0.3), 1, "SAME") * const(rng, (6,)) + const(rng, (6,))
    return {"y": tf.nn.relu(x + y)}
case("block_residual", "block", residual, {"x": (2, 9, 9, 6)})

def inverted_residual(p, rng):
    x = p["x"]
    y = tf.nn.relu6(tf.nn.conv2d(x, const(rng, (1, 1, 4, 24), 0.5), 1, "VALID"))
    y = tf.nn.relu6(tf.nn.depthwise_conv2d(tf.pad(y, [[0, 0], [0, 1], [0, 1], [0, 0]]), const(rng, (3, 3, 24, 1)), [1, 1, 1, 1], "VALID"))
    y = tf.nn.conv2d(y, const(rng, (1, 1, 24, 4), 0.3), 1, "VALID")
    return {"y": x[:, :-1, :-1, :] + y}
case("block_inverted_residual", "block", inverted_residual, {"x": (2, 9, 9, 4)})

def branches(p, rng):
    x = p["x"]
    a = tf.nn.conv2d(x, const(rng, (1, 1, 4, 3)), 1, "SAME")
    b = tf.nn.max_pool2d(x, 3, 1, "SAME")
    return {"y": tf.concat([a, b], 3)}
case("block_concat_branches", "block", branches, {"x": (2, 8, 8, 4)})

def squeeze_excite(p, rng):
    x = p["x"]
    s = tf.reduce_mean(x, [1, 2], keepdims=True)
    s = tf.nn.relu(tf.nn.conv2d(s, const(rng, (1, 1, 8, 2)), 1, "VALID"))
    s = tf.nn.relu6(tf.nn.conv2d(s, const(rng, (1, 1, 2, 8)), 1, "VALID") + 3.0) / 6.0
    return {"y": x * s}
case("block_squeeze_excite", "block", squeeze_excite, {"x": (2, 6, 7, 8)})

def classifier(p, rng):
    y = tf.nn.relu(tf.nn.conv2d(p["x"], const(rng, (3, 3, 2, 4), 0.5), 2, "VALID"))
    batch = shape_of(y)[0]
    y = tf.reshape(y, tf.stack([batch, -1]))
    y = tf.nn.bias_add(tf.linalg.matmul(y, const(rng, (4 * 4 * 4, 10), 0.3)), const(rng, (10,)))
    return {"y": tf.nn.softmax(y)}
case("block_classifier", "block", classifier, {"x": (3, 9, 9, 2)})

# Dropout left in an inference graph: optimize removes it, so the expected output is the model
# without it (the graph's own run is random). Three forms TensorFlow writes.
def dropout_model(rate_fn, dropout):
    def build(p, rng):
        x = tf.nn.relu(tf.nn.conv2d(p["x"], const(rng, (3, 3, 3, 4), 0.5), 1, "SAME"))
        x = dropout(x, rate_fn()) if dropout else x
        return {"y": tf.nn.conv2d(x, const(rng, (1, 1, 4, 2), 0.5), 1, "SAME")}
    return build

def dropout_v1(x, keep):
    mask = tf.floor(keep + tf.random.uniform(tf.shape(x), seed=1))
    return tf.math.divide(x, keep) * mask

for name, rate_fn, fn in [
    ("dropout_rate_const", lambda: 0.4, lambda x, r: tf.nn.dropout(x, rate=r, seed=1)),
    ("dropout_rate_placeholder", lambda: tf1.placeholder_with_default(0.3, [], name="rate"), lambda x, r: tf.nn.dropout(x, rate=r, seed=1)),
    ("dropout_keep_prob_floor", lambda: tf1.placeholder_with_default(0.6, [], name="keep_prob"), dropout_v1),
]:
    case(name, "RandomUniform", dropout_model(rate_fn, fn), {"x": (2, 6, 6, 3)}, reference=dropout_model(rate_fn, None),
         why="optimize removes dropout: expected is the model without it")

with open(os.path.join(OUT, "index.json"), "w") as f:
    json.dump({"cases": cases}, f, indent=1)
    f.write("\n")
size = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(OUT) for n in ns)
print(f"{len(cases)} cases, {size / 1024:.0f} KiB in {OUT}")
