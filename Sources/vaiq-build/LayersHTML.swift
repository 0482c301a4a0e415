import Foundation
import PTQ

/// build/report-layers/<cell>.html (`report --layers CELL`): one horizontal bar per quantized
/// activation in graph order (its SQNR against float; the worst in red), the sweep's trials and
/// the suggested `ignore_nodes` line. Self-contained: no scripts, no network.
enum LayersHTML {
    static func page(_ a: LayerAnalysis, cell: String) -> String {
        let e = ReportHTML.escape
        let finite = a.tensors.map { min($0.sqnrDB, 60) }
        let top = max(finite.max() ?? 1, 1)
        let (label, bar, row) = (260.0, 360.0, 18.0)
        let worst = Set(a.tensors.sorted { $0.sqnrDB < $1.sqnrDB }.prefix(3).map(\.node))
        var svg = "<svg id=\"layers-plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(label + bar + 80))\" "
            + "height=\"\(Int(Double(a.tensors.count) * row + 40))\" role=\"img\" aria-label=\"SQNR of each quantized activation\">"
        svg += "<text x=\"\(label)\" y=\"14\" font-size=\"13\">SQNR against float (dB, graph order; 60 and above drawn at 60)</text>"
        for (i, (t, v)) in zip(a.tensors, finite).enumerated() {
            let y = 24 + Double(i) * row
            let width = max(1, v / top * bar)
            svg += "<text x=\"\(label - 6)\" y=\"\(y + 12)\" text-anchor=\"end\" font-size=\"11\">\(e(t.node)) (\(e(t.op)))</text>"
            svg += "<rect class=\"bar\" x=\"\(label)\" y=\"\(y)\" width=\"\(width)\" height=\"\(row - 4)\" fill=\"\(worst.contains(t.node) ? "#d62728" : "#1f77b4")\">"
                + "<title>\(e(t.node)): \(String(format: "%.2f", t.sqnrDB)) dB</title></rect>"
            svg += "<text x=\"\(label + width + 4)\" y=\"\(y + 12)\" font-size=\"11\">\(String(format: "%.1f", t.sqnrDB))</text>"
        }
        svg += "</svg>"
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>vaiq-build layers: \(e(cell))</title>
            <style>body{font-family:sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}
            th{background:#f3f3f3}td.n{text-align:right}</style></head><body>
            <h1>Where \(e(cell)) loses accuracy</h1>
            <p>\(a.samples) evaluation rows; model output SQNR \(String(format: "%.2f", a.quantized.outputSQNRDB)) dB\
            \(a.quantized.top1.map { ", top-1 \(Report.percent($0))" } ?? "")\(a.floatTop1.map { " (float \(Report.percent($0)))" } ?? "").</p>
            """
        html += svg
        html += "<h2>One layer left in float</h2><table><tr><th>layer</th><th>output SQNR (dB)</th><th>gain (dB)</th><th>top-1</th></tr>"
        for t in a.trials {
            html += "<tr><td>\(e(t.layer ?? ""))</td><td class=\"n\">\(String(format: "%.2f", t.outputSQNRDB))</td>"
                + "<td class=\"n\">\(String(format: "%+.2f", t.outputSQNRDB - a.quantized.outputSQNRDB))</td>"
                + "<td class=\"n\">\(Report.percent(t.top1))</td></tr>"
        }
        html += "</table>"
        html += a.ignoreNodes.isEmpty ? "<p>No single layer gains 0.5 dB in float.</p>"
            : "<p>To recover most of it: <code>ignore_nodes: [\(e(a.ignoreNodes.joined(separator: ", ")))]</code></p>"
        return html + "</body></html>\n"
    }
}
