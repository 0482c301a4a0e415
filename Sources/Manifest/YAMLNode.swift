import CYAML

/// Where something is in a manifest: 1-based line and column.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`; just `file` for a place with no line (a directory, a command-line flag).
    public var description: String { line == 0 ? file : "\(file):\(line):\(column)" }
}

/// A manifest problem: printed as `file:line:column: message`.
public struct ManifestError: Error, Sendable, Equatable, CustomStringConvertible {
    public let location: SourceLocation
    public let message: String

    public init(_ location: SourceLocation, _ message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

/// A parsed YAML document: scalars, sequences and mappings, each with its location.
/// Aliases are resolved to (copies of) their anchored nodes.
public indirect enum YAMLNode: Sendable, Equatable {
    /// `plain` is false for quoted and block scalars, which are always strings.
    case scalar(String, plain: Bool, SourceLocation)
    case sequence([YAMLNode], SourceLocation)
    case mapping([(key: String, keyLocation: SourceLocation, value: YAMLNode)], SourceLocation)

    public var location: SourceLocation {
        switch self {
        case .scalar(_, _, let l), .sequence(_, let l), .mapping(_, let l): l
        }
    }

    public static func == (a: YAMLNode, b: YAMLNode) -> Bool {
        switch (a, b) {
        case let (.scalar(x, px, lx), .scalar(y, py, ly)): x == y && px == py && lx == ly
        case let (.sequence(x, lx), .sequence(y, ly)): x == y && lx == ly
        case let (.mapping(x, lx), .mapping(y, ly)):
            lx == ly && x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// What the node is, for "expected a mapping, found a sequence" messages.
    public var kindName: String {
        switch self {
        case .scalar: "a scalar"
        case .sequence: "a list"
        case .mapping: "a mapping"
        }
    }
}

/// Parses YAML text with libyaml's event API into a `YAMLNode` (one document; an empty file is
/// an empty mapping). Duplicate keys in a mapping are an error, as YAML 1.2 requires. Nesting
/// deeper than `maxDepth` and documents of more than `maxNodes` nodes with aliases expanded are
/// refused at the place they cross the limit: libyaml's scanner costs time quadratic in the
/// nesting depth, and aliases of aliases grow a tree exponentially.
public enum YAMLParser {
    public static let maxDepth = 256
    public static let maxNodes = 1_000_000

    public static func parse(_ text: [UInt8], file: String) throws(ManifestError) -> YAMLNode {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw ManifestError(SourceLocation(file: file, line: 1, column: 1), "cannot initialize the YAML parser")
        }
        defer { yaml_parser_delete(&parser) }
        var builder = TreeBuilder(file: file)
        var failure: ManifestError?
        text.withUnsafeBufferPointer { buf in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            while failure == nil {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let mark = parser.problem_mark
                    let problem = parser.problem.map { String(cString: $0) } ?? "syntax error"
                    let context = parser.context.map { " " + String(cString: $0) } ?? ""
                    failure = ManifestError(SourceLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1),
                                            "YAML syntax error: \(problem)\(context)")
                    break
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                do throws(ManifestError) { try builder.handle(&event) } catch { failure = error }
            }
        }
        if let failure { throw failure }
        return builder.root ?? .mapping([], SourceLocation(file: file, line: 1, column: 1))
    }

    /// Builds the tree from events with an explicit stack.
    private struct TreeBuilder {
        enum Open {
            case sequence([YAMLNode], SourceLocation, anchor: String?)
            case mapping([(key: String, keyLocation: SourceLocation, value: YAMLNode)], pendingKey: (String, SourceLocation)?,
                         SourceLocation, anchor: String?)
        }

        let file: String
        var stack: [Open] = []
        var anchors: [String: YAMLNode] = [:]
        /// Nodes of each anchored node, aliases expanded; the running count, and its value where each open collection began.
        var anchorSizes: [String: Int] = [:]
        var nodes = 0
        var starts: [Int] = []
        var root: YAMLNode?
        var documents = 0

        init(file: String) { self.file = file }

        mutating func handle(_ event: inout yaml_event_t) throws(ManifestError) {
            let location = SourceLocation(file: file, line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
            switch event.type {
            case YAML_DOCUMENT_START_EVENT:
                documents += 1
                if documents > 1 { throw ManifestError(location, "a manifest holds one YAML document; found a second '---'") }
            case YAML_SCALAR_EVENT:
                try count(1, at: location)
                let s = event.data.scalar
                let value = String(decoding: UnsafeBufferPointer(start: s.value, count: Int(s.length)), as: UTF8.self)
                let node = YAMLNode.scalar(value, plain: s.style == YAML_PLAIN_SCALAR_STYLE, location)
                try add(node, anchor: s.anchor.map { String(cString: $0) })
            case YAML_ALIAS_EVENT:
                let name = String(cString: event.data.alias.anchor)
                guard let node = anchors[name] else { throw ManifestError(location, "unknown alias '*\(name)'") }
                try count(anchorSizes[name] ?? 1, at: location)
                try add(node, anchor: nil)
            case YAML_SEQUENCE_START_EVENT:
                try open(at: location)
                stack.append(.sequence([], location, anchor: event.data.sequence_start.anchor.map { String(cString: $0) }))
            case YAML_MAPPING_START_EVENT:
                try open(at: location)
                stack.append(.mapping([], pendingKey: nil, location, anchor: event.data.mapping_start.anchor.map { String(cString: $0) }))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                let start = starts.removeLast()
                switch stack.removeLast() {
                case let .sequence(items, l, anchor):
                    if let anchor { anchorSizes[anchor] = nodes - start }
                    try add(.sequence(items, l), anchor: anchor)
                case let .mapping(pairs, _, l, anchor):
                    if let anchor { anchorSizes[anchor] = nodes - start }
                    try add(.mapping(pairs, l), anchor: anchor)
                }
            default:
                break
            }
        }

        private mutating func open(at location: SourceLocation) throws(ManifestError) {
            guard stack.count < YAMLParser.maxDepth else {
                throw ManifestError(location, "lists and mappings nested deeper than \(YAMLParser.maxDepth) levels; a manifest needs a few")
            }
            starts.append(nodes)
            try count(1, at: location)
        }

        private mutating func count(_ n: Int, at location: SourceLocation) throws(ManifestError) {
            nodes += n
            guard nodes <= YAMLParser.maxNodes else {
                throw ManifestError(location, "more than \(YAMLParser.maxNodes) YAML nodes with aliases expanded; a manifest needs far fewer")
            }
        }

        private mutating func add(_ node: YAMLNode, anchor: String?) throws(ManifestError) {
            if let anchor {
                anchors[anchor] = node
                if case .scalar = node { anchorSizes[anchor] = 1 }
            }
            guard let top = stack.popLast() else {
                root = node
                return
            }
            switch top {
            case .sequence(var items, let l, let a):
                items.append(node)
                stack.append(.sequence(items, l, anchor: a))
            case .mapping(var pairs, let pending, let l, let a):
                if let (key, keyLocation) = pending {
                    pairs.append((key, keyLocation, node))
                    stack.append(.mapping(pairs, pendingKey: nil, l, anchor: a))
                } else {
                    guard case let .scalar(key, _, keyLocation) = node else {
                        throw ManifestError(node.location, "mapping keys must be plain names; found \(node.kindName)")
                    }
                    if let first = pairs.first(where: { $0.key == key }) {
                        throw ManifestError(keyLocation, "duplicate key '\(key)' (first defined at \(first.keyLocation.line):\(first.keyLocation.column))")
                    }
                    stack.append(.mapping(pairs, pendingKey: (key, keyLocation), l, anchor: a))
                }
            }
        }
    }
}
