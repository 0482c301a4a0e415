import BuildCore

/// A model of the repository: an inference graph plus a checkpoint, or a frozen graph.
public struct ModelSpec: Sendable, Equatable {
    public let name: String
    /// Repository-relative path of the (inference or frozen) GraphDef; for a SavedModel, its
    /// `saved_model.pb`.
    public let graph: String
    /// A training directory or checkpoint prefix; nil when `graph` is already frozen.
    public let checkpoint: String?
    /// A TF2 SavedModel directory (then `graph` is its saved_model.pb) and the signature to freeze.
    public var savedModel: String? = nil
    public var signature: String = "serving_default"
    /// Empty for a SavedModel that leaves them to its signature.
    public let inputNodes: [String]
    public let outputNodes: [String]
    public let inputShapes: [[Int]]
    public let location: SourceLocation
}

/// Calibration data: per input node a `.npy` file or an image folder, consumed `calib_iter`
/// batches of `batch_size`.
public struct CalibrationSpec: Sendable, Equatable {
    public let name: String
    public let inputs: [String: InputSource]
    public let batchSize: Int
    public let calibIter: Int
    public let location: SourceLocation
}

/// A labeled evaluation set.
public struct EvaluationSpec: Sendable, Equatable {
    public let name: String
    public let inputs: [String: InputSource]
    public let labels: LabelSource
    public let metric: String
    /// The model output the labels score (nil: the first), and where the manifest names it.
    public var output: String? = nil
    public var outputLocation: SourceLocation? = nil
    public let batchSize: Int
    public let location: SourceLocation
}

/// Where an input node's rows come from.
public enum InputSource: Sendable, Equatable {
    /// A `.npy` array: the path the build reads (repository-relative, or absolute under a data root).
    case array(String)
    /// Image files, decoded and preprocessed by a `prepare` stage into one float32 NHWC array.
    case images(ImageSetSpec)

    /// The files this source reads.
    public var paths: [String] {
        switch self {
        case .array(let path): [path]
        case .images(let set): set.files.map(\.path)
        }
    }
}

/// An evaluation's labels: a `.npy` of class indices, or the image folders' names.
public enum LabelSource: Sendable, Equatable {
    case file(String)
    /// Class index = position of an image's first folder (under the images' `dir`) in `classes`
    /// (the sorted folder names unless the manifest lists them).
    case folders(classes: [String], location: SourceLocation)
}

/// `images: {dir, glob}` with its `preprocess:` block.
public struct ImageSetSpec: Sendable, Equatable {
    /// The folder as the manifest names it.
    public let directory: String
    public let glob: String
    /// Every matched file, sorted by name.
    public let files: [ImageFile]
    public let preprocess: PreprocessSpec
    public let location: SourceLocation
}

public struct ImageFile: Sendable, Equatable {
    /// The path under the images' folder (what the glob matched; the first component is the class folder).
    public let name: String
    /// The path the build reads (repository-relative, or absolute under a data root).
    public let path: String
}

/// A `preprocess:` block, checked (exclusive keys, counts, ranges); the steps are applied in the
/// order resize, center crop, channel order, normalization.
public struct PreprocessSpec: Sendable, Equatable {
    public var resizeShorter: Int? = nil
    /// [height, width]
    public var resize: [Int]? = nil
    /// [height, width]
    public var centerCrop: [Int]? = nil
    /// rgb, bgr or gray.
    public var channelOrder = "rgb"
    /// caffe, tf or torch (keras.applications' preprocess_input modes).
    public var preset: String? = nil
    public var mean: [Double] = []
    public var std: [Double] = []
    public var scale: Double? = nil
    public let location: SourceLocation

    public init(location: SourceLocation) { self.location = location }
}

/// A quantize strategy or a DPU target after `extends:` is resolved: every field has a value.
public struct SettingsSpec: Sendable, Equatable {
    public let name: String
    public let settings: [String: ParameterValue]
    public let location: SourceLocation
    /// Field -> where its value was written: the nearest definition along the `extends:` chain
    /// (a built-in's own file, `<builtin>/strategies.yaml`, for inherited built-in values).
    public let origins: [String: SourceLocation]

    public init(name: String, settings: [String: ParameterValue], location: SourceLocation, origins: [String: SourceLocation]) {
        self.name = name
        self.settings = settings
        self.location = location
        self.origins = origins
    }
}

/// A build's `dump:` request: vai_q's dump of the quantized model's integer tensors on the
/// build's calibration inputs (`dump: true` for the defaults).
public struct DumpSpec: Sendable, Equatable {
    public var batchSize = 1
    public var maxDumpBatches = 1
    public var dumpFloat = false
    /// `code` or `guide` (the file layouts of vai_q's code and of its user guide).
    public var naming = "code"
    public let location: SourceLocation

    public init(location: SourceLocation) { self.location = location }
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
    /// Strategy field -> where its value was written (a matrix axis's item, or the strategy's origin).
    public let strategyOrigins: [String: SourceLocation]
    public let target: String
    public let targetSettings: [String: ParameterValue]
    /// The build's dump request, if any.
    public let dump: DumpSpec?
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
    /// The data roots the manifests could read (named by the user, not by the manifests).
    public var dataRoots = DataRoots()
    /// The `settings:` block: the shared cache and the executor.
    public var settings = RunSettings()

    /// The data roots some model, calibration or evaluation file of these manifests is under.
    public var usedDataRoots: [(name: String, folder: String)] {
        var paths = models.values.flatMap { [$0.graph] + ($0.checkpoint.map { [$0] } ?? []) }
        paths += calibrations.values.flatMap { $0.inputs.values.flatMap(\.paths) }
        paths += evaluations.values.flatMap { e in
            e.inputs.values.flatMap(\.paths) + { if case .file(let path) = e.labels { [path] } else { [] } }()
        }
        return dataRoots.folders.sorted { $0.key < $1.key }.filter { root in
            paths.contains { $0.hasPrefix(root.value + "/") }
        }.map { ($0.key, $0.value) }
    }
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
    /// A strategy's `layers:`: op type -> `weight:`, `bias:`, `activation:` quantizer blocks.
    case layers
    /// A strategy's `weight:`, `bias:` or `activation:` quantizer block.
    case quantizer(String)
    /// A target's `accepts:`: per object (`weight`, `bias`, `activation`) the `schemes` and
    /// `bit_widths` it runs.
    case accepts

    /// A command-line flag's text in vai_q_tensorflow's syntax: integers, 0/1 or true/false,
    /// comma-separated lists, `name:value` pairs for maps. The same types and ranges as manifests.
    func parse(flag text: String, _ what: String) throws(ManifestError) -> ParameterValue {
        let origin = SourceLocation(file: what, line: 0, column: 0)
        func scalar(_ s: String) -> YAMLNode { .scalar(s, plain: true, origin) }
        switch self {
        case .stringList:
            return .list(text.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 != .string("") })
        case .intMap(let range):
            var map: [String: ParameterValue] = [:]
            for item in text.split(separator: ",") {
                let parts = item.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw ManifestError(origin, "\(what): '\(item)' is not name:number")
                }
                map[String(parts[0])] = .int(try scalar(String(parts[1])).int("\(what) '\(parts[0])'", range: range))
            }
            return .map(map)
        case .layers, .accepts, .quantizer:
            // YAML flow text, as a manifest would write the value.
            return try read(try YAMLParser.parse(Array(text.utf8), file: what), what)
        default:
            return try read(scalar(text), what)
        }
    }

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
        case .layers:
            let reader = try MappingReader(node, what: what)
            var map: [String: ParameterValue] = [:]
            for entry in reader.entries {
                let layer = try MappingReader(entry.value, what: "\(what): \(entry.key)")
                try layer.checkKeys(["weight", "bias", "activation"])
                var blocks: [String: ParameterValue] = [:]
                for block in layer.entries {
                    blocks[block.key] = try Self.quantizerBlock(block.value, what: "\(what): \(entry.key): \(block.key)", bias: block.key == "bias")
                }
                map[entry.key] = .map(blocks)
            }
            return .map(map)
        case .quantizer(let object):
            let r = try MappingReader(node, what: what)
            try r.checkKeys(ObjectBlock.keys)
            var block: [String: ParameterValue] = [:]
            for entry in r.entries {
                let at = "\(what): \(entry.key)"
                switch entry.key {
                case "scheme":
                    let options = object == "bias" ? ["pof2s", "fs", "float"] : ["pof2s", "fs"]
                    block["scheme"] = try SettingType.choice(options).read(entry.value, at)
                case "bit_width": block["bit_width"] = .int(try entry.value.int(at, range: object == "bias" ? 0...32 : 2...16))
                case "method": block["method"] = .int(try entry.value.int(at, range: 0...2))
                case "round_mode": block["round_mode"] = .int(try entry.value.int(at, range: 0...3))
                default: block[entry.key] = .bool(try entry.value.bool(at))
                }
            }
            return .map(block)
        case .accepts:
            let reader = try MappingReader(node, what: what)
            try reader.checkKeys(ObjectBlock.objects)
            var map: [String: ParameterValue] = [:]
            for object in ObjectBlock.objects {
                guard let entry = reader.optional(object) else {
                    throw ManifestError(node.location, "\(what) needs '\(object)' (schemes and bit_widths its \(object)s may have)")
                }
                let block = try MappingReader(entry, what: "\(what): \(object)")
                try block.checkKeys(["schemes", "bit_widths"])
                let schemesNode = try block.required("schemes")
                var schemes: [ParameterValue] = []
                for scheme in try schemesNode.stringList("\(what): \(object): schemes") {
                    guard TargetAcceptance.schemes.contains(scheme) else {
                        throw ManifestError(schemesNode.location, "\(what): \(object): schemes: '\(scheme)' is not a scheme; one of "
                                            + TargetAcceptance.schemes.joined(separator: ", "))
                    }
                    schemes.append(.string(scheme))
                }
                let widthsNode = try block.required("bit_widths")
                guard case .sequence(let items, _) = widthsNode, !items.isEmpty else {
                    throw ManifestError(widthsNode.location, "\(what): \(object): bit_widths must be a non-empty list of bit widths or ranges, e.g. [8] or [2-16]")
                }
                var widths = Set<Int>()
                for item in items {
                    let text = try item.string("\(what): \(object): bit_widths")
                    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
                    guard (1...2).contains(parts.count), let lo = Int(parts[0]), let hi = Int(parts.last!), 1 <= lo, lo <= hi, hi <= 32 else {
                        throw ManifestError(item.location, "\(what): \(object): bit_widths: '\(text)' is neither a bit width (1-32) nor a range such as 2-16")
                    }
                    widths.formUnion(lo...hi)
                }
                map[object] = .map(["schemes": .list(schemes), "bit_widths": .list(widths.sorted().map { .int($0) })])
            }
            return .map(map)
        }
    }

    /// Quantizer keys the vendor documents that vaiq-build does not build yet: refused by name.
    static let unbuiltQuantizerKeys = ["round_mode", "symmetric", "per_channel", "narrow_range", "scheme"]

    /// One quantizer block: `bit_width` (2-16; biases 2-32) and `method` (0-2; biases 0-1).
    static func quantizerBlock(_ node: YAMLNode, what: String, bias: Bool) throws(ManifestError) -> ParameterValue {
        let r = try MappingReader(node, what: what)
        let allowed = ["bit_width", "method"]
        for entry in r.entries where !allowed.contains(entry.key) {
            if unbuiltQuantizerKeys.contains(entry.key) {
                throw ManifestError(entry.keyLocation, "\(what): '\(entry.key)' is not supported (yet): a quantizer here sets \(allowed.joined(separator: " and ")) only")
            }
        }
        try r.checkKeys(allowed)
        var block: [String: ParameterValue] = [:]
        if let v = r.optional("bit_width") { block["bit_width"] = .int(try v.int("\(what): bit_width", range: bias ? 2...32 : 2...16)) }
        if let v = r.optional("method") { block["method"] = .int(try v.int("\(what): method", range: bias ? 0...1 : 0...2)) }
        return .map(block)
    }
}

enum SettingsSchema {
    /// Strategy fields keep vai_q_tensorflow's flag names.
    static let strategy: [String: SettingType] = [
        "quantize_scheme": .choice(["pof2s", "pof2s_tqt", "fs", "fsx"]),
        "weight_bit": .int(2...16), "activation_bit": .int(2...16), "bias_bit": .int(0...32), "layers": .layers,
        "weight": .quantizer("weight"), "bias": .quantizer("bias"), "activation": .quantizer("activation"),
        "method": .int(0...2), "input_method": .int(0...1),
        "nodes_bit": .intMap(2...16), "nodes_method": .intMap(0...2),
        "ignore_nodes": .stringList, "ignore_layers": .stringList, "input_layers": .stringList, "output_layers": .stringList,
        "align_concat": .int(0...2), "align_pool": .int(0...2), "align_rule": .choice(["tf1", "min"]),
        "adjust_shift_bias": .int(0...2), "adjust_shift_cut": .int(0...1),
        "simulate_dpu": .bool, "scale_all_avgpool": .bool, "fold_constant": .bool, "fold_bn": .bool,
        "do_cle": .bool, "replace_relu6": .bool, "replace_sigmoid": .bool, "replace_softmax": .bool,
        "keep_float_weight": .bool,
        "per_channel": .bool,
        "calib_method": .choice(["minmax", "percentile", "kl"]),
        "calib_percentile": .double, "activation_symmetry": .bool,
        "include_fast_ft": .bool, "fast_ft_epochs": .int(1...1000), "include_bias_corr": .bool,
        "description": .string,
    ]

    static let target: [String: SettingType] = [
        "arch_type": .choice(["DEFAULT", "DPUCADF8H"]),
        "deploy_format": .choice(["xmodel", "deploy_model"]),
        "supported_ops": .stringList,
        "accepts": .accepts,
        "fingerprint": .string,
        "description": .string,
    ]
}

extension SettingsSchema {
    /// Fields a definition may leave out: documentation, and values that are empty by default.
    /// Computed, not a stored global: its boxed values (lists, maps) live in pointers with the
    /// enum's tag bits set, which LeakSanitizer cannot follow from a global, so the fuzz targets
    /// would report them as leaked.
    static var optional: [String: ParameterValue] {
        ["fingerprint": .string(""), "accepts": TargetAcceptance.int8DPU, "bias_bit": .int(0),
         "weight": .map([:]), "bias": .map([:]), "activation": .map([:]), "layers": .map([:]),
         "ignore_layers": .list([]), "input_layers": .list([]), "output_layers": .list([])]
    }
}

/// A strategy's per-object quantizer blocks (`weight:`, `bias:`, `activation:`). Some keys are
/// another spelling of a flat field (the shorthands): the loader writes them to that field at the
/// level of the `extends:` chain where they appear, so the nearer definition wins whichever
/// spelling it uses; the block keeps the other keys, merged key by key along the chain.
public enum ObjectBlock {
    public static let keys = ["scheme", "bit_width", "method", "round_mode", "symmetric", "per_channel", "narrow_range"]
    public static let objects = ["weight", "bias", "activation"]

    /// A block's value split into its shorthand keys (each with the flat field it spells) and the rest.
    public static func split(_ object: String, _ value: ParameterValue)
        -> (fields: [(key: String, field: String, value: ParameterValue)], block: [String: ParameterValue]) {
        guard case .map(var block) = value else { return ([], [:]) }
        var fields: [(key: String, field: String, value: ParameterValue)] = []
        for (key, field) in (aliases[object] ?? [:]).sorted(by: { $0.key < $1.key }) {
            if let v = block.removeValue(forKey: key) { fields.append((key, field, v)) }
        }
        return (fields, block)
    }

    /// `block`'s keys over an inherited block's (blocks merge key by key).
    public static func merged(_ block: [String: ParameterValue], over inherited: ParameterValue?) -> ParameterValue {
        var merged: [String: ParameterValue] = [:]
        if case .map(let keys)? = inherited { merged = keys }
        merged.merge(block) { _, new in new }
        return .map(merged)
    }

    /// The rounding the quantizers here build for `object` (the vendor's RoundMode numbers):
    /// TensorFlow's fake quantization and the DPU's activations round half up (1); power-of-two
    /// weights and biases round half away from zero (2), as vai_q_tensorflow.
    public static func builtRoundMode(_ object: String, floatScale: Bool) -> Int {
        floatScale || object == "activation" ? 1 : 2
    }

    /// (object, block key) -> the flat field it spells.
    public static let aliases: [String: [String: String]] = [
        "weight": ["bit_width": "weight_bit", "per_channel": "per_channel"],
        "bias": ["bit_width": "bias_bit"],
        "activation": ["bit_width": "activation_bit", "symmetric": "activation_symmetry"],
    ]
}

/// What a target's `accepts:` may name, and what a target that leaves it out accepts.
public enum TargetAcceptance {
    /// `float`: left unquantized (the float-scale strategies' biases).
    public static let schemes = ["pof2s", "fs", "float"]

    /// An 8-bit DPU: power-of-two weights, biases and activations of 8 bits.
    public static var int8DPU: ParameterValue {
        let block = ParameterValue.map(["schemes": .list([.string("pof2s")]), "bit_widths": .list([.int(8)])])
        return .map(["weight": block, "bias": block, "activation": block])
    }
}

/// The setting names a strategy or target may use (for tools and tests that route them).
public enum ManifestFieldNames {
    public static var strategy: [String] { SettingsSchema.strategy.keys.sorted() }
    public static var target: [String] { SettingsSchema.target.keys.sorted() }

    /// How a flag's value is written for strategy field `field` (for help texts).
    public static func strategyFlagSyntax(_ field: String) -> String {
        switch SettingsSchema.strategy[field] {
        case .int(let r)?: "\(r.lowerBound)-\(r.upperBound)"
        case .bool?: "0|1"
        case .double?: "NUMBER"
        case .choice(let options)?: options.joined(separator: "|")
        case .stringList?: "NAME,..."
        case .intMap?: "NAME:N,..."
        case .layers?: "'{OP: {weight: {bit_width: N}}}'"
        case .quantizer?: "'{scheme: pof2s, bit_width: N, method: M, round_mode: R, ...}'"
        case .accepts?: "'{weight: {schemes: [pof2s], bit_widths: [8]}, ...}'"
        case .string?, nil: "TEXT"
        }
    }

    /// The strategy field closest to a misspelled `name`, if any.
    public static func closestStrategyField(to name: String) -> String? { closest(name, among: strategy) }

    /// Parses a command-line flag's value for strategy field `field` (vai_q's syntax: `a,b` lists,
    /// `name:4` pairs, 0/1 booleans) with the manifests' types and ranges; errors name `flag`.
    public static func parseStrategyFlag(_ field: String, _ text: String, flag: String) throws(ManifestError) -> ParameterValue {
        guard let type = SettingsSchema.strategy[field] else {
            throw ManifestError(SourceLocation(file: flag, line: 0, column: 0), "unknown strategy field '\(field)'")
        }
        return try type.parse(flag: text, flag)
    }
}
