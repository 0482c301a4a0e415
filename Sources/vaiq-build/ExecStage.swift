import ArgumentParser
import BuildCore
import FileIO
import Foundation
import Manifest
import Pipeline

/// Where a build's stages run: `--executor local|slurm`, else the manifests' `settings: executor`.
struct ExecutorOptions: ParsableArguments {
    @Option(name: .customLong("executor"),
            help: ArgumentHelp("Where stages run: local (this process, the default) or slurm (each stage a Slurm job running `vaiq-build exec-stage`; also `settings: executor`).",
                               valueName: "local|slurm"))
    var executor: String?

    func validate() throws {
        if let executor, RunSettings.Executor(rawValue: executor) == nil {
            throw ValidationError("--executor must be local or slurm; found '\(executor)'")
        }
    }

    /// The executor to hand the engine (nil: local).
    func make(_ pipeline: Pipeline, repository: RepositoryOptions,
              warn: @escaping @Sendable (String) -> Void) throws(CommandFailure) -> (any StageExecutor)? {
        let settings = pipeline.manifest.settings
        let chosen = executor.flatMap(RunSettings.Executor.init(rawValue:)) ?? settings.executor ?? .local
        guard chosen == .slurm else { return nil }
        guard let executable = FileIO.realPath("/proc/self/exe"), let repo = FileIO.realPath(repository.repo) else {
            throw CommandFailure(message: "--executor slurm: cannot find the vaiq-build binary or the repository's absolute path")
        }
        let cache = repository.cachePath
        do { try FileIO.createDirectories(cache) } catch { throw CommandFailure(message: error.description) }
        guard let cacheRoot = FileIO.realPath(cache) else { throw CommandFailure(message: "--executor slurm: cannot resolve \(cache)") }
        let roots = pipeline.manifest.dataRoots.folders
        do {
            return try SlurmExecutor(.init(slurm: settings.slurm, executable: executable, repository: repo, cacheRoot: cacheRoot,
                                           dataRoots: roots), warn: warn)
        } catch {
            throw CommandFailure(message: error.description)
        }
    }
}

struct ExecStage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec-stage",
        abstract: "Run one stage as a cluster job (what `--executor slurm` submits; not for use by hand).",
        discussion: """
            Reads <cache>/jobs/KEY/spec.json (written by the building process), finds its stage in \
            the repository's plan, checks that the stage's action here is KEY, runs it, and writes \
            its outputs and result.json into that folder. The building process checks them and \
            stores them in the cache; this command writes nothing else.
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @Argument(help: "The action key (32 hex digits) of the stage to run.")
    var key: String

    func run() throws {
        guard let digest = ContentDigest(hex: key) else { throw CommandFailure(message: "exec-stage: '\(key)' is not an action key (32 hex digits)") }
        let pipeline = try repository.pipeline()
        let folder = StageJob.folder(cacheRoot: repository.cachePath, key: digest)
        do { try StageJob.run(folder: folder, key: digest.description, stages: pipeline.stages) } catch {
            throw CommandFailure(message: error.description)
        }
    }
}
