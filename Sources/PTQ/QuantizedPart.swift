import TFProto
import TensorFlowIO

/// The part of a model a strategy quantizes (`input_layers`, `output_layers`): the quantized part
/// begins at the outputs of `inputLayers` (each quantized like a model input; the node itself
/// and everything upstream stay float, neither optimized nor quantized) and ends at
/// `outputLayers` (downstream of them stays float). Empty lists mean the model's inputs and
/// outputs. A node of the quantized part may read the float part only through `inputLayers`
/// (or constants).
///
/// The optimized graph carries the split: every node outside the part has the attribute
/// `_vaiq_float` (true), and the input layers also `_vaiq_part_input` (their outputs are
/// quantized as the part's inputs). Calibration, placing quantizers and the written models read
/// these marks; TensorFlow ignores attributes whose names begin with an underscore.
public struct QuantizedPart: Sendable, Equatable, Codable {
    public var inputLayers: [String]
    public var outputLayers: [String]

    public static let floatAttribute = DPUPartition.floatAttribute
    public static let inputAttribute = "_vaiq_part_input"

    public init(inputLayers: [String] = [], outputLayers: [String] = []) {
        self.inputLayers = inputLayers
        self.outputLayers = outputLayers
    }

    public var isWhole: Bool { inputLayers.isEmpty && outputLayers.isEmpty }

    /// The nodes of `graph` (an optimized graph, whose `inputLayers` and `outputLayers` keep
    /// their names) inside the quantized part: downstream of `inputLayers` (not themselves),
    /// upstream of `outputLayers` (themselves included), with the constants they read.
    func nodes(of graph: GraphEdit, modelInputs: [String]) -> Set<String> {
        var consumers: [String: [String]] = [:]
        for node in graph.nodes { for input in graph.inputs(of: node) { consumers[input, default: []].append(node.name) } }
        let starts = inputLayers.isEmpty ? modelInputs : inputLayers
        var downstream = Set<String>(), stack = starts
        while let name = stack.popLast() {
            for next in consumers[name] ?? [] where downstream.insert(next).inserted { stack.append(next) }
        }
        let ends = outputLayers.isEmpty ? GraphOrder.sinks(graph.graphDef) : outputLayers
        var upstream = Set<String>()
        stack = ends
        while let name = stack.popLast() {
            guard upstream.insert(name).inserted, let node = graph[name], !starts.contains(name) else { continue }
            stack += graph.inputs(of: node)
        }
        var part = downstream.intersection(upstream)
        if inputLayers.isEmpty { part.formUnion(modelInputs) }
        // The constant subgraphs the part's nodes read (weights, shapes): nodes none of whose
        // ancestors is an input.
        var constant: [String: Bool] = [:]
        func isConstant(_ name: String) -> Bool {
            if let known = constant[name] { return known }
            constant[name] = false   // a cycle is no constant
            guard let node = graph[name], node.tfOp != .placeholder, !starts.contains(name) else { return false }
            let ins = graph.inputs(of: node)
            let result = ins.isEmpty ? node.tfOp == .const : ins.allSatisfy(isConstant)
            constant[name] = result
            return result
        }
        stack = Array(part)
        while let name = stack.popLast() {
            guard let node = graph[name] else { continue }
            for input in graph.inputs(of: node) where !part.contains(input) && isConstant(input) {
                part.insert(input)
                stack.append(input)
            }
        }
        return part
    }
}

extension Optimizer {
    /// `optimize`, restricted to a quantized part: the nodes before it (up to and including
    /// `inputLayers`) and after it are kept as they are; the part alone is optimized, as a
    /// graph whose inputs are the input layers (with their static shapes) and whose outputs are
    /// what the rest of the model reads from it, and put back between them under the same names.
    public static func optimize(_ graph: Tensorflow_GraphDef, _ options: OptimizeOptions, part: QuantizedPart,
                                path: String) throws(TensorFlowIOError) -> Tensorflow_GraphDef {
        if part.isWhole { return try optimize(graph, options, path: path) }
        var full = try partition(graph, options, path: path)
        if !Dropout.remove(&full).isEmpty { pruneUnused(&full, outputs: options.outputNodes, inputs: options.inputNodes) }
        try validate(full, outputs: options.outputNodes, path: path)
        let names = Set(full.nodes.map(\.name))
        for (field, list) in [("input_layers", part.inputLayers), ("output_layers", part.outputLayers)] {
            for name in list where !names.contains(name) {
                throw .unknownNode(name: name, role: "\(field) node (not between the model's input and output nodes)", path: path)
            }
        }
        let inside = part.nodes(of: full, modelInputs: options.inputNodes)
        let starts = part.inputLayers.isEmpty ? options.inputNodes : part.inputLayers
        // What the rest of the model reads from the part, and the part's reads from the rest.
        var partOutputs = Set(part.outputLayers.isEmpty ? options.outputNodes.filter(inside.contains) : part.outputLayers)
        for node in full.nodes where !inside.contains(node.name) {
            for input in full.inputs(of: node) where inside.contains(input) && !starts.contains(input) { partOutputs.insert(input) }
        }
        for node in full.nodes where inside.contains(node.name) && !starts.contains(node.name) {
            for input in full.inputs(of: node) where !inside.contains(input) && !starts.contains(input) {
                throw .invalidGraph(path: path, node: node.name,
                                    reason: "reads '\(input)', which is before the quantized part but not one of input_layers; add it to input_layers")
            }
        }
        for name in options.outputNodes where inside.contains(name) { partOutputs.insert(name) }
        let outputs = full.nodes.map(\.name).filter(partOutputs.contains)
        guard !outputs.isEmpty else {
            throw .invalidGraph(path: path, node: starts.first ?? "", reason: "the quantized part between input_layers and output_layers is empty")
        }
        // The input layers' shapes (batch free), from the float graph.
        var shapeOptions = options
        shapeOptions.outputNodes = part.inputLayers
        let shapes = part.inputLayers.isEmpty ? [:] : DPUSimulation.staticShapes(full, shapeOptions, path: path)
        var partOptions = OptimizeOptions(inputNodes: starts, outputNodes: outputs,
                                          inputShapes: starts.map { name in
                                              part.inputLayers.isEmpty ? (options.inputShapes[safe: options.inputNodes.firstIndex(of: name)!] ?? [])
                                                  : shapes[name].map { [-1] + $0.dropFirst() } ?? []
                                          })
        partOptions.rewrites = options.rewrites
        let optimizedPart = try optimize(full.graphDef, partOptions, path: path)
        // Put the part back between the float nodes it read and those that read it. A constant
        // that float nodes read too stays with them (the part has its own copy, or the same node).
        var readOutside = Set<String>()
        for node in full.nodes where !inside.contains(node.name) { readOutside.formUnion(full.inputs(of: node)) }
        var stitched = full.nodes.filter { !inside.contains($0.name) || readOutside.contains($0.name) && !starts.contains($0.name) }
        // Shared constants are the part's too (a weight it quantizes): only the nodes outside are float.
        for i in stitched.indices where !inside.contains(stitched[i].name) {
            stitched[i].attr[QuantizedPart.floatAttribute] = attrBool(true)
        }
        var kept: [String: Int] = [:]
        for (i, node) in stitched.enumerated() { kept[node.name] = i }
        if !part.inputLayers.isEmpty {
            for name in starts {
                stitched[kept[name]!].attr[QuantizedPart.inputAttribute] = attrBool(true)
            }
        }
        for node in optimizedPart.node {
            if let i = kept[node.name] {
                var float = stitched[i]
                float.attr[QuantizedPart.floatAttribute] = nil
                float.attr[QuantizedPart.inputAttribute] = nil
                // An input layer (a placeholder in the part) is the float node itself.
                guard starts.contains(node.name) || float == node else {
                    throw .invalidGraph(path: path, node: node.name, reason: "is read inside the quantized part and outside it, and optimize changed it for the part; give it to one side")
                }
                continue
            }
            stitched.append(node)
        }
        var g = GraphEdit(Tensorflow_GraphDef(), path: path)
        g.nodes = stitched
        var result = g.graphDef
        result.node = GraphOrder.topological(result)
        return result
    }
}

private extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
