import FileIO
import Foundation
import TFProto

/// Where a model's checkpoint is: a training directory (follow its `checkpoint` state file)
/// or a prefix such as `train_dir/model.ckpt-2000`.
public struct CheckpointLocation: Sendable, Equatable {
    /// The resolved prefix (`<prefix>.index` exists).
    public let prefix: String
    /// The training step: the number after the last `-` of the prefix, when there is one.
    public let step: Int?
    /// The save time recorded for this checkpoint in the state file (seconds since 1970), if any.
    public let timestamp: Double?

    /// Resolves `path`: a directory is read through its `checkpoint` state file.
    ///
    /// Paths in the state file may be absolute paths of the machine that trained the model; when
    /// such a path does not exist, the file of the same name inside the directory is used, so a
    /// model repository can move between machines.
    public static func resolve(_ path: String) throws(TensorFlowIOError) -> CheckpointLocation {
        if FileIO.isDirectory(path) {
            let state = try CheckpointStateFile.read(directory: path)
            guard !state.modelCheckpointPath.isEmpty else {
                throw .checkpointState(path: path + "/checkpoint", reason: "model_checkpoint_path is empty")
            }
            let prefix = locate(state.modelCheckpointPath, in: path)
            guard FileIO.exists(prefix + ".index") else {
                throw .checkpointState(path: path + "/checkpoint",
                                       reason: "names checkpoint '\(state.modelCheckpointPath)' but \(prefix).index does not exist")
            }
            var timestamp: Double?
            if let i = state.allModelCheckpointPaths.firstIndex(of: state.modelCheckpointPath),
               i < state.allModelCheckpointTimestamps.count {
                timestamp = state.allModelCheckpointTimestamps[i]
            }
            return CheckpointLocation(prefix: prefix, step: step(of: prefix), timestamp: timestamp)
        }
        let prefix = path.hasSuffix(".index") ? String(path.dropLast(6)) : path
        guard FileIO.exists(prefix + ".index") else {
            throw .file(FileIOError(path: prefix + ".index",
                                    reason: "no such checkpoint; expected a training directory or a checkpoint prefix"))
        }
        return CheckpointLocation(prefix: prefix, step: step(of: prefix), timestamp: nil)
    }

    static func locate(_ recorded: String, in directory: String) -> String {
        let direct = FileIO.resolve(recorded, relativeTo: directory)
        if FileIO.exists(direct + ".index") { return direct }
        return FileIO.resolve(FileIO.baseName(recorded), relativeTo: directory)
    }

    static func step(of prefix: String) -> Int? {
        guard let dash = prefix.lastIndex(of: "-") else { return nil }
        return Int(prefix[prefix.index(after: dash)...])
    }
}

/// The text-format `checkpoint` file TensorFlow's Saver keeps in a training directory.
public enum CheckpointStateFile {
    public static func read(directory: String) throws(TensorFlowIOError) -> Tensorflow_CheckpointState {
        let path = directory + "/checkpoint"
        let bytes: [UInt8]
        do { bytes = try FileIO.read(path) } catch {
            throw .checkpointState(path: path, reason: "cannot read the checkpoint state file (\(error.reason)); expected a TensorFlow training directory")
        }
        do {
            return try Tensorflow_CheckpointState(textFormatString: String(decoding: bytes, as: UTF8.self))
        } catch {
            if let p = TextFormatLocator.firstProblem(in: bytes, rootMessage: "CheckpointState") {
                throw .textFormat(path: path, line: p.line, column: p.column, message: p.message)
            }
            throw .checkpointState(path: path, reason: "not a valid checkpoint state file (\(error))")
        }
    }
}
