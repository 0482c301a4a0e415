import SwiftProtobuf
import TFProto
import TensorFlowIO
import XCTest

final class GraphFreezerTests: XCTestCase {
    private func freeze(_ model: String, graph: Tensorflow_GraphDef? = nil, checkpointOf: String? = nil,
                        outputs: [String]? = nil) throws -> GraphFreezer.Result {
        let g = try graph ?? GraphDefIO.read(Fixtures.path("\(model)/inference_graph.pb"))
        let prefix = try CheckpointLocation.resolve(Fixtures.path("\(checkpointOf ?? model)/train_dir")).prefix
        return try GraphFreezer.freeze(g, checkpoint: try CheckpointReader(prefix: prefix),
                                       outputNodes: outputs ?? Fixtures.meta(model).output_nodes, graphPath: "\(model).pb")
    }

    func testVariablesBecomeConstantsAndTrainingNodesAreGone() throws {
        for model in ["allops", "resource", "sharded", "mixed_dtypes"] {
            let result = try freeze(model)
            let ops = Set(result.graph.node.map(\.op))
            for banned in ["VariableV2", "VarHandleOp", "ReadVariableOp", "Assign", "AssignVariableOp", "SaveV2",
                           "RestoreV2", "NoOp", "VarIsInitializedOp"] {
                XCTAssertFalse(ops.contains(banned), "\(model) still has \(banned)")
            }
            XCTAssertEqual(Set(result.frozenVariables), Set(try Fixtures.meta(model).variables.keys), model)
            XCTAssertTrue(result.graph.node.allSatisfy { $0.device.isEmpty && $0.attr["_class"] == nil }, model)
            XCTAssertNoThrow(try GraphDefIO.validate(result.graph, path: model), model)
            XCTAssertGreaterThan(result.prunedNodeCount, 0, model)
        }
    }

    func testResourceReadsBecomeValueIdentities() throws {
        let result = try freeze("resource")
        let reads = result.graph.node.filter { node in
            node.op == "Identity" && result.frozenVariables.contains(TensorName(node.input[0]).node)
        }
        XCTAssertFalse(reads.isEmpty)
        for node in reads { XCTAssertEqual(node.attr["T"]?.type, .dtFloat, node.name) }
        XCTAssertFalse(result.graph.node.contains { $0.attr["T"]?.type == .dtResource })
    }

    func testFreezingIsDeterministic() throws {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        let a: [UInt8] = try freeze("allops").graph.serializedBytes(options: options)
        let b: [UInt8] = try freeze("allops").graph.serializedBytes(options: options)
        XCTAssertTrue(a == b, "two freezes of the same inputs differ")
    }

    func testVariableMissingFromTheCheckpoint() throws {
        // Rename a variable in the graph so the checkpoint no longer has it.
        var graph = try GraphDefIO.read(Fixtures.path("resource/inference_graph.pb"))
        let old = try XCTUnwrap(graph.node.first { $0.op == "VarHandleOp" }).name
        for i in graph.node.indices {
            if graph.node[i].name == old {
                graph.node[i].name = "renamed"
                graph.node[i].attr["shared_name"] = nil
            }
            graph.node[i].input = graph.node[i].input.map { TensorName($0).node == old ? $0.replacingOccurrences(of: old, with: "renamed") : $0 }
        }
        XCTAssertThrowsError(try freeze("resource", graph: graph)) { error in
            XCTAssertEqual("\(error)", "freeze: node 'renamed': variable (VarHandleOp) not found in checkpoint \(Fixtures.path("resource/train_dir/model.ckpt-2")).index")
        }
    }

    func testDTypeAndShapeMismatches() throws {
        var graph = try GraphDefIO.read(Fixtures.path("allops/inference_graph.pb"))
        let i = try XCTUnwrap(graph.node.firstIndex { $0.name == "conv1/weights" })
        var wrongType = graph
        wrongType.node[i].attr["dtype"]!.type = .dtInt32
        XCTAssertThrowsError(try freeze("allops", graph: wrongType)) { error in
            XCTAssertEqual("\(error)", "freeze: node 'conv1/weights': variable is DT_INT32 but the checkpoint holds DT_FLOAT")
        }
        graph.node[i].attr["shape"]!.shape = Tensorflow_TensorShapeProto(dims: [5, 5, 3, 8])
        XCTAssertThrowsError(try freeze("allops", graph: graph)) { error in
            XCTAssertEqual("\(error)", "freeze: node 'conv1/weights': variable has shape [5, 5, 3, 8] but the checkpoint holds shape [3, 3, 3, 8]")
        }
    }

    func testUnknownOutputAndTrainingDataDependency() throws {
        XCTAssertThrowsError(try freeze("allops", outputs: ["logitz"])) { error in
            XCTAssertEqual("\(error)", "allops.pb: output node 'logitz' is not a node of the graph")
        }
        let graph = try GraphDefIO.read(Fixtures.path("allops/inference_graph.pb"))
        let assign = try XCTUnwrap(graph.node.first { $0.op == "Assign" })
        var g = graph
        var consumer = Tensorflow_NodeDef()
        consumer.name = "uses_assign"
        consumer.op = "Identity"
        consumer.input = [assign.name]
        g.node.append(consumer)
        XCTAssertThrowsError(try freeze("allops", graph: g, outputs: ["uses_assign"])) { error in
            XCTAssertEqual("\(error)", "freeze: node 'uses_assign': reads the output of training-only node '\(assign.name)' (Assign); freeze needs an inference graph")
        }
    }
}
