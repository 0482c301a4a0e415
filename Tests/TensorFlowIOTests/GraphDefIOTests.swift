import TFProto
import TensorFlowIO
import Tensors
import XCTest

final class GraphDefIOTests: XCTestCase {
    func testBinaryAndTextFormsDecodeToTheSameGraph() throws {
        for model in ["allops", "resource", "mixed_dtypes"] {
            let binary = try GraphDefIO.read(Fixtures.path("\(model)/inference_graph.pb"))
            let text = try GraphDefIO.read(Fixtures.path("\(model)/inference_graph.pbtxt"))
            XCTAssertEqual(binary, text, model)
        }
    }

    func testWriteThenReadIsIdentityAndDeterministic() throws {
        let graph = try GraphDefIO.read(Fixtures.path("allops/inference_graph.pb"))
        let dir = NSTemporaryDirectory() + "vaiq-rt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try GraphDefIO.write(graph, to: "\(dir)/a.pb")
        try GraphDefIO.write(try GraphDefIO.read("\(dir)/a.pb"), to: "\(dir)/b.pb")
        XCTAssertEqual(try GraphDefIO.read("\(dir)/a.pb"), graph)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/a.pb")), try Data(contentsOf: URL(fileURLWithPath: "\(dir)/b.pb")))
    }

    /// Every encoding TensorFlow uses for Const values decodes to the values TensorFlow computes.
    func testConstValuesMatchTensorFlow() throws {
        struct Expected: Decodable {
            let name: String
            let dtype: String
            let shape: [Int]
            let encoding: String
            let values: [Value]
        }
        /// consts.json holds numbers, bools and (for string tensors) strings.
        enum Value: Decodable, Equatable {
            case int(Int64), real(Double), bool(Bool), string(String)
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let b = try? c.decode(Bool.self) { self = .bool(b) }
                else if let i = try? c.decode(Int64.self) { self = .int(i) }
                else if let d = try? c.decode(Double.self) { self = .real(d) }
                else { self = .string(try c.decode(String.self)) }
            }
            var real: Double {
                switch self {
                case .int(let i): Double(i)
                case .real(let d): d
                case .bool(let b): b ? 1 : 0
                case .string: .nan
                }
            }
        }
        let expected = try JSONDecoder().decode([Expected].self,
                                                from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("mixed_dtypes/consts.json"))))
        let graph = try GraphDefIO.read(Fixtures.path("mixed_dtypes/inference_graph.pb"))
        var encodings = Set<String>()
        for e in expected {
            let node = try XCTUnwrap(graph.node.first { $0.name == e.name }, e.name)
            if e.dtype == "string" {
                XCTAssertThrowsError(try TensorProtoCodec.decode(node.attr["value"]!.tensor, context: e.name))
                continue
            }
            let tensor = try TensorProtoCodec.decode(node.attr["value"]!.tensor, context: e.name)
            XCTAssertEqual(tensor.dtype.rawValue, e.dtype, e.name)
            XCTAssertEqual(tensor.shape, e.shape, e.name)
            switch tensor.dtype {
            case .int32: XCTAssertEqual(tensor.scalars(as: Int32.self).map { Value.int(Int64($0)) }, e.values, e.name)
            case .int64: XCTAssertEqual(tensor.scalars(as: Int64.self).map { Value.int($0) }, e.values, e.name)
            case .bool: XCTAssertEqual(tensor.scalars(as: Bool.self).map { Value.bool($0) }, e.values, e.name)
            default: XCTAssertEqual(tensor.floatValues(), e.values.map { Float($0.real) }, e.name)
            }
            encodings.insert(e.encoding)
        }
        XCTAssertEqual(encodings, ["tensor_content", "float_val", "half_val", "int_val", "int64_val", "bool_val"])
    }

    func testTruncatedBinaryGraphIsRejected() throws {
        let dir = try Fixtures.scratchCopy(of: "allops", test: self)
        let path = "\(dir)/inference_graph.pb"
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        // Whatever the cut point, the file is rejected: mid-field cuts fail to decode, cuts at a
        // field boundary leave inputs that name missing nodes.
        for cut in [size / 2, size - 1, size / 3 + 7] {
            try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("allops/inference_graph.pb"))).prefix(cut)
                .write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try GraphDefIO.read(path)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("\(path): "), text)
                XCTAssertTrue(text.contains("truncated") || text.contains("names no node"), text)
            }
        }
    }

    func testGarbageIsNotAGraph() throws {
        let path = NSTemporaryDirectory() + "vaiq-garbage-\(UUID().uuidString).pb"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("this is not a protobuf".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try GraphDefIO.read(path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(path): not a valid binary GraphDef ("), "\(error)")
        }
    }

    func testPbtxtSyntaxErrorInARealGraphHasLineAndColumn() throws {
        let dir = try Fixtures.scratchCopy(of: "allops", test: self)
        let path = "\(dir)/inference_graph.pbtxt"
        var lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        let target = try XCTUnwrap(lines.firstIndex { $0.contains("op: \"Conv2D\"") })
        lines[target] = lines[target].replacingOccurrences(of: "op: \"Conv2D\"", with: "op \"Conv2D\"")
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let column = lines[target].range(of: "\"Conv2D\"")!.lowerBound.utf16Offset(in: lines[target]) + 1
        XCTAssertThrowsError(try GraphDefIO.read(path)) { error in
            XCTAssertEqual("\(error)", "\(path):\(target + 1):\(column): expected ':' or '{' after field name 'op', found a string")
        }
    }

    func testDuplicateNodeNames() throws {
        var graph = Tensorflow_GraphDef()
        var node = Tensorflow_NodeDef()
        node.name = "a"
        node.op = "Placeholder"
        graph.node = [node, node]
        XCTAssertThrowsError(try GraphDefIO.validate(graph, path: "g.pb")) { error in
            XCTAssertEqual("\(error)", "g.pb: node 'a': duplicate node name")
        }
    }

    func testReadsOutputZeroAgreesWithTheParsedName() {
        let references = ["a", "a:0", "a:00", "a:1", "^a", "ab", "ab:0", "a:b", "a:0:0", "a/b", "a/b:0", "", ":0", "b:0", "a:", "a:-0"]
        for text in references {
            for node in ["a", "a/b", "ab", "a:0", ""] {
                let parsed = TensorName(text)
                XCTAssertEqual(TensorName.readsOutputZero(text, of: node), !parsed.isControl && parsed.outputIndex == 0 && parsed.node == node,
                               "'\(text)' of '\(node)'")
            }
        }
    }
}
