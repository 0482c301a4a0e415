import BuildCore
import Foundation

/// Where a build's time went: per stage that ran, its phases (`PhaseLog`: parse, optimize,
/// inference, statistics, quantize, write, store, ...), and the same phases summed over stages.
/// What `quantize --profile` prints and the build's `--json` carries.
public struct Profile: Sendable {
    public struct Stage: Sendable, Encodable {
        public let id: String
        public let seconds: Double
        /// Phase -> seconds; time the stage did not attribute to a phase is `other`.
        public let phases: [String: Double]
    }

    public let stages: [Stage]
    /// Phase -> seconds over all stages, in first-seen order.
    public let totals: [(phase: String, seconds: Double)]

    public init(_ report: BuildReport, plan: BuildPlan) {
        var stages: [Stage] = []
        var totals: [(phase: String, seconds: Double)] = []
        func add(_ phase: String, _ seconds: Double) {
            if let i = totals.firstIndex(where: { $0.phase == phase }) { totals[i].seconds += seconds } else { totals.append((phase, seconds)) }
        }
        for id in plan.order {
            guard case .ran = report.outcomes[id], let seconds = report.seconds[id] else { continue }
            var phases = report.phases[id] ?? []
            if phases.isEmpty { phases = [(plan.stages[id]!.kind, seconds)] }
            let other = seconds - phases.reduce(0) { $0 + $1.seconds }
            if other > Swift.max(0.005, 0.01 * seconds) { phases.append(("other", other)) }
            for (phase, s) in phases { add(phase, s) }
            stages.append(Stage(id: id.rawValue, seconds: seconds, phases: Dictionary(phases, uniquingKeysWith: +)))
        }
        self.stages = stages
        self.totals = totals
    }

    /// The breakdown as text: one line per stage, then the phases summed.
    public func text(process seconds: Double) -> String {
        func f(_ s: Double) -> String { String(format: "%.2f", s) }
        var lines = ["profile (wall seconds):"]
        let width = stages.map(\.id.count).max() ?? 0
        for s in stages {
            let parts = s.phases.sorted { $0.value > $1.value }.map { "\($0.key) \(f($0.value))" }
            lines.append("  " + s.id.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(f(s.seconds))  " + parts.joined(separator: ", "))
        }
        let staged = stages.reduce(0) { $0 + $1.seconds }
        lines.append("  phases: " + totals.map { "\($0.phase) \(f($0.seconds))" }.joined(separator: ", "))
        lines.append("  stages \(f(staged)) s summed (independent stages run in parallel), process \(f(seconds)) s")
        return lines.joined(separator: "\n")
    }
}
