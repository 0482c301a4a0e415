import BuildCore

/// A model of the repository: an inference graph plus a checkpoint, or a frozen graph.
public struct ModelSpec: Sendable, Equatable {
    public let name: String
    /// Repository-relative path of the (inference or frozen) GraphDef.
    public let graph: String
    /// A training directory or checkpoint prefix; nil when `graph` is already frozen.
    public let checkpoint: String?
    public let inputNodes: [String]
    public let outputNodes: [String]
    public let inputShapes: [[Int]]
    public let location: SourceLocation
}

/// Calibration data: per input node a `.npy` file, consumed `calib_iter` batches of `batch_size`.
public struct CalibrationSpec: Sendable, Equatable {
    public let name: String
    public let inputs: [String: String]
    public let batchSize: Int
    public let calibIter: Int
    public let location: SourceLocation
}

/// A labeled evaluation set.
public struct EvaluationSpec: Sendable, Equatable {
    public let name: String
    public let inputs: [String: String]
    public let labels: String
    public let metric: String
    public let batchSize: Int
    public let location: SourceLocation
}

/// A quantize strategy or a DPU target after `extends:` is resolved: every field has a value.
public struct SettingsSpec: Sendable, Equatable {
    public let name: String
    public let settings: [String: ParameterValue]
    public let location: SourceLocation
}

/// One cell of a build matrix: what gets quantized how and for which DPU.
public struct BuildCell: Sendable, Equatable {
    /// `<build>/<strategy>/<target>`, also the output folder under `build/`.
    public let name: String
    public let build: String
    public let model: String
    public let calibration: String
    public let evaluation: String?
    /// The strategy name as shown (a matrix over a strategy field appends `.field=value`).
    public let strategyName: String
    public let strategy: [String: ParameterValue]
    public let target: String
    public let targetSettings: [String: ParameterValue]
    public let location: SourceLocation
}

/// The merged, validated manifests of a repository.
public struct Manifest: Sendable {
    public var models: [String: ModelSpec] = [:]
    public var calibrations: [String: CalibrationSpec] = [:]
    public var evaluations: [String: EvaluationSpec] = [:]
    public var strategies: [String: SettingsSpec] = [:]
    public var targets: [String: SettingsSpec] = [:]
    /// Every matrix cell of every build, sorted by name.
    public var cells: [BuildCell] = []
}

/// The settings a strategy or target may set, with their types; `extends:` chains are
/// resolved before checking that every field has a value.
enum SettingType: Sendable {
    case int(ClosedRange<Int>)
    case bool
    case double
    case choice([String])
    case stringList
    /// `node: value` pairs (nodes_bit, nodes_method).
    case intMap(ClosedRange<Int>)
    case string

    func read(_ node: YAMLNode, _ what: String) throws(ManifestError) -> ParameterValue {
        switch self {
        case .int(let range): return .int(try node.int(what, range: range))
        case .bool: return .bool(try node.bool(what))
        case .double: return .double(try node.double(what))
        case .string: return .string(try node.string(what))
        case .choice(let options):
            let value = try node.string(what)
            guard options.contains(value) else {
                var message = "\(what) must be one of \(options.joined(separator: ", ")); found '\(value)'"
                if let guess = closest(value, among: options) { message += " (did you mean '\(guess)'?)" }
                throw ManifestError(node.location, message)
            }
            return .string(value)
        case .stringList: return .list(try node.stringList(what).map { .string($0) })
        case .intMap(let range):
            let reader = try MappingReader(node, what: what)
            var map: [String: ParameterValue] = [:]
            for entry in reader.entries { map[entry.key] = .int(try entry.value.int("\(what) '\(entry.key)'", range: range)) }
            return .map(map)
        }
    }
}

enum SettingsSchema {
    /// Strategy fields keep vai_q_tensorflow's flag names.
    static let strategy: [String: SettingType] = [
        "quantize_scheme": .choice(["pof2s", "pof2s_tqt", "fs", "fsx"]),
        "weight_bit": .int(2...16), "activation_bit": .int(2...16),
        "method": .int(0...2),
        "nodes_bit": .intMap(2...16), "nodes_method": .intMap(0...2),
        "ignore_nodes": .stringList,
        "align_concat": .int(0...2), "align_pool": .int(0...2),
        "adjust_shift_bias": .int(0...2), "adjust_shift_cut": .int(0...1),
        "simulate_dpu": .bool, "scale_all_avgpool": .bool, "fold_constant": .bool, "fold_bn": .bool,
        "do_cle": .bool, "replace_relu6": .bool, "replace_sigmoid": .bool, "replace_softmax": .bool,
        "keep_float_weight": .bool,
        "per_channel": .bool,
        "calib_method": .choice(["minmax", "percentile", "kl"]),
        "calib_percentile": .double,
        "description": .string,
    ]

    static let target: [String: SettingType] = [
        "family": .string,
        "arch_type": .choice(["DEFAULT", "DPUCADF8H"]),
        "deploy_format": .choice(["xmodel", "deploy_model"]),
        "supported_ops": .stringList,
        "fingerprint": .string,
        "description": .string,
    ]
}

/// The setting names a strategy or target may use (for tools and tests that route them).
public enum ManifestFieldNames {
    public static var strategy: [String] { SettingsSchema.strategy.keys.sorted() }
    public static var target: [String] { SettingsSchema.target.keys.sorted() }
}
