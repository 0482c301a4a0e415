import ArgumentParser
import BuildCore
import FileIO
import Foundation
import Manifest
import Pipeline

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild whenever the manifests, a model or a checkpoint changes (e.g. training writes a new checkpoint).",
        discussion: """
            Polls the files the build reads: manifests/*.yaml, each model's graph, its training \
            directory's `checkpoint` state file and the checkpoint it names, and the calibration and \
            evaluation data. A change is built once it has been stable for one interval, so a \
            checkpoint still being written is not picked up half-way. Earlier checkpoints' results \
            stay in the cache. Stop with Ctrl-C.
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @OptionGroup(title: "Remote cache") var shared: SharedCacheOptions

    @OptionGroup(title: "Cluster") var executor: ExecutorOptions

    @Argument(help: "Targets or shell globs (default: all).")
    var targets: [String] = []

    @Option(help: "Seconds between polls.")
    var interval: Double = 1.0

    @Option(name: [.customShort("j", allowingJoined: true), .long], help: "Threads for each build (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("max-builds"), help: .hidden)
    var maxBuilds: Int?

    func validate() throws {
        if interval <= 0 { throw ValidationError("--interval must be positive") }
        if jobs < 1 { throw ValidationError("-j must be at least 1") }
    }

    func run() throws {
        var built: [String: String]? = nil
        var builds = 0
        say("vaiq-build: watching \(repository.repo) (every \(interval) s; Ctrl-C stops)")
        while maxBuilds.map({ builds < $0 }) ?? true {
            let seen = fingerprint()
            if seen != built {
                // Wait one interval: build only what has stopped changing.
                Thread.sleep(forTimeInterval: interval)
                guard fingerprint() == seen else { continue }
                do {
                    _ = try performBuild(repository, targets: targets, options: BuildOptions(jobs: jobs), explain: true, json: false,
                                         shared: shared, executor: executor)
                } catch let failure as CommandFailure {
                    Console.err("error: \(failure.message)\n")
                }
                built = seen
                builds += 1
                say("vaiq-build: watching for changes")
                continue
            }
            Thread.sleep(forTimeInterval: interval)
        }
    }

    /// Unbuffered: a watcher's output is read (into a log or a pipe) while it runs.
    private func say(_ line: String) { Console.out((line + "\n")) }

    /// Size and mtime of every file the build reads (manifests only, while they do not parse).
    private func fingerprint() -> [String: String] {
        var files: [String] = []
        let manifests = FileIO.resolve("manifests", relativeTo: repository.repo)
        for name in (try? FileIO.listDirectory(manifests)) ?? [] { files.append("\(manifests)/\(name)") }
        if let manifest = try? ManifestLoader.load(root: repository.repo, dataRoots: (try? repository.dataRoots()) ?? DataRoots()) {
            for model in manifest.models.values {
                files.append(model.graph)
                if let checkpoint = model.checkpoint {
                    let path = FileIO.resolve(checkpoint, relativeTo: repository.repo)
                    files.append(FileIO.isDirectory(path) ? "\(path)/checkpoint" : "\(path).index")
                }
            }
            // Image folders: every image, and every folder holding one (its mtime changes when a
            // file is added or removed).
            var sources = manifest.calibrations.values.flatMap { Array($0.inputs.values) }
            sources += manifest.evaluations.values.flatMap { Array($0.inputs.values) }
            for source in sources {
                files += source.paths
                if case .images = source { files += Set(source.paths.map(FileIO.directoryName)).sorted() }
            }
            for e in manifest.evaluations.values { if case .file(let labels) = e.labels { files.append(labels) } }
        }
        var stamps: [String: String] = [:]
        for file in files {
            let path = FileIO.resolve(file, relativeTo: repository.repo)
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: path) else {
                stamps[path] = "missing"
                continue
            }
            let mtime = (attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            stamps[path] = "\(attrs[.size] ?? 0) \(mtime)"
        }
        return stamps
    }
}
