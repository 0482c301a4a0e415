import FileIO

/// Copies stage outputs from the content store to their places in the repository (`build/...`),
/// skipping files that already hold the right bytes. Copies, not hard links: a user editing a
/// file under build/ must not be able to corrupt the cache; only a cache that does not outlive
/// its process (not `durable`) hands its objects over as hard links where the file system can,
/// without fsync (as the one-shot command's outputs are written: atomically, not durably).
public enum Materializer {
    /// Writes `digest` to `path` unless it is already there; returns true when it wrote.
    public static func place(_ digest: ContentDigest, at path: String, cache: BuildCache,
                             statCache: StatCache) throws(FileIOError) -> Bool {
        guard let tmp = try prepare(digest, at: path, cache: cache, statCache: statCache) else { return false }
        try FileIO.commit(tmp, to: path, durable: cache.durable)
        return true
    }

    /// The first half of `place`: nil when `path` already holds `digest`, else a temporary file
    /// beside it holding the object's (verified) bytes, for `FileIO.commit`. Preparing every file
    /// of a set before committing any replaces the set together (only the renames remain).
    public static func prepare(_ digest: ContentDigest, at path: String, cache: BuildCache,
                               statCache: StatCache) throws(FileIOError) -> String? {
        let dir = FileIO.directoryName(path)
        if FileIO.exists(path), (try? statCache.digest(of: path)) == digest { return nil }
        // A build killed mid-copy left its temporaries beside the files it did not finish, which
        // this one writes now (a set already in place has none).
        FileIO.removeStaleTemporaries(in: dir)
        try FileIO.createDirectories(dir)
        // Linked once at most: two outputs with equal bytes stay two files.
        let object = cache.objectPath(digest)
        if !cache.durable, FileIO.linkCount(object) == 1, let tmp = try FileIO.linkTemporary(object, for: path, durable: false) { return tmp }
        return try FileIO.writeTemporary(try cache.verifiedLoad(digest), for: path, durable: cache.durable)
    }
}
