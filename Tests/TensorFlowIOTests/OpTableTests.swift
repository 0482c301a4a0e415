import Foundation
import GraphIR
import TFProto
import TensorFlowIO
import XCTest

/// The op table against the code that acts on it: the importer, the targets manifest, the
/// quantizer's patterns.
final class OpTableTests: XCTestCase {
    /// Every node TensorFlow made in the op fixtures (Tests/Fixtures/ops) imports to the GraphIR op
    /// the table names.
    func testImportedNodesBecomeTheGraphIROpTheTableNames() throws {
        let directory = Fixtures.path("ops")
        let cases = try FileManager.default.contentsOfDirectory(atPath: directory).filter {
            FileManager.default.fileExists(atPath: "\(directory)/\($0)/model.pb")
        }
        XCTAssertGreaterThan(cases.count, 100)
        var seen = Set<TFOp>()
        // Dropout's random ops are removed by optimize before anything imports the graph.
        for name in cases where !name.hasPrefix("dropout_") {
            let graph = try GraphDefIO.read("\(directory)/\(name)/model.pb")
            let imported = try GraphImporter.importGraph(graph, path: name)
            for node in imported.graph.nodes {
                let op = try XCTUnwrap(TFOp.named(node.sourceOp), "\(name): \(node.sourceOp) is not in the table")
                XCTAssertEqual(op.graphIROpName, node.op.name, "\(name): node '\(node.name)' (\(node.sourceOp))")
                seen.insert(op)
            }
        }
        for op: TFOp in [.conv2D, .depthwiseConv2dNative, .conv2DBackpropInput, .matMul, .fusedBatchNormV3, .addN, .mean, .concatV2] {
            XCTAssertTrue(seen.contains(op), "no fixture imports \(op.rawValue)")
        }
    }

    /// The importer converts exactly the ops the table says it does: every other name is refused
    /// as unsupported, before any check of attributes or inputs.
    func testTheImporterSupportsExactlyTheTablesImportedOps() {
        func refusal(_ op: String) -> String? {
            var node = Tensorflow_NodeDef()
            node.name = "n"
            node.op = op
            var graph = Tensorflow_GraphDef()
            graph.node = [node]
            do {
                _ = try GraphImporter.importGraph(graph, outputs: ["n"], path: "g.pb")
                return nil
            } catch {
                return "\(error)"
            }
        }
        for op in TFOp.allCases.map(\.rawValue) + ["Swish", "NotAnOp"] {
            let unsupported = refusal(op)?.contains("op \(op) is not supported by the vaiq-build runtime") ?? false
            let imported = TFOp.named(op).map(TFOp.imported.contains) ?? false
            XCTAssertEqual(unsupported, !imported, "\(op): the importer and the table disagree")
        }
        XCTAssertEqual(GraphImporter.supportedOps, Set(TFOp.imported.map(\.rawValue)))
    }

    /// Every name a target's supported_ops lists in manifests/targets.yaml is a DPU op the table knows.
    func testTargetsSupportedOpsAreDPUOpNames() throws {
        let manifest = Fixtures.root + "/../../manifests/targets.yaml"
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        let lists = try NSRegularExpression(pattern: #"supported_ops:\s*\[([^\]]*)\]"#)
            .matches(in: text, range: NSRange(text.startIndex..., in: text))
            .map { String(text[Range($0.range(at: 1), in: text)!]) }
        XCTAssertFalse(lists.isEmpty, "no supported_ops in \(manifest)")
        for list in lists {
            let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            // cpu lists none: nothing of it runs on a DPU.
            XCTAssertTrue(!names.isEmpty || list.trimmingCharacters(in: .whitespaces).isEmpty)
            for name in names { XCTAssertTrue(TFOp.dpuOpNames.contains(name), "\(name) is not a DPU op name") }
        }
    }

    func testDPUSupportFollowsTheTargetsList() {
        let noDepthwise = ["conv2d", "conv2d_transpose", "dense", "relu", "relu6", "add", "concat", "reshape"]
        XCTAssertTrue(TFOp.conv2D.isSupported(by: noDepthwise))
        XCTAssertFalse(TFOp.depthwiseConv2dNative.isSupported(by: noDepthwise))
        XCTAssertTrue(TFOp.dpuSupports("Squeeze", supportedOps: noDepthwise), "a squeeze is a reshape")
        XCTAssertTrue(TFOp.dpuSupports("AddV2", supportedOps: noDepthwise))
        XCTAssertFalse(TFOp.dpuSupports("Softmax", supportedOps: Array(TFOp.dpuOpNames)), "the CPU runs softmax")
        XCTAssertFalse(TFOp.dpuSupports("NotAnOp", supportedOps: Array(TFOp.dpuOpNames)))
        XCTAssertEqual(TFOp.dpuOpNames.count, DPUOp.allCases.count)
    }

    func testRoles() {
        XCTAssertEqual(TFOp.conv2D.role, .compute)
        XCTAssertEqual(TFOp.relu6.role, .activation)
        XCTAssertEqual(TFOp.biasAdd.role, .inPattern)
        XCTAssertEqual(TFOp.fusedBatchNormV3.role, .folded)
        XCTAssertEqual(TFOp.const.role, .constant)
        XCTAssertEqual(TFOp.readVariableOp.role, .variable)
        XCTAssertEqual(TFOp.noOp.role, .training)
        // A Sigmoid is quantized inside swish (x * sigmoid(x)) only; alone it stays float
        // (replace_sigmoid makes it a hard sigmoid).
        XCTAssertEqual(TFOp.sigmoid.role, .inPattern)
        XCTAssertEqual(TFOp.sigmoid.patterns, [.swish])
        XCTAssertEqual(QuantizeRole.of("ResourceApplyAdam"), .training)
        XCTAssertEqual(QuantizeRole.of("NotAnOp"), .float)
    }

    /// A role that claims quantization must come from a pattern the quantizer matches, and only
    /// compute ops are the layers of the conv pattern.
    func testRolesAgreeWithPatterns() {
        for op in TFOp.allCases {
            let quantized: Set<QuantizeRole> = [.compute, .activation, .inPattern]
            XCTAssertEqual(quantized.contains(op.role), !op.patterns.isEmpty, "\(op.rawValue): role \(op.role), patterns \(op.patterns)")
            XCTAssertEqual(op.role == .compute, TFOp.convolutionOps.contains(op), op.rawValue)
        }
        XCTAssertEqual(TFOp.realDiv.patterns, [.hardSwish, .hardSigmoid])
        XCTAssertEqual(TFOp.leakyRelu.patterns, [.convolution, .leakyRelu])
    }

    func testNamesRoundTrip() {
        XCTAssertEqual(Set(TFOp.allCases.map(\.rawValue)).count, TFOp.allCases.count)
        for op in TFOp.allCases { XCTAssertEqual(TFOp.named(op.rawValue), op) }
        var node = Tensorflow_NodeDef()
        node.op = "DepthwiseConv2dNative"
        XCTAssertEqual(node.tfOp, .depthwiseConv2dNative)
        XCTAssertTrue(TFOp.convolutionOps.contains(node.tfOp))
        node.op = "Swish"
        XCTAssertNil(node.tfOp)
        XCTAssertFalse(TFOp.convolutionOps.contains(node.tfOp))
    }
}
