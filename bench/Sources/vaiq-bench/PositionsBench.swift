import FileIO
import Foundation
import PTQ
import Quantizer
import TensorFlowIO
import Tensors

/// `positions GRAPH INPUTS.npy INPUT_NODE OUTPUT_NODE ROWS`: optimizes the frozen GRAPH (default
/// strategy), runs calibration's observation on the first ROWS rows as one batch, and checks that
/// every observed tensor's statistics choose the exhaustive search's 8-bit position, both ranges
/// (`PositionCheck`). Prints one JSON line; exits 1 when a position differs outside a near tie.
func positionsBenchmark(_ args: [String]) throws {
    guard args.count == 5, let rows = Int(args[4]) else {
        FileHandle.standardError.write(Data("usage: vaiq-bench positions GRAPH INPUTS.npy INPUT_NODE OUTPUT_NODE ROWS\n".utf8))
        exit(2)
    }
    let (graphPath, inputPath, input, output) = (args[0], args[1], args[2], args[3])
    let data = try NPY.decode(try FileIO.read(inputPath), name: inputPath)
    let shape = [-1] + Array(data.shape.dropFirst())
    let optimized = try Optimizer.optimize(try GraphDefIO.read(graphPath), OptimizeOptions(inputNodes: [input], outputNodes: [output], inputShapes: [shape]),
                                           path: graphPath)
    let batch = try DataBatches.split([input: data], batchSize: rows, limit: 1)
    let start = Date()
    let check = try PostTrainingQuantizer.checkPositions(optimized, outputNodes: [output], batches: batch, bits: [8], label: graphPath, threads: 2)
    print(#"{"what": "positions", "graph": "\#(graphPath)", "rows": \#(rows), "compared": \#(check.compared), "differ": \#(check.differ.count), "near_ties": \#(check.nearTies), "seconds": \#(Date().timeIntervalSince(start))}"#)
    for d in check.differ { FileHandle.standardError.write(Data("differs: \(d)\n".utf8)) }
    if !check.differ.isEmpty { exit(1) }
}
