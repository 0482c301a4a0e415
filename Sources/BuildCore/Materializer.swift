import FileIO

/// Copies stage outputs from the content store to their places in the repository (`build/...`),
/// skipping files that already hold the right bytes. Copies, not hard links: a user editing a
/// file under build/ must not be able to corrupt the cache.
public enum Materializer {
    /// Writes `digest` to `path` unless it is already there; returns true when it wrote.
    public static func place(_ digest: ContentDigest, at path: String, cache: BuildCache,
                             statCache: StatCache) throws(FileIOError) -> Bool {
        let dir = FileIO.directoryName(path)
        FileIO.removeStaleTemporaries(in: dir)   // left by a build that was killed mid-copy
        if FileIO.exists(path), (try? statCache.digest(of: path)) == digest { return false }
        try FileIO.createDirectories(dir)
        try FileIO.writeAtomically(try cache.load(digest), to: path)
        return true
    }
}
