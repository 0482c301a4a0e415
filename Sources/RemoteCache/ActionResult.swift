/// The action record a shared cache keeps under `/ac/<key>`: a REAPI v2 `ActionResult` message
/// (build.bazel.remote.execution.v2), the format bazel-remote validates `/ac/` uploads against by
/// default. Only what a cached action needs is written: one `OutputFile` per output, named by the
/// output's name, with the SHA-256 and size of its bytes (which live under `/cas/<sha256>`).
///
///     ActionResult { repeated OutputFile output_files = 2; int32 exit_code = 4; ... }
///     OutputFile   { string path = 1; Digest digest = 2; bool is_executable = 4; ... }
///     Digest       { string hash = 1; int64 size_bytes = 2; }
///
/// Written by hand (a few lines of protobuf wire format) rather than generated: reading accepts any
/// valid message, skips the fields it does not use, and refuses anything malformed, since the
/// bytes come from a server (see `decode`).
public struct RemoteActionResult: Sendable, Equatable {
    public struct Output: Sendable, Equatable {
        public var name: String
        public var sha256: String
        public var size: Int

        public init(name: String, sha256: String, size: Int) {
            self.name = name
            self.sha256 = sha256
            self.size = size
        }
    }

    /// Sorted by name.
    public var outputs: [Output]

    public init(outputs: [Output]) { self.outputs = outputs.sorted { $0.name < $1.name } }

    /// The message's bytes (deterministic: outputs sorted by name, fields in number order, and
    /// `exit_code` 0 left out as proto3 does).
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        for output in outputs {
            var digest: [UInt8] = []
            appendBytes(&digest, field: 1, Array(output.sha256.utf8))
            appendVarintField(&digest, field: 2, UInt64(output.size))
            var file: [UInt8] = []
            appendBytes(&file, field: 1, Array(output.name.utf8))
            appendBytes(&file, field: 2, digest)
            appendBytes(&out, field: 2, file)
        }
        return out
    }

    /// The outputs of an `ActionResult`, or nil when the bytes are not one this tool can use: not a
    /// well-formed message, a non-zero exit code, an output without a name or with a name twice, a
    /// digest that is not a SHA-256 in lowercase hex, or a size outside 0..<2^48.
    public static func decode(_ bytes: [UInt8]) -> RemoteActionResult? {
        var reader = WireReader(bytes[...])
        var outputs: [Output] = []
        var names = Set<String>()
        while !reader.atEnd {
            guard let (field, wire) = reader.tag() else { return nil }
            switch (field, wire) {
            case (2, 2):
                guard let file = reader.lengthDelimited(), let output = decodeOutputFile(file),
                      names.insert(output.name).inserted else { return nil }
                outputs.append(output)
            case (4, 0):
                guard let code = reader.varint(), code == 0 else { return nil }
            default:
                guard reader.skip(wire) else { return nil }
            }
        }
        return RemoteActionResult(outputs: outputs)
    }

    private static func decodeOutputFile(_ bytes: ArraySlice<UInt8>) -> Output? {
        var reader = WireReader(bytes)
        var name: String?, hash: String?, size: UInt64 = 0
        while !reader.atEnd {
            guard let (field, wire) = reader.tag() else { return nil }
            switch (field, wire) {
            case (1, 2):
                guard let text = reader.lengthDelimited().flatMap({ String(validating: $0, as: UTF8.self) }) else { return nil }
                name = text
            case (2, 2):
                guard let digest = reader.lengthDelimited() else { return nil }
                var inner = WireReader(digest)
                while !inner.atEnd {
                    guard let (f, w) = inner.tag() else { return nil }
                    switch (f, w) {
                    case (1, 2):
                        guard let text = inner.lengthDelimited().flatMap({ String(validating: $0, as: UTF8.self) }) else { return nil }
                        hash = text
                    case (2, 0):
                        guard let value = inner.varint() else { return nil }
                        size = value
                    default:
                        guard inner.skip(w) else { return nil }
                    }
                }
            default:
                guard reader.skip(wire) else { return nil }
            }
        }
        guard let name, !name.isEmpty, let hash, SHA256Digest(hex: hash) != nil, hash == hash.lowercased(),
              size < 1 << 48 else { return nil }
        return Output(name: name, sha256: hash, size: Int(size))
    }
}

// MARK: protobuf wire format

private func appendVarint(_ out: inout [UInt8], _ value: UInt64) {
    var v = value
    while v >= 0x80 {
        out.append(UInt8(v & 0x7f) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}

private func appendVarintField(_ out: inout [UInt8], field: UInt64, _ value: UInt64) {
    guard value != 0 else { return }
    appendVarint(&out, field << 3)
    appendVarint(&out, value)
}

private func appendBytes(_ out: inout [UInt8], field: UInt64, _ bytes: [UInt8]) {
    appendVarint(&out, field << 3 | 2)
    appendVarint(&out, UInt64(bytes.count))
    out += bytes
}

/// Reads protobuf wire format from untrusted bytes: every read checks its bounds and answers nil
/// on malformed input (an over-long varint, a length past the end, a group or an unknown wire type).
private struct WireReader {
    var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { bytes.isEmpty }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            guard let byte = bytes.popFirst() else { return nil }
            value |= UInt64(byte & 0x7f) << UInt64(shift)
            if byte < 0x80 { return value }
        }
        return nil
    }

    mutating func tag() -> (field: UInt64, wire: UInt64)? {
        guard let key = varint(), key >> 3 != 0 else { return nil }
        return (key >> 3, key & 7)
    }

    mutating func lengthDelimited() -> ArraySlice<UInt8>? {
        guard let length = varint(), length <= UInt64(bytes.count) else { return nil }
        let start = bytes.startIndex
        let value = bytes[start..<start + Int(length)]
        bytes = bytes[(start + Int(length))...]
        return value
    }

    mutating func skip(_ wire: UInt64) -> Bool {
        switch wire {
        case 0: return varint() != nil
        case 1, 5:
            let n = wire == 1 ? 8 : 4
            guard bytes.count >= n else { return false }
            bytes = bytes.dropFirst(n)
            return true
        case 2: return lengthDelimited() != nil
        default: return false
        }
    }
}
