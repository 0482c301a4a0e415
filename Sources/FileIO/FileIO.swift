import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and crash-safe writes.
///
/// Writes go to `<dir>/.<name>.tmp-<pid>-<n>`, are fsynced, renamed over the destination and the
/// directory is fsynced: a reader sees the old file or the new one, never a prefix of either.
public enum FileIO {
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The size in bytes, or nil when the path does not exist.
    public static func size(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    /// How many names (hard links) the file has; nil when it does not exist.
    public static func linkCount(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_nlink)
    }

    /// Reads the whole file.
    public static func read(_ path: String) throws(FileIOError) -> [UInt8] {
        let file = try RandomAccessFile(path: path)
        return try file.read(offset: 0, count: file.size)
    }

    /// Writes `bytes` to `path` atomically (temp file + fsync + rename + directory fsync). Without
    /// `durable` the two fsyncs are skipped (still all-or-nothing for a killed process; for files
    /// that do not outlive the process, such as a one-shot command's private cache).
    public static func writeAtomically(_ bytes: [UInt8], to path: String, durable: Bool = true) throws(FileIOError) {
        try commit(try writeTemporary(bytes, for: path, durable: durable), to: path, durable: durable)
    }

    /// The first half of `writeAtomically`: the bytes in a temporary file beside `path` (fsynced
    /// when `durable`), whose name `commit` then renames to `path`. A set of files is replaced
    /// together by writing every temporary before committing any.
    public static func writeTemporary(_ bytes: [UInt8], for path: String, durable: Bool = true) throws(FileIOError) -> String {
        let dir = directoryName(path)
        let tmp = "\(dir)/.\(baseName(path)).tmp-\(getpid())-\(nextTempCounter())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system(path, "cannot create a temporary file beside it") }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(tmp) }
        }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { writeBytes(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(path, "write failed")
            }
            done += n
        }
        guard !durable || fsync(fd) == 0 else { throw .system(path, "fsync failed") }
        ok = true
        return tmp
    }

    /// The write(2) every file write goes through: the seam where a test injects a failure (disk
    /// full, an I/O error) part-way through a file.
    nonisolated(unsafe) public static var writeBytes: (Int32, UnsafeRawPointer, Int) -> Int = { fd, bytes, count in write(fd, bytes, count) }

    /// Renames a temporary of `writeTemporary` to `path` (then fsyncs the directory when `durable`).
    public static func commit(_ tmp: String, to path: String, durable: Bool = true) throws(FileIOError) {
        guard rename(tmp, path) == 0 else {
            let error = FileIOError.system(path, "cannot rename \(tmp) into place")
            unlink(tmp)
            throw error
        }
        if durable { syncDirectory(directoryName(path)) }
    }

    /// Hard-links `source` to `path` atomically (link to a temporary name + fsync + rename); false
    /// when the file system cannot (another device, no hard links), so the caller copies instead.
    /// Without `durable` the fsyncs are skipped, as in `writeAtomically`.
    public static func linkAtomically(_ source: String, to path: String, durable: Bool = true) throws(FileIOError) -> Bool {
        guard let tmp = try linkTemporary(source, for: path, durable: durable) else { return false }
        try commit(tmp, to: path, durable: durable)
        return true
    }

    /// The first half of `linkAtomically`: a hard link to `source` under a temporary name beside
    /// `path`, for `commit`; nil when the file system cannot link.
    public static func linkTemporary(_ source: String, for path: String, durable: Bool = true) throws(FileIOError) -> String? {
        let tmp = "\(directoryName(path))/.\(baseName(path)).tmp-\(getpid())-\(nextTempCounter())"
        guard link(source, tmp) == 0 else { return nil }
        if durable {
            let fd = open(tmp, O_RDONLY | O_CLOEXEC)
            defer { if fd >= 0 { close(fd) } }
            guard fd >= 0, fsync(fd) == 0 else {
                unlink(tmp)
                throw .system(tmp, "fsync failed")
            }
        }
        return tmp
    }

    private static func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Removes temporary files that `writeAtomically` left in `directory` when its process was
    /// killed (`.<name>.tmp-<pid>-<n>` whose pid no longer runs). Returns how many it removed.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String) -> Int {
        guard let names = try? listDirectory(directory) else { return 0 }
        var removed = 0
        for name in names where name.hasPrefix(".") {
            guard let range = name.range(of: ".tmp-", options: .backwards) else { continue }
            let fields = name[range.upperBound...].split(separator: "-")
            guard fields.count == 2, let pid = Int32(fields[0]), Int(fields[1]) != nil else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH, unlink("\(directory)/\(name)") == 0 { removed += 1 }
        }
        return removed
    }

    /// Creates a directory and its parents (like `mkdir -p`).
    public static func createDirectories(_ path: String) throws(FileIOError) {
        if isDirectory(path) { return }
        let parent = directoryName(path)
        if parent != path && !parent.isEmpty { try createDirectories(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw .system(path, "cannot create directory") }
    }

    /// The entries of a directory (names only, sorted, without "." and "..").
    public static func listDirectory(_ path: String) throws(FileIOError) -> [String] {
        guard let dir = opendir(path) else { throw .system(path, "cannot list directory") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func baseName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// The path with every symbolic link resolved (`realpath`); nil when it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// The write fence: `relative` (a path under `root`, made of plain components) may be written
    /// only if none of its existing parts is a symbolic link that leads outside `root`. Throws,
    /// naming the link and where it leads. An absolute path, or one climbing out with `..`, is a
    /// place the user named on the command line (`quantize --output_dir`), not a manifest's: it
    /// is not fenced.
    public static func checkInside(_ relative: String, root: String) throws(FileIOError) {
        guard !relative.hasPrefix("/"), !relative.split(separator: "/").contains(".."),
              let top = realPath(root.isEmpty ? "." : root), top != "/" else { return }
        var prefix = ""
        for component in relative.split(separator: "/").dropLast() {
            prefix += prefix.isEmpty ? String(component) : "/\(component)"
            let path = resolve(prefix, relativeTo: root)
            var st = stat()
            guard lstat(path, &st) == 0 else { return }   // the rest does not exist yet: created inside
            guard (st.st_mode & S_IFMT) == S_IFLNK else { continue }
            let target = realPath(path) ?? "(a missing target)"
            guard target == top || target.hasPrefix(top + "/") else {
                throw FileIOError(path: path, reason: "a symbolic link to \(target), outside the repository; outputs are written only inside the repository (remove the link)")
            }
        }
    }

    /// Joins `path` to `base` unless it is already absolute.
    public static func resolve(_ path: String, relativeTo base: String) -> String {
        path.hasPrefix("/") ? path : (base.isEmpty || base == "." ? path : "\(base)/\(path)")
    }
}

private let tempCounter = TempCounter()

private func nextTempCounter() -> Int { tempCounter.next() }

/// Distinguishes concurrent temp files of one process.
private final class TempCounter: @unchecked Sendable {
    private var value = 0
    private var lock = pthread_mutex_t()
    init() { pthread_mutex_init(&lock, nil) }
    func next() -> Int {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        value += 1
        return value
    }
}
