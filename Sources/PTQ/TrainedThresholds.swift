import Foundation
import Quantizer
import TFProto
import TensorFlowIO
import Tensors

/// Trained quantization thresholds (pof2s_tqt, spec 9.6).
///
/// Every quantizer of the training graph owns a trainable scalar `<FixNeuron>/log_th`; its
/// position is p = b - 1 - ceil(log_th). Training writes the variables into the checkpoint next
/// to the weights; when that checkpoint is frozen and quantized again with pof2s_tqt, each
/// tensor's position comes from its trained threshold instead of calibration, and the DPU
/// position rules (align_concat, shift_cut, ...) apply on top, as the reference's refine step
/// does after converting TQT quantizers to pof2s.
public enum TrainedThresholds {
    /// Name of the threshold variable of a quantizer.
    public static func variableName(_ fixNeuron: String) -> String { "\(fixNeuron)/log_th" }

    /// Initial thresholds: training starts from the plan's (calibrated and adjusted) positions.
    /// Where the reference's TQT initialisation (spec 9.6, method 0: log_th = log2(max(|min|,
    /// max * -qmin/qmax, 1e-9)) over the calibration batches or the weight values) gives that
    /// position it is used; otherwise (method 1/2 chose a finer position, a position rule moved
    /// it, no statistics) log_th = b - 1 - p - 0.5, the middle of the interval that gives p.
    public static func initial(_ plan: QuantizePlan, graph: Tensorflow_GraphDef, statistics: CalibrationStatistics,
                               narrowActivations: Bool) -> [String: Float] {
        let edit = GraphEdit(graph, path: "")
        var out: [String: Float] = [:]
        for t in plan.tensors {
            guard let p = t.position else { continue }
            let range = Pof2Quantizer(bitWidth: t.bitWidth, mode: t.mode, narrowActivations: narrowActivations).integerRange
            var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
            if let constant = edit.constant(t.node) {
                for v in constant.floatValues() {
                    lo = min(lo, v)
                    hi = max(hi, v)
                }
            } else if let batches = statistics.tensors[t.node], !batches.isEmpty {
                lo = batches.map(\.min).min()!
                hi = batches.map(\.max).max()!
            }
            let fallback = Float(t.bitWidth - 1 - p) - 0.5
            guard lo <= hi, p != Pof2Quantizer.allZeroPosition else {
                out[t.fixNeuronName] = fallback
                continue
            }
            let reference = log2f(max(abs(lo), hi * (-range.lowerBound / range.upperBound), 1e-9))
            out[t.fixNeuronName] = position(logThreshold: reference, bits: t.bitWidth) == p ? reference : fallback
        }
        return out
    }

    /// Quantizers that share one threshold in training: each activation an align rule ties to
    /// another (`QuantTensor.alignedWith`, followed to the end of the chain) maps to that one's
    /// FixNeuron name, so training sees the positions the written model will have.
    public static func ties(_ adjusted: QuantizePlan) -> [String: String] {
        var leader: [String: String] = [:]   // node -> node
        var bits: [String: Int] = [:]
        for t in adjusted.tensors where t.kind == .activation {
            bits[t.node] = t.bitWidth
            if let l = t.alignedWith, l != t.node { leader[t.node] = l }
        }
        var out: [String: String] = [:]
        for t in adjusted.tensors where t.kind == .activation && leader[t.node] != nil {
            var root = t.node
            var seen: Set<String> = [root]
            while let next = leader[root], !seen.contains(next) {
                root = next
                seen.insert(next)
            }
            guard root != t.node, bits[root] == t.bitWidth else { continue }
            out[t.fixNeuronName] = root + "/aquant"
        }
        return out
    }

    /// The position a threshold gives at `bits`.
    public static func position(logThreshold: Float, bits: Int) -> Int {
        bits - 1 - Int(logThreshold.rounded(.up))
    }

    /// Every scalar float variable named `<...>/log_th` in a checkpoint, by FixNeuron name.
    public static func read(_ reader: CheckpointReader) throws -> [String: Float] {
        var tensors: [String: Tensor] = [:]
        for info in reader.tensorInfos where info.name.hasSuffix("/log_th") {
            tensors[info.name] = try reader.tensor(named: info.name)
        }
        return try thresholds(from: tensors, source: reader.prefix)
    }

    /// The thresholds among named checkpoint tensors (`<FixNeuron>/log_th`, float32 scalars).
    public static func thresholds(from tensors: [String: Tensor], source: String) throws -> [String: Float] {
        var out: [String: Float] = [:]
        for (name, tensor) in tensors where name.hasSuffix("/log_th") {
            guard tensor.dtype == .float32, tensor.shape.reduce(1, *) == 1 else {
                throw TrainedThresholdError(message: "\(source): '\(name)' is a trained threshold but is not a float32 scalar "
                                            + "(dtype \(tensor.dtype), shape \(tensor.shape))")
            }
            let value = tensor.floatValues()[0]
            guard value.isFinite else {
                throw TrainedThresholdError(message: "\(source): trained threshold '\(name)' is \(value); training diverged")
            }
            out[String(name.dropLast("/log_th".count))] = value
        }
        return out
    }

    /// Positions from trained thresholds (before the position rules). Tensors without a threshold
    /// keep their calibrated position. Thresholds that name no tensor of the plan are ignored
    /// unless none matches at all, which means the checkpoint belongs to another graph.
    public static func apply(_ thresholds: [String: Float], to plan: QuantizePlan, ties: [String: String] = [:],
                             path: String) throws -> QuantizePlan {
        guard !thresholds.isEmpty else { return plan }
        var plan = plan
        var matched = 0
        for i in plan.tensors.indices {
            let name = plan.tensors[i].fixNeuronName
            guard let logTh = thresholds[name] ?? ties[name].flatMap({ thresholds[$0] }) else { continue }
            matched += 1
            plan.tensors[i].position = position(logThreshold: logTh, bits: plan.tensors[i].bitWidth)
            plan.tensors[i].trainedLogThreshold = logTh
        }
        if matched == 0 {
            throw TrainedThresholdError(message: "\(path): the checkpoint has \(thresholds.count) trained thresholds but none names a "
                                        + "quantized tensor of this graph (first: '\(thresholds.keys.sorted()[0])/log_th'); "
                                        + "was it trained on another model's quantize_train_graph.pb?")
        }
        return plan
    }

    /// The thresholds file of a freeze stage: sorted JSON object, FixNeuron name -> log_th.
    public static func encode(_ thresholds: [String: Float]) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(thresholds)) + [0x0A]
    }

    public static func decode(_ bytes: [UInt8], path: String) throws -> [String: Float] {
        do {
            return try JSONDecoder().decode([String: Float].self, from: Data(bytes))
        } catch {
            throw TrainedThresholdError(message: "\(path): not a trained-thresholds file: \(error)")
        }
    }
}

public struct TrainedThresholdError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
