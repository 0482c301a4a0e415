import Foundation
import GraphIR
import Quantizer
import Runtime
import TFProto
import TensorFlowIO
import Tensors

/// Where a quantized model loses accuracy: each quantized activation's SQNR against the float
/// model on the same inputs, in graph order, and what leaving each of the worst layers in float
/// gives back (a small sensitivity sweep), with the `ignore_nodes` line that recovers most.
public struct LayerAnalysis: Sendable, Codable, Equatable {
    /// One quantized activation: its node, the op that computes it, and its SQNR (dB) against float.
    public struct TensorError: Sendable, Codable, Equatable {
        public var node: String
        public var op: String
        public var sqnrDB: Double
    }

    /// The model's outputs with every quantizer in place (`layer` nil), or with one conv-like
    /// layer (its weights, bias and output quantizers) left in float.
    public struct Trial: Sendable, Codable, Equatable {
        public var layer: String?
        public var outputSQNRDB: Double
        public var top1: Double?
    }

    public var samples: Int
    public var floatTop1: Double?
    public var tensors: [TensorError]
    public var quantized: Trial
    public var trials: [Trial]
    /// Layers whose float trial gains at least 0.5 dB, best first: the strategy's `ignore_nodes`.
    public var ignoreNodes: [String]
}

public enum LayerAnalyzer {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// `evalModel` is a `quantize_eval_model.pb` (FixNeurons after every quantized tensor) and
    /// `plan` its `quant_info.json`; the float model is the same graph with every FixNeuron an
    /// Identity, so both compute from the same weights but for quantization. `sweep` layers (the
    /// conv-like layers whose outputs have the lowest SQNR) are tried in float one at a time.
    /// `originalConstants`: for a cell whose weights and biases were tuned (bias correction, fast
    /// finetuning), the graph they were tuned from; the float reference takes its constants of the
    /// same names, so SQNR is measured against the model the user gave, as metrics.json does.
    public static func analyze(evalModel: Tensorflow_GraphDef, plan: QuantizePlan, outputNodes: [String], batches: [[String: Tensor]],
                               labels: [Int]?, sweep: Int, narrowActivations: Bool, threads: Int, path: String,
                               originalConstants: Tensorflow_GraphDef? = nil) throws -> LayerAnalysis {
        let activations = plan.tensors.filter { $0.kind == .activation && $0.position != nil }
        var float = withoutQuantizers(evalModel, names: nil)
        if let original = originalConstants {
            let constants = Dictionary(original.node.filter { $0.tfOp == .const }.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for i in float.node.indices where float.node[i].tfOp == .const {
                if let c = constants[float.node[i].name] { float.node[i] = c }
            }
        }
        // Per-tensor SQNR: the float model's value of each quantized node, against what its
        // FixNeuron passes on in the quantized model, batch by batch.
        let floatRuntime = try runtime(float, outputs: outputNodes, observed: Set(activations.map(\.node)), narrow: false, path: path)
        let quantRuntime = try runtime(evalModel, outputs: outputNodes, observed: Set(activations.map(\.fixNeuronName)),
                                       narrow: narrowActivations, path: path)
        nonisolated(unsafe) var signal = [String: Double](), noise = [String: Double]()
        var floatOutputs: [[Float]] = []
        var quantOutputs: [[Float]] = []
        let wanted = Set(activations.map(\.node))
        let byFix = Dictionary(uniqueKeysWithValues: activations.map { ($0.fixNeuronName, $0.node) })
        for batch in batches {
            nonisolated(unsafe) var reference: [String: [Float]] = [:]
            let f = try floatRuntime.run(batch, threads: threads) { name, _, values in
                if wanted.contains(name) { reference[name] = Array(values) }
            }
            let q = try quantRuntime.run(batch, threads: threads) { name, _, values in
                guard let node = byFix[name], let r = reference[node], r.count == values.count else { return }
                var a = 0.0, b = 0.0
                for i in 0..<values.count {
                    let x = Double(r[i]), d = x - Double(values[i])
                    a += x * x
                    b += d * d
                }
                signal[node, default: 0] += a
                noise[node, default: 0] += b
            }
            floatOutputs.append(f.flatMap { $0.tensor.floatValues() })
            quantOutputs.append(q.flatMap { $0.tensor.floatValues() })
        }
        let edit = GraphEdit(evalModel, path: path)
        let order = Dictionary(evalModel.node.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        let tensors = activations.sorted { (order[$0.node] ?? 0) < (order[$1.node] ?? 0) }.compactMap { t -> LayerAnalysis.TensorError? in
            guard let s = signal[t.node], let n = noise[t.node] else { return nil }
            return .init(node: t.node, op: edit[t.node]?.op ?? "?", sqnrDB: Evaluator.sqnr(signal: s, noise: n))
        }
        // Top-1 of a single output against the labels.
        let classify = outputNodes.count == 1 ? labels : nil
        func trial(_ layer: String?, _ outputs: [[Float]]) -> LayerAnalysis.Trial {
            .init(layer: layer, outputSQNRDB: outputSQNR(floatOutputs, outputs), top1: top1(outputs, batches: batches, labels: classify))
        }
        let baseline = trial(nil, quantOutputs)
        // The sweep: the conv-like layers whose outputs lose most, each left in float alone.
        let sqnrOf = Dictionary(uniqueKeysWithValues: tensors.map { ($0.node, $0.sqnrDB) })
        let candidates = plan.groups.filter { sqnrOf[$0.output] != nil }
            .sorted { (sqnrOf[$0.output]!, $0.compute) < (sqnrOf[$1.output]!, $1.compute) }.prefix(sweep)
        var trials: [LayerAnalysis.Trial] = []
        for group in candidates {
            let names = Set([group.weight, group.output] + (group.bias.map { [$0] } ?? []))
            let tensorsOfLayer = plan.tensors.filter { names.contains($0.node) }.map(\.fixNeuronName)
            let model = withoutQuantizers(evalModel, names: Set(tensorsOfLayer))
            let r = try runtime(model, outputs: outputNodes, observed: [], narrow: narrowActivations, path: path)
            let outputs = try batches.map { try r.run($0, threads: threads).flatMap { $0.tensor.floatValues() } }
            trials.append(trial(group.compute, outputs))
        }
        let ignore = trials.filter { $0.outputSQNRDB >= baseline.outputSQNRDB + 0.5 }
            .sorted { ($0.outputSQNRDB, $1.layer ?? "") > ($1.outputSQNRDB, $0.layer ?? "") }.compactMap(\.layer)
        return LayerAnalysis(samples: batches.reduce(0) { $0 + ($1.values.first?.shape.first ?? 0) },
                             floatTop1: top1(floatOutputs, batches: batches, labels: classify),
                             tensors: tensors, quantized: baseline, trials: trials, ignoreNodes: ignore)
    }

    /// The graph with the named FixNeurons (all when nil) turned into Identity ops.
    static func withoutQuantizers(_ graph: Tensorflow_GraphDef, names: Set<String>?) -> Tensorflow_GraphDef {
        var g = graph
        for i in g.node.indices where g.node[i].tfOp == .fixNeuron && (names?.contains(g.node[i].name) ?? true) {
            g.node[i].op = TFOp.identity.rawValue
            g.node[i].attr = ["T": g.node[i].attr["T"] ?? attrType(.dtFloat)]
        }
        return g
    }

    static func runtime(_ graph: Tensorflow_GraphDef, outputs: [String], observed: Set<String>, narrow: Bool, path: String) throws -> Runtime {
        let imported = try GraphImporter.importGraph(graph, outputs: outputs, path: path)
        return Runtime(graph: imported.graph, outputs: Array(zip(outputs, imported.outputs)),
                       options: PlanOptions(preserve: observed, narrowActivations: narrow))
    }

    static func outputSQNR(_ reference: [[Float]], _ values: [[Float]]) -> Double {
        var s = 0.0, n = 0.0
        for (r, v) in zip(reference, values) {
            for (x, y) in zip(r, v) {
                s += Double(x) * Double(x)
                n += (Double(x) - Double(y)) * (Double(x) - Double(y))
            }
        }
        return Evaluator.sqnr(signal: s, noise: n)
    }

    /// Top-1 accuracy of a single output's rows against `labels`, as the evaluate stage counts it
    /// (`Evaluator.rank`: ties in the label's favour).
    static func top1(_ outputs: [[Float]], batches: [[String: Tensor]], labels: [Int]?) -> Double? {
        guard let labels else { return nil }
        var row = 0, right = 0
        for (values, batch) in zip(outputs, batches) {
            let rows = batch.values.first?.shape.first ?? 0
            guard rows > 0, values.count % rows == 0 else { return nil }
            let classes = values.count / rows
            for r in 0..<rows where row + r < labels.count {
                if Evaluator.rank(of: labels[row + r], in: Array(values[r * classes..<(r + 1) * classes])) == 0 { right += 1 }
            }
            row += rows
        }
        return Double(right) / Double(max(min(row, labels.count), 1))
    }
}
