@testable import TensorFlowIO
import XCTest

final class TextFormatTests: XCTestCase {
    private func problem(_ text: String) -> String? {
        do {
            _ = try GraphDefIO.decodeText(Array(text.utf8), path: "g.pbtxt")
            return nil
        } catch {
            return "\(error)"
        }
    }

    func testValidTextDecodes() throws {
        let text = """
            node {
              name: "x"  # a comment
              op: "Placeholder"
              attr { key: "dtype" value { type: DT_FLOAT } }
              attr { key: "shape" value { shape { dim { size: -1 } dim { size: 3 } } } }
            }
            node { name: "y" op: "Relu" input: ["x"] }
            versions { producer: 1994 }
            """
        let graph = try GraphDefIO.decodeText(Array(text.utf8), path: "g.pbtxt")
        XCTAssertEqual(graph.node.map(\.name), ["x", "y"])
        XCTAssertEqual(graph.node[0].attr["shape"]?.shape.dims, [-1, 3])
    }

    func testMissingClosingBraceIsReportedAtTheEnd() {
        XCTAssertEqual(problem("node {\n  name: \"x\"\n  op: \"Relu\"\n"),
                       "g.pbtxt:4:1: expected '}' before the end of the file")
    }

    func testUnknownFieldNamesTheMessageAndTheChoices() {
        XCTAssertEqual(problem("node {\n  name: \"x\"\n  opp: \"Relu\"\n}\n"),
                       "g.pbtxt:3:3: unknown field 'opp' in NodeDef; expected one of: attr, device, experimental_debug_info, experimental_type, input, name, op")
    }

    func testBadEnumValue() {
        XCTAssertEqual(problem("node { name: \"x\" op: \"P\" attr { key: \"dtype\" value { type: DT_FLAOT } } }"),
                       "g.pbtxt:1:60: 'DT_FLAOT' is not a DataType value for field 'type'")
    }

    func testUnterminatedStringAndWrongKinds() {
        XCTAssertEqual(problem("node {\n name: \"x\n}"), "g.pbtxt:2:8: string not closed before the end of the line")
        XCTAssertEqual(problem("node { name: 3 }"), "g.pbtxt:1:14: field 'name' holds a string (in quotes), found '3'")
        XCTAssertEqual(problem("node: \"x\""), "g.pbtxt:1:7: field 'node' is a NodeDef message; expected '{', found a string")
        XCTAssertEqual(problem("versions { producer: 1.5 }"), "g.pbtxt:1:22: field 'producer' holds an integer, found '1.5'")
        XCTAssertEqual(problem("node { name \"x\" }"), "g.pbtxt:1:13: expected ':' or '{' after field name 'name', found a string")
    }
}
