import ArgumentParser
import TensorFlowIO

struct Freeze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Freeze an inference graph with a TF1 checkpoint, or a TF2 SavedModel's signature, into a frozen GraphDef.",
        discussion: """
            Variables (VariableV2, VarHandleOp + ReadVariableOp) become Const nodes holding the \
            checkpoint's values; the graph is pruned to what the output nodes need and training-only \
            nodes (assignments, initializers, saver, summaries) are dropped. Devices and colocation \
            attributes are cleared. --checkpoint takes a training directory (its `checkpoint` state \
            file names the latest checkpoint) or a checkpoint prefix such as train_dir/model.ckpt-2000.             With --saved_model DIR instead, the signature's function calls are inlined into one             graph and its captured variables become constants; the inputs are placeholders named             by the signature's input keys and the outputs Identity nodes named by its output keys.
            """
    )

    @Option(help: "The inference graph (.pb binary or .pbtxt text GraphDef).")
    var graph: String?

    @Option(help: "A training directory or a checkpoint prefix.")
    var checkpoint: String?

    @Option(name: .customLong("output_nodes"), help: "Comma-separated output node names.")
    var outputNodes: String?

    @Option(name: .customLong("saved_model"), help: "A TF2 SavedModel directory (instead of --graph and --checkpoint).")
    var savedModel: String?

    @Option(help: "The SavedModel's signature (default: serving_default).")
    var signature: String?

    @Option(name: [.customShort("o"), .long], help: "Where to write the frozen binary GraphDef.")
    var output: String

    func validate() throws {
        if savedModel != nil {
            guard graph == nil, checkpoint == nil, outputNodes == nil else {
                throw ValidationError("--saved_model takes no --graph, --checkpoint or --output_nodes (its signature names the outputs)")
            }
            return
        }
        guard graph != nil, checkpoint != nil else { throw ValidationError("give --graph and --checkpoint, or --saved_model") }
        if signature != nil { throw ValidationError("--signature needs --saved_model") }
        if commaList(outputNodes ?? "").isEmpty { throw ValidationError("--output_nodes names no node") }
    }

    func run() throws {
        if let savedModel {
            let result = try failing { try SavedModelReader.load(directory: savedModel, signature: signature ?? "serving_default") }
            try failing { try GraphDefIO.write(result.graph, to: output) }
            print("froze \(result.variables.count) variables of \(savedModel) (inputs \(result.inputs.map(\.key).joined(separator: ", ")); "
                  + "outputs \(result.outputs.joined(separator: ", "))); \(result.graph.node.count) nodes -> \(output)")
            return
        }
        let graph = graph!, checkpoint = checkpoint!, outputNodes = outputNodes!
        let graphDef = try failing { try GraphDefIO.read(graph) }
        let location = try failing { try CheckpointLocation.resolve(checkpoint) }
        let reader = try failing { try CheckpointReader(prefix: location.prefix) }
        let result = try failing {
            try GraphFreezer.freeze(graphDef, checkpoint: reader, outputNodes: commaList(outputNodes), graphPath: graph)
        }
        try failing { try GraphDefIO.write(result.graph, to: output) }
        print("froze \(result.frozenVariables.count) variables from \(location.prefix); "
              + "\(result.graph.node.count) nodes kept, \(result.prunedNodeCount) pruned -> \(output)")
    }
}
