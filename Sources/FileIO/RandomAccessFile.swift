#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only file read with `pread`, so several threads can read one file at once.
public final class RandomAccessFile: Sendable {
    public let path: String
    public let size: Int
    private let fd: Int32

    public init(path: String) throws(FileIOError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .system(path, "cannot open") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw .system(path, "cannot stat")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw FileIOError(path: path, reason: "is a directory, expected a file")
        }
        self.path = path
        self.fd = fd
        self.size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// Reads exactly `count` bytes at `offset`; a short file is an error naming the range.
    public func read(offset: Int, count: Int) throws(FileIOError) -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw FileIOError(path: path, reason: "truncated: needs bytes \(offset)..<\(offset + count) but the file has \(size)")
        }
        // An empty array never goes through `unsafeUninitializedCapacity`, which stores the count
        // into the shared empty-array singleton (a race ThreadSanitizer sees between threads).
        guard count > 0 else { return [] }
        var failure: FileIOError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
            var done = 0
            while done < count {
                let n = pread(fd, buf.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failure = n == 0
                        ? FileIOError(path: path, reason: "truncated while reading bytes \(offset)..<\(offset + count)")
                        : .system(path, "read failed")
                    break
                }
                done += n
            }
            initialized = done
        }
        if let failure { throw failure }
        return bytes
    }
}
