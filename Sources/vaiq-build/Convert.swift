import ArgumentParser
import FileIO
import SwiftProtobuf
import TensorFlowIO

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a GraphDef between binary (.pb) and text (.pbtxt) form.",
        discussion: "The format of each file follows its extension (.pbtxt, .prototxt or .txt is text)."
    )

    @Argument(help: "The GraphDef to read.")
    var input: String

    @Option(name: [.customShort("o"), .long], help: "The GraphDef to write.")
    var output: String

    func run() throws {
        let graph = try failing { try GraphDefIO.read(input) }
        if GraphDefIO.isTextFormat(output) {
            try failing { try FileIO.writeAtomically(Array(graph.textFormatString().utf8), to: output) }
        } else {
            try failing { try GraphDefIO.write(graph, to: output) }
        }
        print("\(input) -> \(output): \(graph.node.count) nodes")
    }
}
