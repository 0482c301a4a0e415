import ArgumentParser
import BuildCore
import FileIO
import Foundation
import Pipeline

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The matrix report of the last build: accuracy, SQNR, model size and stage times per cell.",
        discussion: """
            Reads the outputs each cell's stages declared (build/<cell>/metrics.json, the quantized \
            and deploy models; nothing else under build/) and the last build's stage log, prints a \
            table (accuracy in each evaluation set's metric, top1 or top5), and writes build/report.md, \
            build/report.html (SVG plots of quantized accuracy and SQNR against weight bit width per \
            target; no network needed) and build/report.json. `--against OLD.json` compares with an earlier report (the nightly use).
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "An earlier build/report.json to compare with.")
    var against: String?

    func run() throws {
        let rows = MatrixReport.rows(try repository.pipeline())
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
        var lines = ["| cell | W/A bits | metric | float | quantized | SQNR (dB) | deploy model | optimize | calibrate | quantize | qat | deploy | evaluate |",
                     "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows {
            func stage(_ k: String) -> String {
                guard let s = r.stageSeconds[k] else { return "-" }
                return String(format: "%.2f s", s) + (r.stageOutcome[k] == "cached" ? " (cached)" : "")
            }
            lines.append("| \(r.cell) | \(r.weightBit)/\(r.activationBit) | \(r.metric ?? "-") | \(percent(r.floatAccuracy)) | "
                         + "\(percent(r.quantizedAccuracy)) | \(r.sqnrDB.map { String(format: "%.2f", $0) } ?? "-") | "
                         + "\(r.deployModelBytes.map { String(format: "%.1f KiB", Double($0) / 1024) } ?? "-") | "
                         + "\(stage("optimize")) | \(stage("calibrate")) | \(stage("quantize")) | \(stage("qat")) | \(stage("deploy")) | \(stage("evaluate")) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func comparison(_ new: [ReportRow], _ old: [ReportRow], _ path: String) -> String {
        var lines = ["", "against \(path):"]
        for r in new {
            guard let o = old.first(where: { $0.cell == r.cell }) else { lines.append("  \(r.cell): new"); continue }
            var parts: [String] = []
            if let a = r.quantizedAccuracy, let b = o.quantizedAccuracy, a != b {
                parts.append(String(format: "%@ %@ %+.2f points", r.metric ?? "accuracy", a > b ? "better" : "worse", (a - b) * 100))
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

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return e
    }
}
