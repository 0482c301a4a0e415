import Quantizer
import Runtime
import TFProto
import TensorFlowIO
import Tensors

extension PostTrainingQuantizer {
    /// The tensors float calibration observes: the activations the pattern table places with
    /// default settings and the inputs of every conv-like layer.
    static func observedTensors(_ graph: Tensorflow_GraphDef) -> Set<String> {
        let located = Locator.locate(graph, QuantizeConfig())
        return Set(located.tensors.filter { $0.kind == .activation }.map(\.node) + located.groups.map(\.input))
    }

    /// Runs calibration's observation of the optimized `graph` on `batches` and checks, for every
    /// observed tensor and batch, that its statistics choose the exhaustive search's position
    /// (`PositionCheck`) for `bits`, both activation ranges.
    public static func checkPositions(_ graph: Tensorflow_GraphDef, outputNodes: [String], batches: [[String: Tensor]], bits: [Int],
                                      label: String, threads: Int = 1) throws -> PositionCheck {
        let observed = observedTensors(graph)
        let imported = try GraphImporter.importGraph(graph, outputs: outputNodes, path: label)
        let runtime = Runtime(graph: imported.graph, outputs: Array(zip(outputNodes, imported.outputs)), options: PlanOptions(preserve: observed))
        var result = PositionCheck()
        for (b, batch) in batches.enumerated() {
            nonisolated(unsafe) var seen: [(String, [Float])] = []
            _ = try runtime.run(batch, threads: threads) { name, _, values in if observed.contains(name) { seen.append((name, Array(values))) } }
            for (name, values) in seen { result.check(values, "\(label) batch \(b) \(name)", bits: bits) }
        }
        return result
    }
}
