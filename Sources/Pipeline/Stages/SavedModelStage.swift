import BuildCore
import FileIO
import TFProto
import TensorFlowIO

/// freeze(model) for a TF2 SavedModel: saved_model.pb + the variables bundle -> the frozen graph
/// of one signature (`SavedModelReader`: its function calls inlined, its captured variables
/// constants). Reads the SavedModel's files by content (the directory's place is no part of the
/// key) and the signature's name; writes `frozen_graph.pb` like the checkpoint freeze, so
/// everything after it is the same stages.
struct SavedModelStage: TypedStage {
    static let identity = StageKind(name: "freeze_saved_model", version: 1)

    struct Settings: Codable, Sendable, Equatable {
        var signature: String
    }

    let declaration: StageDeclaration<Settings>
    let outputNames = [FreezeStage.frozenGraph]
    let maxThreads = 1
    /// For error messages only.
    let directory: String

    /// `files` are the SavedModel's files (`SavedModelReader.files`), relative to the repository
    /// (or absolute, under a data root).
    init(model: String, directory: String, files: [String], signature: String) {
        self.directory = directory
        var inputs: [String: StageInput] = [:]
        var shard = 0
        for file in files {
            switch FileIO.baseName(file) {
            case "saved_model.pb": inputs["saved_model.pb"] = .file(file)
            case "variables.index": inputs["variables.index"] = .file(file)
            default:
                inputs["variables.data-\(shard)"] = .file(file)
                shard += 1
            }
        }
        declaration = StageDeclaration(id: StageID("freeze/\(model)"), settings: Settings(signature: signature), inputs: inputs)
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        // The stage's inputs are the SavedModel's own files, so their folder is the SavedModel.
        let root = FileIO.directoryName(context.inputPaths["saved_model.pb"]!)
        let result = try SavedModelReader.load(directory: root, signature: settings.signature)
        return [FreezeStage.frozenGraph: try GraphDefIO.serialize(result.graph, path: directory)]
    }
}
