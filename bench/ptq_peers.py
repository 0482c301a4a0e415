"""The peers of bench/ptq.sh: TFLite and onnxruntime post-training quantization of a frozen
GraphDef up to its logits node, plus the untimed set-up (inputs, float logits, ONNX conversion)
and the accuracy of every quantized model against the float one.

    ptq_peers.py inputs SHAPE N SEED OUT.npy        seeded N(0, 1) float32 rows of SHAPE (e.g. 224,224,3)
    ptq_peers.py prepare GRAPH LOGITS HELDOUT DIR   DIR/float_logits.npy (TensorFlow) and DIR/float.onnx
                                                    (tf2onnx, then quant_pre_process), not timed
    ptq_peers.py tflite GRAPH LOGITS CALIB OUT.tflite per-channel|per-tensor
    ptq_peers.py ort MODEL.onnx CALIB OUT.onnx per-channel|per-tensor
    ptq_peers.py eval MODEL HELDOUT OUT.npy         logits of a .tflite or .onnx model on HELDOUT
    ptq_peers.py accuracy LABEL_JSON FLOAT.npy QUANT.npy ERRORS [LABELS.npy]
                                                        LABEL + {"sqnr_db", "top1_agreement"[, "top1", "float_top1"]}
    ptq_peers.py time LABEL_JSON OUT.jsonl STDOUT_FILE -- CMD...

The graph's input node is `input` (Keras models and the digits example alike). tflite and ort
print {"call_seconds": ...}: the time of the quantizing call alone, inside the process. Every
framework is imported only by the subcommand that needs it, so the ort process never loads
TensorFlow and `time` (the wrapper around each timed process) loads neither.
"""
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
INPUT = "input"


def load_graph_def(path):
    import tensorflow as tf
    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    return graph_def


def inputs(shape, n, seed, out):
    import numpy as np
    dims = [int(d) for d in shape.split(",")]
    np.save(out, np.random.default_rng(int(seed)).standard_normal([int(n)] + dims, dtype=np.float32))


def prepare(graph, logits, heldout, out_dir):
    import numpy as np
    import tensorflow as tf
    import tf2onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process
    graph_def = load_graph_def(graph)
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            float_logits = sess.run(logits + ":0", {INPUT + ":0": np.load(heldout)})
    np.save(os.path.join(out_dir, "float_logits.npy"), float_logits)
    raw = os.path.join(out_dir, "float_raw.onnx")
    tf2onnx.convert.from_graph_def(graph_def, input_names=[INPUT + ":0"], output_names=[logits + ":0"],
                                   opset=17, output_path=raw)
    # ORT's documented step before quantize_static (shape inference + graph optimization).
    quant_pre_process(raw, os.path.join(out_dir, "float.onnx"))


def tflite(graph, logits, calib, out, variant):
    import numpy as np
    import tensorflow as tf
    data = np.load(calib)
    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        graph, [INPUT], [logits], input_shapes={INPUT: [1] + list(data.shape[1:])})
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([data[i:i + 1]] for i in range(len(data)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # Float in and out, so the model's logits compare directly with the float graph's.
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.float32
    converter._experimental_disable_per_channel = variant == "per-tensor"
    start = time.perf_counter()
    model = converter.convert()
    seconds = time.perf_counter() - start
    open(out, "wb").write(model)
    print(json.dumps({"call_seconds": seconds}))


def ort(model, calib, out, variant):
    import numpy as np
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    import onnxruntime

    class Reader(CalibrationDataReader):
        """The calibration rows one at a time (batch 1), as TFLite's representative dataset gives them."""

        def __init__(self, name, data):
            self.rows = iter(data[i:i + 1] for i in range(len(data)))
            self.name = name

        def get_next(self):
            row = next(self.rows, None)
            return None if row is None else {self.name: row}

    name = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    reader = Reader(name, np.load(calib))
    start = time.perf_counter()
    quantize_static(model, out, reader, quant_format=QuantFormat.QDQ, per_channel=variant == "per-channel",
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    print(json.dumps({"call_seconds": time.perf_counter() - start}))


def evaluate(model, heldout, out):
    import numpy as np
    data = np.load(heldout)
    if model.endswith(".onnx"):
        import onnxruntime
        session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
        logits = session.run(None, {session.get_inputs()[0].name: data})[0]
    else:
        import tensorflow as tf
        interpreter = tf.lite.Interpreter(model_path=model, num_threads=2)
        interpreter.allocate_tensors()
        inp, outp = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
        rows = []
        for i in range(len(data)):  # the model was converted for batch 1
            interpreter.set_tensor(inp, data[i:i + 1])
            interpreter.invoke()
            rows.append(interpreter.get_tensor(outp).copy())
        logits = np.concatenate(rows)
    np.save(out, logits.reshape(len(data), -1))


def accuracy(label_json, float_path, quant_path, error_file, labels_path=""):
    """Prints LABEL plus the logits SQNR and top-1 agreement (with LABELS, also both models' top-1
    accuracy against them), or the error text of the step that made no logits."""
    import numpy as np
    record = json.loads(label_json)
    if os.path.exists(float_path) and os.path.exists(quant_path):
        f = np.load(float_path).astype(np.float64)
        q = np.load(quant_path).astype(np.float64).reshape(f.shape)
        record.update(sqnr_db=float(10 * np.log10((f ** 2).sum() / ((f - q) ** 2).sum())),
                      top1_agreement=float((f.argmax(1) == q.argmax(1)).mean()))
        if labels_path:
            y = np.load(labels_path).reshape(-1)
            record.update(top1=float((q.argmax(1) == y).mean()), float_top1=float((f.argmax(1) == y).mean()))
    else:
        text = open(error_file).read() if os.path.exists(error_file) else ""
        record["accuracy_error"] = " ".join(text.split())[-300:] or "no logits"
    print(json.dumps(record))


def timed(label_json, results, stdout_file, cmd):
    """Runs CMD as a fresh process: wall time, its peak RSS (RUSAGE_CHILDREN: this wrapper has no other
    child), the call time it prints as its last stdout line, or the tail of its stderr if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    record = json.loads(label_json)
    record.update(seconds=time.perf_counter() - start, peak_rss_kb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  rc=proc.returncode)
    open(stdout_file, "w").write(proc.stdout)
    last = proc.stdout.strip().splitlines()[-1:] or [""]
    if proc.returncode != 0:
        record["error"] = " ".join(proc.stderr.strip().splitlines()[-3:])[-400:]
    elif last[0].startswith("{"):
        record.update(json.loads(last[0]))
    with open(results, "a") as f:
        f.write(json.dumps(record) + "\n")
    print("%-40s %7.2f s %6.0f MB%s" % (" ".join(str(v) for v in json.loads(label_json).values()), record["seconds"],
                                       record["peak_rss_kb"] / 1024, "  FAILED: " + record["error"] if "error" in record else ""),
          file=sys.stderr)


def main(argv):
    command, args = argv[0], argv[1:]
    if command == "time":
        sep = args.index("--")
        timed(*args[:sep], args[sep + 1:])
    else:
        {"inputs": inputs, "prepare": prepare, "tflite": tflite, "ort": ort, "eval": evaluate,
         "accuracy": accuracy}[command](*args)


if __name__ == "__main__":
    main(sys.argv[1:])
