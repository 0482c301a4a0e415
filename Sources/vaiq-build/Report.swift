import ArgumentParser
import BuildCore
import FileIO
import Foundation
import Manifest
import PTQ
import Pipeline

/// One row per matrix cell of the last build: what `report` prints and writes.
struct ReportRow: Codable, Equatable {
    let cell: String
    let model: String
    let strategy: String
    let target: String
    let weightBit: Int
    let activationBit: Int
    let floatTop1: Double?
    let quantizedTop1: Double?
    let quantizedTop5: Double?
    let sqnrDB: Double?
    let evalModelBytes: Int?
    let deployModelBytes: Int?
    /// Stage kind -> seconds it took when it last ran, and whether this build ran or reused it.
    let stageSeconds: [String: Double]
    let stageOutcome: [String: String]
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The matrix report of the last build: accuracy, SQNR, model size and stage times per cell.",
        discussion: """
            Reads build/<cell>/metrics.json and quant_info.json (written by `vaiq-build all`) and the \
            last build's stage log, prints a table, and writes build/report.md, build/report.html (with \
            SVG plots of top-1 and SQNR against weight bit width per target; no network needed) and \
            build/report.json. `--against OLD.json` compares with an earlier report (the nightly use).
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "An earlier build/report.json to compare with.")
    var against: String?

    func run() throws {
        let pipeline = try repository.pipeline()
        let log = BuildLog.load(repository.repo)
        var rows: [ReportRow] = []
        for cell in pipeline.manifest.cells {
            let folder = FileIO.resolve("build/\(cell.name)", relativeTo: repository.repo)
            let metrics = (try? FileIO.read("\(folder)/\(OutputNames.metrics)")).flatMap { try? JSONDecoder().decode(EvaluationMetrics.self, from: Data($0)) }
            let files = (try? FileIO.listDirectory(folder))?.sorted() ?? []
            let model = files.first { $0.hasPrefix("quantize_eval_model") && !$0.hasPrefix("quantize_eval_model_tf") }
            let deploy = files.first { $0.hasPrefix("deploy_model") }
            var seconds: [String: Double] = [:], outcome: [String: String] = [:]
            for (stage, entry) in log.stages where entry.cells.contains(cell.name) {
                let kind = String(stage.prefix { $0 != "/" })
                seconds[kind] = entry.seconds
                outcome[kind] = entry.outcome
            }
            func bits(_ key: String) -> Int { if case let .int(b)? = cell.strategy[key] { b } else { 8 } }
            rows.append(ReportRow(cell: cell.name, model: cell.model, strategy: cell.strategyName, target: cell.target,
                                  weightBit: bits("weight_bit"), activationBit: bits("activation_bit"),
                                  floatTop1: metrics?.floatTop1, quantizedTop1: metrics?.quantizedTop1, quantizedTop5: metrics?.quantizedTop5,
                                  sqnrDB: metrics?.sqnrDB, evalModelBytes: model.flatMap { FileIO.size("\(folder)/\($0)") },
                                  deployModelBytes: deploy.flatMap { FileIO.size("\(folder)/\($0)") },
                                  stageSeconds: seconds, stageOutcome: outcome))
        }
        let markdown = Self.markdown(rows)
        let data = try JSONEncoder.sorted.encode(rows)
        try failing {
            try FileIO.createDirectories(FileIO.resolve("build", relativeTo: repository.repo))
            try FileIO.writeAtomically(Array(markdown.utf8), to: FileIO.resolve("build/report.md", relativeTo: repository.repo))
            try FileIO.writeAtomically(Array(ReportHTML.page(rows).utf8), to: FileIO.resolve("build/report.html", relativeTo: repository.repo))
            try FileIO.writeAtomically(Array(data) + [0x0A], to: FileIO.resolve("build/report.json", relativeTo: repository.repo))
        }
        if json {
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(markdown, terminator: "")
        }
        if let against {
            let old = try failing { try JSONDecoder().decode([ReportRow].self, from: Data(try FileIO.read(against))) }
            print(Self.comparison(rows, old, against))
        }
    }

    static func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }

    static func markdown(_ rows: [ReportRow]) -> String {
        var lines = ["| cell | W/A bits | float top-1 | quantized top-1 | top-5 | SQNR (dB) | deploy model | optimize | calibrate | quantize | deploy | evaluate |",
                     "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows {
            func stage(_ k: String) -> String {
                guard let s = r.stageSeconds[k] else { return "-" }
                return String(format: "%.2f s", s) + (r.stageOutcome[k] == "cached" ? " (cached)" : "")
            }
            lines.append("| \(r.cell) | \(r.weightBit)/\(r.activationBit) | \(percent(r.floatTop1)) | \(percent(r.quantizedTop1)) | "
                         + "\(percent(r.quantizedTop5)) | \(r.sqnrDB.map { String(format: "%.2f", $0) } ?? "-") | "
                         + "\(r.deployModelBytes.map { String(format: "%.1f KiB", Double($0) / 1024) } ?? "-") | "
                         + "\(stage("optimize")) | \(stage("calibrate")) | \(stage("quantize")) | \(stage("deploy")) | \(stage("evaluate")) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func comparison(_ new: [ReportRow], _ old: [ReportRow], _ path: String) -> String {
        var lines = ["", "against \(path):"]
        for r in new {
            guard let o = old.first(where: { $0.cell == r.cell }) else { lines.append("  \(r.cell): new"); continue }
            var parts: [String] = []
            if let a = r.quantizedTop1, let b = o.quantizedTop1, a != b {
                parts.append(String(format: "top-1 %@ %+.2f points", a > b ? "better" : "worse", (a - b) * 100))
            }
            if let a = r.sqnrDB, let b = o.sqnrDB, abs(a - b) > 0.005 {
                parts.append(String(format: "SQNR %@ %+.2f dB", a > b ? "better" : "worse", a - b))
            }
            lines.append("  \(r.cell): " + (parts.isEmpty ? "unchanged" : parts.joined(separator: ", ")))
        }
        for o in old where !new.contains(where: { $0.cell == o.cell }) { lines.append("  \(o.cell): gone") }
        return lines.joined(separator: "\n")
    }
}

/// The last build's stage outcomes and times (build/.vaiq_build_log.json). Cached stages keep the
/// time of their last real run, so the report shows what each stage costs.
struct BuildLog: Codable {
    struct Entry: Codable {
        var outcome: String
        var seconds: Double?
        var cells: [String]
    }
    var stages: [String: Entry] = [:]

    static func path(_ repo: String) -> String { FileIO.resolve("build/.vaiq_build_log.json", relativeTo: repo) }

    static func load(_ repo: String) -> BuildLog {
        (try? FileIO.read(path(repo))).flatMap { try? JSONDecoder().decode(BuildLog.self, from: Data($0)) } ?? BuildLog()
    }

    /// Records `report`; `cells` maps each stage to the matrix cells that use it.
    static func record(_ report: BuildReport, cells: [StageID: [String]], repo: String) {
        var log = load(repo)
        for (id, outcome) in report.outcomes {
            let name: String
            switch outcome {
            case .ran: name = "ran"
            case .cached: name = "cached"
            default: name = "failed"
            }
            let previous = log.stages[id.rawValue]?.seconds
            log.stages[id.rawValue] = Entry(outcome: name, seconds: name == "ran" ? report.seconds[id] : previous,
                                            cells: cells[id] ?? [])
        }
        if let data = try? JSONEncoder.sorted.encode(log) {
            try? FileIO.createDirectories(FileIO.resolve("build", relativeTo: repo))
            try? FileIO.writeAtomically(Array(data), to: path(repo))
        }
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return e
    }
}
