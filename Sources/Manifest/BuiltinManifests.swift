// Generated from manifests/*.yaml by tools/embed_manifests.sh (make builtins). Do not edit.
public enum BuiltinManifests {
    /// (file name, YAML text) of every built-in manifest.
    public static let files: [(String, String)] = [
        ("<builtin>/strategies.yaml", #"""
# Built-in quantize strategies (embedded in vaiq-build; `make builtins` regenerates the Swift copy).
# Field names follow vai_q_tensorflow's flags; user manifests `extends:` or override these.
# pof2s_tf1 lists every field at its default. A field that does not act for a strategy's scheme
# (per_channel under pof2s, align_concat under fs, ...) may only keep that default: any other
# value is refused at load (`vaiq-build show NAME` marks each field acting or not applicable).
strategies:
  pof2s_tf1:
    description: Power-of-two scales, 8-bit, as vai_q_tensorflow (TF1) quantizes (its defaults; the `quantize` command's default).
    quantize_scheme: pof2s
    weight_bit: 8
    activation_bit: 8
    bias_bit: 0              # 0: the weights' bit width (vai_q_tensorflow's rule)
    layers: {}               # per TF op type: {Conv2D: {weight: {bit_width: 4, method: 1}, bias: {bit_width: 16}, activation: {...}}}
    method: 1                # 0 non-overflow, 1 min-diffs, 2 min-diffs + depthwise strategy
    input_method: 0          # the graph inputs' method (vai_q: always 0, non-overflow)
    nodes_bit: {}
    nodes_method: {}
    ignore_nodes: []
    ignore_layers: []        # joins ignore_nodes (the vendor's name)
    input_layers: []         # the quantized part starts at these nodes' outputs (before them: float, not optimized)
    output_layers: []        # ... and ends at these nodes (after them: float)
    align_concat: 0          # 0 all concats, 1 output concats only, 2 none
    align_pool: 0
    align_rule: tf1          # tf1: concat/pool inputs take the output's position; min: the smallest of all (never clips)
    adjust_shift_bias: 1     # 0 off, 1 static, 2 dynamic
    adjust_shift_cut: 1
    simulate_dpu: true
    scale_all_avgpool: true
    fold_constant: true
    fold_bn: true
    do_cle: false
    replace_relu6: true      # acts only with do_cle
    replace_sigmoid: false
    replace_softmax: false
    keep_float_weight: true
    per_channel: false
    calib_method: minmax
    calib_percentile: 99.9999
    activation_symmetry: true # fs/fsx: false gives activations the observed [min, max] (a zero point)
    include_fast_ft: false   # layer-wise fast finetuning (AdaQuant) of weights and biases
    fast_ft_epochs: 10       # acts only with include_fast_ft
    include_bias_corr: false # bias correction from the calibration data
  pof2s:
    extends: pof2s_tf1
    description: Power-of-two scales, 8-bit, the DPU's native scheme, with bias correction and the non-clipping align rule (as vai_q_tensorflow2's defaults), and min-diffs positions for the graph inputs (vai_q uses non-overflow).
    align_rule: min
    include_bias_corr: true
    input_method: 1
  pof2s_ft:
    extends: pof2s
    description: pof2s with fast finetuning (layer-wise AdaQuant on the calibration data) after the bias correction.
    include_fast_ft: true
  pof2s_tqt:
    extends: pof2s_tf1
    description: Power-of-two with trained thresholds (QAT); calibrated like pof2s_tf1 before training.
    quantize_scheme: pof2s_tqt
    method: 0
  fs:
    extends: pof2s_tf1
    description: Float scales for CPU/GPU targets; per-channel weights, KL-calibrated inputs, BN kept.
    quantize_scheme: fs
    per_channel: true
    fold_bn: false
    simulate_dpu: false
    calib_method: kl
  fsx:
    extends: fs
    description: Float scales with activations quantized too (KL), BN folded.
    quantize_scheme: fsx
    fold_bn: true
"""#),
        ("<builtin>/targets.yaml", #"""
# Built-in DPU targets (embedded in vaiq-build; `make builtins` regenerates the Swift copy).
# arch_type DPUCADF8H clamps activations to [-127, 127]; every other DPU uses [-128, 127].
# deploy_format: deploy_model is what vaiq-build writes (the legacy extended GraphDef); an xmodel
# is the Vitis AI compiler's output (vai_c_tensorflow), as is the DPU fingerprint it embeds.
# supported_ops names the DPU operations (`inspect --target NAME` marks the nodes a target runs).
# accepts states, per object, the schemes (pof2s: power-of-two scales; fs: float scales; float:
# not quantized) and bit widths a target runs; a build cell asking for anything else is refused
# at load. The DPUs run 8-bit power-of-two weights, biases and activations; float scales need
# floating-point support (the vendor's fs and fsx cannot be deployed to a DPU).
targets:
  DPUCZDX8G:
    description: Zynq UltraScale+ MPSoC / Kria edge DPU (e.g. DPUCZDX8G_ISA1_B4096).
    arch_type: DEFAULT
    deploy_format: deploy_model
    supported_ops: [conv2d, depthwise_conv2d, conv2d_transpose, dense, relu, relu6, leaky_relu, hard_sigmoid,
                    add, mul, concat, max_pool, avg_pool, mean, pad, reshape, resize, depth_to_space]
    accepts:
      weight: {schemes: [pof2s], bit_widths: [8]}
      bias: {schemes: [pof2s], bit_widths: [8]}
      activation: {schemes: [pof2s], bit_widths: [8]}
  DPUCAHX8H:
    extends: DPUCZDX8G
    description: Alveo HBM throughput DPU (U50, U55C, U280), DPUCAHX8H_ISA2; no depthwise engine.
    supported_ops: [conv2d, conv2d_transpose, dense, relu, relu6, leaky_relu, add, concat, max_pool, avg_pool,
                    pad, reshape, resize]
  DPUCADF8H:
    extends: DPUCZDX8G
    description: Alveo U200/U250 DPU, DPUCADF8H_ISA0; activations saturate at [-127, 127].
    arch_type: DPUCADF8H
  DPUCVDX8G:
    extends: DPUCZDX8G
    description: Versal AI Core edge DPU (VCK190), DPUCVDX8G_ISA3.
  DPUCV2DX8G:
    extends: DPUCZDX8G
    description: Versal AI Edge / V70 DPU (VEK280, V70), DPUCV2DX8G_ISA1.
  dpu-sim:
    description: The DPU's power-of-two arithmetic at any bit width (weights and activations 2-16, biases 2-32), for accuracy studies; evaluated in simulation, no DPU runs widths other than 8.
    arch_type: DEFAULT
    deploy_format: deploy_model
    supported_ops: [conv2d, depthwise_conv2d, conv2d_transpose, dense, relu, relu6, leaky_relu, hard_sigmoid,
                    add, mul, concat, max_pool, avg_pool, mean, pad, reshape, resize, depth_to_space]
    accepts:
      weight: {schemes: [pof2s], bit_widths: [2-16]}
      bias: {schemes: [pof2s], bit_widths: [2-32]}
      activation: {schemes: [pof2s], bit_widths: [2-16]}
  cpu:
    description: CPUs and GPUs running the quantized model as stock TensorFlow (fake quantization); float or power-of-two scales; no DPU operations.
    arch_type: DEFAULT
    deploy_format: deploy_model
    supported_ops: []
    accepts:
      weight: {schemes: [pof2s, fs], bit_widths: [2-16]}
      bias: {schemes: [pof2s, float], bit_widths: [2-32]}
      activation: {schemes: [pof2s, fs], bit_widths: [2-16]}
"""#),
    ]
}
