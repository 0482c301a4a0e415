#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value that threads share, reached only under a POSIX mutex.
///
/// The project's one lock type. `Synchronization.Mutex` would do on its own, but on Linux it locks
/// with raw futex calls that ThreadSanitizer cannot see, so every access it guards is reported as
/// a race; `pthread_mutex_lock` is intercepted, so what `make test-sanitize` reports is real.
/// Uncontended, both cost one atomic operation each way.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock (not reentrant: `body` must not lock it again).
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
