import ArgumentParser
import Foundation
import Runtime

/// `vaiq-build`: the root command. Exit codes: 0 success, 1 failure (bad input, failed stage),
/// 2 usage error.
@main
struct VaiqBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vaiq-build",
        abstract: "Quantize TensorFlow models for AMD/Xilinx DPUs as a content-hashed build.",
        discussion: """
            Reads TensorFlow GraphDefs (.pb, .pbtxt) and TF1 checkpoints natively: no Python or \
            TensorFlow at run time.
            """,
        version: "0.1.0",
        subcommands: [BuildCommand.self, Watch.self, Why.self, Status.self, Targets.self, Graph.self, Clean.self, CacheCommand.self,
                      Report.self, Show.self, Init.self, Freeze.self, Inspect.self, InspectData.self, Run.self, QuantizeCommand.self, EvaluateCommand.self, Dump.self, Convert.self, ExecStage.self],
        defaultSubcommand: BuildCommand.self
    )

    static func main() {
        Runtime.configureHeap()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as CommandFailure {
            Console.err("error: \(error.message)\n")
            Foundation.exit(1)
        } catch {
            let code = exitCode(for: error)
            // ArgumentParser reports usage errors as EX_USAGE (64); this tool uses 2, as make and ninja do.
            if code == .validationFailure {
                Console.err((fullMessage(for: error) + "\n"))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// A failure already phrased for the user: printed as one `error:` line, exit code 1.
struct CommandFailure: Error {
    let message: String
    init(_ error: Error) { message = "\(error)" }
    init(message: String) { self.message = message }
}

/// Runs `body`, turning any thrown error into a `CommandFailure`.
func failing<T>(_ body: () throws -> T) throws(CommandFailure) -> T {
    do { return try body() } catch let e as CommandFailure { throw e } catch { throw CommandFailure(error) }
}

/// Splits a comma-separated option value (`a,b` -> ["a", "b"]), dropping empty items.
func commaList(_ value: String) -> [String] {
    value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

/// Parses vai_q's `--input_shapes` syntax: shapes separated by ':', dims by ',', `?` or -1 unknown.
func parseInputShapes(_ value: String) throws(CommandFailure) -> [[Int]] {
    var shapes: [[Int]] = []
    for shape in value.split(separator: ":") {
        var dims: [Int] = []
        for dim in shape.split(separator: ",") {
            let d = dim.trimmingCharacters(in: .whitespaces)
            if d == "?" || d == "-1" { dims.append(-1); continue }
            guard let n = Int(d), n > 0 else {
                throw CommandFailure(message: "--input_shapes: '\(d)' is not a dimension; expected a positive integer, ? or -1 (e.g. ?,224,224,3)")
            }
            dims.append(n)
        }
        shapes.append(dims)
    }
    return shapes
}

/// The terminal streams, written with `write(2)`. Foundation's `FileHandle.write` traps when
/// the stream fails (stdout or stderr redirected to a full disk, a closed pipe); a message that
/// cannot be shown is dropped instead, and the command's outcome and exit code stand.
enum Console {
    static func out(_ text: String) { put(text, to: STDOUT_FILENO) }
    static func err(_ text: String) { put(text, to: STDERR_FILENO) }

    private static func put(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }
}
