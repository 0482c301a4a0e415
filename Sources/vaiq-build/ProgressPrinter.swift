import BuildCore
import Dispatch
import Foundation
import Locking

/// Shows a build as it runs. On a terminal: finished stages scroll above one status line with
/// done/total, the running stages (a calibration with its batches, a finetune with its layers, done of total and their ETA)
/// and an ETA. Otherwise (a pipe, CI, NO_COLOR): plain lines only. Cached stages print nothing; a
/// no-op build prints one summary line. `statusOnly` keeps just the terminal's status line (the
/// one-shot commands print their own result).
final class ProgressPrinter: BuildObserver {
    private let total: Int
    private let explain: Bool
    private let quiet: Bool
    private let live: Bool
    private let statusOnly: Bool
    private struct State {
        var done = 0
        var running: [StageID] = []
        var ranSeconds = 0.0
        var ran = 0
        /// Stage -> (units done, total, when the stage started).
        var progress: [StageID: (done: Int, total: Int, unit: String, start: UInt64)] = [:]
    }
    private let state = Locked(State())

    init(total: Int, explain: Bool, quiet: Bool, statusOnly: Bool = false) {
        self.total = total
        self.explain = explain
        self.quiet = quiet
        self.statusOnly = statusOnly
        let env = ProcessInfo.processInfo.environment
        live = !quiet && isatty(STDOUT_FILENO) == 1 && env["NO_COLOR"] == nil && env["CI"] == nil && env["TERM"] != "dumb"
    }

    func stageStarted(_ id: StageID, kind: String, threads: Int) {
        guard live else { return }
        let line = state.withLock { s -> String in
            s.running.append(id)
            s.progress[id] = (0, 0, "batch", DispatchTime.now().uptimeNanoseconds)
            return statusLine(s)
        }
        write("\r\u{1B}[K" + line)
    }

    func stageProgress(_ id: StageID, done: Int, total: Int, unit: String) {
        guard live else { return }
        let line = state.withLock { s -> String in
            s.progress[id] = (done, total, unit, s.progress[id]?.start ?? DispatchTime.now().uptimeNanoseconds)
            return statusLine(s)
        }
        write("\r\u{1B}[K" + line)
    }

    func stageFinished(_ id: StageID, outcome: StageOutcome, seconds: Double) {
        guard !quiet else { return }
        let (counter, status) = state.withLock { s -> (String, String) in
            s.done += 1
            s.running.removeAll { $0 == id }
            s.progress[id] = nil
            if case .ran = outcome {
                s.ran += 1
                s.ranSeconds += seconds
            }
            return ("[\(s.done)/\(total)]", statusLine(s))
        }
        var text = ""
        switch outcome {
        case .cached: break
        case .fetched:
            text = "\(counter) fetched \(id) from the remote cache (\(String(format: "%.2f", seconds)) s)\n"
        case .ran(let reasons):
            text = "\(counter) ran \(id) (\(String(format: "%.2f", seconds)) s)\n" + explained(reasons)
        case .wouldRun(let reasons):
            text = "\(counter) would run \(id)\n" + explained(reasons)
        case .failed(let message):
            text = "\(counter) FAILED \(id)\n  error: \(message)\n"
        case .skipped(let reason):
            text = "\(counter) skipped \(id): \(reason)\n"
        }
        if statusOnly {
            if live { write("\r\u{1B}[K" + status) }
        } else if live {
            write("\r\u{1B}[K" + text + status)
        } else if !text.isEmpty {
            write(text)
        }
    }

    /// How many updated paths the summary names without `--verbose` (a real matrix updates hundreds).
    static let summaryPaths = 5

    func finish(_ report: BuildReport, written: [String], seconds: Double, dryRun: Bool, verbose: Bool) {
        if live { write("\r\u{1B}[K") }
        let failed = report.outcomes.values.filter { if case .failed = $0 { true } else { false } }.count
        let skipped = report.outcomes.values.filter { if case .skipped = $0 { true } else { false } }.count
        let secs = String(format: "%.2f", seconds)
        if dryRun {
            let would = report.outcomes.values.filter { if case .wouldRun = $0 { true } else { false } }.count
            write("vaiq-build: dry run: \(would) of \(report.outcomes.count) stages would run\n")
        } else if report.ranCount == 0 && report.fetchedCount == 0 && failed == 0 && skipped == 0 && written.isEmpty {
            write("vaiq-build: nothing to do (\(report.cachedCount) stages up to date, \(secs) s)\n")
        } else {
            var summary = "vaiq-build: \(report.ranCount) ran, \(report.cachedCount) cached"
            if report.fetchedCount > 0 { summary += ", \(report.fetchedCount) from the remote cache" }
            if failed > 0 { summary += ", \(failed) failed" }
            if skipped > 0 { summary += ", \(skipped) skipped" }
            if report.repaired > 0 { summary += ", \(report.repaired) damaged cache object\(report.repaired == 1 ? "" : "s") made again" }
            if !written.isEmpty {
                let shown = verbose ? written : Array(written.prefix(Self.summaryPaths))
                summary += "; updated " + (written.count > shown.count ? "\(written.count) files: " : "") + shown.joined(separator: ", ")
                if written.count > shown.count { summary += ", ... (--verbose lists all)" }
            }
            write(summary + " (\(secs) s)\n")
        }
    }

    private func explained(_ reasons: [String]) -> String {
        explain ? reasons.map { "  explain: \($0)\n" }.joined() : ""
    }

    /// Clears the terminal's status line (the one-shot commands, before their own output).
    func clear() {
        if live { write("\r\u{1B}[K") }
    }

    private func statusLine(_ s: State) -> String {
        let now = DispatchTime.now().uptimeNanoseconds
        var line = "[\(s.done)/\(total)] running: " + s.running.map { id -> String in
            guard let p = s.progress[id], p.total > 0, p.done > 0 else { return id.rawValue }
            let elapsed = Double(now - p.start) / 1e9
            let eta = elapsed / Double(p.done) * Double(p.total - p.done)
            return id.rawValue + String(format: " (%@ %d/%d, %.0f s, ETA %.0f s)", p.unit, p.done, p.total, elapsed, eta)
        }.joined(separator: ", ")
        if s.ran > 0 {
            let eta = s.ranSeconds / Double(s.ran) * Double(total - s.done) / Double(max(1, s.running.count))
            line += String(format: "  ETA %.0f s", eta)
        }
        return String(line.prefix(160))
    }

    func warning(_ message: String) {
        if live { write("\r\u{1B}[K") }
        Console.err("warning: \(message)\n")
    }

    /// One more line after the summary (the remote cache's).
    func note(_ line: String) {
        guard !quiet else { return }
        write(line + "\n")
    }

    private func write(_ text: String) { Console.out(text) }
}
