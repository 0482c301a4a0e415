/// A cache shared between machines (a team's remote cache), consulted after a local miss and
/// filled after a stage runs. The engine knows only this; `RemoteCache.RemoteTier` speaks Bazel's
/// HTTP protocol behind it. Trouble with the shared cache is never a build failure: an
/// implementation answers a miss, says so once through its own warning, and carries on locally.
public protocol SharedActionCache: Sendable {
    /// The action's outputs, downloaded, verified against their digests and stored in `cache`,
    /// by name; nil on a miss, on any trouble, or when an output in `required` is missing.
    func fetch(_ action: ActionRecord, required: [String], into cache: BuildCache) -> [String: ContentDigest]?
    /// Whether the shared cache holds the action (a dry run asks); nil when it cannot tell.
    func holds(_ action: ActionRecord) -> Bool?
    /// Uploads the outputs named in `action` (read from `cache`) and then its record, in the
    /// background; `finish` waits for every upload started.
    func upload(_ action: ActionRecord, from cache: BuildCache)
    func finish()
}
