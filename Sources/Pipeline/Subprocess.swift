import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command (posix_spawn, no shell) with stdin from /dev/null and stdout and stderr each
/// into a file, waiting for it while polling `isCancelled`; when that turns true the command gets
/// SIGTERM and `cancelled` is set. The child inherits no descriptor but those three.
struct Subprocess {
    struct Outcome {
        /// The exit status, or 128 + the signal that ended it.
        let status: Int32
        let stdout: String
        let stderr: String
        let cancelled: Bool
    }

    static func run(_ arguments: [String], in folder: String, isCancelled: () -> Bool = { false }) throws -> Outcome {
        let outPath = "\(folder)/.stdout-\(UUID().uuidString)", errPath = "\(folder)/.stderr-\(UUID().uuidString)"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // Every other descriptor is closed in the child (glibc 2.34+).
        _ = spawnFileActionsAddCloseFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The build ignores SIGINT while it runs (Ctrl-C cancels it); the child must not inherit that.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, arguments[0], &actions, &attributes, &argv, environ)
        guard spawned == 0 else {
            throw StageJob.Failure("cannot run \(arguments[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        var cancelled = false
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            if !cancelled && isCancelled() {
                cancelled = true
                kill(pid, SIGTERM)
            }
            usleep(50_000)
        }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return Outcome(status: code, stdout: text(outPath), stderr: text(errPath), cancelled: cancelled)
    }
}

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), which its Swift module does not export.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnFileActionsAddCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

/// `text` quoted for a POSIX shell: in single quotes, each `'` as `'\''`.
func shellQuoted(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
