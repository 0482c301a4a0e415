import FileIO
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
