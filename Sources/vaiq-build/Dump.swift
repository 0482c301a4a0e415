import ArgumentParser
import FileIO
import PTQ
import Foundation
import Runtime
import TFProto
import TensorFlowIO
import Tensors

/// vai_q_tensorflow's `dump`: the integer values of every quantized tensor, to cross-check a DPU.
struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dump the int8 values of every FixNeuron of a quantize_eval_model.pb (the layout vai_q_tensorflow writes).",
        discussion: """
            Weights (FixNeurons named */wquant) go to OUTPUT_DIR/dump_results_weights/, activations of \
            batch i to OUTPUT_DIR/dump_results_<i>/, as <node name with / replaced by _>.bin (raw int8, \
            values x 2^quantize_pos, row-major NHWC) and .txt (one integer per line). --dump_float 1 adds \
            every computed node's float output as <name>_float.bin (float32) and _float.txt. Inputs come \
            from --calib_data NAME=FILE.npy, --batch_size rows per batch.
            """
    )

    @Option(name: .customLong("input_frozen_graph"), help: "The quantize_eval_model.pb to dump.")
    var inputFrozenGraph: String
    @Option(name: .customLong("calib_data"), help: "NAME=FILE.npy[,NAME=FILE.npy]: the inputs, one row per sample.")
    var calibData: String
    @Option(name: .customLong("batch_size"), help: "Rows per batch.")
    var batchSize = 1
    @Option(name: .customLong("max_dump_batches"), help: "Batches to dump.")
    var maxDumpBatches = 1
    @Option(name: .customLong("dump_float"), help: "1: also dump every node's float output.")
    var dumpFloat = 0
    @Option(name: .customLong("arch_type"), help: "DEFAULT or DPUCADF8H.")
    var archType = "DEFAULT"
    @Option(name: .customLong("output_dir"))
    var outputDir = "dump_results"
    @Option(help: "File layout: code (what vai_q_tensorflow's code writes: <name>.bin, dump_results_0, <name>_float.bin) or guide (its user guide: <name>_int8.bin, dump_results_1, <name>.bin for floats).")
    var naming = "code"

    func validate() throws {
        guard batchSize >= 1, maxDumpBatches >= 1, [0, 1].contains(dumpFloat), ["DEFAULT", "DPUCADF8H"].contains(archType),
              ["code", "guide"].contains(naming) else {
            throw ValidationError("--batch_size and --max_dump_batches must be positive, --dump_float 0 or 1, --arch_type DEFAULT or DPUCADF8H, --naming code or guide")
        }
    }

    func run() throws {
        let graph = try failing { try GraphDefIO.read(inputFrozenGraph) }
        let fixes = graph.node.filter { $0.tfOp == .fixNeuron }
        guard !fixes.isEmpty else { throw CommandFailure(message: "\(inputFrozenGraph): no FixNeuron nodes; expected a quantize_eval_model.pb") }
        let position = Dictionary(uniqueKeysWithValues: fixes.map { ($0.name, Int($0.attr["quantize_pos"]?.i ?? 0)) })
        let weights = fixes.filter { $0.name.hasSuffix("wquant") }
        let activations = Set(fixes.map(\.name)).subtracting(weights.map(\.name))
        let outputs = GraphOrder.sinks(graph)
        let imported = try failing { try GraphImporter.importGraph(graph, outputs: outputs, path: inputFrozenGraph) }
        let runtime = Runtime(graph: imported.graph, outputs: Array(zip(outputs, imported.outputs)),
                              options: PlanOptions(fuse: dumpFloat == 0, preserve: activations, narrowActivations: archType == "DPUCADF8H"))

        // Weights: the FixNeuron of a constant, evaluated once.
        let weightDir = "\(outputDir)/dump_results_weights"
        try failing { try FileIO.createDirectories(weightDir) }
        for fix in weights {
            let single = try failing { try GraphImporter.importGraph(graph, outputs: [fix.name], path: inputFrozenGraph) }
            let values = try failing {
                try Runtime(graph: single.graph, outputs: [(fix.name, single.outputs[0])]).run([:])[0].tensor.floatValues()
            }
            try write(values, position: position[fix.name]!, name: fix.name, to: weightDir)
        }
        let batches = try inputBatches()
        for (i, batch) in batches.prefix(maxDumpBatches).enumerated() {
            let dir = "\(outputDir)/dump_results_\(naming == "guide" ? i + 1 : i)"
            try failing { try FileIO.createDirectories(dir) }
            nonisolated(unsafe) var dumped: [(String, [Float])] = []
            nonisolated(unsafe) var floats: [(String, [Float])] = []
            _ = try failing {
                try runtime.run(batch) { name, _, values in
                    if activations.contains(name) { dumped.append((name, Array(values))) }
                    if dumpFloat == 1 { floats.append((name, Array(values))) }
                }
            }
            for (name, values) in dumped { try write(values, position: position[name]!, name: name, to: dir) }
            for (name, values) in floats {
                let file = "\(dir)/\(name.replacingOccurrences(of: "/", with: "_"))" + (naming == "guide" ? "" : "_float")
                let bytes = values.withUnsafeBytes { Array($0) }
                try failing {
                    try FileIO.writeAtomically(bytes, to: file + ".bin")
                    try FileIO.writeAtomically(Array(values.map { "\($0)\n" }.joined().utf8), to: file + ".txt")
                }
            }
        }
        print("dumped \(weights.count) weights and \(activations.count) activations x \(min(maxDumpBatches, batches.count)) batches -> \(outputDir)")
    }

    private func write(_ values: [Float], position: Int, name: String, to dir: String) throws {
        let scale = Float(sign: .plus, exponent: position, significand: 1)
        let ints = values.map { Int8(clamping: Int(($0 * scale).rounded())) }
        let file = "\(dir)/\(name.replacingOccurrences(of: "/", with: "_"))" + (naming == "guide" ? "_int8" : "")
        try failing {
            try FileIO.writeAtomically(ints.map { UInt8(bitPattern: $0) }, to: file + ".bin")
            try FileIO.writeAtomically(Array(ints.map { "\($0)\n" }.joined().utf8), to: file + ".txt")
        }
    }

    private func inputBatches() throws -> [[String: Tensor]] {
        var arrays: [String: Tensor] = [:]
        for spec in commaList(calibData) {
            guard let eq = spec.firstIndex(of: "=") else { throw CommandFailure(message: "--calib_data: '\(spec)' is not NAME=FILE.npy") }
            let file = String(spec[spec.index(after: eq)...])
            arrays[String(spec[..<eq])] = try failing { try NPY.decode(try FileIO.read(file), name: file) }
        }
        return try failing { try DataBatches.split(arrays, batchSize: batchSize) }
    }
}
