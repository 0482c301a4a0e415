import ArgumentParser
import TensorFlowIO

struct Freeze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Freeze an inference graph with a TF1 checkpoint into a frozen GraphDef.",
        discussion: """
            Variables (VariableV2, VarHandleOp + ReadVariableOp) become Const nodes holding the \
            checkpoint's values; the graph is pruned to what the output nodes need and training-only \
            nodes (assignments, initializers, saver, summaries) are dropped. Devices and colocation \
            attributes are cleared. --checkpoint takes a training directory (its `checkpoint` state \
            file names the latest checkpoint) or a checkpoint prefix such as train_dir/model.ckpt-2000.
            """
    )

    @Option(help: "The inference graph (.pb binary or .pbtxt text GraphDef).")
    var graph: String

    @Option(help: "A training directory or a checkpoint prefix.")
    var checkpoint: String

    @Option(name: .customLong("output_nodes"), help: "Comma-separated output node names.")
    var outputNodes: String

    @Option(name: [.customShort("o"), .long], help: "Where to write the frozen binary GraphDef.")
    var output: String

    func validate() throws {
        if commaList(outputNodes).isEmpty { throw ValidationError("--output_nodes names no node") }
    }

    func run() throws {
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
