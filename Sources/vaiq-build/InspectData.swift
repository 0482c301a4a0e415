import ArgumentParser
import Foundation
import Pipeline

/// `vaiq-build inspect-data SET`: the arrays a calibration or evaluation set feeds the model, as
/// the build prepares them, with warnings for data that looks prepared for another model.
struct InspectData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect-data",
        abstract: "Show what a calibration or evaluation set feeds the model: shapes, per-channel statistics, pixels, warnings.",
        discussion: """
            Prepares the set as a build does (image folders are decoded and preprocessed as the \
            manifest declares, and cached: the build reuses them) and prints, per input, the \
            array's shape, each channel's mean, std, min and max, and the first image's pixels. \
            For every model a build feeds the set to, the float model runs on up to --rows rows \
            as declared and with the channels reversed: a model that agrees better reversed \
            (top-1 with labels, else its mean top-1 probability, by 10 points or more) is a \
            warning naming the manifest's channel_order. Values beyond 0...2.5 with no \
            normalization declared, going straight into a convolution or a matrix product, are a \
            warning too. SET is NAME, or calibration/NAME or evaluation/NAME when both exist.
            """)

    @OptionGroup var repository: RepositoryOptions

    @Argument(help: "The set: NAME, calibration/NAME or evaluation/NAME.")
    var set: String

    @Option(help: "Rows the channel-order check runs (spread over the set).")
    var rows: Int = 64

    @Option(name: [.customShort("j", allowingJoined: true), .long], help: "Threads (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if jobs < 1 { throw ValidationError("-j must be at least 1") }
        if rows < 1 { throw ValidationError("--rows must be at least 1") }
    }

    func run() throws {
        let pipeline = try repository.pipeline()
        let cache = try repository.cache()
        let result = try failing { try pipeline.inspectData(set, cache: cache, threads: jobs, rows: rows) }
        print("\(result.section) '\(result.set)':")
        for input in result.inputs {
            print("  input '\(input.node)': \(input.shape.map(String.init).joined(separator: "x")) float32 from \(input.source)")
            let names = input.channels.count == 3 ? ["0", "1", "2"] : input.channels.indices.map(String.init)
            var rows = [["channel", "mean", "std", "min", "max"]]
            for (i, c) in input.channels.enumerated() {
                rows.append([names[i], format(c.mean), format(c.std), format(Double(c.min)), format(Double(c.max))])
            }
            for line in table(rows) { print("    " + line) }
            if !input.samples.isEmpty {
                print("    first image: " + input.samples.map { "\($0.place) [\($0.values.map { format(Double($0)) }.joined(separator: ", "))]" }
                    .joined(separator: "; "))
            }
        }
        for check in result.checks {
            var line = "  model '\(check.model)' on \(check.rows) rows: mean top-1 probability \(format(check.confidence.declared)) as declared, "
                + "\(format(check.confidence.reversed)) with the channels reversed"
            if let accuracy = check.accuracy {
                line += "; top-1 \(String(format: "%.1f%%", accuracy.declared * 100)) vs \(String(format: "%.1f%%", accuracy.reversed * 100))"
            }
            print(line)
        }
        for warning in result.warnings { Console.err("warning: \(warning)\n") }
    }

    private func format(_ v: Double) -> String { String(format: "%.4g", v) }

    private func table(_ rows: [[String]]) -> [String] {
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max()! }
        return rows.map { row in row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") }
    }
}
