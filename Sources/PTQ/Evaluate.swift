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
    /// Signal-to-quantization-noise ratio of the first output, quantized vs float, in dB.
    public var sqnrDB: Double
}

public enum Evaluator {
    /// Runs both graphs (the quantized one simulated: FixNeuron in evaluation phase) on `batches`
    /// and scores the first output node against `labels` (one class index per row).
    public static func evaluate(quantized: Tensorflow_GraphDef, float: Tensorflow_GraphDef, outputNodes: [String],
                                batches: [[String: Tensor]], labels: [Int], narrowActivations: Bool, threads: Int) throws -> EvaluationMetrics {
        func runtime(_ graph: Tensorflow_GraphDef, _ name: String) throws -> Runtime {
            let imported = try GraphImporter.importGraph(graph, outputs: outputNodes, path: name)
            return Runtime(graph: imported.graph, outputs: Array(zip(outputNodes, imported.outputs)),
                           options: PlanOptions(narrowActivations: narrowActivations))
        }
        let q = try runtime(quantized, "quantize_eval_model.pb"), f = try runtime(float, "optimized_graph.pb")
        var row = 0
        var hits = (f1: 0, f5: 0, q1: 0, q5: 0)
        var signal = 0.0, noise = 0.0
        for batch in batches {
            let fo = try f.run(batch, threads: threads)[0].tensor, qo = try q.run(batch, threads: threads)[0].tensor
            let fv = fo.floatValues(), qv = qo.floatValues()
            for (a, b) in zip(fv, qv) {
                signal += Double(a) * Double(a)
                noise += (Double(b) - Double(a)) * (Double(b) - Double(a))
            }
            let n = fo.shape.first ?? 1, classes = fv.count / max(n, 1)
            for r in 0..<n where row + r < labels.count {
                let label = labels[row + r]
                let fRow = Array(fv[(r * classes)..<((r + 1) * classes)]), qRow = Array(qv[(r * classes)..<((r + 1) * classes)])
                hits.f1 += rank(of: label, in: fRow) < 1 ? 1 : 0
                hits.f5 += rank(of: label, in: fRow) < 5 ? 1 : 0
                hits.q1 += rank(of: label, in: qRow) < 1 ? 1 : 0
                hits.q5 += rank(of: label, in: qRow) < 5 ? 1 : 0
            }
            row += n
        }
        let count = Double(max(min(row, labels.count), 1))
        return EvaluationMetrics(samples: min(row, labels.count), floatTop1: Double(hits.f1) / count, floatTop5: Double(hits.f5) / count,
                                 quantizedTop1: Double(hits.q1) / count, quantizedTop5: Double(hits.q5) / count,
                                 sqnrDB: sqnr(signal: signal, noise: noise))
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
