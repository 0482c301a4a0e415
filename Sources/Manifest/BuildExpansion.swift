import BuildCore

/// Expands one `builds:` entry into its matrix cells.
///
///     - model: digits
///       calibration: digits-200
///       evaluation: digits-test          # optional
///       matrix: {strategy: [pof2s, w4a8], target: [DPUCZDX8G, DPUCADF8H], weight_bit: [4, 8]}
///       dump: {batch_size: 1, max_dump_batches: 1, dump_float: false, naming: code}   # optional; or `dump: true`
///
/// `strategy:` / `target:` may also be given outside the matrix as single values. A matrix axis
/// over a strategy field overrides it in every strategy and shows in the cell's strategy name
/// (`pof2s.weight_bit=4`), so cell names stay readable and stable: `<build>/<strategy>/<target>`.
enum BuildExpansion {
    static func cells(of node: YAMLNode, manifest: Manifest) throws(ManifestError) -> [BuildCell] {
        let r = try MappingReader(node, what: "a build")
        try r.checkKeys(["name", "model", "calibration", "evaluation", "strategy", "target", "matrix", "dump", "max_cells"])
        let modelNode = try r.required("model")
        let model = try modelNode.string("build: model")
        guard manifest.models[model] != nil else {
            throw ManifestError(modelNode.location, unknownReference("model", model, among: Array(manifest.models.keys)))
        }
        let nameNode = r.optional("name")
        let name = try nameNode?.string("build: name") ?? model
        try checkPathComponent(name, what: "build name", at: nameNode?.location ?? node.location)
        let calibrationNode = try r.required("calibration")
        let calibration = try calibrationNode.string("build '\(name)': calibration")
        guard manifest.calibrations[calibration] != nil else {
            throw ManifestError(calibrationNode.location, unknownReference("calibration", calibration, among: Array(manifest.calibrations.keys)))
        }
        var evaluation: String?
        if let evalNode = r.optional("evaluation") {
            let e = try evalNode.string("build '\(name)': evaluation")
            guard manifest.evaluations[e] != nil else {
                throw ManifestError(evalNode.location, unknownReference("evaluation", e, among: Array(manifest.evaluations.keys)))
            }
            evaluation = e
        }

        let dump = try r.optional("dump").flatMap { node throws(ManifestError) in try Self.dump(node, build: name) }

        // Axes: strategy and target (from the matrix or single values), then strategy fields.
        var strategies: [(String, SourceLocation)] = []
        var targets: [(String, SourceLocation)] = []
        var fieldAxes: [(field: String, values: [(ParameterValue, String, SourceLocation)])] = []
        if let single = r.optional("strategy") { strategies.append((try single.string("build '\(name)': strategy"), single.location)) }
        if let single = r.optional("target") { targets.append((try single.string("build '\(name)': target"), single.location)) }
        if let matrixNode = r.optional("matrix") {
            let matrix = try MappingReader(matrixNode, what: "the matrix of build '\(name)'")
            try matrix.checkKeys(["strategy", "target"] + SettingsSchema.strategy.keys.filter { $0 != "description" }.sorted())
            for entry in matrix.entries {
                guard case .sequence(let items, _) = entry.value, !items.isEmpty else {
                    throw ManifestError(entry.value.location, "matrix axis '\(entry.key)' must be a non-empty list")
                }
                switch entry.key {
                case "strategy":
                    if !strategies.isEmpty { throw ManifestError(entry.keyLocation, "build '\(name)' gives 'strategy' both alone and in the matrix") }
                    for item in items { strategies.append((try item.string("matrix strategy"), item.location)) }
                case "target":
                    if !targets.isEmpty { throw ManifestError(entry.keyLocation, "build '\(name)' gives 'target' both alone and in the matrix") }
                    for item in items { targets.append((try item.string("matrix target"), item.location)) }
                default:
                    if ObjectBlock.objects.contains(entry.key) {
                        throw ManifestError(entry.keyLocation, "matrix axis '\(entry.key)': a quantizer block cannot be an axis (its values would replace the "
                                            + "strategies' blocks whole); make the axis a field such as \(entry.key)_bit, or give each block its own strategy")
                    }
                    var values: [(ParameterValue, String, SourceLocation)] = []
                    for item in items {
                        let value = try SettingsSchema.strategy[entry.key]!.read(item, "matrix \(entry.key)")
                        let text = "\(entry.key)=\(label(value))"
                        try checkPathComponent(text, what: "matrix value", at: item.location)
                        values.append((value, text, item.location))
                    }
                    fieldAxes.append((entry.key, values))
                }
            }
        }
        if strategies.isEmpty { strategies = [("pof2s", node.location)] }
        guard !targets.isEmpty else { throw ManifestError(node.location, "build '\(name)' names no target (target: or matrix: {target: [...]})") }
        for (s, l) in strategies where manifest.strategies[s] == nil {
            throw ManifestError(l, unknownReference("strategy", s, among: Array(manifest.strategies.keys)))
        }
        for (t, l) in targets where manifest.targets[t] == nil {
            throw ManifestError(l, unknownReference("target", t, among: Array(manifest.targets.keys)))
        }

        // The matrix's size before it is expanded: a typo of a few digits must not plan 81,000 cells.
        let maxCells = try r.optional("max_cells")?.int("build '\(name)': max_cells", range: 1...10_000_000) ?? defaultMaxCells
        let axes = [("strategy", strategies.count), ("target", targets.count)] + fieldAxes.map { ($0.field, $0.values.count) }
        let size = axes.reduce(1) { $0.multipliedReportingOverflow(by: $1.1).overflow ? Int.max : $0 * $1.1 }
        if size > maxCells {
            throw ManifestError(r.optional("matrix")?.location ?? node.location,
                                "build '\(name)' has \(size) cells (" + axes.filter { $0.1 > 1 }.map { "\($0.0) \($0.1)" }.joined(separator: " x ")
                                + "), over its limit of \(maxCells); narrow the matrix or raise the build's max_cells")
        }

        // Cartesian product of the field axes (each combination overrides fields of every strategy).
        var variants: [(overrides: [String: (ParameterValue, SourceLocation)], suffix: String)] = [([:], "")]
        for axis in fieldAxes {
            variants = variants.flatMap { v in
                axis.values.map { value, text, location in
                    var o = v.overrides
                    o[axis.field] = (value, location)
                    return (o, v.suffix + "." + text)
                }
            }
        }
        var cells: [BuildCell] = []
        for (strategy, _) in strategies {
            for variant in variants {
                var settings = manifest.strategies[strategy]!.settings
                var origins = manifest.strategies[strategy]!.origins
                for (k, (v, location)) in variant.overrides {
                    settings[k] = v
                    origins[k] = location
                }
                for (target, location) in targets {
                    let strategyName = strategy + variant.suffix
                    cells.append(BuildCell(name: "\(name)/\(strategyName)/\(target)", build: name, model: model,
                                           calibration: calibration, evaluation: evaluation, strategyName: strategyName,
                                           strategy: settings, strategyOrigins: origins, target: target,
                                           targetSettings: manifest.targets[target]!.settings, dump: dump, location: location))
                }
            }
        }
        return cells
    }

    /// Cells a build may expand to unless its `max_cells` says otherwise.
    public static let defaultMaxCells = 10_000

    /// `dump: true|false` or `dump: {batch_size, max_dump_batches, dump_float, naming}`.
    private static func dump(_ node: YAMLNode, build: String) throws(ManifestError) -> DumpSpec? {
        let what = "build '\(build)': dump"
        var spec = DumpSpec(location: node.location)
        if case .scalar = node { return try node.bool(what) ? spec : nil }
        let r = try MappingReader(node, what: what)
        try r.checkKeys(["batch_size", "max_dump_batches", "dump_float", "naming"])
        if let n = r.optional("batch_size") { spec.batchSize = try n.int("\(what): batch_size", range: 1...65536) }
        if let n = r.optional("max_dump_batches") { spec.maxDumpBatches = try n.int("\(what): max_dump_batches", range: 1...1_000_000) }
        if let n = r.optional("dump_float") { spec.dumpFloat = try n.bool("\(what): dump_float") }
        if let n = r.optional("naming") {
            spec.naming = try n.string("\(what): naming")
            guard ["code", "guide"].contains(spec.naming) else {
                throw ManifestError(n.location, "\(what): naming must be code or guide; found '\(spec.naming)'")
            }
        }
        return spec
    }

    private static func label(_ value: ParameterValue) -> String {
        if case .string(let s) = value { return s }
        return value.canonical
    }
}
