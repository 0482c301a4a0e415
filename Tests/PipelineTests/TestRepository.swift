import FileIO
@testable import Pipeline
import TensorFlowIO
import Foundation

/// Scratch model repositories for the pipeline tests.
enum TestRepository {
    /// The project's root (fixtures, examples).
    static let projectRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// A new temporary directory `<prefix>-<uuid>` with an empty `manifests/`, and `copies`
    /// (project-relative source -> repository-relative destination) copied into it.
    static func make(_ prefix: String, copying copies: [(String, String)] = []) throws -> String {
        let repo = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
        try FileIO.createDirectories("\(repo)/manifests")
        for (source, destination) in copies {
            try FileIO.createDirectories(FileIO.directoryName("\(repo)/\(destination)"))
            try FileManager.default.copyItem(atPath: "\(projectRoot)/\(source)", toPath: "\(repo)/\(destination)")
        }
        return repo
    }
}

extension TestRepository {
    /// The digits example frozen from its checkpoint into `directory`, as a model.
    static func digitsModel(in directory: String) throws -> QuantizeJob.Model {
        let reader = try CheckpointReader(prefix: try CheckpointLocation.resolve(projectRoot + "/examples/digits/models/digits/train_dir").prefix)
        let graph = "examples/digits/models/digits/inference_graph.pb"
        let frozen = try GraphFreezer.freeze(try GraphDefIO.read(projectRoot + "/" + graph), checkpoint: reader, outputNodes: ["logits"], graphPath: graph)
        try GraphDefIO.write(frozen.graph, to: "\(directory)/digits.pb")
        return .init(name: "digits", graph: .file("\(directory)/digits.pb"), inputNodes: ["input"], outputNodes: ["logits"],
                     inputShapes: [[-1, 32, 32, 1]])
    }

    /// The digits example's calibration set (200 rows in 10 batches of 20) and labeled set.
    static var digitsCalibration: QuantizeJob.DataSet {
        .init(name: "c", inputs: ["input": .file(projectRoot + "/examples/digits/data/calib.npy")], batchSize: 20, iterations: 10)
    }
    static var digitsEvaluation: QuantizeJob.Evaluation {
        .init(data: .init(name: "e", inputs: ["input": .file(projectRoot + "/examples/digits/data/eval_x.npy")], batchSize: 100, iterations: 4),
              labels: .file(projectRoot + "/examples/digits/data/eval_y.npy"))
    }
}
