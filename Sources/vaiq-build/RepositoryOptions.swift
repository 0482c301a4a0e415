import ArgumentParser
import BuildCore
import FileIO
import Foundation
import Pipeline

/// Where the model repository and its cache are; shared by the build commands.
struct RepositoryOptions: ParsableArguments {
    @Option(name: [.customShort("C"), .customLong("repo")], help: "The model repository (default: the current directory).")
    var repo: String = "."

    @Option(name: .customLong("cache-dir"), help: "The cache directory (default: $VAIQ_CACHE_DIR, else <repo>/cache).")
    var cacheDir: String?

    var cachePath: String {
        if let cacheDir { return cacheDir }
        if let env = ProcessInfo.processInfo.environment["VAIQ_CACHE_DIR"], !env.isEmpty { return env }
        return FileIO.resolve("cache", relativeTo: repo)
    }

    func pipeline() throws(CommandFailure) -> Pipeline {
        do { return try Pipeline(root: repo) } catch { throw CommandFailure(message: error.description) }
    }

    func cache() throws(CommandFailure) -> BuildCache {
        do { return try BuildCache(root: cachePath) } catch { throw CommandFailure(message: error.description) }
    }
}
