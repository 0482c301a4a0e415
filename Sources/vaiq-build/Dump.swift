import ArgumentParser
import FileIO
import PTQ
import Foundation
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
        let options = Dumper.Options(maxBatches: maxDumpBatches, float: dumpFloat == 1, naming: Dumper.Options.Naming(rawValue: naming)!,
                                     narrowActivations: archType == "DPUCADF8H")
        let result = try failing { try Dumper.dump(graph, batches: try inputBatches(), options: options, path: inputFrozenGraph) }
        try failing {
            for (name, bytes) in result.files.sorted(by: { $0.key < $1.key }) {
                let path = "\(outputDir)/\(name)"
                try FileIO.createDirectories(FileIO.directoryName(path))
                try FileIO.writeAtomically(bytes, to: path)
            }
        }
        print("dumped \(result.weights) weights and \(result.activations) activations x \(result.batches) batches -> \(outputDir)")
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
