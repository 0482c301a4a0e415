import Foundation
import Runtime
import TFProto
import TensorFlowIO
import Tensors

/// Accuracy of a quantized model against its float original on a labeled set.
public struct EvaluationMetrics: Sendable, Codable, Equatable {
    public var samples: Int
    public var floatTop1: Double
    public var floatTop5: Double
    public var quantizedTop1: Double
    public var quantizedTop5: Double
    /// Signal-to-quantization-noise ratio of the labelled output, quantized vs float, in dB.
    public var sqnrDB: Double
    /// A model with several outputs: each output's SQNR, in output order (nil for one output).
    public var outputs: [OutputSQNR]? = nil
    /// The output the labels score (nil: the only one).
    public var labelledOutput: String? = nil

    public struct OutputSQNR: Sendable, Codable, Equatable {
        public var output: String
        public var sqnrDB: Double
    }
}

public enum Evaluator {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The class indices of a labels array: an integer dtype, one value per row (shape [rows] or
    /// [rows, 1]), none negative; `rows`, when given, is the evaluation set's row count, which the
    /// labels must match (the classes each must be below are checked where the model's output
    /// width is known, in `evaluate`).
    public static func labels(_ t: Tensor, path: String, rows: Int?) throws(Failure) -> [Int] {
        let integer: Set<DType> = [.int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64]
        guard integer.contains(t.dtype) else {
            throw Failure(description: "\(path): labels are \(t.dtype); expected integer class indices (an int32 or int64 array)")
        }
        guard t.rank == 1 || (t.rank == 2 && t.shape[1] == 1) else {
            throw Failure(description: "\(path): labels of shape \(t.shape); expected one class index per row, shape [rows]")
        }
        if let rows, t.shape[0] != rows {
            throw Failure(description: "\(path): \(t.shape[0]) labels for \(rows) evaluation rows; expected one per row")
        }
        let values: [Int] = switch t.dtype {
        case .int8: t.scalars(as: Int8.self).map(Int.init)
        case .int16: t.scalars(as: Int16.self).map(Int.init)
        case .int32: t.scalars(as: Int32.self).map(Int.init)
        case .uint8: t.scalars(as: UInt8.self).map(Int.init)
        case .uint16: t.scalars(as: UInt16.self).map(Int.init)
        case .uint32: t.scalars(as: UInt32.self).map(Int.init)
        case .uint64: t.scalars(as: UInt64.self).map { Int(clamping: $0) }
        default: t.scalars(as: Int64.self).map(Int.init)
        }
        if let k = values.firstIndex(where: { $0 < 0 }) {
            throw Failure(description: "\(path): row \(k): label \(values[k]) is negative; expected a class index")
        }
        return values
    }

    /// Runs both graphs (the quantized one simulated: FixNeuron in evaluation phase) on `batches`
    /// and scores the first output node against `labels` (one class index per row).
    /// Top-1/top-5 of `labelledOutput` (default: the first output) against `labels`, and the SQNR of
    /// every output.
    public static func evaluate(quantized: Tensorflow_GraphDef, float: Tensorflow_GraphDef, outputNodes: [String],
                                batches: [[String: Tensor]], labels: [Int], labelsPath: String, narrowActivations: Bool,
                                threads: Int, labelledOutput: String? = nil) throws -> EvaluationMetrics {
        let scored = labelledOutput.flatMap { outputNodes.firstIndex(of: $0) } ?? 0
        if let labelledOutput, !outputNodes.contains(labelledOutput) {
            throw Failure(description: "evaluation output '\(labelledOutput)' is not an output of the model (\(outputNodes.joined(separator: ", ")))")
        }
        func runtime(_ graph: Tensorflow_GraphDef, _ name: String) throws -> Runtime {
            let imported = try GraphImporter.importGraph(graph, outputs: outputNodes, path: name)
            return Runtime(graph: imported.graph, outputs: Array(zip(outputNodes, imported.outputs)),
                           options: PlanOptions(narrowActivations: narrowActivations))
        }
        let q = try runtime(quantized, "quantize_eval_model.pb"), f = try runtime(float, "optimized_graph.pb")
        var row = 0
        var hits = (f1: 0, f5: 0, q1: 0, q5: 0)
        var signal = [Double](repeating: 0, count: outputNodes.count), noise = signal
        for batch in batches {
            let fs = try f.run(batch, threads: threads), qs = try q.run(batch, threads: threads)
            for k in outputNodes.indices {
                for (a, b) in zip(fs[k].tensor.floatValues(), qs[k].tensor.floatValues()) {
                    signal[k] += Double(a) * Double(a)
                    noise[k] += (Double(b) - Double(a)) * (Double(b) - Double(a))
                }
            }
            let fo = fs[scored].tensor
            let fv = fo.floatValues(), qv = qs[scored].tensor.floatValues()
            let n = fo.shape.first ?? 1, classes = fv.count / max(n, 1)
            for r in 0..<n where row + r < labels.count {
                let label = labels[row + r]
                guard label < classes else {
                    throw Failure(description: "\(labelsPath): row \(row + r): label \(label) is not a class of output '\(outputNodes[scored])' (\(classes) classes, 0-\(classes - 1))")
                }
                let fRow = Array(fv[(r * classes)..<((r + 1) * classes)]), qRow = Array(qv[(r * classes)..<((r + 1) * classes)])
                hits.f1 += rank(of: label, in: fRow) < 1 ? 1 : 0
                hits.f5 += rank(of: label, in: fRow) < 5 ? 1 : 0
                hits.q1 += rank(of: label, in: qRow) < 1 ? 1 : 0
                hits.q5 += rank(of: label, in: qRow) < 5 ? 1 : 0
            }
            row += n
        }
        let count = Double(max(min(row, labels.count), 1))
        var metrics = EvaluationMetrics(samples: min(row, labels.count), floatTop1: Double(hits.f1) / count, floatTop5: Double(hits.f5) / count,
                                        quantizedTop1: Double(hits.q1) / count, quantizedTop5: Double(hits.q5) / count,
                                        sqnrDB: sqnr(signal: signal[scored], noise: noise[scored]))
        if outputNodes.count > 1 {
            metrics.outputs = outputNodes.indices.map { .init(output: outputNodes[$0], sqnrDB: sqnr(signal: signal[$0], noise: noise[$0])) }
            metrics.labelledOutput = outputNodes[scored]
        }
        return metrics
    }

    /// 10 log10(signal / noise) in dB; 999 for no noise at all.
    static func sqnr(signal: Double, noise: Double) -> Double { noise == 0 ? 999 : 10 * log10(signal / noise) }

    /// How many classes score strictly higher than `label` (ties count in the label's favour,
    /// so a row of equal scores ranks every class first; first-index tie-breaking as argmax would
    /// make that depend on class order).
    static func rank(of label: Int, in scores: [Float]) -> Int {
        guard label >= 0, label < scores.count else { return Int.max }
        let s = scores[label]
        return scores.filter { $0 > s }.count
    }
}

/// Rows of NumPy arrays (one sample per row, all arrays alike) cut into batches.
public enum DataBatches {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Up to `limit` batches of `batchSize` rows; with `allowPartial` a last shorter batch takes
    /// the remaining rows.
    public static func split(_ arrays: [String: Tensor], batchSize: Int, limit: Int = .max, allowPartial: Bool = false)
        throws(Failure) -> [[String: Tensor]] {
        for (name, t) in arrays where t.rank < 1 || !t.dtype.isFloatingPoint {
            throw Failure(description: "input '\(name)': expected float rows (shape [N, ...]), got \(t.dtype) \(t.shape)")
        }
        let rows = arrays.values.map { $0.shape[0] }.min() ?? 0
        let size = max(batchSize, 1)
        let count = min(limit, allowPartial && rows % size != 0 ? rows / size + 1 : rows / size)
        guard count >= 1 else { throw Failure(description: "the data has \(rows) rows, fewer than one batch of \(size)") }
        let values = arrays.mapValues { $0.floatValues() }
        return (0..<count).map { b in
            var batch: [String: Tensor] = [:]
            for (name, t) in arrays {
                let per = t.elementCount / max(t.shape[0], 1), n = min(size, rows - b * size)
                batch[name] = Tensor(Array(values[name]![(b * size * per)..<((b * size + n) * per)]), shape: [n] + t.shape.dropFirst())
            }
            return batch
        }
    }
}
