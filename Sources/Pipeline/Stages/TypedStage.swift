import BuildCore
import FileIO
import PTQ
import Foundation
import TFProto
import TensorFlowIO
import Tensors

/// A stage kind as one Swift type: its kind name and version are constants of the type, and its
/// parameters are a typed struct whose `Codable` encoding (`ParameterEncoder`) is exactly what
/// enters the action key. A stage reads its settings from that struct and nothing else, so a
/// field the struct does not hold cannot change the key, and bumping one kind's version reruns
/// that kind and what depends on its bytes, never what comes before.
protocol TypedStage: Stage {
    associatedtype Settings: Encodable & Sendable
    /// The kind's name and version (bump the version when the kind computes different bytes).
    static var identity: StageKind { get }
    var declaration: StageDeclaration<Settings> { get }
}

/// A stage kind's name and version.
struct StageKind: Sendable {
    let name: String
    let version: Int
}

/// What a stage of a kind is made of: its id, its typed settings, its inputs.
struct StageDeclaration<Settings: Encodable & Sendable>: Sendable {
    let id: StageID
    let settings: Settings
    let inputs: [String: StageInput]
}

extension TypedStage {
    var id: StageID { declaration.id }
    var settings: Settings { declaration.settings }
    var inputs: [String: StageInput] { declaration.inputs }
    static var kind: String { identity.name }
    static var version: Int { identity.version }
    var kind: String { Self.kind }
    var version: Int { Self.version }
    var parameters: [String: ParameterValue] { ParameterEncoder.encode(settings) }
}

/// A model's quantized range: what optimize partitions to and deploy cuts out.
struct ModelRange: Codable, Sendable, Equatable, InlineParameters {
    var inputNodes: [String]
    var outputNodes: [String]
    /// -1 for unknown dimensions; empty when the graph's placeholders say enough.
    var inputShapes: [[Int]]
}

/// The graph rewrites sit in optimize's key as its own fields (`do_cle`, `simulate_dpu`, ...).
extension GraphRewrites: InlineParameters {}

/// Helpers the stage kinds share.
enum StageIO {
    /// Compact JSON with sorted keys and a final newline: the one format of every JSON output.
    static func json<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value)) + [0x0A]
    }

    static func decode<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(try FileIO.read(path)))
    }

    /// Batches of `batchSize` rows from each `data:<node>` input.
    static func batches(_ paths: [String: String], batchSize: Int, iterations: Int, allowPartial: Bool = false) throws -> [[String: Tensor]] {
        var arrays: [String: Tensor] = [:]
        for (key, path) in paths where key.hasPrefix(dataPrefix) {
            arrays[String(key.dropFirst(dataPrefix.count))] = try NPY.decode(try FileIO.read(path), name: path)
        }
        return try DataBatches.split(arrays, batchSize: batchSize, limit: iterations, allowPartial: allowPartial)
    }

    /// The graph around a model's quantized range (`aux_graph.pb`): a fragment whose nodes may read
    /// nodes of the optimized graph (Keras's trailing NoOp waits on every ReadVariableOp), so it is
    /// decoded without the whole-graph check; `PostTrainingQuantizer.merge` makes one graph of both.
    static func fragment(_ path: String) throws -> Tensorflow_GraphDef {
        try GraphDefIO.decodeBinary(try FileIO.read(path), path: path)
    }

    /// Makes a graph, serializes it and stores it as the output `name` at once, so a stage writing
    /// several large graphs holds one serialized graph at a time.
    static func store(_ name: String, _ context: StageContext, path: String, _ graph: () throws -> Tensorflow_GraphDef) throws {
        let bytes = try context.phases.time("write") { try GraphDefIO.serialize(try graph(), path: path) }
        try context.store(name, bytes)
    }

    /// Input names of data files: `data:<node>`.
    static let dataPrefix = "data:"

    /// The optimized graph's sinks are its output nodes (partitioning kept nothing else).
    static func outputNodes(of graph: Tensorflow_GraphDef) -> [String] {
        GraphOrder.sinks(graph)
    }
}
