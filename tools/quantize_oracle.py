"""Quantizes fixture models with vaiq-build and checks, with TensorFlow, that the stock-TF variant
computes what vaiq-build's simulation of quantize_eval_model.pb computes, to within one step of
each output's fix position (the issue's criterion). Prints one ok/FAIL line per model.

    quantize_oracle.py VAIQ_BUILD OPS_FIXTURE_DIR DIGITS_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# Every op family of the supported table, in small graphs (see tools/make_op_fixtures.py).
CASES = ["conv2d_0", "conv2d_1", "conv2d_4", "conv2d_5", "depthwise_0", "depthwise_1", "conv2d_transpose_1",
         "matmul_0", "matmul_2", "add_3", "mul_0", "mul_3", "unary_relu6", "unary_leakyrelu", "unary_hardsigmoid", "unary_swish",
         "fusedbatchnormv3", "maxpool_1", "avgpool_4", "mean_spatial_keep", "pad", "concat_channels", "reshape",
         "resizebilinear_1", "resizenearestneighbor_2", "block_conv_bn_relu6", "block_residual", "block_inverted_residual",
         "block_concat_branches", "block_squeeze_excite", "block_classifier"]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{r.stderr.strip()}")
    return r.stdout


def tf_outputs(graph_path, feeds, outputs):
    graph_def = tf.compat.v1.GraphDef()
    with open(graph_path, "rb") as f:
        graph_def.ParseFromString(f.read())
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as s:
            return s.run([o + ":0" for o in outputs], {k + ":0": v for k, v in feeds.items()}), graph_def


def output_position(graph_def, info, output):
    """Fix position of the quantized tensor an output reads (through Identity nodes); None if float."""
    nodes = {n.name: n for n in graph_def.node}
    positions = {t["node"]: t["position"] for t in info["tensors"] if t["kind"] == "activation"}
    node = output
    while node not in positions:
        n = nodes.get(node)
        if n is None or n.op not in ("Identity", "FakeQuantWithMinMaxVars", "Reshape", "Squeeze"):
            return None
        node = n.input[0].split(":")[0].removesuffix("/aquant")
    return positions[node]


STRATEGY = []  # extra quantize flags (--quantize_strategy S), from the command line


def check(vaiq, name, graph, inputs, outputs, work, calib_iter=1, extra=()):
    out_dir = os.path.join(work, name)
    feeds = {n: np.load(p) for n, p in inputs.items()}
    # Exact shapes (some fixtures feed per-channel vectors); an unknown batch when batches are cut.
    shapes = ":".join(",".join(["?" if calib_iter > 1 else str(feeds[n].shape[0])] + [str(d) for d in feeds[n].shape[1:]])
                      for n in inputs)
    run([vaiq, "quantize", "--input_frozen_graph", graph, "--input_nodes", ",".join(inputs), "--output_nodes", ",".join(outputs),
         "--input_shapes", shapes, "--calib_data", ",".join(f"{n}={p}" for n, p in inputs.items()),
         "--calib_iter", str(calib_iter), "--output_dir", out_dir] + STRATEGY + list(extra))
    run([vaiq, "run", f"{out_dir}/quantize_eval_model.pb", *sum((["--input", f"{n}={p}"] for n, p in inputs.items()), []),
         "--outputs", ",".join(outputs), "-o", f"{out_dir}/ours.npz"])
    ours = np.load(f"{out_dir}/ours.npz")
    theirs, graph_def = tf_outputs(f"{out_dir}/quantize_eval_model_tf.pb", feeds, outputs)
    info = json.load(open(f"{out_dir}/quant_info.json"))
    worst = []
    for output, t in zip(outputs, theirs):
        pos = output_position(graph_def, info, output)
        lsb = 2.0 ** -pos if pos is not None else 1e-4 * max(np.abs(t).max(), 1e-6)
        err = float(np.abs(ours[output].astype(np.float64) - t).max())
        worst.append((err / lsb, output, pos))
    # vaiq-build's runtime on the stock-TF twin (FakeQuant ops) gives TensorFlow's numbers too.
    run([vaiq, "run", f"{out_dir}/quantize_eval_model_tf.pb", *sum((["--input", f"{n}={p}"] for n, p in inputs.items()), []),
         "--outputs", ",".join(outputs), "-o", f"{out_dir}/ours_tf.npz"])
    ours_tf = np.load(f"{out_dir}/ours_tf.npz")
    for output, t in zip(outputs, theirs):
        pos = output_position(graph_def, info, output)
        lsb = 2.0 ** -pos if pos is not None else 1e-4 * max(np.abs(t).max(), 1e-6)
        worst.append((float(np.abs(ours_tf[output].astype(np.float64) - t).max()) / lsb, output + " (stock twin)", pos))
    lsbs, output, pos = max(worst)
    ok = lsbs <= 1.0 + 1e-6
    quantized = sum(1 for t in info["tensors"] if t["kind"] == "activation")
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {quantized} activations quantized, max |vaiq - TF| = {lsbs:.3g} LSB at {output}"
          + (f" (position {pos})" if pos is not None else " (float output)"))
    return ok


def check_optimized(vaiq, name, graph, inputs, outputs, work):
    """The optimized float graph (BN folded, identities gone; here without DPU simulation, which
    changes the math on purpose) computes what the original computes, in TensorFlow: run through
    qat_inference_graph.pb, the optimized graph with its weights as initialized variables."""
    out_dir = os.path.join(work, name + "-float")
    feeds = {n: np.load(p) for n, p in inputs.items()}
    shapes = ":".join(",".join(str(d) for d in feeds[n].shape) for n in inputs)
    run([vaiq, "quantize", "--input_frozen_graph", graph, "--input_nodes", ",".join(inputs), "--output_nodes", ",".join(outputs),
         "--input_shapes", shapes, "--calib_data", ",".join(f"{n}={p}" for n, p in inputs.items()), "--calib_iter", "1",
         "--simulate_dpu", "0", "--output_dir", out_dir])
    original, _ = tf_outputs(graph, feeds, outputs)
    g = tf.compat.v1.GraphDef()
    with open(f"{out_dir}/qat_inference_graph.pb", "rb") as f:
        g.ParseFromString(f.read())
    with tf.Graph().as_default() as graph_:
        tf.import_graph_def(g, name="")
        with tf.compat.v1.Session(graph=graph_) as s:
            s.run(graph_.get_operation_by_name("init"))
            optimized = s.run([o + ":0" for o in outputs], {k + ":0": v for k, v in feeds.items()})
    err = max(float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-6)) for a, b in zip(original, optimized))
    ok = err <= 1e-5
    print(f"{'ok  ' if ok else 'FAIL'} {name}: optimized float graph vs original in TensorFlow, relative error {err:.3g}")
    return ok


def check_part(vaiq, frozen, digits, work):
    """A quantized part (`--input_layers MaxPool2d`): TensorFlow runs the model with its float first
    layer and gets vaiq-build's simulation within 1 LSB, and nothing upstream of MaxPool2d has a
    quantizer or an entry in quant_info.json."""
    name = "digits-part"
    if not check(vaiq, name, frozen, {"input": f"{digits}/data/calib.npy"}, ["logits"], work, calib_iter=10,
                 extra=["--input_layers", "MaxPool2d"]):
        return False
    g = tf.compat.v1.GraphDef()
    with open(frozen, "rb") as f:
        g.ParseFromString(f.read())
    inputs = {n.name: [i.split(":")[0].lstrip("^") for i in n.input] for n in g.node}
    upstream, stack = set(), list(inputs["MaxPool2d"])
    while stack:
        n = stack.pop()
        if n not in upstream:
            upstream.add(n)
            stack += inputs.get(n, [])
    info = json.load(open(os.path.join(work, name, "quant_info.json")))
    quantized = {t["node"] for t in info["tensors"]}
    ev = tf.compat.v1.GraphDef()
    with open(os.path.join(work, name, "quantize_eval_model.pb"), "rb") as f:
        ev.ParseFromString(f.read())
    fixed = {n.input[0].split(":")[0] for n in ev.node if n.op == "FixNeuron"}
    bad = sorted((quantized | fixed) & upstream)
    ok = not bad and "MaxPool2d" in quantized and len(upstream) > 5
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(upstream)} nodes upstream of MaxPool2d, quantized there: {bad or 'none'}")
    return ok


def main(vaiq, ops, digits, work):
    index = {c["name"]: c for c in json.load(open(os.path.join(ops, "index.json")))["cases"]}
    failures = 0
    for name in CASES:
        c = index[name]
        d = os.path.join(ops, name)
        try:
            ok = check(vaiq, name, f"{d}/model.pb", {i["node"]: f"{d}/{i['file']}" for i in c["inputs"]},
                       [o["node"] for o in c["outputs"]], work)
        except RuntimeError as e:
            print(f"FAIL {name}: {e}")
            ok = False
        failures += not ok
    # The optimized float graph equals the original only without tuning (pof2s_tf1, the default).
    optimized = [] if STRATEGY else ["block_conv_bn_relu6", "block_residual", "block_inverted_residual", "fusedbatchnormv3", "block_classifier"]
    for name in optimized:
        c, d = index[name], os.path.join(ops, name)
        failures += not check_optimized(vaiq, name, f"{d}/model.pb", {i["node"]: f"{d}/{i['file']}" for i in c["inputs"]},
                                        [o["node"] for o in c["outputs"]], work)
    frozen = os.path.join(work, "digits_frozen.pb")
    run([vaiq, "freeze", "--graph", f"{digits}/models/digits/inference_graph.pb", "--checkpoint", f"{digits}/models/digits/train_dir",
         "--output_nodes", "logits", "-o", frozen])
    failures += not check(vaiq, "digits", frozen, {"input": f"{digits}/data/calib.npy"}, ["logits"], work, calib_iter=10)
    failures += not check_part(vaiq, frozen, digits, work)
    print(f"quantize oracle: {len(CASES) + 2 + len(optimized) - failures} passed, {failures} failed")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    # usage: quantize_oracle.py VAIQ OPS DIGITS WORK [STRATEGY]
    if len(sys.argv) > 5:
        STRATEGY[:] = ["--quantize_strategy", sys.argv[5]]
    main(*sys.argv[1:5])
