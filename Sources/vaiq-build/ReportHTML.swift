import Foundation
import Pipeline

/// build/report.html: the report table and two inline SVG plots (quantized top-1 and SQNR
/// against weight bit width, one series per target). Self-contained: no scripts, no network.
enum ReportHTML {
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    /// One plot: x = weight bit width, y = `value`, a polyline and points per target.
    static func plot(_ rows: [ReportRow], title: String, id: String, value: (ReportRow) -> Double?, unit: String) -> String {
        let points = rows.compactMap { r in value(r).map { (r, Double(r.weightBit), $0) } }
        let (w, h, left, bottom, top, right) = (520.0, 300.0, 60.0, 40.0, 30.0, 140.0)
        var svg = "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" role=\"img\" aria-label=\"\(escape(title))\">"
        svg += "<text x=\"\(w / 2)\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">\(escape(title))</text>"
        guard !points.isEmpty else { return svg + "<text x=\"20\" y=\"60\">no evaluated cells</text></svg>" }
        let xs = points.map(\.1), ys = points.map(\.2)
        let x0 = (xs.min()! - 1), x1 = (xs.max()! + 1)
        var y0 = ys.min()!, y1 = ys.max()!
        if y1 - y0 < 1e-9 { y0 -= 1; y1 += 1 }
        let pad = (y1 - y0) * 0.1
        y0 -= pad; y1 += pad
        func sx(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (w - left - right) }
        func sy(_ y: Double) -> Double { h - bottom - (y - y0) / (y1 - y0) * (h - bottom - top) }
        svg += "<line x1=\"\(left)\" y1=\"\(h - bottom)\" x2=\"\(w - right)\" y2=\"\(h - bottom)\" stroke=\"#333\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(h - bottom)\" stroke=\"#333\"/>"
        for b in Set(xs).sorted() {
            svg += "<text x=\"\(sx(b))\" y=\"\(h - bottom + 16)\" text-anchor=\"middle\" font-size=\"11\">\(Int(b))</text>"
        }
        for k in 0...4 {
            let v = y0 + (y1 - y0) * Double(k) / 4
            svg += "<text x=\"\(left - 6)\" y=\"\(sy(v) + 4)\" text-anchor=\"end\" font-size=\"11\">\(String(format: "%.1f", v))</text>"
        }
        svg += "<text x=\"\((left + w - right) / 2)\" y=\"\(h - 6)\" text-anchor=\"middle\" font-size=\"12\">weight bit width</text>"
        svg += "<text x=\"14\" y=\"\(h / 2)\" transform=\"rotate(-90 14 \(h / 2))\" text-anchor=\"middle\" font-size=\"12\">\(escape(unit))</text>"
        let targets = Array(Set(points.map(\.0.target))).sorted()
        for (i, target) in targets.enumerated() {
            let color = colors[i % colors.count]
            let series = points.filter { $0.0.target == target }.sorted { ($0.1, $0.2) < ($1.1, $1.2) }
            let path = series.map { "\(sx($0.1)),\(sy($0.2))" }.joined(separator: " ")
            svg += "<polyline class=\"series\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>"
            for p in series {
                svg += "<circle class=\"point\" cx=\"\(sx(p.1))\" cy=\"\(sy(p.2))\" r=\"4\" fill=\"\(color)\"><title>\(escape(p.0.cell)): \(String(format: "%.2f", p.2))</title></circle>"
            }
            svg += "<rect x=\"\(w - right + 10)\" y=\"\(top + Double(i) * 18)\" width=\"10\" height=\"10\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(w - right + 26)\" y=\"\(top + Double(i) * 18 + 9)\" font-size=\"11\">\(escape(target))</text>"
        }
        return svg + "</svg>"
    }

    static func page(_ rows: [ReportRow]) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>vaiq-build report</title>
            <style>body{font-family:sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}
            th{background:#f3f3f3}td.n{text-align:right}</style></head><body>
            <h1>vaiq-build matrix report</h1>
            """
        html += plot(rows, title: "Quantized accuracy vs weight bit width", id: "top1-plot", value: { $0.quantizedAccuracy.map { $0 * 100 } },
                     unit: "accuracy (%)")
        html += plot(rows, title: "SQNR of outputs vs weight bit width", id: "sqnr-plot", value: { $0.sqnrDB }, unit: "SQNR (dB)")
        html += "<table><tr><th>cell</th><th>W/A bits</th><th>metric</th><th>float</th><th>quantized</th><th>SQNR (dB)</th><th>deploy model</th></tr>"
        for r in rows {
            html += "<tr><td>\(escape(r.cell))</td><td class=\"n\">\(r.weightBit)/\(r.activationBit)</td>"
                + "<td>\(r.metric ?? "-")</td><td class=\"n\">\(Report.percent(r.floatAccuracy))</td>"
                + "<td class=\"n\">\(Report.percent(r.quantizedAccuracy))</td><td class=\"n\">\(r.sqnrDB.map { String(format: "%.2f", $0) } ?? "-")</td>"
                + "<td class=\"n\">\(r.deployModelBytes.map { String(format: "%.1f KiB", Double($0) / 1024) } ?? "-")</td></tr>"
        }
        return html + "</table></body></html>\n"
    }
}
