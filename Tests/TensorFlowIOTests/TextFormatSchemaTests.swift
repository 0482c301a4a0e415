@testable import TensorFlowIO
import XCTest

/// The locator's table is generated from Protos/tensorflow/*.proto (tools/gen_text_schema.py). The
/// GraphDebugInfo messages were missing from the hand-kept table it replaced, so errors inside
/// `debug_info` had no position; these fail if the table loses them (or is empty).
final class TextFormatSchemaTests: XCTestCase {
    func testDebugInfoIsCheckedAgainstTheProto() {
        func problem(_ text: String) -> String {
            do { return "decoded \(try GraphDefIO.decodeText(Array(text.utf8), path: "g.pbtxt").node.count) nodes" } catch { return "\(error)" }
        }
        XCTAssertEqual(problem("debug_info { files: 7 }"),
                       "g.pbtxt:1:21: field 'files' holds a string (in quotes), found '7'")
        // Map entries (`traces` -> TracesEntry) and nested messages (StackTrace.FileLineCol) by name.
        let traces = """
            debug_info {
              files: "model.py"
              traces { key: "conv" value { file_line_cols { file_index: 0 line: 12 col: 4 func: "f" } } }
              traces { key: "relu" value { file_line_cols { line: 13 colum: 4 } } }
            }
            """
        XCTAssertEqual(problem(traces),
                       "g.pbtxt:4:58: unknown field 'colum' in FileLineCol; expected one of: code, col, file_index, func, line")
        XCTAssertEqual(problem(traces.replacingOccurrences(of: "colum", with: "col")), "decoded 0 nodes")
    }
}
