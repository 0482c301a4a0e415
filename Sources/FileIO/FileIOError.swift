#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file-system failure, always naming the path and what went wrong.
public struct FileIOError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// The failure of the last system call, described by `strerror(errno)`.
    static func system(_ path: String, _ what: String) -> FileIOError {
        FileIOError(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
    }

    public var description: String { "\(path): \(reason)" }
}
