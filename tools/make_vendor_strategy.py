#!/usr/bin/env python3
"""Writes the vendor-format quantize strategy fixtures (Tests/Fixtures/vendor/) from the layout
the Vitis AI TensorFlow 2 quantizer documents for its JSON strategies ("Configure the Quantize
Strategy", UG1414; what its dump_quantize_strategy writes): the pipeline sections, and
quantize_registry_config with user_quantize_config and layer_quantize_config entries keyed by
Keras layer classes. Values follow its pof2s defaults where this project builds them.

  quantize_strategy.json  imports: 32-bit biases, the model quantized after its first pooling
                          (input_layers), 4-bit depthwise kernels, no CLE, bias correction.
  keras_only.json         the same with one key that means nothing for a frozen TF1 graph.
"""
import copy, json, os, sys

def quantizer(bits, method, round_mode):
    return {"quantizer_type": "Pof2SQuantizer",
            "quantizer_params": {"bit_width": bits, "method": method, "round_mode": round_mode, "symmetry": True,
                                 "per_channel": False, "channel_axis": -1, "unsigned": False, "narrow_range": False}}

def layer(layer_type, kernel, kernel_bits):
    return {"layer_type": "tensorflow.keras.layers." + layer_type,
            "quantizable_weights": [kernel], "weight_quantizers": [quantizer(kernel_bits, 1, 2)],
            "quantizable_biases": ["bias"], "bias_quantizers": [quantizer(32, 1, 2)],
            "quantizable_activations": ["activation"], "activation_quantizers": [quantizer(8, 1, 1)]}

user = {name: None for name in (
    [f"{o}_{k}" for o in ("input", "weight", "bias", "activation")
     for k in ("bit", "method", "symmetry", "per_channel", "round_mode", "unsigned", "narrow_range")]
    + ["use_framework_quant", "use_fixneuron_quant", "data_format", "activation_method_percentile"])}
user.update({"bias_bit": 32, "weight_bit": 8, "activation_bit": 8, "weight_method": 1, "activation_method": 1,
             "input_layers": ["MaxPool2d"], "output_layers": [], "ignore_layers": [], "layer_config": {}})

strategy = {
    "optimize_pipeline_config": {"remove_dropout": True, "fold_conv_bn": True, "convert_bn_to_dwconv": True,
                                 "include_cle": False},
    "quantize_pipeline_config": {"convert_sigmoid_to_hard_sigmoid": False, "convert_hard_sigmoid_to_dpu_version": True,
                                 "convert_average_pooling2d_to_dpu_version": True, "convert_leaky_relu_to_dpu_version": True,
                                 "convert_softmax_to_dpu_version": False},
    "refine_pipeline_config": {"adjust_dpu_shift_cut": True, "adjust_dpu_shift_bias": True, "align_concat": True,
                               "align_pool": True, "include_fast_ft": False, "fast_ft_epochs": 10, "include_bias_corr": True},
    "finalize_pipeline_config": {},
    "quantize_registry_config": {
        "user_quantize_config": user,
        "custom_layer_type": [],
        "layer_quantize_config": [layer("DepthwiseConv2D", "depthwise_kernel", 4), layer("Conv2D", "kernel", 8),
                                  {"layer_type": "tensorflow.keras.layers.Reshape"}],
    },
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "vendor")
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "quantize_strategy.json"), "w") as f:
    json.dump(strategy, f, indent=2)
    f.write("\n")
keras = copy.deepcopy(strategy)
keras["optimize_pipeline_config"]["separate_conv_act"] = True
with open(os.path.join(out, "keras_only.json"), "w") as f:
    json.dump(keras, f, indent=2)
    f.write("\n")
