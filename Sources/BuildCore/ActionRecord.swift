/// What one run of a stage read and produced. Stored in the action cache under its key, and as
/// the stage's last record (for `--explain` / `why`).
public struct ActionRecord: Codable, Sendable, Equatable {
    public var kind: String
    public var version: Int
    /// Parameter name -> canonical text.
    public var parameters: [String: String]
    /// Input name -> content digest.
    public var inputs: [String: ContentDigest]
    /// Output name -> content digest.
    public var outputs: [String: ContentDigest]

    public init(kind: String, version: Int, parameters: [String: String], inputs: [String: ContentDigest],
                outputs: [String: ContentDigest]) {
        self.kind = kind
        self.version = version
        self.parameters = parameters
        self.inputs = inputs
        self.outputs = outputs
    }

    /// The action of `stage` on inputs with these digests (outputs not known yet): what both the
    /// building process and a cluster job compute, so their keys agree.
    public init(stage: any Stage, inputs: [String: ContentDigest]) {
        self.init(kind: stage.kind, version: stage.version, parameters: stage.parameters.mapValues(\.canonical),
                  inputs: inputs, outputs: [:])
    }

    /// The action key: a digest of the kind, version, canonical parameters and input digests.
    /// Outputs are not part of it. The text is line-based with sorted names, so it is canonical.
    public var key: ContentDigest { ContentDigest(of: Array(keyText.utf8)) }

    /// The canonical text the key is the digest of (a shared cache names the action by its SHA-256).
    public var keyText: String {
        var text = "vaiq-build action\nkind \(kind)\nversion \(version)\n"
        for name in parameters.keys.sorted() { text += "param \(name.count):\(name)=\(parameters[name]!)\n" }
        for name in inputs.keys.sorted() { text += "input \(name.count):\(name)=\(inputs[name]!)\n" }
        return text
    }

    /// One line per reason this record's action differs from `previous` (the last run of the
    /// same stage), in the style of `ninja -d explain`. `origins` names where an input comes from
    /// (a file path or a stage), to say which file changed.
    public func reasons(since previous: ActionRecord?, origins: [String: String] = [:]) -> [String] {
        guard let previous else { return ["no earlier run of this stage is recorded"] }
        var reasons: [String] = []
        if kind != previous.kind { reasons.append("stage kind changed from \(previous.kind) to \(kind)") }
        if version != previous.version { reasons.append("stage version changed from \(previous.version) to \(version)") }
        for name in Set(parameters.keys).union(previous.parameters.keys).sorted() where parameters[name] != previous.parameters[name] {
            reasons.append("parameter \(name) changed from \(previous.parameters[name] ?? "(unset)") to \(parameters[name] ?? "(unset)")")
        }
        for name in Set(inputs.keys).union(previous.inputs.keys).sorted() where inputs[name] != previous.inputs[name] {
            switch (previous.inputs[name], inputs[name]) {
            case (nil, _): reasons.append("input \(name) is new")
            case (_, nil): reasons.append("input \(name) was removed")
            default: reasons.append("input \(name) changed" + (origins[name].map { " (\($0))" } ?? ""))
            }
        }
        return reasons.isEmpty ? ["the cache entry for this exact action is missing"] : reasons
    }
}
