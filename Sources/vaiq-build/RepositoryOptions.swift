import ArgumentParser
import BuildCore
import FileIO
import Manifest
import Foundation
import Pipeline

/// Where the model repository and its cache are; shared by the build commands.
struct RepositoryOptions: ParsableArguments {
    @Option(name: [.customShort("C"), .customLong("repo")], help: "The model repository (default: the current directory).")
    var repo: String = "."

    @Option(name: .customLong("cache-dir"), help: "The cache directory (default: $VAIQ_CACHE_DIR, else <repo>/cache).")
    var cacheDir: String?

    @Option(name: .customLong("data-root"),
            help: ArgumentHelp("Allow manifests to read files under DIR as '@NAME/...' (repeatable; also $VAIQ_DATA_ROOTS=NAME=DIR:...). Hashed by content, never by path.",
                               valueName: "NAME=DIR"))
    var dataRoot: [String] = []

    func dataRoots() throws(CommandFailure) -> DataRoots { try parseDataRoots(dataRoot) }

    var cachePath: String {
        if let cacheDir { return cacheDir }
        if let env = ProcessInfo.processInfo.environment["VAIQ_CACHE_DIR"], !env.isEmpty { return env }
        return FileIO.resolve("cache", relativeTo: repo)
    }

    func pipeline() throws(CommandFailure) -> Pipeline {
        let roots = try dataRoots()
        do { return try Pipeline(root: repo, dataRoots: roots) } catch { throw CommandFailure(message: error.description) }
    }

    func cache() throws(CommandFailure) -> BuildCache {
        do { return try BuildCache(root: cachePath) } catch { throw CommandFailure(message: error.description) }
    }
}

/// The data roots of `$VAIQ_DATA_ROOTS` and then of the `--data-root` flags (which win).
func parseDataRoots(_ flags: [String]) throws(CommandFailure) -> DataRoots {
    do {
        return try DataRoots.parse(environment: ProcessInfo.processInfo.environment[DataRoots.environmentVariable], arguments: flags,
                                   currentDirectory: FileManager.default.currentDirectoryPath)
    } catch { throw CommandFailure(message: error.description) }
}
