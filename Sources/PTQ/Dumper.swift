import Foundation
import Runtime
import TFProto
import TensorFlowIO
import Tensors

/// vai_q_tensorflow's `dump`: the integer values of every quantized tensor of a
/// `quantize_eval_model.pb`, to cross-check a DPU, as files (relative path -> bytes):
/// `dump_results_weights/<name>.bin|.txt` for weights (FixNeurons named `*wquant`), and per batch
/// `dump_results_<i>/<name>.bin|.txt` for activations, `<name>` being the FixNeuron's name with `/`
/// replaced by `_`; `.bin` holds int8 (value x 2^quantize_pos), `.txt` one integer per line. With
/// `float`, every computed node's float output is added (`<name>_float.bin`, float32).
public enum Dumper {
    public struct Options: Sendable, Codable, Equatable {
        public var maxBatches: Int
        public var float: Bool
        /// `code`: what the reference's code writes (`dump_results_0`, `<name>_float.bin`);
        /// `guide`: its user guide's layout (`dump_results_1`, `<name>_int8.bin`, floats as `<name>.bin`).
        public var naming: Naming
        public var narrowActivations: Bool

        public enum Naming: String, Sendable, Codable, CaseIterable { case code, guide }

        public init(maxBatches: Int = 1, float: Bool = false, naming: Naming = .code, narrowActivations: Bool = false) {
            self.maxBatches = maxBatches
            self.float = float
            self.naming = naming
            self.narrowActivations = narrowActivations
        }
    }

    public struct Result: Sendable {
        public var files: [String: [UInt8]] = [:]
        public var weights = 0
        public var activations = 0
        public var batches = 0
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func dump(_ graph: Tensorflow_GraphDef, batches: [[String: Tensor]], options: Options, path: String) throws -> Result {
        let fixes = graph.node.filter { $0.tfOp == .fixNeuron }
        guard !fixes.isEmpty else { throw Failure(description: "\(path): no FixNeuron nodes; expected a quantize_eval_model.pb") }
        let position = Dictionary(uniqueKeysWithValues: fixes.map { ($0.name, Int($0.attr["quantize_pos"]?.i ?? 0)) })
        let bits = Dictionary(uniqueKeysWithValues: fixes.map { ($0.name, Int($0.attr["bit_width"]?.i ?? 8)) })
        let weights = fixes.filter { $0.name.hasSuffix("wquant") }
        let activations = Set(fixes.map(\.name)).subtracting(weights.map(\.name))
        let outputs = GraphOrder.sinks(graph)
        let imported = try GraphImporter.importGraph(graph, outputs: outputs, path: path)
        let runtime = Runtime(graph: imported.graph, outputs: Array(zip(outputs, imported.outputs)),
                              options: PlanOptions(fuse: !options.float, preserve: activations, narrowActivations: options.narrowActivations))
        var result = Result(weights: weights.count, activations: activations.count)
        // A node name as a file name: '/' (TF scopes) and any character outside letters, digits,
        // '.', '_' and '-' become '_', as does a leading '.'; two nodes that would share a file are an error.
        var claimed: [String: String] = [:]
        func file(_ name: String) throws -> String {
            var safe = String(name.unicodeScalars.map { c -> Character in
                (c.properties.isAlphabetic && c.isASCII) || ("0"..."9").contains(c) || c == "." || c == "_" || c == "-" ? Character(c) : "_"
            })
            if safe.hasPrefix(".") || safe.isEmpty { safe = "_" + safe.dropFirst() }
            if let other = claimed[safe], other != name {
                throw Failure(description: "\(path): nodes '\(other)' and '\(name)' both map to the dump file name '\(safe)'; rename one")
            }
            claimed[safe] = name
            return safe
        }
        // Each tensor at its own bit width: up to 8 bits one int8 per value (`_int8` in the guide's
        // naming), 9 to 16 bits one little-endian int16 (`_int16`): a 16-bit activation is never
        // clamped to 8 bits. The values are the FixNeuron's (already on the grid and in range).
        func integers(_ values: [Float], _ name: String, into dir: String) throws {
            let scale = Float(sign: .plus, exponent: position[name]!, significand: 1)
            let width = bits[name] ?? 8
            let base = "\(dir)/\(try file(name))" + (options.naming == .guide ? (width > 8 ? "_int16" : "_int8") : "")
            if width > 8 {
                let ints = values.map { Int16(clamping: Int(($0 * scale).rounded())) }
                result.files[base + ".bin"] = ints.flatMap { v -> [UInt8] in let u = UInt16(bitPattern: v); return [UInt8(u & 0xFF), UInt8(u >> 8)] }
                result.files[base + ".txt"] = Array(ints.map { "\($0)\n" }.joined().utf8)
            } else {
                let ints = values.map { Int8(clamping: Int(($0 * scale).rounded())) }
                result.files[base + ".bin"] = ints.map { UInt8(bitPattern: $0) }
                result.files[base + ".txt"] = Array(ints.map { "\($0)\n" }.joined().utf8)
            }
        }
        // Weights: the FixNeuron of a constant, evaluated once.
        for fix in weights {
            let single = try GraphImporter.importGraph(graph, outputs: [fix.name], path: path)
            let values = try Runtime(graph: single.graph, outputs: [(fix.name, single.outputs[0])]).run([:])[0].tensor.floatValues()
            try integers(values, fix.name, into: "dump_results_weights")
        }
        for (i, batch) in batches.prefix(options.maxBatches).enumerated() {
            let dir = "dump_results_\(options.naming == .guide ? i + 1 : i)"
            nonisolated(unsafe) var dumped: [(String, [Float])] = []
            nonisolated(unsafe) var floats: [(String, [Float])] = []
            let dumpFloat = options.float
            _ = try runtime.run(batch) { name, _, values in
                if activations.contains(name) { dumped.append((name, Array(values))) }
                if dumpFloat { floats.append((name, Array(values))) }
            }
            for (name, values) in dumped { try integers(values, name, into: dir) }
            for (name, values) in floats {
                let base = "\(dir)/\(try file(name))" + (options.naming == .guide ? "" : "_float")
                result.files[base + ".bin"] = values.withUnsafeBytes { Array($0) }
                result.files[base + ".txt"] = Array(values.map { "\($0)\n" }.joined().utf8)
            }
            result.batches += 1
        }
        return result
    }
}
