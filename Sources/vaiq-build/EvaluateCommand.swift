import ArgumentParser
import FileIO
import Foundation
import PTQ
import TensorFlowIO
import Tensors

/// Accuracy of a quantized model against its float original, outside a build.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Top-1/top-5 of a quantized model (simulated) and its float original, and the SQNR of their outputs.",
        discussion: """
            Runs --quantized (a quantize_eval_model.pb: FixNeurons in evaluation phase, simulated \
            exactly) and --float (the frozen or optimized float graph) on --input NAME=FILE.npy in \
            batches, scores the first output node against --labels (one class index per row), and \
            reports the signal-to-quantization-noise ratio of the outputs in dB. A build's evaluate \
            stage and `quantize --eval_data` compare against the optimized float graph instead (the \
            same rewrites as the quantized model), so their numbers measure quantization alone.
            """
    )

    @Option(help: "The quantized model (quantize_eval_model.pb).")
    var quantized: String
    @Option(name: .customLong("float"), help: "The float model (frozen graph).")
    var floatModel: String
    @Option(name: .customLong("input"), help: "NAME=FILE.npy (repeat for each input).")
    var inputs: [String] = []
    @Option(help: "Labels: a .npy of class indices, one per row.")
    var labels: String
    @Option(name: .customLong("output_nodes"), help: "Comma-separated output nodes; the first is scored.")
    var outputNodes: String
    @Option(name: .customLong("batch_size")) var batchSize = 50
    @Option(name: .customLong("arch_type"), help: "DEFAULT or DPUCADF8H.")
    var archType = "DEFAULT"
    @Flag(help: "Print the metrics as JSON.")
    var json = false
    @Option(name: [.customShort("j", allowingJoined: true), .long], help: "Threads (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard batchSize >= 1, jobs >= 1, ["DEFAULT", "DPUCADF8H"].contains(archType), !inputs.isEmpty else {
            throw ValidationError("give --input NAME=FILE.npy; --batch_size and -j must be positive; --arch_type DEFAULT or DPUCADF8H")
        }
    }

    func run() throws {
        var arrays: [String: Tensor] = [:]
        for spec in inputs {
            guard let eq = spec.firstIndex(of: "=") else { throw CommandFailure(message: "--input \(spec): expected NAME=FILE.npy") }
            let file = String(spec[spec.index(after: eq)...])
            arrays[String(spec[..<eq])] = try failing { try NPY.decode(try FileIO.read(file), name: file) }
        }
        let batches = try failing { try DataBatches.split(arrays, batchSize: batchSize, allowPartial: true) }
        let labelValues = try failing {
            try Evaluator.labels(try NPY.decode(try FileIO.read(labels), name: labels), path: labels,
                                 rows: batches.reduce(0) { $0 + ($1.values.first?.shape.first ?? 0) })
        }
        let metrics = try failing {
            try Evaluator.evaluate(quantized: try GraphDefIO.read(quantized), float: try GraphDefIO.read(floatModel),
                                   outputNodes: commaList(outputNodes), batches: batches, labels: labelValues, labelsPath: labels,
                                   narrowActivations: archType == "DPUCADF8H", threads: jobs)
        }
        if json {
            print(String(decoding: try JSONEncoder.sorted.encode(metrics), as: UTF8.self))
        } else {
            print(String(format: "%d samples: float top-1 %.2f%% top-5 %.2f%%, quantized top-1 %.2f%% top-5 %.2f%%, SQNR %.2f dB",
                         metrics.samples, metrics.floatTop1 * 100, metrics.floatTop5 * 100, metrics.quantizedTop1 * 100,
                         metrics.quantizedTop5 * 100, metrics.sqnrDB))
        }
    }
}
