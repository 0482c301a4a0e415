/// A stage parameter: a small JSON-like value with one canonical text form, so equal parameters
/// always hash equal (keys sorted, numbers in shortest round-trip form, no whitespace).
public indirect enum ParameterValue: Hashable, Sendable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case list([ParameterValue])
    case map([String: ParameterValue])

    /// The canonical text: hashed into action keys and stored in action records.
    public var canonical: String {
        switch self {
        case .string(let s): return quoted(s)
        case .int(let i): return String(i)
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? "\(Int(d)).0" : "\(d)"
        case .bool(let b): return b ? "true" : "false"
        case .list(let items): return "[" + items.map(\.canonical).joined(separator: ",") + "]"
        case .map(let m):
            return "{" + m.keys.sorted().map { quoted($0) + ":" + m[$0]!.canonical }.joined(separator: ",") + "}"
        }
    }

    public var description: String { canonical }

    private func quoted(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if ch.value < 0x20 {
                    let hex = String(ch.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        return out + "\""
    }
}
