import BuildCore
import FileIO
import Foundation
import Manifest

/// Runs each stage as a Slurm job: `sbatch --wait` of a two-line script that execs
/// `vaiq-build exec-stage KEY` in the repository, on a node that sees the repository, the cache and
/// the vaiq-build binary at the same paths (a shared filesystem). See `StageJob` for what the job
/// and this process each write.
///
/// `sbatch --wait` rather than `srun`: the job is an ordinary batch job (its own log file, queued,
/// requeued or preempted by Slurm's rules, visible in squeue as any other), its exit status comes
/// back as sbatch's, and the building process holds no job step open on the node.
///
/// A job asks for the CPUs its stage can use (calibration, evaluation, finetuning and data
/// preparation as many as a node of the partition has; the light stages one) and the memory its
/// stage kind declares (capped at a node's). A job that fails, is cancelled or is preempted is
/// submitted once more; a second failure fails the stage with the job's id, its state and the tail
/// of its log, and keeps its folder for a look.
public final class SlurmExecutor: StageExecutor, Sendable {
    public struct Configuration: Sendable {
        public var slurm: RunSettings.Slurm
        /// The vaiq-build binary the jobs run (the building one: nodes must see it at this path).
        public var executable: String
        /// Absolute paths: the repository, the cache, and the data roots by name.
        public var repository: String
        public var cacheRoot: String
        public var dataRoots: [String: String]

        public init(slurm: RunSettings.Slurm, executable: String, repository: String, cacheRoot: String, dataRoots: [String: String]) {
            self.slurm = slurm
            self.executable = executable
            self.repository = repository
            self.cacheRoot = cacheRoot
            self.dataRoots = dataRoots
        }
    }

    public let configuration: Configuration
    /// The largest node of the partition: CPUs and memory (MiB).
    public let nodeCPUs: Int
    public let nodeMemory: Int
    private let warn: @Sendable (String) -> Void

    /// Asks Slurm (`sinfo`) for the partition's nodes; fails with one line when Slurm cannot be reached.
    public init(_ configuration: Configuration, warn: @escaping @Sendable (String) -> Void) throws(StageJob.Failure) {
        self.configuration = configuration
        self.warn = warn
        var arguments = ["sinfo", "--noheader", "--format", "%c %m"]
        if let partition = configuration.slurm.partition { arguments += ["--partition", partition] }
        let outcome: Subprocess.Outcome
        do { outcome = try Subprocess.run(arguments, in: NSTemporaryDirectory()) } catch {
            throw StageJob.Failure("--executor slurm: \((error as? StageJob.Failure)?.description ?? "\(error)") (is Slurm's client installed?)")
        }
        var cpus = 0, memory = 0
        for line in outcome.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2 else { continue }
            cpus = max(cpus, Int(fields[0].filter(\.isNumber)) ?? 0)
            memory = max(memory, Int(fields[1].filter(\.isNumber)) ?? 0)
        }
        guard outcome.status == 0, cpus > 0 else {
            let why = outcome.stderr.split(separator: "\n").first.map(String.init) ?? "no nodes listed"
            throw StageJob.Failure("--executor slurm: sinfo found no usable node\(configuration.slurm.partition.map { " in partition '\($0)'" } ?? ""): \(why)")
        }
        nodeCPUs = cpus
        nodeMemory = max(memory, 1)
    }

    public func execute(_ stage: any Stage, action: ActionRecord, inputPaths: [String: String],
                        isCancelled: @escaping @Sendable () -> Bool) throws -> [String: [UInt8]] {
        let cpus = max(1, min(stage.maxThreads, nodeCPUs))
        let memory = max(1, min(stage.memoryMegabytes, nodeMemory))
        let folder = StageJob.folder(cacheRoot: configuration.cacheRoot, key: action.key)
        var failure = ""
        for attempt in 1...2 {
            try StageJob.prepare(folder: folder, stage: stage, action: action, inputPaths: inputPaths, threads: cpus)
            try FileIO.writeAtomically(Array(script(key: action.key).utf8), to: "\(folder)/job.sh")
            chmod("\(folder)/job.sh", 0o755)
            var arguments = ["sbatch", "--wait", "--parsable", "--job-name", "vaiq:\(stage.id)",
                             "--output", "\(folder)/job.log", "--chdir", configuration.repository,
                             "--nodes", "1", "--ntasks", "1", "--cpus-per-task", "\(cpus)", "--mem", "\(memory)M"]
            if let partition = configuration.slurm.partition { arguments += ["--partition", partition] }
            if let account = configuration.slurm.account { arguments += ["--account", account] }
            if let time = configuration.slurm.time { arguments += ["--time", time] }
            arguments += configuration.slurm.extraArgs + ["\(folder)/job.sh"]
            let outcome = try Subprocess.run(arguments, in: folder, isCancelled: isCancelled)
            let job = outcome.stdout.split(whereSeparator: { $0 == "\n" || $0 == ";" }).first.map(String.init)
            if outcome.cancelled {
                if let job { _ = try? Subprocess.run(["scancel", job], in: folder) }
                throw StageJob.Failure("the build was stopped")
            }
            var problem: String?
            if outcome.status == 0 {
                switch StageJob.collect(folder: folder, stage: stage) {
                case .success(let outputs):
                    try? FileManager.default.removeItem(atPath: folder)
                    return outputs
                case .failure(let why): problem = why.description
                }
            }
            failure = describe(job: job, sbatch: outcome, problem: problem, folder: folder)
            if attempt == 1 { warn("stage '\(stage.id)': \(failure); submitting it again") }
        }
        throw StageJob.Failure("\(failure) (twice; its files are in \(folder))")
    }

    /// The job script: exec the same binary on the same repository, cache and data roots.
    private func script(key: ContentDigest) -> String {
        var command = [configuration.executable, "exec-stage", key.description, "-C", configuration.repository,
                       "--cache-dir", configuration.cacheRoot]
        for (name, folder) in configuration.dataRoots.sorted(by: { $0.key < $1.key }) { command += ["--data-root", "\(name)=\(folder)"] }
        return "#!/bin/sh\nexec " + command.map(shellQuoted).joined(separator: " ") + "\n"
    }

    /// One line: the job id, how it ended (Slurm's state and exit code), and the tail of its log.
    private func describe(job: String?, sbatch: Subprocess.Outcome, problem: String?, folder: String) -> String {
        guard let job else {
            let why = sbatch.stderr.split(separator: "\n").map(String.init).last ?? "exit status \(sbatch.status)"
            return "sbatch submitted no job: \(why)"
        }
        var state = "exit status \(sbatch.status) from sbatch --wait"
        if let shown = try? Subprocess.run(["scontrol", "--oneliner", "show", "job", job], in: folder), shown.status == 0 {
            let fields = shown.stdout.split(separator: " ")
            let jobState = fields.first { $0.hasPrefix("JobState=") }.map { String($0.dropFirst("JobState=".count)) }
            let exit = fields.first { $0.hasPrefix("ExitCode=") }.map { String($0.dropFirst("ExitCode=".count)) }
            if let jobState { state = jobState + (exit.map { " (exit code \($0))" } ?? "") }
        }
        var text = "Slurm job \(job) ended \(state)"
        if let problem { text += ": \(problem)" }
        let log = (try? String(contentsOfFile: "\(folder)/job.log", encoding: .utf8)) ?? ""
        let tail = log.split(separator: "\n").suffix(3).map { $0.trimmingCharacters(in: .whitespaces) }
        if !tail.isEmpty { text += "; its log ends: " + tail.joined(separator: " | ") }
        return text
    }
}
