import BuildCore
import FileIO
import Foundation

/// A stage run as a cluster job. The orchestrating build writes `spec.json` into the job's folder
/// (`<cache>/jobs/<action key>/`); the job, `vaiq-build exec-stage KEY`, finds the stage in the
/// repository's plan, checks that its action is the one asked for, runs it, and writes each output
/// and then `result.json` (the outputs' digests) into the same folder. Nothing of the job reaches
/// the cache: the orchestrator reads the outputs, checks each against its digest, and stores them
/// itself, so a job killed part-way leaves at most a folder that the next attempt replaces.
public enum StageJob {
    public struct Spec: Codable, Sendable, Equatable {
        public struct Input: Codable, Sendable, Equatable {
            public var path: String
            public var digest: String
        }
        public var stage: String
        public var key: String
        /// The thread budget: the CPUs the job asked for.
        public var threads: Int
        public var inputs: [String: Input]
    }

    public struct Result: Codable, Sendable, Equatable {
        public struct Output: Codable, Sendable, Equatable {
            /// The file's name in the job folder.
            public var file: String
            public var digest: String
            public var size: Int
        }
        public var outputs: [String: Output]
    }

    public static let specName = "spec.json"
    public static let resultName = "result.json"

    public static func folder(cacheRoot: String, key: ContentDigest) -> String { "\(BuildCache.jobsPath(root: cacheRoot))/\(key)" }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Writes the spec of `stage`'s run into a fresh job folder (an earlier attempt's is removed).
    static func prepare(folder: String, stage: any Stage, action: ActionRecord, inputPaths: [String: String], threads: Int) throws {
        try? FileManager.default.removeItem(atPath: folder)
        try FileIO.createDirectories(folder)
        var inputs: [String: Spec.Input] = [:]
        // Absolute: the job runs in the repository, not where this build was started.
        for (name, digest) in action.inputs {
            let path = inputPaths[name] ?? ""
            inputs[name] = Spec.Input(path: FileIO.realPath(path) ?? path, digest: digest.description)
        }
        let spec = Spec(stage: stage.id.rawValue, key: action.key.description, threads: threads, inputs: inputs)
        try FileIO.writeAtomically(try StageIO.json(spec), to: "\(folder)/\(specName)")
    }

    /// The job's side (`vaiq-build exec-stage KEY`): runs the stage the spec in `folder` names,
    /// found among `stages` (the plan the job's own reading of the repository makes), and writes
    /// its outputs and `result.json`. Fails when the spec is missing or unreadable, when the stage
    /// is not in the plan, or when its action here (kind, version, parameters, inputs) is not the
    /// one the orchestrator asked for: the repository or the tool changed under the build.
    public static func run(folder: String, key: String, stages: [any Stage]) throws(Failure) {
        let specPath = "\(folder)/\(specName)"
        let spec: Spec
        do { spec = try JSONDecoder().decode(Spec.self, from: Data(try FileIO.read(specPath))) } catch {
            throw Failure("\(specPath): not a job spec: \(error)")
        }
        guard spec.key == key else { throw Failure("\(specPath): the spec is for action \(spec.key), not \(key)") }
        guard let stage = stages.first(where: { $0.id.rawValue == spec.stage }) else {
            throw Failure("stage '\(spec.stage)' is not in this repository's plan (the manifests changed under the build?)")
        }
        var digests: [String: ContentDigest] = [:]
        for (name, input) in spec.inputs {
            guard let digest = ContentDigest(hex: input.digest) else { throw Failure("\(specPath): input '\(name)': not a digest") }
            digests[name] = digest
        }
        let action = ActionRecord(stage: stage, inputs: digests)
        guard action.key.description == key, Set(stage.inputs.keys) == Set(spec.inputs.keys) else {
            throw Failure("stage '\(spec.stage)': its action here is not the one asked for (\(key)): the manifests or vaiq-build differ between the build and this job")
        }
        let written = OutputFiles(folder: folder)
        let context = StageContext(stage: stage.id, inputPaths: spec.inputs.mapValues(\.path), threadBudget: max(1, spec.threads),
                                   isCancelled: { false }, store: { name, bytes in try written.write(name, bytes) })
        do {
            let produced = try stage.run(context)
            for (name, bytes) in produced.sorted(by: { $0.key < $1.key }) { try written.write(name, bytes) }
            let result = Result(outputs: written.all)
            for name in stage.outputNames where result.outputs[name] == nil {
                throw Failure("stage '\(stage.id)': did not produce its output '\(name)'")
            }
            try FileIO.writeAtomically(try StageIO.json(result), to: "\(folder)/\(resultName)")
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure("stage '\(stage.id)' (\(stage.kind)): \(error)")
        }
    }

    /// The orchestrator's side: the outputs a finished job left in `folder`, each checked against
    /// the digest and size in `result.json`; nil with the reason when anything is missing or differs.
    static func collect(folder: String, stage: any Stage) -> Swift.Result<[String: [UInt8]], Failure> {
        let resultPath = "\(folder)/\(resultName)"
        guard let bytes = try? FileIO.read(resultPath),
              let result = try? JSONDecoder().decode(Result.self, from: Data(bytes)) else {
            return .failure(Failure("the job left no readable \(resultName)"))
        }
        var outputs: [String: [UInt8]] = [:]
        for (name, output) in result.outputs {
            guard !output.file.contains("/"), let data = try? FileIO.read("\(folder)/\(output.file)"),
                  data.count == output.size, ContentDigest(of: data).description == output.digest else {
                return .failure(Failure("output '\(name)' of the job is missing or does not match its digest"))
            }
            outputs[name] = data
        }
        for name in stage.outputNames where outputs[name] == nil {
            return .failure(Failure("the job did not produce the output '\(name)'"))
        }
        return .success(outputs)
    }
}

/// The files a job writes, one per output, named by their order (output names need not be file names).
private final class OutputFiles: @unchecked Sendable {
    private let folder: String
    private let lock = NSLock()
    private var outputs: [String: StageJob.Result.Output] = [:]
    private var next = 0

    init(folder: String) { self.folder = folder }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        let file: String = lock.withLock {
            next += 1
            return "output-\(next)"
        }
        try FileIO.writeAtomically(bytes, to: "\(folder)/\(file)", durable: false)
        lock.withLock { outputs[name] = StageJob.Result.Output(file: file, digest: ContentDigest(of: bytes).description, size: bytes.count) }
    }

    var all: [String: StageJob.Result.Output] { lock.withLock { outputs } }
}
