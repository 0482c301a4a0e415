import Foundation
import GraphIR
import Runtime
import TFProto
import TensorFlowIO
import Tensors
import XCTest

/// Keras-written SavedModels (tools/make_savedmodel_fixtures.py: Sequential with batch norm and a
/// depthwise conv, a functional model with swish, dropout and a residual add, a model with two
/// inputs and two outputs) read natively, their serving signature inlined and frozen, and run
/// by our runtime: outputs within 1e-4 x max |TensorFlow's| of TensorFlow's own on the same inputs.
final class SavedModelTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/savedmodel").standardized.path

    struct Info: Decodable {
        struct Port: Decodable { let name: String; let file: String }
        let signature: String
        let inputs: [Port]
        let outputs: [Port]
    }

    func load(_ path: String) throws -> Tensor { try TensorFlowOpTests.load(path) }

    func testKerasSavedModelsMatchTensorFlow() throws {
        for name in ["sequential", "functional", "multi_input"] {
            let dir = "\(Self.directory)/\(name)"
            let info = try JSONDecoder().decode(Info.self, from: Data(contentsOf: URL(fileURLWithPath: "\(dir)/info.json")))
            let loaded = try SavedModelReader.load(directory: "\(dir)/model", signature: info.signature)
            XCTAssertEqual(loaded.inputs.map(\.key), info.inputs.map(\.name).sorted(), name)
            XCTAssertEqual(loaded.outputs, info.outputs.map(\.name).sorted(), name)
            XCTAssertFalse(loaded.variables.isEmpty, name)
            // Nothing of the function machinery is left.
            let ops = Set(loaded.graph.node.map(\.op))
            for op in [TFOp.statefulPartitionedCall, .partitionedCall, .readVariableOp, .varHandleOp, .identityN] {
                XCTAssertFalse(ops.contains(op.rawValue), "\(name): \(op.rawValue) left in the frozen graph")
            }
            let imported = try GraphImporter.importGraph(loaded.graph, outputs: loaded.outputs, path: name)
            var feeds: [String: Tensor] = [:]
            for input in info.inputs { feeds[input.name] = try load("\(dir)/\(input.file)") }
            let runtime = Runtime(graph: imported.graph, outputs: Array(zip(loaded.outputs, imported.outputs)))
            let results = try runtime.run(feeds, threads: 2)
            for (output, result) in zip(loaded.outputs, results) {
                let file = info.outputs.first { $0.name == output }!.file
                let expected = try load("\(dir)/\(file)")
                XCTAssertEqual(result.tensor.shape, expected.shape, "\(name) \(output)")
                let ours = result.tensor.floatValues(), theirs = expected.floatValues()
                let scale = theirs.map(abs).max() ?? 0
                let error = zip(ours, theirs).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThanOrEqual(error, 1e-4 * max(scale, 1e-6), "\(name) \(output): max error \(error), max |expected| \(scale)")
            }
        }
    }

    func testBadSavedModelsAreOneErrorNamingWhat() throws {
        let dir = "\(Self.directory)/functional/model"
        XCTAssertThrowsError(try SavedModelReader.load(directory: dir, signature: "nope")) { error in
            XCTAssertEqual("\(error)", "\(dir): no signature 'nope'; it has: serve, serving_default")
        }
        XCTAssertThrowsError(try SavedModelReader.load(directory: "\(Self.directory)/functional")) { error in
            XCTAssertEqual("\(error)", "\(Self.directory)/functional: no saved_model.pb; expected a TensorFlow SavedModel directory")
        }
        // A variable missing from the bundle: the model beside a bundle that TensorFlow wrote
        // without its first variable (tools/make_missing_variable_fixture.py).
        let copy = NSTemporaryDirectory() + "vaiq-savedmodel-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.copyItem(atPath: dir, toPath: copy)
        try FileManager.default.removeItem(atPath: "\(copy)/variables")
        try FileManager.default.copyItem(atPath: "\(Self.directory)/missing_variable/variables", toPath: "\(copy)/variables")
        XCTAssertThrowsError(try SavedModelReader.load(directory: copy)) { error in
            XCTAssertEqual("\(error)", "\(copy): function '__inference___call___1383': 'functional_1/conv_1/convolution/ReadVariableOp': "
                           + "variable 'variables/0/.ATTRIBUTES/VARIABLE_VALUE' cannot be read from variables/variables.index: "
                           + "\(copy)/variables/variables.index: no tensor named 'variables/0/.ATTRIBUTES/VARIABLE_VALUE' in the checkpoint")
        }
        // No index at all.
        try FileManager.default.removeItem(atPath: "\(copy)/variables/variables.index")
        XCTAssertThrowsError(try SavedModelReader.load(directory: copy)) { error in
            XCTAssertEqual("\(error)", "\(copy): no variables/variables.index, but the signature reads variables")
        }
    }
}
