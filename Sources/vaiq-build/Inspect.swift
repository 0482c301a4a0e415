import ArgumentParser
import BuildCore
import FileIO
import Foundation
import Manifest
import Pipeline
import TFProto
import TensorFlowIO

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a GraphDef or a checkpoint.",
        discussion: """
            For a graph (.pb or .pbtxt): the op-type histogram with each op's role in quantization, \
            the possible input nodes (placeholders) and output nodes (nodes nothing consumes, except \
            Const, Assign, NoOp and Placeholder), static shapes where they can be inferred, and every \
            node with its role: compute (weights and output quantized), activation (output quantized), \
            in-pattern (quantized only inside a larger pattern), folded (batch norm, Identity), \
            constant, variable (becomes a constant when frozen), training (dropped when frozen), or \
            float (in no quantizer pattern; stays on the CPU), and the quantizer patterns its op type \
            can take part in (conv_bias_act, hard_sigmoid, batchnorm, array, other, ...). With \
            --target NAME (a DPU target of the repository's manifests, or a built-in one) each op \
            type is marked dpu or cpu by the target's supported_ops.
            For a checkpoint (a training directory or a prefix): every tensor with its dtype and shape.
            """
    )

    @Argument(help: "A GraphDef file, a training directory, or a checkpoint prefix.")
    var path: String

    @Option(name: .customLong("input_shapes"),
            help: "Shapes for the placeholders in file order, e.g. ?,224,224,3 (several separated by ':').")
    var inputShapes: String?

    @Option(help: "A DPU target (the repository's, with -C or in the current directory, else built-in): mark each op dpu or cpu by its supported_ops.")
    var target: String?

    @Option(name: [.customShort("C"), .customLong("repo")], help: "The model repository whose manifests define --target (default: the current directory).")
    var repo: String = "."

    @Option(name: .customLong("data-root"), help: ArgumentHelp("A data root the repository's manifests read (as for build commands).", valueName: "NAME=DIR"))
    var dataRoot: [String] = []

    private func dataRoots() throws(CommandFailure) -> DataRoots { try parseDataRoots(dataRoot) }

    @Flag(name: .customLong("no-nodes"), help: "Leave out the per-node table.")
    var noNodes = false

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        if FileIO.isDirectory(path) || (!FileIO.exists(path) && FileIO.exists(path + ".index")) || path.hasSuffix(".index") {
            try inspectCheckpoint()
        } else {
            try inspectGraph()
        }
    }

    private func inspectGraph() throws {
        let graph = try failing { try GraphDefIO.read(path) }
        var overrides: [String: [Int]] = [:]
        if let inputShapes {
            let shapes = try parseInputShapes(inputShapes)
            let placeholders = graph.node.filter { $0.tfOp == .placeholder }.map(\.name)
            guard shapes.count == placeholders.count else {
                throw CommandFailure(message: "--input_shapes gives \(shapes.count) shapes but the graph has \(placeholders.count) placeholders (\(placeholders.joined(separator: ", ")))")
            }
            overrides = Dictionary(uniqueKeysWithValues: zip(placeholders, shapes))
        }
        let report = GraphInspection(graph: graph, inputShapes: overrides)
        let digest = try failing { try ContentDigest.ofFile(path) }
        let dpu = try target.map { try TargetPlacement(name: $0, report: report, graph: graph, repo: repo, dataRoots: try dataRoots()) }
        if json {
            try printJSON(InspectJSON(path: path, digest: digest.description, inspection: report, includeNodes: !noNodes, target: dpu))
            return
        }
        print("graph \(path): \(report.nodeCount) nodes, xxh3-128 \(digest)")
        print("\nop types used (\(report.ops.count)):")
        if let dpu {
            printTable(report.ops.map { ["\($0.count)", $0.op, $0.role.rawValue, dpu.placement[$0.op] ?? "-"] },
                       header: ["count", "op", "role", dpu.target])
        } else {
            printTable(report.ops.map { ["\($0.count)", $0.op, $0.role.rawValue] }, header: ["count", "op", "role"])
        }
        print("\nfound \(report.inputs.count) possible inputs:")
        printTable(report.inputs.map { [$0.name, $0.dtype, shapeText($0.shape)] }, header: ["name", "dtype", "shape"])
        print("\nfound \(report.outputs.count) possible outputs:")
        printTable(report.outputs.map { [$0.name, $0.op, shapeText($0.shape)] }, header: ["name", "op", "shape"])
        let roles = QuantizeRole.allCases.compactMap { role in report.roleCounts[role.rawValue].map { "\($0) \(role.rawValue)" } }
        print("\nquantization roles: " + roles.joined(separator: ", "))
        if let dpu {
            // Of what the outputs need (a variable's initializer is no part of the model).
            var cpu: [String: Int] = [:]
            for node in dpu.cpuNodes { cpu[node[1], default: 0] += 1 }
            print("target \(dpu.target): " + (cpu.isEmpty ? "every op the outputs need runs on the DPU"
                : "on the CPU: " + cpu.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")))
            print("  \(dpu.subgraphs.count) DPU subgraph\(dpu.subgraphs.count == 1 ? "" : "s")"
                  + (dpu.subgraphs.count > 1 ? " (each extra one is a round trip between the DPU and the CPU)" : "") + ":")
            for (i, nodes) in dpu.subgraphs.enumerated() {
                print("    \(i + 1): \(nodes.count) nodes, \(nodes.first!) ... \(nodes.last!)")
            }
            if !dpu.cpuNodes.isEmpty {
                print("  CPU nodes: " + dpu.cpuNodes.map { "\($0[0]) (\($0[1]))" }.joined(separator: ", "))
            }
        }
        if report.runtimeUnsupported.isEmpty {
            print("runtime: every op can be run by vaiq-build (calibrate, evaluate, run)")
        } else {
            print("runtime: not supported by vaiq-build's runtime: "
                  + report.runtimeUnsupported.map { "\($0.op) (\($0.count))" }.joined(separator: ", "))
        }
        if !noNodes {
            print("\nnodes:")
            printTable(report.nodes.map { [$0.name, $0.op, shapeText($0.shape), $0.role.rawValue, patternText($0.patterns)] },
                       header: ["name", "op", "shape", "role", "patterns"])
        }
    }

    private func inspectCheckpoint() throws {
        let location = try failing { try CheckpointLocation.resolve(path) }
        let reader = try failing { try CheckpointReader(prefix: location.prefix) }
        let infos = reader.tensorInfos
        if json {
            try printJSON(CheckpointJSON(prefix: location.prefix, step: location.step, shards: reader.shardPaths.count,
                                         tensors: infos.map { .init(name: $0.name, dtype: $0.dtype.tfName, shape: $0.shape, bytes: $0.byteSize) }))
            return
        }
        let total = infos.reduce(0) { $0 + $1.byteSize }
        print("checkpoint \(location.prefix): \(infos.count) tensors, \(total) bytes in \(reader.shardPaths.count) shard(s)"
              + (location.step.map { ", step \($0)" } ?? ""))
        printTable(infos.map { [$0.name, $0.dtype.tfName, shapeText($0.shape), "\($0.byteSize)"] },
                   header: ["name", "dtype", "shape", "bytes"])
    }
}

private struct InspectJSON: Encodable {
    let path: String
    let digest: String
    let inspection: GraphInspection
    let includeNodes: Bool
    let target: TargetPlacement?

    enum CodingKeys: String, CodingKey {
        case path, xxh3_128, nodeCount = "node_count", ops, inputs, outputs, roles, runtimeUnsupported = "runtime_unsupported", nodes, target
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(digest, forKey: .xxh3_128)
        try c.encode(inspection.nodeCount, forKey: .nodeCount)
        try c.encode(inspection.ops, forKey: .ops)
        try c.encode(inspection.inputs, forKey: .inputs)
        try c.encode(inspection.outputs, forKey: .outputs)
        try c.encode(inspection.roleCounts, forKey: .roles)
        try c.encode(inspection.runtimeUnsupported.map(\.op), forKey: .runtimeUnsupported)
        if includeNodes { try c.encode(inspection.nodes, forKey: .nodes) }
        try c.encodeIfPresent(target, forKey: .target)
    }
}

/// Where a DPU target runs each op type of a graph: `dpu` when the op's DPU operation is in the
/// target's `supported_ops`, `cpu` for ops the DPU does not run, `-` for ops that are no
/// operation of their own (constants, inputs, folded, in-pattern).
struct TargetPlacement: Encodable {
    let target: String
    let placement: [String: String]
    /// The DPU subgraphs (node names) and the CPU nodes of what the possible outputs need.
    var subgraphs: [[String]] = []
    var cpuNodes: [[String]] = []

    init(name: String, report: GraphInspection, graph: Tensorflow_GraphDef, repo: String, dataRoots: DataRoots) throws {
        let dpu: DPUTarget
        do { dpu = try BuiltinSettings.target(name, in: try BuiltinSettings.manifest(repository: repo, dataRoots: dataRoots)) } catch {
            throw CommandFailure(message: "--target: \(error.description)")
        }
        target = name
        var placement: [String: String] = [:]
        for entry in report.ops {
            if let op = TFOp.named(entry.op), op.dpuOp != nil {
                placement[entry.op] = op.isSupported(by: dpu.supportedOps) ? "dpu" : "cpu"
            } else if entry.role == .float {
                placement[entry.op] = "cpu"
            }
        }
        self.placement = placement
        let partition = DPUPartition(graph: graph, supportedOps: dpu.supportedOps, outputs: report.outputs.map(\.name))
        subgraphs = partition.subgraphs
        cpuNodes = partition.cpu.map { [$0.name, $0.op] }
    }
}

private struct CheckpointJSON: Encodable {
    struct Entry: Encodable {
        let name: String
        let dtype: String
        let shape: [Int]
        let bytes: Int
    }
    let prefix: String
    let step: Int?
    let shards: Int
    let tensors: [Entry]
}

/// `conv_bias_act,batchnorm`; none -> `-`.
func patternText(_ patterns: [QuantizePattern]) -> String {
    patterns.isEmpty ? "-" : patterns.map(\.rawValue).joined(separator: ",")
}

/// `[-1, 16, 16, 3]` -> `?x16x16x3`; unknown rank -> `?`.
func shapeText(_ shape: [Int]?) -> String {
    guard let shape else { return "?" }
    if shape.isEmpty { return "scalar" }
    return shape.map { $0 < 0 ? "?" : String($0) }.joined(separator: "x")
}

func printTable(_ rows: [[String]], header: [String]) {
    guard !rows.isEmpty else {
        print("  (none)")
        return
    }
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }
        print("  " + cells.joined(separator: "  "))
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}
