#!/usr/bin/env python3
"""Generate small TF1-style models with real checkpoints for vaiq-build's tests.

    make_fixtures.py              # writes Tests/Fixtures/<model>/
    make_fixtures.py --out DIR    # the same, into DIR (e.g. to check determinism)

Every model is built in tf.compat.v1 graph mode and saved as TensorFlow 1.x
training code would leave it. Each model directory holds:

    inference_graph.pb / .pbtxt  the whole graph as tf.io.write_graph saves it,
                                 variables, initializers and saver nodes included
    train_dir/checkpoint         state file: model.ckpt-2 latest, both listed
    train_dir/model.ckpt-{1,2}.{index,data-*,meta}
                                 tf.compat.v1.train.Saver V2 checkpoints; the
                                 variables differ between the two steps
    input.npy                    float32 input, batch 2
    expected_<output>.npy        TensorFlow's outputs with ckpt-2 restored
                                 (output node name with "/" replaced by "_")
    frozen_tf.pb                 convert_variables_to_constants of ckpt-2
    meta.json                    input/output nodes, input shapes, checkpoint
                                 prefixes (relative to the model directory),
                                 variables {name: {dtype, shape}}, the saver's
                                 filename tensor and restore op, expected files
    consts.json                  (mixed_dtypes only) every Const node's name,
                                 dtype, shape, proto encoding and flattened
                                 value as TensorFlow evaluates it

Models: allops (reference variables, the Vitis AI quantizer's op set),
resource (resource variables), sharded (2-shard checkpoint), snappy (resource
with Snappy-compressed .index files, see snappy_index.py) and mixed_dtypes.


Determinism: seeds are fixed, kernels run single-threaded, and the state file
written by the V1 Saver carries no timestamps, so running the script twice
produces byte-identical files, all of them.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

from tf_common import SESSION_CONFIG, expected_file_name, fail, np, tf

from tensorflow.core.framework import tensor_pb2  # after tf_common: it sets TF's environment

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CKPT_BASENAME = "model.ckpt"
BATCH = 2


# ---------------------------------------------------------------------------
# Layer helpers. All variables go through tf.compat.v1.get_variable so their
# names are the checkpoint keys; `resource` picks VarHandleOp over VariableV2.
# ---------------------------------------------------------------------------

def variable(name, shape, resource, dtype=tf.float32, initializer=None, trainable=True):
    return tf.compat.v1.get_variable(name, shape, dtype, initializer=initializer,
                                     trainable=trainable, use_resource=resource)


def bias_add(x, resource):
    b = variable("biases", [x.shape[-1]], resource, initializer=tf.compat.v1.zeros_initializer())
    return tf.nn.bias_add(x, b)


def conv(x, name, kernel, filters, resource, stride=1, padding="SAME", dilation=1, bias=True):
    with tf.compat.v1.variable_scope(name):
        w = variable("weights", [kernel, kernel, x.shape[-1], filters], resource)
        y = tf.nn.conv2d(x, w, strides=[1, stride, stride, 1], padding=padding,
                         dilations=[1, dilation, dilation, 1])
        return bias_add(y, resource) if bias else y


def depthwise(x, name, multiplier, resource, stride=1):
    with tf.compat.v1.variable_scope(name):
        w = variable("depthwise_weights", [3, 3, x.shape[-1], multiplier], resource)
        return bias_add(tf.nn.depthwise_conv2d(x, w, [1, stride, stride, 1], "SAME"), resource)


def conv_transpose(x, name, filters, resource):
    """3x3 stride-2 SAME transposed conv; the batch size comes from tf.shape as in Keras."""
    with tf.compat.v1.variable_scope(name):
        w = variable("weights", [3, 3, filters, x.shape[-1]], resource)
        output_shape = tf.stack([tf.shape(x)[0], x.shape[1] * 2, x.shape[2] * 2, filters])
        return bias_add(tf.nn.conv2d_transpose(x, w, output_shape, [1, 2, 2, 1], "SAME"), resource)


def batch_norm(x, name, resource):
    """Inference-mode FusedBatchNormV3 with moving mean/variance variables."""
    with tf.compat.v1.variable_scope(name):
        channels = [x.shape[-1]]
        ones, zeros = tf.compat.v1.ones_initializer(), tf.compat.v1.zeros_initializer()
        gamma = variable("gamma", channels, resource, initializer=ones)
        beta = variable("beta", channels, resource, initializer=zeros)
        mean = variable("moving_mean", channels, resource, initializer=zeros, trainable=False)
        var = variable("moving_variance", channels, resource, initializer=ones, trainable=False)
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, mean, var, epsilon=1e-3, is_training=False)
        return y


def dense(x, name, units, resource, transpose_b=False):
    with tf.compat.v1.variable_scope(name):
        shape = [units, x.shape[-1]] if transpose_b else [x.shape[-1], units]
        w = variable("weights", shape, resource)
        return bias_add(tf.matmul(x, w, transpose_b=transpose_b), resource)


def placeholder(shape):
    return tf.compat.v1.placeholder(tf.float32, [None] + shape, name="input")


# ---------------------------------------------------------------------------
# Models. Each builder creates its graph in the default graph and returns the
# list of output node names.
# ---------------------------------------------------------------------------

def build_allops():
    r = False  # reference variables: VariableV2 + Assign + Identity ("read")
    x = placeholder([16, 16, 3])
    h = tf.nn.relu(batch_norm(conv(x, "conv1", 3, 8, r), "bn1", r))  # [N,16,16,8]
    d = tf.nn.relu6(depthwise(h, "dw1", 1, r))
    res1 = tf.raw_ops.Add(x=h, y=d, name="res1")  # legacy Add (tf.add emits AddV2)
    swish = tf.multiply(res1, tf.sigmoid(res1), name="swish")
    hard_sigmoid = tf.multiply(tf.nn.relu6(res1 + 3.0), 1.0 / 6.0, name="hard_sigmoid")
    hard_swish = tf.multiply(res1, hard_sigmoid, name="hard_swish")
    leaky = tf.nn.leaky_relu(res1, alpha=0.2, name="leaky")
    act = tf.add_n([swish, hard_swish, leaky], name="act")  # [N,16,16,8]

    padded = tf.pad(act, [[0, 0], [1, 1], [1, 1], [0, 0]])  # [N,18,18,8]
    c2 = tf.nn.relu(conv(padded, "conv2", 3, 16, r, stride=2, padding="VALID"))  # [N,8,8,16]
    c3 = tf.nn.relu(batch_norm(conv(c2, "conv3", 3, 16, r, dilation=2, bias=False), "bn3", r))
    res2 = tf.add(c2, c3, name="res2")  # AddV2
    d2s = tf.nn.depth_to_space(depthwise(res2, "dw2", 2, r), 2)  # [N,8,8,32] -> [N,16,16,8]

    # 3x3/2 SAME pooling of 8x8 pads the last row/column: AvgPool divides by
    # the number of real (non-padding) elements there.
    pooled_max = tf.nn.max_pool2d(res2, 3, 2, "SAME")  # [N,4,4,16]
    pooled_avg = tf.nn.avg_pool2d(res2, 3, 2, "SAME")
    scale = variable("channel_scale", [16], r, initializer=tf.compat.v1.ones_initializer())
    scaled = tf.multiply(tf.subtract(pooled_max, pooled_avg), scale)  # broadcast over N,H,W
    clipped = tf.clip_by_value(scaled, -2.0, 2.0)  # Minimum + Maximum

    up = conv_transpose(clipped, "deconv", 8, r)  # [N,8,8,8]
    bilinear = tf.compat.v1.image.resize_bilinear(up, [16, 16])  # [N,16,16,8]
    nearest = tf.compat.v1.image.resize_nearest_neighbor(clipped, [16, 16])  # [N,16,16,16]
    cat = tf.concat([act, d2s, bilinear], axis=3)  # [N,16,16,24]
    features = tf.identity(tf.transpose(cat, [0, 2, 1, 3]), name="features")

    g1 = tf.squeeze(tf.reduce_mean(features, [1, 2], keepdims=True), [1, 2])  # [N,24]
    g2 = tf.reshape(tf.expand_dims(tf.reduce_mean(nearest, [1, 2]), 1), [-1, 16])  # [N,16]
    head = tf.concat([g1, g2], axis=1)  # [N,40]
    fc1 = tf.nn.relu(dense(head, "fc1", 32, r, transpose_b=True))
    logits = tf.identity(dense(fc1, "fc2", 10, r), name="logits")
    tf.nn.softmax(logits, name="probs")
    return ["logits", "probs", "features"]


def build_resource():
    r = True  # resource variables: VarHandleOp + ReadVariableOp
    x = placeholder([16, 16, 3])
    h = tf.nn.relu(conv(x, "conv1", 3, 8, r, stride=2))  # [N,8,8,8]
    h = tf.nn.relu(batch_norm(conv(h, "conv2", 3, 8, r, bias=False), "bn2", r))
    tf.identity(dense(tf.reduce_mean(h, [1, 2]), "fc", 10, r), name="logits")
    return ["logits"]


def build_sharded():
    r = False
    x = placeholder([8, 8, 3])
    with tf.device("/cpu:0"):
        h = tf.reduce_mean(tf.nn.relu(conv(x, "conv1", 3, 8, r)), [1, 2])
    with tf.device("/cpu:1"):
        logits = dense(h, "fc", 10, r)
    tf.identity(logits, name="logits")
    return ["logits"]


def raw_const(name, dtype, shape, **fields):
    """A Const node whose TensorProto is filled in by hand (e.g. a full float_val list,
    which tf.constant never writes: it uses tensor_content for multi-element arrays)."""
    tensor = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum)
    tensor.tensor_shape.CopyFrom(tf.TensorShape(shape).as_proto())
    for field, values in fields.items():
        if field == "tensor_content":
            tensor.tensor_content = values
        else:
            getattr(tensor, field).extend(values)
    op = tf.compat.v1.get_default_graph().create_op(
        "Const", [], [dtype], name=name,
        attrs={"dtype": tf.compat.v1.AttrValue(type=dtype.as_datatype_enum),
               "value": tf.compat.v1.AttrValue(tensor=tensor)})
    return op.outputs[0]


def build_mixed_dtypes():
    """Consts in every encoding TensorFlow uses, for float32/int32/int64/bool/half:
    tensor_content, a full *_val list, and a single *_val broadcast to the shape."""
    r = False
    x = placeholder([3, 4, 1])
    xs = tf.reshape(x, [-1, 3, 4])
    shape = [3, 4]

    f32_content = tf.constant(np.linspace(-1.5, 1.25, 12, dtype=np.float32).reshape(shape),
                              name="f32_tensor_content")
    f32_vals = raw_const("f32_float_val", tf.float32, shape,
                         float_val=[0.1 * i - 0.55 for i in range(12)])
    f32_bcast = tf.constant(1.5, shape=shape, name="f32_broadcast")
    f32_scalar = tf.constant(0.25, name="f32_scalar")

    # half_val stores each float16 as its uint16 bit pattern in an int32.
    half_values = np.array([0.5, -2.0, 1000.5, 6e-8, 0.1, -0.0, 3.0, 7.25, -1.0, 0.0, 2.5, 1e-3], np.float16)
    f16_content = tf.constant(half_values[::-1].reshape(shape), name="f16_tensor_content")
    f16_vals = raw_const("f16_half_val", tf.float16, shape,
                         half_val=[int(b) for b in half_values.view(np.uint16)])
    f16_bcast = tf.constant(np.float16(0.25), shape=shape, name="f16_broadcast")

    i32_content = tf.constant(np.array([[2_000_000_000, -7, 0, 1], [5, -2_000_000_000, 3, 9], [-1, 2, 4, 8]],
                                       np.int32), name="i32_tensor_content")
    i32_vals = raw_const("i32_int_val", tf.int32, shape, int_val=[i * 3 - 17 for i in range(12)])
    i32_bcast = tf.constant(3, shape=shape, name="i32_broadcast")

    # 2**53 + 1 is not representable as a double: decoders must keep 64-bit integers.
    i64_content = tf.constant(np.array([[2**53 + 1, -(2**40), 0, 1], [-1, 2**62, 3, 4], [5, 6, -(2**62), 8]],
                                       np.int64), name="i64_tensor_content")
    i64_vals = raw_const("i64_int64_val", tf.int64, shape,
                         int64_val=[(-1) ** i * (2**33 + i) for i in range(12)])
    i64_bcast = tf.constant(7, shape=shape, dtype=tf.int64, name="i64_broadcast")

    bool_pattern = [True, False, False, True, True, True, False, False, True, False, True, False]
    bool_content = raw_const("bool_tensor_content", tf.bool, shape,
                             tensor_content=bytes(int(b) for b in bool_pattern))
    bool_vals = tf.constant(np.array(bool_pattern[::-1]).reshape(shape), name="bool_bool_val")
    bool_bcast = tf.constant(True, shape=shape, name="bool_broadcast")

    w_f32 = variable("w_f32", shape, r)
    w_i32 = variable("w_i32", shape, r, dtype=tf.int32)
    w_i64 = variable("w_i64", shape, r, dtype=tf.int64)

    half_term = tf.cast(f16_content + f16_vals * f16_bcast, tf.float32)
    value = (xs * f32_bcast + f32_content) * f32_vals + w_f32 + f32_scalar + half_term
    mask = tf.math.logical_xor(tf.logical_and(bool_content, bool_bcast), bool_vals)
    tf.where(mask, value, -value, name="out_float")
    tf.identity(tf.cast(xs, tf.int32) * i32_bcast + i32_content + i32_vals + w_i32, name="out_int32")
    tf.identity(tf.cast(xs, tf.int64) * i64_bcast + i64_content + i64_vals + w_i64, name="out_int64")
    return ["out_float", "out_int32", "out_int64"]


# ---------------------------------------------------------------------------
# Variable values. Checkpoint values come from NumPy (not from the graph's
# initializers) so batch-norm statistics are non-trivial; each later step
# perturbs the previous values.
# ---------------------------------------------------------------------------

def initial_value(name, shape, dtype, rng):
    if dtype.is_integer:
        return rng.integers(-50, 50, size=shape).astype(dtype.as_numpy_dtype)
    if name.endswith(("moving_variance", "gamma")):
        return rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
    fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 100
    return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)


def perturbed(name, value, rng):
    if np.issubdtype(value.dtype, np.integer):
        return value + 1
    if name.endswith("moving_variance"):
        return (value * rng.uniform(0.8, 1.2, size=value.shape)).astype(np.float32)
    return (value + 0.1 * np.std(value) * rng.standard_normal(value.shape) + 0.01).astype(np.float32)


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------

def write_npy(path, array):
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def const_encoding(tensor_proto):
    """Which TensorProto field holds a Const's value, and whether one value is broadcast."""
    if tensor_proto.tensor_content:
        return "tensor_content", False
    for field, value in tensor_proto.ListFields():
        if field.name.endswith("_val"):
            count = int(np.prod([d.size for d in tensor_proto.tensor_shape.dim]))
            return field.name, len(value) < count
    return "empty", False


def const_listing(graph, sess):
    """consts.json content: every Const node, evaluated by TensorFlow."""
    consts = []
    for node in graph.as_graph_def().node:
        if node.op != "Const":
            continue
        dtype = tf.as_dtype(node.attr["dtype"].type)
        value = np.asarray(sess.run(graph.get_tensor_by_name(node.name + ":0")))
        encoding, broadcast = const_encoding(node.attr["value"].tensor)
        flat = value.reshape(-1).tolist()  # exact Python ints / floats / bools / bytes
        if dtype == tf.string:  # the saver's file and tensor names
            flat = [v.decode("utf-8") for v in flat]
        consts.append({"name": node.name, "dtype": dtype.name,
                       "shape": list(value.shape), "encoding": encoding, "broadcast": broadcast,
                       "values": flat})
    return consts


def export_model(model_dir, build, input_shape, seed, steps=(1, 2), sharded=False, write_consts=False):
    """Build a model, write its graph and checkpoints, and its reference outputs."""
    if os.path.exists(model_dir):
        shutil.rmtree(model_dir)
    train_dir = os.path.join(model_dir, "train_dir")
    os.makedirs(train_dir)

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(seed)
        output_nodes = build()
        missing = [n for n in output_nodes if n not in {op.name for op in graph.get_operations()}]
        if missing:
            fail(f"output nodes not in graph: {missing}")
        init = tf.compat.v1.global_variables_initializer()
        saver = tf.compat.v1.train.Saver(sharded=sharded, save_relative_paths=True)
    graph.finalize()  # nothing below may add nodes after the graph is written

    graph_def = graph.as_graph_def()
    tf.io.write_graph(graph_def, model_dir, "inference_graph.pb", as_text=False)
    tf.io.write_graph(graph_def, model_dir, "inference_graph.pbtxt", as_text=True)

    variables = sorted(graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES), key=lambda v: v.op.name)
    rng = np.random.default_rng(seed)
    prefix = os.path.join(train_dir, CKPT_BASENAME)
    with tf.compat.v1.Session(graph=graph, config=SESSION_CONFIG) as sess:
        sess.run(init)
        values = {}
        for i, step in enumerate(steps):
            for v in variables:
                name = v.op.name
                values[name] = (perturbed(name, values[name], rng) if i else
                                initial_value(name, v.shape.as_list(), v.dtype.base_dtype, rng))
                v.load(values[name], sess)  # feeds the initializer: adds no nodes
            saver.save(sess, prefix, global_step=step)

    latest = tf.train.latest_checkpoint(train_dir)
    if latest != f"{prefix}-{steps[-1]}":
        fail(f"latest checkpoint is {latest}, expected step {steps[-1]}")

    meta = {
        "input_nodes": ["input"],
        "input_shapes": [[-1] + input_shape],
        "output_nodes": output_nodes,
        "checkpoints": [f"train_dir/{CKPT_BASENAME}-{step}" for step in steps],
        "variables": {v.op.name: {"dtype": v.dtype.base_dtype.name, "shape": v.shape.as_list()}
                      for v in variables},
        "saver": {"filename_tensor": saver.saver_def.filename_tensor_name,
                  "restore_op": saver.saver_def.restore_op_name},
    }
    # Reference outputs from a fresh session that restores the latest checkpoint.
    inputs = np.random.default_rng(seed + 1).standard_normal([BATCH] + input_shape).astype(np.float32)
    write_npy(os.path.join(model_dir, "input.npy"), inputs)
    with tf.compat.v1.Session(graph=graph, config=SESSION_CONFIG) as sess:
        saver.restore(sess, latest)
        fetches = [graph.get_tensor_by_name(n + ":0") for n in output_nodes]
        outputs = sess.run(fetches, {graph.get_tensor_by_name("input:0"): inputs})
        for name, value in zip(output_nodes, outputs):
            write_npy(os.path.join(model_dir, expected_file_name(name)), value)
        frozen = tf.compat.v1.graph_util.convert_variables_to_constants(sess, graph_def, output_nodes)
        tf.io.write_graph(frozen, model_dir, "frozen_tf.pb", as_text=False)
        if write_consts:
            write_json(os.path.join(model_dir, "consts.json"), const_listing(graph, sess))
    meta["expected"] = {name: expected_file_name(name) for name in output_nodes}
    write_json(os.path.join(model_dir, "meta.json"), meta)


def check_two_shards(train_dir):
    for step in (1, 2):
        shards = sorted(glob.glob(os.path.join(train_dir, f"{CKPT_BASENAME}-{step}.data-*")))
        names = [os.path.basename(s) for s in shards]
        wanted = [f"{CKPT_BASENAME}-{step}.data-0000{i}-of-00002" for i in range(2)]
        if names != wanted:
            fail(f"sharded checkpoint step {step} has data files {names}, expected {wanted}")
        if any(os.path.getsize(s) == 0 for s in shards):
            fail(f"sharded checkpoint step {step} has an empty shard")


def make_snappy(source_dir, snappy_dir):
    """Copy a fixture, rewriting its checkpoints' .index files with Snappy blocks.
    A small block size spreads each index over several data blocks."""
    shutil.rmtree(snappy_dir, ignore_errors=True)
    shutil.copytree(source_dir, snappy_dir)
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snappy_index.py")
    for index in sorted(glob.glob(os.path.join(source_dir, "train_dir", "*.index"))):
        rewritten = os.path.join(snappy_dir, "train_dir", os.path.basename(index))
        subprocess.run([sys.executable, tool, index, rewritten, "--block-size", "256"], check=True)


def make_fixtures(root):
    export_model(os.path.join(root, "allops"), build_allops, [16, 16, 3], seed=1)
    export_model(os.path.join(root, "resource"), build_resource, [16, 16, 3], seed=2)
    export_model(os.path.join(root, "sharded"), build_sharded, [8, 8, 3], seed=3, sharded=True)
    check_two_shards(os.path.join(root, "sharded", "train_dir"))
    export_model(os.path.join(root, "mixed_dtypes"), build_mixed_dtypes, [3, 4, 1], seed=4, write_consts=True)
    make_snappy(os.path.join(root, "resource"), os.path.join(root, "snappy"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="output root (default Tests/Fixtures)")
    args = parser.parse_args()
    make_fixtures(args.out or os.path.join(REPO, "Tests", "Fixtures"))


if __name__ == "__main__":
    main()
