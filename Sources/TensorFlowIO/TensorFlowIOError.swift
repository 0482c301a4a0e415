import FileIO

/// Everything that can go wrong reading, freezing or inspecting TensorFlow files.
/// Each description is one line naming the file, node or tensor and what was expected.
public enum TensorFlowIOError: Error, CustomStringConvertible, Equatable {
    case file(FileIOError)
    /// A binary `.pb` that does not decode as a GraphDef.
    case malformedGraph(path: String, reason: String)
    /// A `.pbtxt` syntax or schema error at a 1-based line and column.
    case textFormat(path: String, line: Int, column: Int, message: String)
    /// A graph whose nodes do not fit together (dangling inputs, duplicate names).
    case invalidGraph(path: String, node: String, reason: String)
    case malformedTensor(context: String, reason: String)
    case unsupportedDType(context: String, dtype: String)
    case corruptCheckpoint(path: String, tensor: String?, reason: String)
    case tensorNotFound(name: String, checkpoint: String)
    case checkpointState(path: String, reason: String)
    case freeze(node: String, reason: String)
    case unknownNode(name: String, role: String, path: String)
    case savedModel(path: String, reason: String)

    public var description: String {
        switch self {
        case let .file(error):
            return error.description
        case let .malformedGraph(path, reason):
            return "\(path): not a valid binary GraphDef (\(reason)); expected a TensorFlow .pb file"
        case let .textFormat(path, line, column, message):
            return "\(path):\(line):\(column): \(message)"
        case let .invalidGraph(path, node, reason):
            return "\(path): node '\(node)': \(reason)"
        case let .malformedTensor(context, reason):
            return "\(context): malformed tensor: \(reason)"
        case let .unsupportedDType(context, dtype):
            return "\(context): unsupported dtype \(dtype)"
        case let .corruptCheckpoint(path, tensor, reason):
            let what = tensor.map { " (tensor '\($0)')" } ?? ""
            return "\(path)\(what): corrupt checkpoint: \(reason)"
        case let .tensorNotFound(name, checkpoint):
            return "\(checkpoint): no tensor named '\(name)' in the checkpoint"
        case let .checkpointState(path, reason):
            return "\(path): \(reason)"
        case let .freeze(node, reason):
            return "freeze: node '\(node)': \(reason)"
        case let .unknownNode(name, role, path):
            return "\(path): \(role) '\(name)' is not a node of the graph"
        case let .savedModel(path, reason):
            return "\(path): \(reason)"
        }
    }
}
