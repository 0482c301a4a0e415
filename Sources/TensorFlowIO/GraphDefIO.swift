import FileIO
import Foundation
import SwiftProtobuf
import TFProto

/// Reads and writes GraphDef files: binary `.pb` and text `.pbtxt` (chosen by extension).
public enum GraphDefIO {
    /// True when `path` names a text-format GraphDef.
    public static func isTextFormat(_ path: String) -> Bool {
        path.hasSuffix(".pbtxt") || path.hasSuffix(".prototxt") || path.hasSuffix(".txt")
    }

    /// Reads and validates a GraphDef: it must decode and every node input must name a node.
    public static func read(_ path: String) throws(TensorFlowIOError) -> Tensorflow_GraphDef {
        let bytes: [UInt8]
        do { bytes = try FileIO.read(path) } catch { throw .file(error) }
        let graph = isTextFormat(path) ? try decodeText(bytes, path: path) : try decodeBinary(bytes, path: path)
        try validate(graph, path: path)
        return graph
    }

    public static func decodeBinary(_ bytes: [UInt8], path: String) throws(TensorFlowIOError) -> Tensorflow_GraphDef {
        do {
            return try Tensorflow_GraphDef(serializedBytes: bytes)
        } catch {
            throw .malformedGraph(path: path, reason: binaryReason(error))
        }
    }

    public static func decodeText(_ bytes: [UInt8], path: String) throws(TensorFlowIOError) -> Tensorflow_GraphDef {
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            return try Tensorflow_GraphDef(textFormatString: text)
        } catch {
            // SwiftProtobuf does not say where; our own scanner does.
            if let problem = TextFormatLocator.firstProblem(in: bytes, rootMessage: "GraphDef") {
                throw .textFormat(path: path, line: problem.line, column: problem.column, message: problem.message)
            }
            throw .textFormat(path: path, line: 1, column: 1, message: "not a valid text GraphDef (\(error))")
        }
    }

    /// Serializes `graph` as binary and writes it atomically.
    public static func write(_ graph: Tensorflow_GraphDef, to path: String) throws(TensorFlowIOError) {
        let bytes = try serialize(graph, path: path)
        do { try FileIO.writeAtomically(bytes, to: path) } catch { throw .file(error) }
    }

    /// The binary encoding, deterministic: map fields (attr) in key order, so the same graph always
    /// gives the same bytes (and the same cache key downstream).
    public static func serialize(_ graph: Tensorflow_GraphDef, path: String) throws(TensorFlowIOError) -> [UInt8] {
        do {
            var options = BinaryEncodingOptions()
            options.useDeterministicOrdering = true
            return try graph.serializedBytes(options: options)
        } catch {
            throw .malformedGraph(path: path, reason: "cannot serialize: \(error)")
        }
    }

    /// Every node name is unique and every input (`name`, `name:k`, `^name`) names a node.
    /// A binary file cut at a field boundary decodes cleanly but fails here.
    public static func validate(_ graph: Tensorflow_GraphDef, path: String) throws(TensorFlowIOError) {
        var names = Set<String>()
        names.reserveCapacity(graph.node.count)
        for node in graph.node where !names.insert(node.name).inserted {
            throw .invalidGraph(path: path, node: node.name, reason: "duplicate node name")
        }
        for node in graph.node {
            if node.name.isEmpty { throw .invalidGraph(path: path, node: "", reason: "node without a name (op \(node.op))") }
            if node.op.isEmpty { throw .invalidGraph(path: path, node: node.name, reason: "node without an op") }
            for input in node.input {
                let producer = TensorName(input).node
                if !names.contains(producer) {
                    throw .invalidGraph(path: path, node: node.name,
                                        reason: "input '\(input)' names no node of the graph (truncated or incomplete file?)")
                }
            }
        }
    }

    private static func binaryReason(_ error: Error) -> String {
        switch error {
        case BinaryDecodingError.truncated: "the file is truncated"
        case BinaryDecodingError.malformedProtobuf: "malformed protobuf data"
        case BinaryDecodingError.invalidUTF8: "a string field is not valid UTF-8"
        case BinaryDecodingError.messageDepthLimit: "messages nested too deeply"
        default: "\(error)"
        }
    }
}

/// A node input reference: `node`, `node:2` or the control input `^node`.
public struct TensorName: Hashable, Sendable, CustomStringConvertible {
    public let node: String
    public let outputIndex: Int
    public let isControl: Bool

    public init(_ text: String) {
        if text.hasPrefix("^") {
            node = String(text.dropFirst())
            outputIndex = -1
            isControl = true
            return
        }
        isControl = false
        // On the UTF-8 view: graph passes parse every input of every node, often more than once.
        if let colon = text.utf8.lastIndex(of: UInt8(ascii: ":")), let index = Int(text[text.utf8.index(after: colon)...]) {
            node = String(text[..<colon])
            outputIndex = index
        } else {
            node = text
            outputIndex = 0
        }
    }

    public var description: String {
        isControl ? "^\(node)" : (outputIndex == 0 ? node : "\(node):\(outputIndex)")
    }

    /// Whether the input reference `text` is a data use of output 0 of `node`, as `TensorName(text)`
    /// says, parsing only references that start with the node's name (graph rewrites ask this of
    /// every input of every node).
    public static func readsOutputZero(_ text: String, of node: String) -> Bool {
        guard text.hasPrefix(node) else { return false }
        let name = TensorName(text)
        return !name.isControl && name.outputIndex == 0 && name.node == node
    }
}
