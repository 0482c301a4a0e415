import ArgumentParser
import FileIO
import Foundation
import Runtime
import TensorFlowIO
import Tensors

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a frozen graph on .npy inputs with vaiq-build's own float runtime.",
        discussion: """
            Inputs are NumPy files: `--input NAME=FILE.npy` per placeholder (or `NAME=FILE.npz:KEY`; \
            a graph with one placeholder also takes just `--input FILE.npy`). Without `--outputs` the \
            graph's sinks are computed. `-o out.npz` writes every output (keys are node names), \
            `-o out.npy` the single output; without `-o` each output's shape and statistics are printed. \
            Shape computations (Shape, StridedSlice, Pack, ...) are folded once the input shapes are \
            known; conv/matmul chains with batch norm, bias and ReLU run as one fused kernel, a \
            constant Pad becomes the next conv's or MaxPool's padding, a 1x1 conv feeding a depthwise \
            conv runs in the same call, and float 3x3 stride-1 convs use Winograd F(4x4,3x3). Results \
            are identical for any -j.
            """
    )

    @Argument(help: "The frozen GraphDef (.pb or .pbtxt).")
    var graph: String

    @Option(name: .customLong("input"), help: "NAME=FILE.npy (repeat for each placeholder).")
    var inputs: [String] = []

    @Option(help: "Comma-separated output nodes (default: the graph's sinks).")
    var outputs: String?

    @Option(name: [.customShort("o"), .long], help: "Write the outputs to a .npz (or a single output to a .npy).")
    var output: String?

    @Option(name: [.customShort("j", allowingJoined: true), .long], help: "Threads (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if jobs < 1 { throw ValidationError("-j must be at least 1") }
        if inputs.isEmpty { throw ValidationError("give at least one --input NAME=FILE.npy") }
    }

    func run() throws {
        let graphDef = try failing { try GraphDefIO.read(graph) }
        let requested = outputs?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } ?? []
        let imported = try failing { try GraphImporter.importGraph(graphDef, outputs: requested, path: graph) }
        let names = requested.isEmpty ? imported.outputs.map { imported.graph[$0.node].name } : requested
        let runtime = Runtime(graph: imported.graph, outputs: Array(zip(names, imported.outputs)))
        let placeholders = imported.graph.inputs.map { imported.graph[$0].name }
        var feeds: [String: Tensor] = [:]
        for spec in inputs {
            let (name, file) = try parse(spec, placeholders: placeholders)
            guard placeholders.contains(name) else {
                throw CommandFailure(message: "--input \(spec): '\(name)' is not an input of \(graph) (inputs: \(placeholders.joined(separator: ", ")))")
            }
            feeds[name] = try load(file)
        }
        for name in placeholders where feeds[name] == nil {
            throw CommandFailure(message: "\(graph): input '\(name)' needs a value (--input \(name)=FILE.npy)")
        }
        let results = try failing { try runtime.run(feeds, threads: jobs) }
        guard let output else {
            for (name, tensor) in results { print(summary(name, tensor)) }
            return
        }
        if output.hasSuffix(".npy") {
            guard results.count == 1 else {
                throw CommandFailure(message: "-o \(output): \(results.count) outputs need a .npz file")
            }
            try failing { try FileIO.writeAtomically(NPY.encode(results[0].tensor), to: output) }
        } else {
            try failing { try FileIO.writeAtomically(NPZ.encode(results.map { ($0.name, $0.tensor) }), to: output) }
        }
        print("\(graph): \(results.count) output\(results.count == 1 ? "" : "s") -> \(output)")
    }

    private func parse(_ spec: String, placeholders: [String]) throws -> (String, String) {
        if let eq = spec.firstIndex(of: "=") {
            return (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
        }
        guard placeholders.count == 1 else {
            throw CommandFailure(message: "--input \(spec): the graph has \(placeholders.count) inputs; name one as NAME=FILE.npy")
        }
        return (placeholders[0], spec)
    }

    /// A .npy file, or a member of a .npz given as FILE.npz:KEY (the key may be omitted for one member).
    private func load(_ file: String) throws -> Tensor {
        var path = file, key: String? = nil
        if let range = file.range(of: ".npz:") {
            path = String(file[..<range.lowerBound]) + ".npz"
            key = String(file[range.upperBound...])
        }
        let bytes = try failing { try FileIO.read(path) }
        if path.hasSuffix(".npz") {
            let members = try failing { try NPZ.decode(bytes, name: path) }
            if let key {
                guard let m = members.first(where: { $0.name == key }) else {
                    throw CommandFailure(message: "\(path): no array '\(key)' (has \(members.map(\.name).joined(separator: ", ")))")
                }
                return m.tensor
            }
            guard members.count == 1 else {
                throw CommandFailure(message: "\(path): holds \(members.count) arrays; name one as \(path):KEY")
            }
            return members[0].tensor
        }
        return try failing { try NPY.decode(bytes, name: path) }
    }

    private func summary(_ name: String, _ tensor: Tensor) -> String {
        let v = tensor.floatValues()
        guard let lo = v.min(), let hi = v.max() else { return "\(name): \(tensor.dtype) \(tensor.shape) (empty)" }
        let mean = v.reduce(0, +) / Float(v.count)
        let head = v.prefix(6).map { String(format: "%.6g", $0) }.joined(separator: ", ")
        return "\(name): \(tensor.dtype) \(tensor.shape) min \(String(format: "%.6g", lo)) max \(String(format: "%.6g", hi)) mean \(String(format: "%.6g", mean)) [\(head)\(v.count > 6 ? ", ..." : "")]"
    }
}
