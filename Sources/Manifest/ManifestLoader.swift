import BuildCore
import FileIO

/// Reads and merges a repository's `manifests/*.yaml` over the built-in strategies and targets,
/// and validates everything: unknown keys, types, ranges, references, paths, duplicates.
public enum ManifestLoader {
    static let sections = ["models", "calibration", "evaluation", "strategies", "targets", "builds", "settings"]

    /// Loads `<root>/manifests/*.yaml` (sorted by name). `builtins` are (file name, YAML text) pairs.
    /// `dataRoots` are the folders outside the repository that the user allows manifests to read,
    /// by name: `@name/path` in a manifest is `path` under the folder named `name`.
    public static func load(root: String, dataRoots: DataRoots = DataRoots(), builtins: [(String, String)] = BuiltinManifests.files)
        throws(ManifestError) -> Manifest {
        let dir = FileIO.resolve("manifests", relativeTo: root)
        let names: [String]
        guard FileIO.isDirectory(dir) else {
            throw ManifestError(SourceLocation(file: FileIO.realPath(root) ?? root, line: 0, column: 0),
                                "not a model repository (no manifests/ folder); run vaiq-build in one, name one with -C DIR, or start one with vaiq-build init")
        }
        do { names = try FileIO.listDirectory(dir).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") } } catch {
            throw ManifestError(SourceLocation(file: "manifests", line: 0, column: 0), "cannot list the manifests directory: \(error.reason)")
        }
        var documents: [(YAMLNode, builtin: Bool)] = []
        for (name, text) in builtins { documents.append((try YAMLParser.parse(Array(text.utf8), file: name), true)) }
        for name in names {
            let path = "\(dir)/\(name)"
            let bytes: [UInt8]
            do { bytes = try FileIO.read(path) } catch {
                throw ManifestError(SourceLocation(file: "manifests/\(name)", line: 0, column: 0), error.reason)
            }
            documents.append((try YAMLParser.parse(bytes, file: "manifests/\(name)"), false))
        }
        var merger = Merger(root: root, dataRoots: dataRoots)
        for (document, builtin) in documents { try merger.add(document, builtin: builtin) }
        return try merger.finish()
    }

    /// The built-in strategies and targets alone (what the one-shot commands use outside a repository).
    public static func builtins(_ files: [(String, String)] = BuiltinManifests.files) throws(ManifestError) -> Manifest {
        var merger = Merger(root: ".")
        for (name, text) in files { try merger.add(try YAMLParser.parse(Array(text.utf8), file: name), builtin: true) }
        return try merger.finish()
    }

    /// A definition seen in some file, before validation.
    struct Definition {
        let name: String
        let node: YAMLNode
        let keyLocation: SourceLocation
        let builtin: Bool
    }

    struct Merger {
        let root: String
        let dataRoots: DataRoots
        var definitions: [String: [String: Definition]] = [:]   // section -> name -> definition
        var builds: [YAMLNode] = []
        var settings = RunSettings()

        init(root: String, dataRoots: DataRoots = DataRoots()) {
            self.root = root
            self.dataRoots = dataRoots
        }

        mutating func add(_ document: YAMLNode, builtin: Bool) throws(ManifestError) {
            let top = try MappingReader(document, what: "a manifest")
            try top.checkKeys(ManifestLoader.sections)
            for entry in top.entries {
                if entry.key == "settings" {
                    try settings.add(entry.value)
                    continue
                }
                if entry.key == "builds" {
                    guard case .sequence(let items, _) = entry.value else {
                        throw ManifestError(entry.value.location, "'builds' must be a list of builds; found \(entry.value.kindName)")
                    }
                    builds += items
                    continue
                }
                let section = try MappingReader(entry.value, what: "'\(entry.key)'")
                for item in section.entries {
                    try checkPathComponent(item.key, what: "\(singular(entry.key)) name", at: item.keyLocation)
                    if let earlier = definitions[entry.key]?[item.key], !earlier.builtin {
                        throw ManifestError(item.keyLocation, "\(singular(entry.key)) '\(item.key)' is defined twice (first at \(earlier.keyLocation))")
                    }
                    // A user definition replaces a built-in one of the same name.
                    definitions[entry.key, default: [:]][item.key] = Definition(name: item.key, node: item.value,
                                                                               keyLocation: item.keyLocation, builtin: builtin)
                }
            }
        }

        func finish() throws(ManifestError) -> Manifest {
            var manifest = Manifest()
            manifest.dataRoots = dataRoots
            manifest.settings = settings
            for def in sorted("models") { manifest.models[def.name] = try model(def) }
            for def in sorted("calibration") { manifest.calibrations[def.name] = try calibration(def) }
            for def in sorted("evaluation") { manifest.evaluations[def.name] = try evaluation(def) }
            manifest.strategies = try resolveSettings("strategies", schema: SettingsSchema.strategy)
            manifest.targets = try resolveSettings("targets", schema: SettingsSchema.target)
            var seen: [String: SourceLocation] = [:]
            for node in builds {
                for cell in try BuildExpansion.cells(of: node, manifest: manifest) {
                    if let first = seen[cell.name] {
                        throw ManifestError(cell.location, "build target '\(cell.name)' is produced twice (first at \(first))")
                    }
                    seen[cell.name] = cell.location
                    manifest.cells.append(cell)
                }
            }
            manifest.cells.sort { $0.name < $1.name }
            return manifest
        }

        private func sorted(_ section: String) -> [Definition] {
            (definitions[section] ?? [:]).values.sorted { $0.name < $1.name }
        }

        // MARK: sections

        private func model(_ def: Definition) throws(ManifestError) -> ModelSpec {
            let what = "model '\(def.name)'"
            let r = try MappingReader(def.node, what: what)
            try r.checkKeys(["graph", "checkpoint", "saved_model", "signature", "input_nodes", "output_nodes", "input_shapes"])
            var graph: String, savedModel: String?
            var signature = "serving_default"
            if let node = r.optional("saved_model") {
                if let other = r.optional("graph") ?? r.optional("checkpoint") {
                    throw ManifestError(other.location, "\(what): give either 'saved_model' or 'graph' (with 'checkpoint'), not both")
                }
                savedModel = try repositoryPath(node, what: "\(what): saved_model", mustBe: .savedModel)
                graph = savedModel! + "/saved_model.pb"
                if let s = r.optional("signature") { signature = try s.string("\(what): signature") }
            } else {
                if let s = r.optional("signature") {
                    throw ManifestError(s.location, "\(what): 'signature' needs 'saved_model' (a GraphDef has no signatures)")
                }
                guard let graphNode = r.optional("graph") else {
                    throw ManifestError(def.keyLocation, "\(what): give 'graph' (a GraphDef) or 'saved_model' (a TF2 SavedModel directory)")
                }
                graph = try repositoryPath(graphNode, what: "\(what): graph", mustBe: .file)
            }
            var checkpoint: String?
            if let node = r.optional("checkpoint") {
                checkpoint = try repositoryPath(node, what: "\(what): checkpoint", mustBe: .checkpoint)
            }
            // A SavedModel's signature names its inputs and outputs; a GraphDef must be told.
            let inputs = try (savedModel == nil ? r.required("input_nodes") : r.optional("input_nodes"))?.stringList("\(what): input_nodes") ?? []
            let outputs = try (savedModel == nil ? r.required("output_nodes") : r.optional("output_nodes"))?.stringList("\(what): output_nodes") ?? []
            var shapes: [[Int]] = []
            if let node = r.optional("input_shapes") {
                guard case .sequence(let items, _) = node else {
                    throw ManifestError(node.location, "\(what): input_shapes must be a list of shapes, e.g. [[-1, 224, 224, 3]]")
                }
                for item in items { shapes.append(try item.shape("\(what): input_shapes")) }
                guard shapes.count == inputs.count || (inputs.isEmpty && savedModel != nil) else {
                    throw ManifestError(node.location, "\(what): \(shapes.count) input_shapes for \(inputs.count) input_nodes")
                }
            }
            var spec = ModelSpec(name: def.name, graph: graph, checkpoint: checkpoint, inputNodes: inputs, outputNodes: outputs,
                                 inputShapes: shapes, location: def.keyLocation)
            spec.savedModel = savedModel
            spec.signature = signature
            return spec
        }

        private func calibration(_ def: Definition) throws(ManifestError) -> CalibrationSpec {
            let what = "calibration '\(def.name)'"
            let r = try MappingReader(def.node, what: what)
            try r.checkKeys(["inputs", "batch_size", "calib_iter"])
            return CalibrationSpec(name: def.name, inputs: try inputSources(r, what: what),
                                   batchSize: try r.optional("batch_size")?.int("\(what): batch_size", range: 1...65536) ?? 1,
                                   calibIter: try r.optional("calib_iter")?.int("\(what): calib_iter", range: 1...1_000_000) ?? 100,
                                   location: def.keyLocation)
        }

        private func evaluation(_ def: Definition) throws(ManifestError) -> EvaluationSpec {
            let what = "evaluation '\(def.name)'"
            let r = try MappingReader(def.node, what: what)
            try r.checkKeys(["inputs", "labels", "classes", "metric", "batch_size", "output"])
            var metric = "top1"
            if let node = r.optional("metric") {
                metric = try node.string("\(what): metric")
                guard ["top1", "top5"].contains(metric) else {
                    throw ManifestError(node.location, "\(what): metric must be top1 or top5; found '\(metric)'")
                }
            }
            let inputs = try inputSources(r, what: what)
            var spec = EvaluationSpec(name: def.name, inputs: inputs,
                                      labels: try labelSource(r, inputs: inputs, what: what),
                                      metric: metric,
                                      batchSize: try r.optional("batch_size")?.int("\(what): batch_size", range: 1...65536) ?? 32,
                                      location: def.keyLocation)
            if let node = r.optional("output") {
                spec.output = try node.string("\(what): output")
                spec.outputLocation = node.location
            }
            return spec
        }

        /// Strategies and targets: resolve `extends:` chains, check every field, require completeness.
        private func resolveSettings(_ section: String, schema: [String: SettingType]) throws(ManifestError) -> [String: SettingsSpec] {
            let defs = definitions[section] ?? [:]
            var resolved: [String: SettingsSpec] = [:]
            func resolve(_ name: String, chain: [String]) throws(ManifestError) -> SettingsSpec {
                if let done = resolved[name] { return done }
                let def = defs[name]!
                let what = "\(singular(section)) '\(name)'"
                let r = try MappingReader(def.node, what: what)
                let fileKey = section == "strategies" && !def.builtin ? ["file"] : []
                try r.checkKeys(["extends"] + fileKey + schema.keys.sorted())
                var settings: [String: ParameterValue] = [:]
                var origins: [String: SourceLocation] = [:]
                var vendorEntries: [VendorStrategy.Entry]?
                if let fileNode = r.optional("file"), !fileKey.isEmpty {
                    let path = try repositoryPath(fileNode, what: "\(what): file", mustBe: .file)
                    let bytes: [UInt8]
                    do { bytes = try FileIO.read(FileIO.resolve(path, relativeTo: root)) } catch {
                        throw ManifestError(fileNode.location, "\(what): file: \(error.reason)")
                    }
                    let document = try YAMLParser.parse(bytes, file: path)
                    if VendorStrategy.isVendor(document) {
                        // The vendor's JSON strategy: overrides of `extends:` (default pof2s, the vendor's default).
                        vendorEntries = try VendorStrategy.entries(document, path: path)
                    } else {
                        // A strategy file (what `vaiq-build show NAME --full` prints): every field, no extends.
                        if let other = r.optional("extends") {
                            throw ManifestError(other.location, "\(what): give either 'file' or 'extends', not both (the file holds every field)")
                        }
                        let file = try MappingReader(document, what: "strategy file \(path)")
                        try file.checkKeys(schema.keys.sorted())
                        try apply(file.entries, into: &settings, origins: &origins, what: path)
                    }
                }
                let fileDescription = (settings["description"], origins["description"])
                if vendorEntries != nil && r.optional("extends") == nil {
                    let inherited = try resolve("pof2s", chain: chain + [name])
                    settings = inherited.settings
                    origins = inherited.origins
                }
                if let parentNode = r.optional("extends") {
                    let parent = try parentNode.string("\(what): extends")
                    guard defs[parent] != nil else {
                        throw ManifestError(parentNode.location, unknownReference(singular(section), parent, among: Array(defs.keys)))
                    }
                    if chain.contains(parent) || parent == name {
                        throw ManifestError(parentNode.location, "'extends' cycle: " + (chain + [name, parent]).joined(separator: " -> "))
                    }
                    let inherited = try resolve(parent, chain: chain + [name])
                    settings = inherited.settings
                    origins = inherited.origins
                }
                // Descriptions are not inherited (a strategy file's is its own).
                (settings["description"], origins["description"]) = fileDescription
                if let vendorEntries { try apply(vendorEntries, into: &settings, origins: &origins, what: what) }
                try apply(r.entries.filter { $0.key != "extends" && !($0.key == "file" && !fileKey.isEmpty) },
                          into: &settings, origins: &origins, what: what)
                for field in schema.keys.sorted() where field != "description" && settings[field] == nil {
                    if let value = SettingsSchema.optional[field] {
                        settings[field] = value
                        continue
                    }
                    throw ManifestError(def.keyLocation, "\(what) does not set '\(field)'; extend a built-in (e.g. extends: \(section == "strategies" ? "pof2s" : "DPUCZDX8G")) or set it")
                }
                let spec = SettingsSpec(name: name, settings: settings, location: def.keyLocation, origins: origins)
                resolved[name] = spec
                return spec
            }
            /// One definition level's own keys over what it inherits. A quantizer block merges key by
            /// key into the inherited block, and its shorthand keys land in their flat fields; a
            /// level that spells one value both ways with different values is refused.
            func apply(_ entries: [(key: String, keyLocation: SourceLocation, value: YAMLNode)],
                       into settings: inout [String: ParameterValue], origins: inout [String: SourceLocation], what: String) throws(ManifestError) {
                var written: [String: (ParameterValue, SourceLocation)] = [:]
                for entry in entries {
                    let value = try schema[entry.key]!.read(entry.value, "\(what): \(entry.key)")
                    guard section == "strategies", ObjectBlock.objects.contains(entry.key) else {
                        settings[entry.key] = value
                        origins[entry.key] = entry.value.location
                        if let previous = written[entry.key], previous.0 != value {
                            throw ManifestError(entry.value.location, "\(what): \(entry.key) is also set to \(previous.0.canonical) at \(previous.1)")
                        }
                        written[entry.key] = (value, entry.value.location)
                        continue
                    }
                    let (fields, block) = ObjectBlock.split(entry.key, value)
                    for (key, field, v) in fields {
                        if let previous = written[field], previous.0 != v {
                            throw ManifestError(entry.value.location, "\(what): \(entry.key).\(key) is \(v.canonical) but \(field) is \(previous.0.canonical) (\(previous.1)); they are one setting")
                        }
                        settings[field] = v
                        origins[field] = entry.value.location
                        written[field] = (v, entry.value.location)
                    }
                    settings[entry.key] = ObjectBlock.merged(block, over: settings[entry.key])
                    origins[entry.key] = entry.value.location
                }
            }
            var out: [String: SettingsSpec] = [:]
            for name in defs.keys.sorted() { out[name] = try resolve(name, chain: []) }
            return out
        }

        // MARK: paths

        enum PathKind { case file, directory, checkpoint, savedModel }

        /// A repository-relative path that exists and does not leave the repository, or
        /// `@root/path` under a data root the user named; the result is what the build reads
        /// (a data-root path is absolute: it is hashed by content like every input, never by path).
        func repositoryPath(_ node: YAMLNode, what: String, mustBe kind: PathKind) throws(ManifestError) -> String {
            let path = try node.string(what)
            var relative = path
            var base = root
            var place = "the repository"
            if path.hasPrefix("@") {
                let name = String(path.dropFirst().prefix { $0 != "/" })
                guard let folder = dataRoots.folders[name] else {
                    let named = dataRoots.folders.keys.sorted()
                    throw ManifestError(node.location, "\(what): '\(path)' is under data root '\(name)', which is not named on this machine"
                        + (named.isEmpty ? "" : " (named: \(named.joined(separator: ", ")))")
                        + "; name it with --data-root \(name.isEmpty ? "NAME" : name)=DIR or VAIQ_DATA_ROOTS=\(name.isEmpty ? "NAME" : name)=DIR")
                }
                relative = String(path.dropFirst(1 + name.count).drop { $0 == "/" })
                base = folder
                place = "data root '\(name)'"
                guard !relative.isEmpty else { throw ManifestError(node.location, "\(what): '\(path)' names the data root itself, not a file under it") }
            } else if path.hasPrefix("/") {
                throw ManifestError(node.location, "\(what): '\(path)' is absolute; paths are relative to the repository root"
                    + " (a folder elsewhere is read as '@NAME/...' once named with --data-root NAME=DIR)")
            }
            var depth = 0
            for part in relative.split(separator: "/") {
                if part == ".." { depth -= 1 } else if part != "." { depth += 1 }
                if depth < 0 {
                    throw ManifestError(node.location, "\(what): '\(path)' leaves \(place)"
                        + (place == "the repository" ? " (a folder elsewhere is read as '@NAME/...' once named with --data-root NAME=DIR)" : ""))
                }
            }
            let full = FileIO.resolve(relative, relativeTo: base)
            switch kind {
            case .file:
                guard FileIO.exists(full), !FileIO.isDirectory(full) else {
                    throw ManifestError(node.location, "\(what): file '\(path)' does not exist")
                }
            case .directory:
                guard FileIO.isDirectory(full) else {
                    throw ManifestError(node.location, "\(what): folder '\(path)' does not exist")
                }
            case .savedModel:
                guard FileIO.exists(full + "/saved_model.pb") else {
                    throw ManifestError(node.location, "\(what): '\(path)' is not a SavedModel directory (no saved_model.pb in it)")
                }
            case .checkpoint:
                let ok = FileIO.isDirectory(full) ? FileIO.exists(full + "/checkpoint") : FileIO.exists(full + ".index")
                guard ok else {
                    throw ManifestError(node.location, "\(what): '\(path)' is neither a training directory with a 'checkpoint' file nor a checkpoint prefix with a .index file")
                }
            }
            return base == root ? path : full
        }
    }
}

func singular(_ section: String) -> String {
    switch section {
    case "models": "model"
    case "strategies": "strategy"
    case "targets": "target"
    case "builds": "build"
    default: section
    }
}

/// Names of builds, models, calibration and evaluation sets, strategies and targets become path
/// components under build/ and the cache: one must be a plain file name (not empty, `.` or `..`;
/// no `/`, `\\`, NUL or other control character), so no manifest can aim a write elsewhere.
func checkPathComponent(_ name: String, what: String, at location: SourceLocation) throws(ManifestError) {
    let shown = name.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
    if name.isEmpty || name == "." || name == ".." {
        throw ManifestError(location, "\(what) '\(shown)' is not a file name: it becomes a folder under build/ (use letters, digits, '_', '-', '.')")
    }
    if let bad = name.unicodeScalars.first(where: { $0 == "/" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F }) {
        let what2 = bad == "/" || bad == "\\" ? "'\(bad)'" : "a control character"
        throw ManifestError(location, "\(what) '\(shown)' contains \(what2): it becomes a folder under build/ (use letters, digits, '_', '-', '.')")
    }
}

func unknownReference(_ kind: String, _ name: String, among names: [String]) -> String {
    var message = "unknown \(kind) '\(name)'"
    if let guess = closest(name, among: names) { message += "; did you mean '\(guess)'?" }
    else if !names.isEmpty { message += "; defined: " + names.sorted().joined(separator: ", ") }
    return message
}
