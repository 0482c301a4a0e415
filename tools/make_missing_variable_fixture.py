"""Writes a variables bundle for the `functional` SavedModel fixture that lacks one variable,
for the reader's "variable missing from the bundle" error test.

    .venv/bin/python tools/make_missing_variable_fixture.py

Reads Tests/Fixtures/savedmodel/functional/model/variables/ and writes every tensor but the first
`variables/<i>/.ATTRIBUTES/VARIABLE_VALUE` key (in sorted order) to
Tests/Fixtures/savedmodel/missing_variable/variables/variables.{index,data-00000-of-00001} with
TensorFlow's SaveV2. The test puts these beside a copy of the model's saved_model.pb.
"""
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "savedmodel")
source = os.path.join(ROOT, "functional", "model", "variables", "variables")
out_dir = os.path.join(ROOT, "missing_variable", "variables")
shutil.rmtree(os.path.dirname(out_dir), ignore_errors=True)
os.makedirs(out_dir)

reader = tf.train.load_checkpoint(source)
keys = sorted(reader.get_variable_to_dtype_map())
dropped = next(k for k in keys if k.startswith("variables/") and k.endswith("/.ATTRIBUTES/VARIABLE_VALUE"))
kept = [k for k in keys if k != dropped]
tensors = [tf.constant(reader.get_tensor(k)) for k in kept]
tf.raw_ops.SaveV2(prefix=os.path.join(out_dir, "variables"), tensor_names=kept,
                  shape_and_slices=[""] * len(kept), tensors=tensors)
print("dropped", dropped, "kept", len(kept))
