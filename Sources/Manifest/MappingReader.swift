import BuildCore

/// Reads one YAML mapping as a typed record: every key must be known (unknown keys get a
/// "did you mean"), required keys must be present, values must have the right type.
struct MappingReader {
    let node: YAMLNode
    let what: String
    private let pairs: [(key: String, keyLocation: SourceLocation, value: YAMLNode)]

    init(_ node: YAMLNode, what: String) throws(ManifestError) {
        guard case .mapping(let pairs, _) = node else {
            throw ManifestError(node.location, "\(what) must be a mapping; found \(node.kindName)")
        }
        self.node = node
        self.what = what
        self.pairs = pairs
    }

    var keys: [String] { pairs.map(\.key) }
    var entries: [(key: String, keyLocation: SourceLocation, value: YAMLNode)] { pairs }

    func optional(_ key: String) -> YAMLNode? { pairs.first { $0.key == key }?.value }

    func required(_ key: String) throws(ManifestError) -> YAMLNode {
        guard let value = optional(key) else { throw ManifestError(node.location, "\(what) needs '\(key)'") }
        return value
    }

    /// Fails on the first key not in `allowed`.
    func checkKeys(_ allowed: [String]) throws(ManifestError) {
        for pair in pairs where !allowed.contains(pair.key) {
            var message = "unknown key '\(pair.key)' in \(what)"
            if let guess = closest(pair.key, among: allowed) { message += "; did you mean '\(guess)'?" }
            else { message += "; expected one of: " + allowed.sorted().joined(separator: ", ") }
            throw ManifestError(pair.keyLocation, message)
        }
    }
}

/// The candidate within edit distance 2 (or a third of the word) of `word`, if any.
public func closest(_ word: String, among candidates: [String]) -> String? {
    let limit = max(2, word.count / 3)
    return candidates
        .map { ($0, editDistance(word, $0)) }
        .filter { $0.1 <= limit }
        .min { ($0.1, $0.0) < ($1.1, $1.0) }?.0
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(1, a.count) where !a.isEmpty {
        var previous = row[0]
        row[0] = i
        for j in 1...max(1, b.count) where !b.isEmpty {
            let old = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = old
        }
    }
    return a.isEmpty ? b.count : row[b.count]
}

// MARK: scalar conversions, each naming the key on failure

extension YAMLNode {
    func string(_ what: String) throws(ManifestError) -> String {
        guard case .scalar(let s, _, _) = self else { throw ManifestError(location, "\(what) must be a string; found \(kindName)") }
        return s
    }

    func int(_ what: String, range: ClosedRange<Int>? = nil) throws(ManifestError) -> Int {
        guard case .scalar(let s, true, _) = self, let v = Int(s) else {
            throw ManifestError(location, "\(what) must be an integer; found \(describeValue)")
        }
        if let range, !range.contains(v) {
            throw ManifestError(location, "\(what) must be in \(range.lowerBound)...\(range.upperBound); found \(v)")
        }
        return v
    }

    func double(_ what: String) throws(ManifestError) -> Double {
        guard case .scalar(let s, true, _) = self, let v = Double(s) else {
            throw ManifestError(location, "\(what) must be a number; found \(describeValue)")
        }
        return v
    }

    /// YAML 1.2 booleans, and 0/1 as vai_q's flags use them.
    func bool(_ what: String) throws(ManifestError) -> Bool {
        if case .scalar(let s, true, _) = self {
            switch s {
            case "true", "True", "TRUE", "1": return true
            case "false", "False", "FALSE", "0": return false
            default: break
            }
        }
        throw ManifestError(location, "\(what) must be true or false; found \(describeValue)")
    }

    /// A list of strings; a single string is a one-element list.
    func stringList(_ what: String) throws(ManifestError) -> [String] {
        switch self {
        case .scalar(let s, _, _): return [s]
        case .sequence(let items, _):
            var out: [String] = []
            for item in items { out.append(try item.string("each item of \(what)")) }
            return out
        case .mapping: throw ManifestError(location, "\(what) must be a list of strings; found a mapping")
        }
    }

    /// `[-1, 224, 224, 3]` (or `?` for an unknown dimension).
    func shape(_ what: String) throws(ManifestError) -> [Int] {
        guard case .sequence(let items, _) = self else { throw ManifestError(location, "\(what) must be a list of dimensions; found \(kindName)") }
        var dims: [Int] = []
        for item in items {
            if case .scalar("?", _, _) = item { dims.append(-1); continue }
            let d = try item.int("each dimension of \(what)")
            guard d == -1 || d > 0 else { throw ManifestError(item.location, "\(what): dimension \(d) must be positive, or -1 / ? for unknown") }
            dims.append(d)
        }
        return dims
    }

    var describeValue: String {
        if case .scalar(let s, let plain, _) = self { return plain ? "'\(s)'" : "the string \"\(s)\"" }
        return kindName
    }
}
