import ArgumentParser
import BuildCore
import FileIO
import Foundation
import PTQ
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

            `--layers CELL` instead shows where one built cell loses accuracy: its quantize_eval_model.pb \
            and its float twin (every FixNeuron an identity) run on the cell's evaluation set (the first \
            --rows rows); each quantized activation's SQNR against float in graph order; then the \
            --sweep conv-like layers with the lowest output SQNR, each left in float alone (weights, \
            bias and output unquantized), with the model's output SQNR and top-1; and the \
            `ignore_nodes` line of the layers that gain at least 0.5 dB; build/report-layers/<cell>.html \
            draws the same (cell names with / as _).
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "An earlier build/report.json to compare with.")
    var against: String?

    @Option(help: "Show where the built matrix cell CELL loses accuracy, layer by layer (see above).")
    var layers: String?

    @Option(help: "With --layers: how many of the worst layers to try in float.")
    var sweep = 4

    @Option(name: .customLong("rows"), help: "With --layers: evaluation rows to run (the first N).")
    var evaluationRows = 256

    @Option(name: [.customShort("j", allowingJoined: true), .long], help: "With --layers: threads (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if layers == nil && (sweep != 4 || evaluationRows != 256) { throw ValidationError("--sweep and --rows go with --layers CELL") }
        if sweep < 0 || evaluationRows < 1 || jobs < 1 { throw ValidationError("--sweep must be at least 0, --rows and -j at least 1") }
    }

    func run() throws {
        if let cell = layers {
            let analysis = try failing { try repository.pipeline().layerAnalysis(cell: cell, sweep: sweep, rows: evaluationRows, threads: jobs, cache: repository.cache()) }
            let page = FileIO.resolve("build/report-layers/\(cell.replacingOccurrences(of: "/", with: "_")).html", relativeTo: repository.repo)
            try failing {
                try FileIO.createDirectories(FileIO.directoryName(page))
                try FileIO.writeAtomically(Array(LayersHTML.page(analysis, cell: cell).utf8), to: page)
            }
            if json {
                print(String(decoding: try JSONEncoder.sorted.encode(analysis), as: UTF8.self))
            } else {
                print(Self.layerText(analysis, cell: cell), terminator: "")
            }
            return
        }
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

    /// The layer report as text: the tensors in graph order, the sweep, the suggestion.
    static func layerText(_ a: LayerAnalysis, cell: String) -> String {
        var out = "\(cell): \(a.samples) evaluation rows; model output SQNR \(String(format: "%.2f", a.quantized.outputSQNRDB)) dB"
        if let q = a.quantized.top1, let f = a.floatTop1 { out += ", top-1 \(percent(q)) (float \(percent(f)))" }
        out += "\n\nquantized activations, graph order (SQNR against float):\n"
        let width = min(60, a.tensors.map(\.node.count).max() ?? 10)
        for t in a.tensors {
            out += "  " + t.node.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + t.op.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: "%7.2f dB", t.sqnrDB) + "\n"
        }
        if !a.trials.isEmpty {
            out += "\nleaving one layer in float (the \(a.trials.count) with the lowest output SQNR):\n"
            for t in a.trials {
                let gain = t.outputSQNRDB - a.quantized.outputSQNRDB
                out += "  " + (t.layer ?? "").padding(toLength: width, withPad: " ", startingAt: 0)
                    + String(format: "  output %6.2f dB (%+.2f)", t.outputSQNRDB, gain)
                    + (t.top1.map { "  top-1 \(percent($0))" } ?? "") + "\n"
            }
        }
        out += a.ignoreNodes.isEmpty ? "\nno single layer gains 0.5 dB in float\n"
            : "\nto recover most of it (a strategy field; the layers run on the CPU then):\n  ignore_nodes: [\(a.ignoreNodes.joined(separator: ", "))]\n"
        return out
    }

    static func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }

    static func markdown(_ rows: [ReportRow]) -> String {
        var lines = ["| cell | W/A bits | metric | float | quantized | SQNR (dB) | deploy model | optimize | calibrate | finetune | quantize | qat | deploy | evaluate |",
                     "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows {
            func stage(_ k: String) -> String {
                guard let s = r.stageSeconds[k] else { return "-" }
                return String(format: "%.2f s", s) + (r.stageOutcome[k] == "cached" ? " (cached)" : "")
            }
            lines.append("| \(r.cell) | \(r.weightBit)/\(r.activationBit) | \(r.metric ?? "-") | \(percent(r.floatAccuracy)) | "
                         + "\(percent(r.quantizedAccuracy)) | \(r.sqnrDB.map { String(format: "%.2f", $0) } ?? "-") | "
                         + "\(r.deployModelBytes.map { String(format: "%.1f KiB", Double($0) / 1024) } ?? "-") | "
                         + "\(stage("optimize")) | \(stage("calibrate")) | \(stage("finetune")) | \(stage("quantize")) | \(stage("qat")) | "
                         + "\(stage("deploy")) | \(stage("evaluate")) |")
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
