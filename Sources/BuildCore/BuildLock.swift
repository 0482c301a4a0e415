import FileIO
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a cache for the length of a build. A second `vaiq-build` on the same
/// cache waits for the first (after saying so) rather than interleaving with it. The kernel
/// drops the lock when the process dies, so a killed build never leaves it held.
public final class BuildLock {
    private let fd: Int32

    /// Takes the lock, calling `waiting` once if another process holds it.
    public init(cache: BuildCache, waiting: () -> Void = {}) throws(FileIOError) {
        let path = "\(cache.root)/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIOError(path: path, reason: "cannot open the lock file") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            waiting()
            while flock(fd, LOCK_EX) != 0 {
                if errno != EINTR {
                    close(fd)
                    throw FileIOError(path: path, reason: "cannot lock the cache")
                }
            }
        }
        self.fd = fd
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
