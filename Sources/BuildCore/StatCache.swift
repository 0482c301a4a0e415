import FileIO
import Locking
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Remembers file digests by (size, mtime, inode, device) so a no-op build never re-reads a
/// checkpoint. Stored as text, one file per line, rewritten atomically:
///
///     vaiq-build stat 1
///     <digest> <size> <mtime ns> <inode> <device> <path>
///
/// A file modified within `racyWindow` of being hashed is not remembered (its mtime could be
/// reused by a second change in the same clock tick), so a fast edit is never missed.
public final class StatCache: Sendable {
    struct Entry: Equatable {
        var digest: ContentDigest
        var size: Int64
        var mtime: Int64
        var inode: UInt64
        var device: UInt64
    }

    static let header = "vaiq-build stat 1"
    static let racyWindowNanoseconds: Int64 = 2_000_000_000

    private let path: String
    private let state: Locked<(entries: [String: Entry], dirty: Bool, hashed: Int)>
    /// False after `trustNothing()`: every digest is computed from the file's bytes.
    private let trusting = Atomic<Bool>(true)

    /// From now on every file is read and hashed (`--verify-inputs`: a rewrite that kept the
    /// size, inode and a restored mtime is otherwise not seen); what is learned is still saved.
    public func trustNothing() { trusting.store(false, ordering: .relaxed) }

    public init(path: String) {
        self.path = path
        var entries: [String: Entry] = [:]
        if let bytes = try? FileIO.read(path) {
            let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
            if lines.first.map(String.init) == StatCache.header {
                for line in lines.dropFirst() {
                    let f = line.split(separator: " ", maxSplits: 5)
                    guard f.count == 6, let d = ContentDigest(hex: String(f[0])), let size = Int64(f[1]),
                          let mtime = Int64(f[2]), let inode = UInt64(f[3]), let device = UInt64(f[4]) else { continue }
                    entries[String(f[5])] = Entry(digest: d, size: size, mtime: mtime, inode: inode, device: device)
                }
            }
        }
        state = Locked((entries, false, 0))
    }

    /// How many files were actually read and hashed (not answered from the cache).
    public var hashedCount: Int { state.withLock { $0.hashed } }

    /// The content digest of `file`, from the cache when its stat data is unchanged.
    public func digest(of file: String) throws(FileIOError) -> ContentDigest {
        var st = stat()
        guard stat(file, &st) == 0 else { throw FileIOError(path: file, reason: "cannot stat: \(String(cString: strerror(errno)))") }
        let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        let probe = Entry(digest: ContentDigest(high: 0, low: 0), size: Int64(st.st_size), mtime: mtime,
                          inode: UInt64(st.st_ino), device: UInt64(st.st_dev))
        if trusting.load(ordering: .relaxed), let known = state.withLock({ $0.entries[file] }), known.size == probe.size, known.mtime == probe.mtime,
           known.inode == probe.inode, known.device == probe.device {
            return known.digest
        }
        let digest = try ContentDigest.ofFile(file)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let nowNs = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        state.withLock {
            $0.hashed += 1
            if nowNs - mtime > StatCache.racyWindowNanoseconds {
                var entry = probe
                entry.digest = digest
                $0.entries[file] = entry
                $0.dirty = true
            }
        }
        return digest
    }

    /// Writes the cache back if anything was learned.
    public func save() throws(FileIOError) {
        let text: String? = state.withLock { s in
            guard s.dirty else { return nil }
            s.dirty = false
            var out = StatCache.header + "\n"
            for name in s.entries.keys.sorted() {
                let e = s.entries[name]!
                out += "\(e.digest) \(e.size) \(e.mtime) \(e.inode) \(e.device) \(name)\n"
            }
            return out
        }
        if let text { try FileIO.writeAtomically(Array(text.utf8), to: path) }
    }
}
