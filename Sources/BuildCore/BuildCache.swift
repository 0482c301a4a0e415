import FileIO
import Foundation
import Locking

/// The on-disk cache: a content-addressed store, an action cache and each stage's last record.
///
/// Layout (every write is temp file + rename, so a killed build never leaves a half entry; records
/// are fsynced before the rename, objects are not: an object whose bytes a crash of the machine
/// lost or damaged is caught when it is read, `verifiedObjectPath` / `verifiedLoad` hashing it
/// against its name, and moved to quarantine/, so the build makes it again instead of using it):
///
///     <root>/FORMAT                  "vaiq-build cache 1"
///     <root>/lock                    flock()ed by a running build (others wait)
///     <root>/objects/<2 hex>/<32 hex>   blobs named by their XXH3-128 digest (immutable)
///     <root>/actions/<2 hex>/<32 hex>   ActionRecord JSON named by its action key, then
///                                    "\nchecksum <digest of the JSON>" (a record failing it is a miss)
///     <root>/stages/<32 hex>         the last ActionRecord of a stage (name = digest of the stage id)
///     <root>/quarantine/<32 hex>     objects found damaged when read (removed by `cache gc`)
///     <root>/stat                    the stat cache (see StatCache)
///
/// Nothing in it holds a timestamp, an absolute path or a host name: a cache can be copied
/// between machines and repositories.
public final class BuildCache: Sendable {
    public static let format = "vaiq-build cache 1"
    public let root: String
    /// False for a cache that does not outlive its process (a one-shot command's): its writes
    /// skip fsync, and its objects may be hard-linked into place (`Materializer`).
    public let durable: Bool
    /// Objects this process found damaged and moved to `quarantine/`.
    private let quarantined = Locked<Set<ContentDigest>>([])

    public init(root: String, durable: Bool = true) throws(FileIOError) {
        self.root = root
        self.durable = durable
        for dir in ["objects", "actions", "stages"] { try FileIO.createDirectories("\(root)/\(dir)") }
        let formatPath = "\(root)/FORMAT"
        if let text = try? FileIO.read(formatPath) {
            let found = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard found == BuildCache.format else {
                throw FileIOError(path: formatPath, reason: "cache format '\(found)', expected '\(BuildCache.format)'; remove the cache directory")
            }
        } else {
            try FileIO.writeAtomically(Array((BuildCache.format + "\n").utf8), to: formatPath)
        }
    }

    // MARK: content-addressed objects

    public func objectPath(_ digest: ContentDigest) -> String {
        let hex = digest.description
        return "\(root)/objects/\(hex.prefix(2))/\(hex)"
    }

    public func hasObject(_ digest: ContentDigest) -> Bool { FileIO.exists(objectPath(digest)) }

    /// Stores `bytes` (once: an existing object with the same digest is kept) and returns the digest.
    /// Atomically but not durably (no fsync): reads verify objects instead (see the layout).
    @discardableResult
    public func store(_ bytes: [UInt8]) throws(FileIOError) -> ContentDigest { try put(bytes).digest }

    /// `store`, saying whether it wrote the object (false: one with that digest was there already,
    /// its bytes unchecked).
    public func put(_ bytes: [UInt8]) throws(FileIOError) -> (digest: ContentDigest, written: Bool) {
        let digest = ContentDigest(of: bytes)
        let path = objectPath(digest)
        guard !FileIO.exists(path) else { return (digest, false) }
        try FileIO.createDirectories(FileIO.directoryName(path))
        try FileIO.writeAtomically(bytes, to: path, durable: false)
        return (digest, true)
    }

    /// The object's bytes, unverified (for a cache that does not outlive its process, which wrote them).
    public func load(_ digest: ContentDigest) throws(FileIOError) -> [UInt8] { try FileIO.read(objectPath(digest)) }

    /// The object's bytes, checked against its digest; a damaged object is removed (so the stage
    /// that made it runs again) and is an error naming it. A cache that does not outlive its
    /// process wrote its objects itself and skips the check.
    public func verifiedLoad(_ digest: ContentDigest) throws(FileIOError) -> [UInt8] {
        let bytes = try load(digest)
        if durable && ContentDigest(of: bytes) != digest { throw damaged(digest) }
        return bytes
    }

    /// The object's path once its bytes are checked against its digest (see `verifiedLoad`).
    public func verifiedObjectPath(_ digest: ContentDigest) throws(FileIOError) -> String {
        let path = objectPath(digest)
        if durable {
            let found = try ContentDigest.ofFile(path)
            if found != digest { throw damaged(digest) }
        }
        return path
    }

    /// Moves a damaged object out of the store (to `quarantine/<digest>`, kept for inspection
    /// until `cache gc`), so the action records naming it become misses and their stages run
    /// again; the error names it.
    private func damaged(_ digest: ContentDigest) -> FileIOError {
        let path = objectPath(digest)
        let kept = "\(quarantinePath)/\(digest)"
        if (try? quarantine(path)) == nil { unlink(path) }
        quarantined.withLock { _ = $0.insert(digest) }
        return FileIOError(path: path, reason: "the cache object does not hold the bytes its name is the digest of (damaged, e.g. by a crash of the machine or a disk error); moved it to \(kept)")
    }

    /// Moves a file of the store to `quarantine/` under its own name; returns where it went.
    @discardableResult
    public func quarantine(_ path: String) throws(FileIOError) -> String {
        let kept = "\(quarantinePath)/\(FileIO.baseName(path))"
        try FileIO.createDirectories(quarantinePath)
        if rename(path, kept) != 0 {
            throw FileIOError(path: path, reason: "cannot move it to \(quarantinePath): \(String(cString: strerror(errno)))")
        }
        return kept
    }

    public var quarantinePath: String { "\(root)/quarantine" }

    /// Where cluster jobs exchange a stage's spec and outputs with the building process
    /// (`jobs/<action key>/`, kept only for a job that failed twice; `cache gc` removes them).
    public static func jobsPath(root: String) -> String { "\(root)/jobs" }

    /// Removes the temporaries that killed writers left among the objects and records (`cache gc`;
    /// a build, with `shards` when it ran a stage: objects and action records are written only
    /// by running one). Returns how many.
    @discardableResult
    public func removeStaleTemporaries(shards: Bool = true) -> Int {
        var removed = FileIO.removeStaleTemporaries(in: root) + FileIO.removeStaleTemporaries(in: "\(root)/stages")
        for parent in shards ? ["objects", "actions"] : [] {
            for shard in (try? FileIO.listDirectory("\(root)/\(parent)")) ?? [] {
                removed += FileIO.removeStaleTemporaries(in: "\(root)/\(parent)/\(shard)")
            }
        }
        return removed
    }

    /// Whether this process moved the object to quarantine (a read of it failed its digest check).
    public func wasQuarantined(_ digest: ContentDigest) -> Bool { quarantined.withLock { $0.contains(digest) } }

    /// How many damaged objects this process moved to quarantine.
    public var quarantinedCount: Int { quarantined.withLock { $0.count } }

    // MARK: action cache

    func actionPath(_ key: ContentDigest) -> String {
        let hex = key.description
        return "\(root)/actions/\(hex.prefix(2))/\(hex)"
    }

    /// The record stored under `key`, if it is there, readable, and all its outputs still exist.
    public func action(for key: ContentDigest) -> ActionRecord? { action(at: actionPath(key)) }

    func action(at path: String) -> ActionRecord? {
        guard let record = readRecord(path) else { return nil }
        return record.outputs.values.allSatisfy(hasObject) ? record : nil
    }

    /// Marks a record and its outputs as just used (for `cache gc`'s least-recently-used order).
    public func touch(_ record: ActionRecord) {
        for path in [actionPath(record.key)] + record.outputs.values.map(objectPath) {
            utimensat(AT_FDCWD, path, nil, 0)
        }
    }

    public func recordAction(_ record: ActionRecord) throws(FileIOError) {
        let path = actionPath(record.key)
        try FileIO.createDirectories(FileIO.directoryName(path))
        try writeRecord(record, to: path)
    }

    // MARK: last record per stage (for explain / why)

    func stageRecordPath(_ id: StageID) -> String {
        "\(root)/stages/\(ContentDigest(of: Array(id.rawValue.utf8)))"
    }

    public func lastRecord(of id: StageID) -> ActionRecord? { readRecord(stageRecordPath(id)) }

    public func setLastRecord(_ record: ActionRecord, of id: StageID) throws(FileIOError) {
        try writeRecord(record, to: stageRecordPath(id))
    }

    /// A record file is its JSON, a newline, and `checksum <digest of the JSON>`: a truncated,
    /// garbled or foreign record (no checksum, or one that does not match) reads as absent, a miss.
    public static func decodeRecord(_ bytes: [UInt8]) -> ActionRecord? {
        guard let newline = bytes.lastIndex(of: UInt8(ascii: "\n")), newline > 0,
              let tail = String(bytes: bytes[(newline + 1)...], encoding: .utf8), tail.hasPrefix("checksum "),
              let checksum = ContentDigest(hex: String(tail.dropFirst("checksum ".count))) else { return nil }
        let json = Array(bytes[..<newline])
        guard ContentDigest(of: json) == checksum else { return nil }
        return try? JSONDecoder().decode(ActionRecord.self, from: Data(json))
    }

    static func encodeRecord(_ record: ActionRecord) -> [UInt8]? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(record) else { return nil }
        let json = [UInt8](data)
        return json + Array("\nchecksum \(ContentDigest(of: json))".utf8)
    }

    private func readRecord(_ path: String) -> ActionRecord? {
        guard let bytes = try? FileIO.read(path) else { return nil }
        return Self.decodeRecord(bytes)
    }

    private func writeRecord(_ record: ActionRecord, to path: String) throws(FileIOError) {
        guard let bytes = Self.encodeRecord(record) else {
            throw FileIOError(path: path, reason: "cannot encode the action record")
        }
        try FileIO.writeAtomically(bytes, to: path, durable: durable)
    }
}
