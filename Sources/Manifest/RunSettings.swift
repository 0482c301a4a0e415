/// How a repository's builds run, beside what they build: the top-level `settings:` block.
///
///     settings:
///       remote_cache: http://cache.example:8080/vaiq   # a Bazel HTTP cache (no credentials here)
///       remote_upload: false                           # read the shared cache, never write it
///       executor: slurm                                # local (the default) or slurm
///       slurm:
///         partition: gpu
///         account: ml-team
///         time: "01:00:00"
///         extra_args: ["--qos=nightly"]
///
/// Any manifest may hold the block; each key may be set in one file only. Flags and environment
/// variables win over it (see the README's "Team and cluster").
public struct RunSettings: Sendable, Equatable {
    public struct Slurm: Sendable, Equatable {
        public var partition: String?
        public var account: String?
        /// sbatch's `--time` (a job's wall-clock limit), as written.
        public var time: String?
        public var extraArgs: [String] = []

        public init(partition: String? = nil, account: String? = nil, time: String? = nil, extraArgs: [String] = []) {
            self.partition = partition
            self.account = account
            self.time = time
            self.extraArgs = extraArgs
        }
    }

    public enum Executor: String, Sendable, CaseIterable {
        case local, slurm
    }

    public var remoteCache: String?
    public var remoteUpload: Bool?
    public var executor: Executor?
    public var slurm = Slurm()
    /// Where each key was set (`file:line:column`), for messages.
    public var origins: [String: SourceLocation] = [:]

    public init() {}

    static let keys = ["remote_cache", "remote_upload", "executor", "slurm"]
    static let slurmKeys = ["partition", "account", "time", "extra_args"]

    /// Adds one file's `settings:` mapping; a key another file set already is an error.
    mutating func add(_ node: YAMLNode) throws(ManifestError) {
        let r = try MappingReader(node, what: "'settings'")
        try r.checkKeys(Self.keys)
        for entry in r.entries {
            if let first = origins[entry.key] {
                throw ManifestError(entry.keyLocation, "setting '\(entry.key)' is set twice (first at \(first))")
            }
            origins[entry.key] = entry.keyLocation
            switch entry.key {
            case "remote_cache":
                let url = try entry.value.string("settings: remote_cache")
                if let problem = Self.urlProblem(url) { throw ManifestError(entry.value.location, "settings: remote_cache: \(problem)") }
                remoteCache = url
            case "remote_upload":
                remoteUpload = try entry.value.bool("settings: remote_upload")
            case "executor":
                let name = try entry.value.string("settings: executor")
                guard let value = Executor(rawValue: name) else {
                    throw ManifestError(entry.value.location, "settings: executor must be one of: local, slurm; found '\(name)'")
                }
                executor = value
            default:
                let s = try MappingReader(entry.value, what: "'settings: slurm'")
                try s.checkKeys(Self.slurmKeys)
                if let v = s.optional("partition") { slurm.partition = try v.string("settings: slurm: partition") }
                if let v = s.optional("account") { slurm.account = try v.string("settings: slurm: account") }
                if let v = s.optional("time") { slurm.time = try v.string("settings: slurm: time") }
                if let v = s.optional("extra_args") {
                    guard case .sequence = v else {
                        throw ManifestError(v.location, "settings: slurm: extra_args must be a list of sbatch arguments; found \(v.kindName)")
                    }
                    slurm.extraArgs = try v.stringList("settings: slurm: extra_args")
                }
                for (key, value) in [("partition", slurm.partition), ("account", slurm.account), ("time", slurm.time)] {
                    if let value, value.isEmpty || value.hasPrefix("-") || value.contains(where: \.isWhitespace) {
                        throw ManifestError(s.optional(key)!.location, "settings: slurm: \(key) must be one word, not empty and not starting with '-'; found '\(value)'")
                    }
                }
            }
        }
    }

    /// Why `url` cannot name a shared cache in a manifest, or nil: it must be http(s) and must not
    /// carry credentials (those come from the environment only, never from a file in the repository).
    public static func urlProblem(_ url: String) -> String? {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return "expected an http:// or https:// URL; found '\(url)'" }
        let authority = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false).dropFirst(2).first ?? ""
        if authority.contains("@") {
            return "the URL holds credentials; give them in VAIQ_REMOTE_CACHE_TOKEN, or VAIQ_REMOTE_CACHE_USER and VAIQ_REMOTE_CACHE_PASSWORD (the environment only)"
        }
        return nil
    }
}
