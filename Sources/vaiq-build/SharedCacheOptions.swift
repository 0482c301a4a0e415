import ArgumentParser
import BuildCore
import Foundation
import Manifest
import RemoteCache

/// The shared (remote) cache of a build: `--remote-cache URL`, else `$VAIQ_REMOTE_CACHE`, else the
/// manifests' `settings: remote_cache`. Credentials come from the environment only.
struct SharedCacheOptions: ParsableArguments {
    @Option(name: .customLong("remote-cache"),
            help: ArgumentHelp("A Bazel HTTP remote cache (nginx WebDAV, bazel-remote) to fetch stage results from and upload them to (also $VAIQ_REMOTE_CACHE or `settings: remote_cache`). Credentials: $VAIQ_REMOTE_CACHE_TOKEN (bearer), or $VAIQ_REMOTE_CACHE_USER and $VAIQ_REMOTE_CACHE_PASSWORD.",
                               valueName: "URL"))
    var remoteCache: String?

    @Flag(name: .customLong("no-remote-cache"), help: "Use no remote cache, whatever the environment and manifests say.")
    var noRemoteCache = false

    @Option(name: .customLong("remote-upload"),
            help: ArgumentHelp("false: read the remote cache, never write it (also $VAIQ_REMOTE_UPLOAD or `settings: remote_upload`; default true).",
                               valueName: "true|false"))
    var remoteUpload: Bool?

    static let urlVariable = "VAIQ_REMOTE_CACHE"
    static let uploadVariable = "VAIQ_REMOTE_UPLOAD"
    static let tokenVariable = "VAIQ_REMOTE_CACHE_TOKEN"
    static let userVariable = "VAIQ_REMOTE_CACHE_USER"
    static let passwordVariable = "VAIQ_REMOTE_CACHE_PASSWORD"

    func validate() throws {
        if noRemoteCache && remoteCache != nil { throw ValidationError("give --remote-cache or --no-remote-cache, not both") }
    }

    /// The shared cache to use, or nil; `warn` gets its one warning if it is turned off mid-build.
    func tier(_ settings: RunSettings, jobs: Int, warn: @escaping @Sendable (String) -> Void) throws(CommandFailure) -> RemoteTier? {
        let env = ProcessInfo.processInfo.environment
        guard !noRemoteCache else { return nil }
        let url: String, origin: String
        if let remoteCache {
            (url, origin) = (remoteCache, "--remote-cache")
        } else if let value = env[Self.urlVariable], !value.isEmpty {
            (url, origin) = (value, "$\(Self.urlVariable)")
        } else if let value = settings.remoteCache {
            (url, origin) = (value, "settings: remote_cache (\(settings.origins["remote_cache"]!))")
        } else {
            return nil
        }
        if url.isEmpty { return nil }
        if let problem = RunSettings.urlProblem(url) { throw CommandFailure(message: "\(origin): \(problem)") }
        var upload = settings.remoteUpload ?? true
        if let value = env[Self.uploadVariable], !value.isEmpty {
            guard let flag = Bool(value.lowercased()) else {
                throw CommandFailure(message: "$\(Self.uploadVariable) must be true or false; found '\(value)'")
            }
            upload = flag
        }
        if let remoteUpload { upload = remoteUpload }
        let token = env[Self.tokenVariable].flatMap { $0.isEmpty ? nil : $0 }
        let user = env[Self.userVariable].flatMap { $0.isEmpty ? nil : $0 }
        let password = env[Self.passwordVariable]
        if user == nil, password?.isEmpty == false {
            throw CommandFailure(message: "$\(Self.passwordVariable) is set without $\(Self.userVariable)")
        }
        do {
            // Stalls and refusals degrade to local work: a few short retries, then the build goes on without it.
            let client = try HTTPRemoteCache(url: url, token: token, basicUser: user, password: user == nil ? nil : password,
                                             connectTimeout: 5, timeout: 600, stallTimeout: 15, retries: 2, backoff: 0.2)
            return RemoteTier(client: client, upload: upload, parallelUploads: jobs, warn: warn)
        } catch {
            throw CommandFailure(message: "\(origin): \(error)")
        }
    }
}
