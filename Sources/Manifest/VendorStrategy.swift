import BuildCore
import TensorFlowIO

/// The Vitis AI TensorFlow 2 quantizer's JSON quantize strategy (what its
/// `dump_quantize_strategy` writes and `custom_quantize_strategy` reads), read as overrides of a
/// strategy of this project (`extends:`, else `pof2s`, the vendor's default). Each key becomes
/// the field it means for a frozen TF1 graph; a key that has no such meaning, or a value this
/// project does not build, is refused naming the key, never passed over. `null` keeps the base's.
enum VendorStrategy {
    static let sections = ["optimize_pipeline_config", "quantize_pipeline_config", "refine_pipeline_config",
                           "finalize_pipeline_config", "quantize_registry_config"]

    /// Whether a strategy file is in the vendor's format (it has one of its sections).
    static func isVendor(_ node: YAMLNode) -> Bool {
        guard case .mapping(let pairs, _) = node else { return false }
        return pairs.contains { sections.contains($0.key) }
    }

    typealias Entry = (key: String, keyLocation: SourceLocation, value: YAMLNode)

    /// What a pipeline key means here.
    private enum Rule {
        /// The field of the same meaning (a boolean).
        case field(String)
        /// A boolean written as an integer field: (true, false).
        case intField(String, Int, Int)
        /// Part of `simulate_dpu`: every such key given must agree.
        case simulateDPU
        /// What this project always does: only `value` is accepted.
        case always(Bool, String)
        /// No meaning for frozen TF1 graphs here, whatever the value.
        case refused(String)
    }

    private static let keras = "it rewrites Keras layers; a frozen TF1 graph has none"
    private static let output = "vaiq-build writes every cell's models under build/<cell>/ (quantize_eval_model.pb, deploy_model.pb)"
    private static let pipeline: [String: [String: Rule]] = [
        "optimize_pipeline_config": [
            "remove_dropout": .always(true, "dropout is always removed from an inference graph"),
            "fold_conv_bn": .field("fold_bn"), "convert_bn_to_dwconv": .field("fold_bn"),
            "convert_relu6_to_relu": .field("replace_relu6"), "include_cle": .field("do_cle"),
            "separate_conv_act": .refused(keras), "convert_tf_op_to_keras": .refused(keras), "separable_conv": .refused(keras),
            "train_with_bn": .refused("it keeps batch norms for quantize-aware training in Keras"),
            "cle_to_relu6": .refused("cross-layer equalization here replaces Relu6 by replace_relu6"),
            "cle_steps": .refused("cross-layer equalization here runs its own fixed schedule"),
            "cle_balance_method": .refused("cross-layer equalization here balances by the ranges' maxima"),
            "cle_weight_threshold": .refused("cross-layer equalization here has no weight threshold"),
        ],
        "quantize_pipeline_config": [
            "convert_sigmoid_to_hard_sigmoid": .field("replace_sigmoid"),
            "convert_hard_sigmoid_to_dpu_version": .simulateDPU, "convert_average_pooling2d_to_dpu_version": .simulateDPU,
            "convert_leaky_relu_to_dpu_version": .simulateDPU,
            "convert_softmax_to_dpu_version": .field("replace_softmax"),
            "convert_layernorm_to_dpu_version": .refused("layer normalization is not an op this project quantizes"),
            "freeze_bn_delay": .refused("quantize-aware training runs outside vaiq-build (the qat stage writes its graphs)"),
            "quantize_with_xcompiler": .refused("the DPU compiler is not run by vaiq-build"),
            "convert_datatype": .refused("data types other than the scheme's integers are not built"),
            "no_quant_in_conv_bn_act": .refused("the float-scale patterns here are fs's and fsx's own"),
            "no_quant_in_conv_act": .refused("the float-scale patterns here are fs's and fsx's own"),
            "no_quant_in_add_act": .refused("the float-scale patterns here are fs's and fsx's own"),
        ],
        "refine_pipeline_config": [
            "adjust_dpu_shift_cut": .intField("adjust_shift_cut", 1, 0), "adjust_dpu_shift_bias": .intField("adjust_shift_bias", 1, 0),
            "align_concat": .intField("align_concat", 0, 2), "align_pool": .intField("align_pool", 0, 2),
            "include_fast_ft": .field("include_fast_ft"), "include_bias_corr": .field("include_bias_corr"),
            "fast_ft_epochs": .field("fast_ft_epochs"),
            "adjust_dpu_sigmoid": .refused("the DPU's sigmoid position rules are not built"),
            "adjust_dpu_shift_read": .refused("the DPU's shift_read rule is not built"),
            "adjust_dpu_shift_write": .refused("the DPU's shift_write rule is not built"),
            "adjust_dpu_shift_swish": .refused("the DPU's shift_swish rule is not built"),
            "adjust_dpu_shift_bias_leakyrelu": .refused("the DPU's shift_bias rule before LeakyRelu is not built"),
            "convert_to_fs_quantize_strategy": .refused("a strategy's scheme is its quantize_scheme"),
            "convert_to_pof2s_quantize_strategy": .refused("a strategy's scheme is its quantize_scheme"),
        ],
        "finalize_pipeline_config": [
            "output_format": .refused(output), "onnx_opset_version": .refused(output), "output_dir": .refused(output),
        ],
    ]

    /// The strategy fields the file sets, in this project's schema (values keep the file's places).
    static func entries(_ node: YAMLNode, path: String) throws(ManifestError) -> [Entry] {
        let top = try MappingReader(node, what: "strategy file \(path)")
        try top.checkKeys(sections)
        var out: [Entry] = []
        var simulate: (Bool, SourceLocation)?
        func refuse(_ at: SourceLocation, _ key: String, _ reason: String) -> ManifestError {
            ManifestError(at, "'\(key)' is refused: \(reason)")
        }
        for section in top.entries {
            if section.key == "quantize_registry_config" {
                out += try registry(section.value, path: path)
                continue
            }
            let rules = pipeline[section.key]!
            let r = try MappingReader(section.value, what: "\(section.key)")
            try r.checkKeys(rules.keys.sorted())
            for e in r.entries where !e.value.isNull {
                let name = "\(section.key).\(e.key)"
                switch rules[e.key]! {
                case .field(let field):
                    out.append((field, e.keyLocation, e.value))
                case .intField(let field, let yes, let no):
                    out.append((field, e.keyLocation, .scalar(String(try e.value.bool(name) ? yes : no), plain: true, e.value.location)))
                case .simulateDPU:
                    let b = try e.value.bool(name)
                    if let (earlier, at) = simulate, earlier != b {
                        throw refuse(e.value.location, name, "it and the other convert_*_to_dpu_version keys (\(at)) are one setting here, simulate_dpu")
                    }
                    simulate = (b, e.value.location)
                case .always(let value, let reason):
                    guard try e.value.bool(name) == value else { throw refuse(e.value.location, name, reason) }
                case .refused(let reason):
                    throw refuse(e.keyLocation, name, reason)
                }
            }
        }
        if let (b, at) = simulate { out.append(("simulate_dpu", at, .scalar(b ? "true" : "false", plain: true, at))) }
        // One field set twice (fold_conv_bn and convert_bn_to_dwconv) must agree.
        var seen: [String: Entry] = [:]
        for e in out {
            if let first = seen[e.key], first.value.scalarText != e.value.scalarText {
                throw ManifestError(e.keyLocation, "this key and the one at \(first.keyLocation) both set \(e.key), to different values")
            }
            seen[e.key] = e
        }
        return out
    }

    /// `quantize_registry_config`: the user's global overrides and the per-layer quantizers.
    private static func registry(_ node: YAMLNode, path: String) throws(ManifestError) -> [Entry] {
        let r = try MappingReader(node, what: "quantize_registry_config")
        try r.checkKeys(["user_quantize_config", "input_quantize_config", "layer_quantize_config", "custom_layer_type"])
        var out: [Entry] = []
        if let user = r.optional("user_quantize_config") { out += try userConfig(user, path: path) }
        if let input = r.optional("input_quantize_config"), !input.isNull {
            throw ManifestError(input.location, "'quantize_registry_config.input_quantize_config' is refused: "
                                + "the graph inputs take activation_bit and input_method (user_quantize_config: activation_bit, input_method)")
        }
        if let custom = r.optional("custom_layer_type"), case .sequence(let items, _) = custom, !items.isEmpty {
            throw ManifestError(custom.location, "'quantize_registry_config.custom_layer_type' is refused: custom Keras layers have no place in a frozen TF1 graph")
        }
        if let layers = r.optional("layer_quantize_config"), !layers.isNull { out += try layerConfig(layers, path: path) }
        return out
    }

    /// Object blocks built from `user_quantize_config`'s `<object>_<key>` entries.
    private static func userConfig(_ node: YAMLNode, path: String) throws(ManifestError) -> [Entry] {
        let r = try MappingReader(node, what: "quantize_registry_config.user_quantize_config")
        var out: [Entry] = []
        var blocks: [String: [(String, SourceLocation, YAMLNode)]] = [:]
        let at = "quantize_registry_config.user_quantize_config"
        for e in r.entries where !e.value.isNull {
            let name = "\(at).\(e.key)"
            func refuse(_ reason: String) -> ManifestError { ManifestError(e.keyLocation, "'\(name)' is refused: \(reason)") }
            switch e.key {
            case "weight_bit", "activation_bit", "bias_bit", "input_layers", "output_layers", "ignore_layers":
                out.append((e.key, e.keyLocation, e.value))
            case "input_method":
                out.append(("input_method", e.keyLocation, e.value))
            case "activation_method_percentile":
                out.append(("calib_percentile", e.keyLocation, e.value))
            case "layer_config":
                if case .mapping(let pairs, _) = e.value, pairs.isEmpty { continue }
                throw refuse("per-layer data types are not built (ignore_layers leaves a layer float)")
            case "use_framework_quant":
                guard try e.value.bool(name) else { throw refuse("float scales are always TensorFlow's fake quantization here") }
            case "use_fixneuron_quant", "data_format", "input_method_percentile":
                throw refuse("vaiq-build writes FixNeurons for power-of-two models and TensorFlow fake quantization for float scales; the graph inputs follow calib_method")
            default:
                let parts = e.key.split(separator: "_", maxSplits: 1).map(String.init)
                guard parts.count == 2, ["input", "weight", "bias", "activation"].contains(parts[0]) else {
                    throw ManifestError(e.keyLocation, "unknown key '\(e.key)' in \(at)")
                }
                let (object, key) = (parts[0], parts[1])
                if key == "unsigned" {
                    guard try !e.value.bool(name) else { throw refuse("unsigned quantizers are not built") }
                    continue
                }
                if object == "input" {
                    // The graph inputs are quantized as activations: symmetric, per tensor, rounding half up.
                    let built: [String: String] = ["bit": "activation_bit", "symmetry": "true", "per_channel": "false", "round_mode": "1", "narrow_range": "false"]
                    guard let expected = built[key] else { throw ManifestError(e.keyLocation, "unknown key '\(e.key)' in \(at)") }
                    if key == "bit" { throw refuse("the graph inputs take activation_bit") }
                    guard e.value.scalarText == expected || (expected == "true" && e.value.scalarText == "1") || (expected == "false" && e.value.scalarText == "0") else {
                        throw refuse("the graph inputs are quantized as activations (symmetric, per tensor, round half up)")
                    }
                    continue
                }
                let blockKey: String
                switch key {
                case "method":
                    let m = try e.value.int(name, range: 0...3)
                    guard m <= 1 else { throw refuse("methods 2 (KL) and 3 (percentile) are float-scale activation ranges here: calib_method") }
                    blockKey = "method"
                case "round_mode": blockKey = "round_mode"
                case "symmetry": blockKey = "symmetric"
                case "per_channel": blockKey = "per_channel"
                case "narrow_range": blockKey = "narrow_range"
                default: throw ManifestError(e.keyLocation, "unknown key '\(e.key)' in \(at)")
                }
                blocks[object, default: []].append((blockKey, e.keyLocation, e.value))
            }
        }
        for (object, keys) in blocks.sorted(by: { $0.key < $1.key }) {
            let loc = keys[0].1
            out.append((object, loc, .mapping(keys.map { ($0.0, $0.1, $0.2) }, loc)))
        }
        return out
    }

    /// `layer_quantize_config` entries as one `layers:` value keyed by TF op types (the op table's
    /// `kerasLayers`).
    private static func layerConfig(_ node: YAMLNode, path: String) throws(ManifestError) -> [Entry] {
        guard case .sequence(let items, let loc) = node else {
            throw ManifestError(node.location, "quantize_registry_config.layer_quantize_config must be a list")
        }
        var layers: [(String, SourceLocation, YAMLNode)] = []
        for (i, item) in items.enumerated() {
            let at = "quantize_registry_config.layer_quantize_config[\(i)]"
            let r = try MappingReader(item, what: "\(at)")
            try r.checkKeys(["layer_type", "quantizable_weights", "weight_quantizers", "quantizable_biases", "bias_quantizers",
                             "quantizable_activations", "activation_quantizers", "quantizable_outputs", "output_quantizers",
                             "quantizable_inputs", "input_quantizers"])
            let typeNode = try r.required("layer_type")
            let type = try typeNode.string("\(at).layer_type")
            let className = String(type.split(separator: ".").last ?? "")
            guard let ops = TFOp.kerasLayers[className] else {
                throw ManifestError(typeNode.location, "'\(at).layer_type: \(type)' is refused: no op type of a frozen TF1 graph is that layer; "
                                    + "known: " + TFOp.kerasLayers.keys.sorted().joined(separator: ", "))
            }
            if let inputs = r.optional("input_quantizers"), case .sequence(let q, _) = inputs, !q.isEmpty {
                throw ManifestError(inputs.location, "'\(at).input_quantizers' is refused: a layer's inputs are quantized as the outputs that feed them")
            }
            var blocks: [(String, SourceLocation, YAMLNode)] = []
            // Weights: the kernel's quantizer; older files list the bias as a second weight.
            let weights = try names(r.optional("quantizable_weights"), "\(at).quantizable_weights")
            let weightQuantizers = try list(r.optional("weight_quantizers"))
            for (k, name) in weights.enumerated() {
                guard k < weightQuantizers.count else { break }
                let object = name == "bias" ? "bias" : "weight"
                guard ["kernel", "depthwise_kernel", "bias"].contains(name) else {
                    throw ManifestError(weightQuantizers[k].location, "'\(at).quantizable_weights: \(name)' is refused: only kernels and biases are weights of the op types here")
                }
                blocks.append((object, weightQuantizers[k].location, try quantizer(weightQuantizers[k], object: object, path: path, at: "\(at).weight_quantizers[\(k)]")))
            }
            for (k, q) in try list(r.optional("bias_quantizers")).enumerated() {
                blocks.append(("bias", q.location, try quantizer(q, object: "bias", path: path, at: "\(at).bias_quantizers[\(k)]")))
            }
            let outputs = try list(r.optional("activation_quantizers")) + list(r.optional("output_quantizers"))
            for (k, q) in outputs.enumerated() {
                blocks.append(("activation", q.location, try quantizer(q, object: "activation", path: path, at: "\(at).activation or output quantizer \(k)")))
            }
            for op in ops.map(\.rawValue).sorted() where !blocks.isEmpty {
                if let earlier = layers.first(where: { $0.0 == op }), earlier.2 != .mapping(blocks, item.location) {
                    throw ManifestError(typeNode.location, "'\(at)' sets op type \(op) differently from the entry at \(earlier.1)")
                }
                if !layers.contains(where: { $0.0 == op }) { layers.append((op, typeNode.location, .mapping(blocks, item.location))) }
            }
        }
        return layers.isEmpty ? [] : [("layers", loc, .mapping(layers, loc))]
    }

    private static func list(_ node: YAMLNode?) throws(ManifestError) -> [YAMLNode] {
        guard let node, !node.isNull else { return [] }
        guard case .sequence(let items, _) = node else { throw ManifestError(node.location, "expected a list of quantizers") }
        return items
    }

    private static func names(_ node: YAMLNode?, _ what: String) throws(ManifestError) -> [String] {
        guard let node, !node.isNull else { return [] }
        return try node.stringList(what)
    }

    /// One `{quantizer_type, quantizer_params}` as a `layers:` block (bit_width, method); every
    /// other parameter must be what this project does for the object.
    private static func quantizer(_ node: YAMLNode, object: String, path: String, at: String) throws(ManifestError) -> YAMLNode {
        let r = try MappingReader(node, what: "\(at)")
        try r.checkKeys(["quantizer_type", "quantizer_params"])
        let typeNode = try r.required("quantizer_type")
        let type = try typeNode.string("\(at).quantizer_type")
        guard ["Pof2SQuantizer", "LastValueQuantPosQuantizer"].contains(type) else {
            throw ManifestError(typeNode.location, "'\(at).quantizer_type: \(type)' is refused: per-layer quantizers here are power-of-two "
                                + "(Pof2SQuantizer); float scales are a strategy's weight: {scheme: fs} under quantize_scheme fs or fsx, "
                                + "trained thresholds are quantize_scheme pof2s_tqt")
        }
        var out: [(String, SourceLocation, YAMLNode)] = []
        guard let params = r.optional("quantizer_params") else { return .mapping([], node.location) }
        let p = try MappingReader(params, what: "\(at).quantizer_params")
        // What the power-of-two quantizers here do: (key, accepted texts, reason).
        let roundMode = String(ObjectBlock.builtRoundMode(object, floatScale: false))
        let fixed: [String: ([String], String)] = [
            "round_mode": ([roundMode], object == "activation" ? "DPU activations round half up (1)"
                                                              : "power-of-two \(object)s round half away from zero (2), as vai_q_tensorflow"),
            "symmetry": (["true", "True", "1"], "power-of-two quantizers are symmetric"),
            "per_channel": (["false", "False", "0"], "DPUs scale each tensor by one power of two"),
            "unsigned": (["false", "False", "0"], "unsigned quantizers are not built"),
            "narrow_range": (["false", "False", "0"], "power-of-two ranges are [-2^(b-1), 2^(b-1)-1]"),
            "use_fixneuron_quant": (["0"], "FixNeurons are how every power-of-two model here is written"),
        ]
        for e in p.entries where !e.value.isNull {
            switch e.key {
            case "bit_width": out.append(("bit_width", e.keyLocation, e.value))
            case "method":
                let m = try e.value.int("\(at).method", range: 0...3)
                guard m <= 1 else {
                    throw ManifestError(e.value.location, "'\(at).quantizer_params.method: \(m)' is refused: power-of-two quantizers take method 0 (non-overflow) or 1 (min MSE)")
                }
                out.append(("method", e.keyLocation, e.value))
            case "channel_axis":
                continue   // meaningful only per channel, which is refused above
            default:
                guard let (accepted, reason) = fixed[e.key] else {
                    throw ManifestError(e.keyLocation, "unknown quantizer parameter '\(e.key)' in \(at)")
                }
                guard let text = e.value.scalarText, accepted.contains(text) else {
                    throw ManifestError(e.value.location, "'\(at).quantizer_params.\(e.key): \(e.value.scalarText ?? "?")' is refused: \(reason)")
                }
            }
        }
        return .mapping(out, node.location)
    }
}

extension YAMLNode {
    /// JSON's `null` (and YAML's `~`): "keep what the base strategy has".
    var isNull: Bool { if case .scalar(let s, true, _) = self { ["null", "~", "Null", "NULL"].contains(s) } else { false } }
    var scalarText: String? { if case .scalar(let s, _, _) = self { s } else { nil } }
}
