import BuildCore
import Manifest
import PTQ
import Quantizer
import TensorFlowIO

/// Every field of a strategy: its manifest name (vai_q_tensorflow's flag name), how its value
/// lands in `QuantizeStrategy`, and when it does not act. This table is the one place that
/// decides whether a key is honoured: a field that does not act for a strategy may keep its
/// default (which is what happens anyway); any other value is refused at load, so nobody sets a
/// key believing it acted.
public struct StrategyField: Sendable {
    public let name: String
    /// Why the field does not act for `strategy` (nil: it acts); `notYet` when it could, but is not built.
    public let inert: @Sendable (QuantizeStrategy) -> Inertness?
    let read: @Sendable (inout QuantizeStrategy, ParameterValue) -> Void
    let value: @Sendable (QuantizeStrategy) -> ParameterValue

    public struct Inertness: Sendable, Equatable {
        public let reason: String
        public let notYet: Bool
    }

    public func value(of strategy: QuantizeStrategy) -> ParameterValue { value(strategy) }
}

extension StrategyField {
    private static func acts(_ s: QuantizeStrategy) -> Inertness? { nil }
    private static func unless(_ condition: @escaping @Sendable (QuantizeStrategy) -> Bool, _ reason: String,
                               notYet: Bool = false) -> @Sendable (QuantizeStrategy) -> Inertness? {
        { condition($0) ? nil : Inertness(reason: reason, notYet: notYet) }
    }
    private static let pof2: @Sendable (QuantizeStrategy) -> Bool = { !$0.scheme.isFloatScale }
    private static let positionsOnly = "float scales have no fix positions to search, align or shift"
    private static let pof2sOnly: @Sendable (QuantizeStrategy) -> Bool = { $0.scheme == .pof2s }
    private static let finetuneReason = "fast finetuning and bias correction are built for pof2s"

    private static func int(_ name: String, _ path: WritableKeyPath<QuantizeStrategy, Int> & Sendable,
                            inert: @escaping @Sendable (QuantizeStrategy) -> Inertness? = acts) -> StrategyField {
        StrategyField(name: name, inert: inert, read: { s, v in if case .int(let i) = v { s[keyPath: path] = i } },
                      value: { .int($0[keyPath: path]) })
    }
    private static func bool(_ name: String, _ path: WritableKeyPath<QuantizeStrategy, Bool> & Sendable,
                             inert: @escaping @Sendable (QuantizeStrategy) -> Inertness? = acts) -> StrategyField {
        StrategyField(name: name, inert: inert, read: { s, v in if case .bool(let b) = v { s[keyPath: path] = b } },
                      value: { .bool($0[keyPath: path]) })
    }
    private static func intMap(_ name: String, _ path: WritableKeyPath<QuantizeStrategy, [String: Int]> & Sendable,
                               inert: @escaping @Sendable (QuantizeStrategy) -> Inertness?) -> StrategyField {
        StrategyField(name: name, inert: inert,
                      read: { s, v in if case .map(let m) = v { s[keyPath: path] = m.compactMapValues { if case .int(let i) = $0 { i } else { nil } } } },
                      value: { .map($0[keyPath: path].mapValues { .int($0) }) })
    }
    private static func stringList(_ name: String, _ path: WritableKeyPath<QuantizeStrategy, [String]> & Sendable,
                                   inert: @escaping @Sendable (QuantizeStrategy) -> Inertness? = acts) -> StrategyField {
        StrategyField(name: name, inert: inert,
                      read: { s, v in if case .list(let l) = v { s[keyPath: path] = l.compactMap { if case .string(let x) = $0 { x } else { nil } } } },
                      value: { .list($0[keyPath: path].map { .string($0) }) })
    }
    private static func choice<T: RawRepresentable & Sendable>(_ name: String, _ path: WritableKeyPath<QuantizeStrategy, T> & Sendable,
                                                               inert: @escaping @Sendable (QuantizeStrategy) -> Inertness? = acts)
        -> StrategyField where T.RawValue == String {
        StrategyField(name: name, inert: inert,
                      read: { s, v in if case .string(let raw) = v, let t = T(rawValue: raw) { s[keyPath: path] = t } },
                      value: { .string($0[keyPath: path].rawValue) })
    }

    /// A `weight:` / `bias:` / `activation:` block's own keys (its shorthand keys live in their
    /// flat fields); `checkObjectQuantizers` decides which values act.
    private static func objectField(_ name: String, _ path: WritableKeyPath<QuantizeStrategy, ObjectQuantizer> & Sendable) -> StrategyField {
        StrategyField(name: name, inert: acts,
                      read: { s, v in
                          guard case .map(let m) = v else { return }
                          var q = ObjectQuantizer()
                          switch m["scheme"] {
                          case .string("float")?: q.float = true
                          case .string(let raw)?: q.scheme = ObjectScheme(rawValue: raw)
                          default: break
                          }
                          if case .int(let i)? = m["method"] { q.method = PositionMethod(rawValue: i) }
                          if case .int(let i)? = m["round_mode"] { q.roundMode = i }
                          if case .bool(let b)? = m["narrow_range"] { q.narrowRange = b }
                          if case .bool(let b)? = m["symmetric"] { q.symmetric = b }
                          if case .bool(let b)? = m["per_channel"] { q.perChannel = b }
                          s[keyPath: path] = q
                      },
                      value: { objectValue($0[keyPath: path]) })
    }

    /// Every strategy field but `description`, in manifest order.
    public static let all: [StrategyField] = [
        choice("quantize_scheme", \.scheme),
        int("weight_bit", \.weightBit),
        int("activation_bit", \.activationBit),
        int("bias_bit", \.biasBit, inert: unless(pof2, "float-scale biases follow their scheme's rule", notYet: true)),
        StrategyField(name: "layers", inert: unless(pof2, "per-op-type quantizers are built for power-of-two positions", notYet: true),
                      read: { s, v in s.layers = layerQuantizers(v) }, value: { layersValue($0.layers) }),
        objectField("weight", \.weightQuantizer),
        objectField("bias", \.biasQuantizer),
        objectField("activation", \.activationQuantizer),
        StrategyField(name: "method", inert: unless(pof2, "float scales choose ranges by calib_method"),
                      read: { s, v in if case .int(let i) = v, let m = PositionMethod(rawValue: i) { s.method = m } },
                      value: { .int($0.method.rawValue) }),
        StrategyField(name: "input_method", inert: unless(pof2, "float scales choose ranges by calib_method"),
                      read: { s, v in if case .int(let i) = v, let m = PositionMethod(rawValue: i) { s.inputMethod = m } },
                      value: { .int($0.inputMethod.rawValue) }),
        intMap("nodes_bit", \.nodesBit, inert: unless(pof2, "per-node bit widths are built for power-of-two positions only", notYet: true)),
        intMap("nodes_method", \.nodesMethod, inert: unless(pof2, "float scales choose ranges by calib_method")),
        stringList("ignore_nodes", \.ignoreNodes),
        stringList("ignore_layers", \.ignoreLayers),
        stringList("input_layers", \.inputLayers, inert: unless(pof2, "a quantized part is built for power-of-two positions", notYet: true)),
        stringList("output_layers", \.outputLayers, inert: unless(pof2, "a quantized part is built for power-of-two positions", notYet: true)),
        int("align_concat", \.alignConcat, inert: unless(pof2, positionsOnly)),
        int("align_pool", \.alignPool, inert: unless(pof2, positionsOnly)),
        choice("align_rule", \.alignRule, inert: unless(pof2, positionsOnly)),
        int("adjust_shift_bias", \.adjustShiftBias, inert: unless(pof2, positionsOnly)),
        int("adjust_shift_cut", \.adjustShiftCut, inert: unless(pof2, positionsOnly)),
        bool("simulate_dpu", \.rewrites.simulateDPU),
        bool("scale_all_avgpool", \.rewrites.scaleAllAvgpool, inert: unless({ $0.rewrites.simulateDPU }, "it acts only with simulate_dpu: true")),
        bool("fold_constant", \.rewrites.foldConstant),
        bool("fold_bn", \.rewrites.foldBN),
        bool("do_cle", \.rewrites.doCLE),
        bool("replace_relu6", \.rewrites.replaceRelu6, inert: unless({ $0.rewrites.doCLE }, "Relu6 is replaced only for cross-layer equalization (do_cle: true)")),
        bool("replace_sigmoid", \.rewrites.replaceSigmoid, inert: unless({ $0.rewrites.simulateDPU }, "it acts only with simulate_dpu: true")),
        bool("replace_softmax", \.replaceSoftmax,
             inert: { _ in Inertness(reason: "the DPU's bfloat16 softmax is not built", notYet: true) }),
        bool("keep_float_weight", \.keepFloatWeight,
             inert: unless(pof2, "float-scale models keep float weights behind their fake quantization", notYet: true)),
        bool("per_channel", \.perChannel,
             inert: unless({ $0.scheme.isFloatScale }, "DPUs scale each tensor by one power of two; per-channel scales need quantize_scheme fs or fsx")),
        choice("calib_method", \.calibMethod, inert: unless({ $0.scheme.isFloatScale }, "power-of-two positions are chosen by method")),
        StrategyField(name: "calib_percentile",
                      inert: unless({ $0.scheme.isFloatScale && $0.calibMethod == .percentile }, "it acts only with calib_method: percentile under fs or fsx"),
                      read: { s, v in
                          switch v {
                          case .double(let d): s.calibPercentile = d
                          case .int(let i): s.calibPercentile = Double(i)
                          default: break
                          }
                      },
                      value: { .double($0.calibPercentile) }),
        bool("activation_symmetry", \.activationSymmetry,
             inert: unless({ $0.scheme.isFloatScale }, "power-of-two positions are symmetric: the DPU has no zero point")),
        bool("include_fast_ft", \.includeFastFt, inert: unless(pof2sOnly, finetuneReason, notYet: true)),
        int("fast_ft_epochs", \.fastFtEpochs, inert: unless({ $0.includeFastFt }, "it acts only with include_fast_ft: true")),
        bool("include_bias_corr", \.includeBiasCorr, inert: unless(pof2sOnly, finetuneReason, notYet: true)),
    ]

    public static func named(_ name: String) -> StrategyField? { all.first { $0.name == name } }
}

/// A `layers:` value (op type -> weight / bias / activation blocks) as typed quantizers.
private func layerQuantizers(_ value: ParameterValue) -> [String: LayerQuantizers] {
    guard case .map(let ops) = value else { return [:] }
    func int(_ block: ParameterValue?, _ key: String) -> Int? {
        if case .map(let m)? = block, case .int(let i)? = m[key] { i } else { nil }
    }
    return ops.compactMapValues { layer in
        guard case .map(let blocks) = layer else { return nil }
        return LayerQuantizers(weightBit: int(blocks["weight"], "bit_width"),
                               weightMethod: int(blocks["weight"], "method").flatMap(PositionMethod.init(rawValue:)),
                               biasBit: int(blocks["bias"], "bit_width"),
                               activationBit: int(blocks["activation"], "bit_width"),
                               activationMethod: int(blocks["activation"], "method").flatMap(PositionMethod.init(rawValue:)),
                               biasMethod: int(blocks["bias"], "method").flatMap(PositionMethod.init(rawValue:)))
    }
}

/// Typed quantizers back as the manifest value (blocks and keys only where set).
private func layersValue(_ layers: [String: LayerQuantizers]) -> ParameterValue {
    .map(layers.mapValues { l in
        var blocks: [String: ParameterValue] = [:]
        func block(_ name: String, _ bits: Int?, _ method: PositionMethod?) {
            var b: [String: ParameterValue] = [:]
            if let bits { b["bit_width"] = .int(bits) }
            if let method { b["method"] = .int(method.rawValue) }
            if !b.isEmpty { blocks[name] = .map(b) }
        }
        block("weight", l.weightBit, l.weightMethod)
        block("bias", l.biasBit, l.biasMethod)
        block("activation", l.activationBit, l.activationMethod)
        return .map(blocks)
    })
}

/// A block's own keys as the manifest value.
func objectValue(_ q: ObjectQuantizer) -> ParameterValue {
    var m: [String: ParameterValue] = [:]
    if q.float { m["scheme"] = .string("float") } else if let scheme = q.scheme { m["scheme"] = .string(scheme.rawValue) }
    if let method = q.method { m["method"] = .int(method.rawValue) }
    if let r = q.roundMode { m["round_mode"] = .int(r) }
    if let n = q.narrowRange { m["narrow_range"] = .bool(n) }
    if let v = q.symmetric { m["symmetric"] = .bool(v) }
    if let v = q.perChannel { m["per_channel"] = .bool(v) }
    return .map(m)
}

/// A key whose value would not act: the one-line error of a refused setting.
public struct SettingRefusal: Error, Sendable, CustomStringConvertible {
    public let location: String
    public let field: String
    public let value: String
    public let subject: String
    public let reason: String
    public let notYet: Bool

    public var description: String {
        "\(location): '\(field): \(value)' is not supported\(notYet ? " (yet)" : "") for \(subject): \(reason)"
    }
}

extension QuantizeStrategy {
    /// The typed strategy of resolved manifest settings. Every field that does not act for the
    /// result and is not at its default is refused, naming the place its value was written.
    public init(settings: [String: ParameterValue], origins: [String: SourceLocation]) throws(SettingRefusal) {
        self.init()
        for field in StrategyField.all {
            if let value = settings[field.name] { field.read(&self, value) }
        }
        func place(_ field: String) -> String { origins[field]?.description ?? "strategy" }
        if biasBit == 1 {
            throw SettingRefusal(location: place("bias_bit"), field: "bias_bit", value: "1", subject: scheme.rawValue,
                                 reason: "a bias needs at least 2 bits (0 means the weights' bit width)", notYet: false)
        }
        try checkLayers(place("layers"))
        try checkObjectQuantizers(place)
        try checkInert(place)
    }

    /// The per-object blocks: which scheme, method, rounding and range each family builds. A value
    /// it does not build is refused naming the block and key.
    func checkObjectQuantizers(_ place: (String) -> String) throws(SettingRefusal) {
        let fs = scheme.isFloatScale
        for (object, q) in [("weight", weightQuantizer), ("bias", biasQuantizer), ("activation", activationQuantizer)] {
            func refuse(_ key: String, _ value: String, _ reason: String, notYet: Bool = true) throws(SettingRefusal) {
                throw SettingRefusal(location: place(object), field: "\(object).\(key)", value: value, subject: scheme.rawValue,
                                     reason: reason, notYet: notYet)
            }
            if q.symmetric == false { try refuse("symmetric", "false", "\(object)s are quantized symmetrically (only activations may take a zero point, under fs or fsx: activation_symmetry)") }
            if q.perChannel == true { try refuse("per_channel", "true", "only weights are quantized per channel (fs or fsx)") }
            if fs {
                if object == "bias", let s = q.scheme { try refuse("scheme", s.rawValue, "float-scale strategies leave biases float (scheme: float)") }
                if object == "activation", q.scheme == .pof2s {
                    try refuse("scheme", "pof2s", "float-scale strategies scale activations by calibrated floats; power-of-two activations are the pof2s family's")
                }
                if object == "activation", let m = q.method { try refuse("method", "\(m.rawValue)", "float-scale activation ranges follow calib_method", notYet: false) }
                if object == "weight", let m = q.method {
                    if weightScheme == .fs { try refuse("method", "\(m.rawValue)", "float-scale weight ranges are the weights' extremes", notYet: false) }
                    if m == .minDiffsDepthwise { try refuse("method", "2", "power-of-two weights under fs or fsx take method 0 or 1") }
                }
                if object == "bias", q.method != nil || q.narrowRange != nil || q.roundMode != nil {
                    try refuse(q.method != nil ? "method" : q.narrowRange != nil ? "narrow_range" : "round_mode", "set",
                               "float-scale strategies leave biases float")
                }
                if let r = q.roundMode, r != ObjectBlock.builtRoundMode(object, floatScale: true) {
                    try refuse("round_mode", "\(r)", "float-scale models use TensorFlow's fake quantization, which rounds half up (1)")
                }
            } else {
                if q.float { try refuse("scheme", "float", "power-of-two strategies quantize every bias", notYet: false) }
                if let s = q.scheme, s != .pof2s {
                    try refuse("scheme", s.rawValue, "a float-scale \(object) needs quantize_scheme fs or fsx: the pof2s family writes DPU fix positions", notYet: false)
                }
                if q.narrowRange == true {
                    try refuse("narrow_range", "true", "power-of-two ranges are [-2^(b-1), 2^(b-1)-1] (DPUCADF8H narrows activations by its arch_type)")
                }
                if let r = q.roundMode, r != ObjectBlock.builtRoundMode(object, floatScale: false) {
                    try refuse("round_mode", "\(r)", object == "activation" ? "DPU activations round half up (1)"
                               : "power-of-two \(object)s round half away from zero (2), as vai_q_tensorflow")
                }
            }
        }
    }

    /// Every `layers:` key must be an op type a quantized pattern has, and weight and bias blocks
    /// belong to op types with weights.
    func checkLayers(_ place: String) throws(SettingRefusal) {
        let known = Set(TFOp.quantizedLayerOps.map(\.rawValue)), weighted = Set(TFOp.weightedLayerOps.map(\.rawValue))
        for (op, l) in layers.sorted(by: { $0.key < $1.key }) {
            guard known.contains(op) else {
                throw SettingRefusal(location: place, field: "layers", value: op, subject: scheme.rawValue,
                                     reason: "not an op type whose tensors are quantized; known: " + known.sorted().joined(separator: ", "), notYet: false)
            }
            if !weighted.contains(op) && (l.weightBit != nil || l.weightMethod != nil || l.biasBit != nil || l.biasMethod != nil) {
                throw SettingRefusal(location: place, field: "layers", value: op, subject: scheme.rawValue,
                                     reason: "\(op) has no weights or biases to quantize (only: " + weighted.sorted().joined(separator: ", ") + ")", notYet: false)
            }
        }
    }

    /// Throws for the first field (in table order) whose non-default value does not act.
    public func checkInert(_ location: (String) -> String) throws(SettingRefusal) {
        let defaults = QuantizeStrategy()
        for field in StrategyField.all {
            guard let inert = field.inert(self), field.value(self) != field.value(defaults) else { continue }
            throw SettingRefusal(location: location(field.name), field: field.name, value: yamlText(field.value(self)),
                                 subject: scheme.rawValue, reason: inert.reason, notYet: inert.notYet)
        }
    }

    /// Field name -> value, for `show` and tests.
    public var settings: [String: ParameterValue] {
        Dictionary(uniqueKeysWithValues: StrategyField.all.map { ($0.name, $0.value(self)) })
    }
}

extension DPUTarget {
    /// The typed target of resolved manifest settings; `deploy_format: xmodel` and a fingerprint
    /// are refused (both belong to the Vitis AI compiler), as are unknown DPU operation names.
    public init(name: String, settings: [String: ParameterValue], origins: [String: SourceLocation],
                knownOps: Set<String>) throws(SettingRefusal) {
        self.init(name: name)
        func place(_ field: String) -> String { origins[field]?.description ?? "target '\(name)'" }
        if case .string(let raw)? = settings["arch_type"], let arch = ArchType(rawValue: raw) { archType = arch }
        if case .string(let format)? = settings["deploy_format"], format != "deploy_model" {
            throw SettingRefusal(location: place("deploy_format"), field: "deploy_format", value: format, subject: "target '\(name)'",
                                 reason: "an xmodel is the Vitis AI compiler's output: compile deploy_model.pb (deploy_format: deploy_model, what vaiq-build writes) with vai_c_tensorflow",
                                 notYet: false)
        }
        if case .string(let fingerprint)? = settings["fingerprint"], !fingerprint.isEmpty {
            throw SettingRefusal(location: place("fingerprint"), field: "fingerprint", value: fingerprint, subject: "target '\(name)'",
                                 reason: "the DPU fingerprint is set when the compiler writes the xmodel (vai_c_tensorflow --options '{\"fingerprint\": ...}')",
                                 notYet: false)
        }
        if case .list(let ops)? = settings["supported_ops"] {
            supportedOps = ops.compactMap { if case .string(let s) = $0 { s } else { nil } }
            if let unknown = supportedOps.first(where: { !knownOps.contains($0) }) {
                throw SettingRefusal(location: place("supported_ops"), field: "supported_ops", value: unknown, subject: "target '\(name)'",
                                     reason: "not a DPU operation; known: " + knownOps.sorted().joined(separator: ", "), notYet: false)
            }
        }
        if case .string(let text)? = settings["description"] { description = text }
        if case .map(let objects)? = settings["accepts"] {
            for (object, block) in objects {
                guard case .map(let b) = block, case .list(let schemes)? = b["schemes"], case .list(let widths)? = b["bit_widths"] else { continue }
                accepts[object] = Acceptance(schemes: schemes.compactMap { if case .string(let s) = $0 { s } else { nil } },
                                             bitWidths: widths.compactMap { if case .int(let i) = $0 { i } else { nil } })
            }
        }
    }
}

/// A value as a manifest would spell it (strings bare, lists in brackets).
func yamlText(_ value: ParameterValue) -> String {
    switch value {
    case .string(let s): s
    case .list(let items): "[" + items.map(yamlText).joined(separator: ", ") + "]"
    case .map(let m): "{" + m.keys.sorted().map { "\($0): \(yamlText(m[$0]!))" }.joined(separator: ", ") + "}"
    default: value.canonical
    }
}
