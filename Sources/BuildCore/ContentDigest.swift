import CXXHash
import FileIO

/// A 128-bit XXH3 content digest, printed as 32 hex digits (high 64 bits first, as `xxhsum -H2`).
public struct ContentDigest: Hashable, Sendable, CustomStringConvertible, Codable {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The digest of `bytes`.
    public init(of bytes: [UInt8]) {
        let h = bytes.withUnsafeBytes { XXH3_128bits_dispatch($0.baseAddress, $0.count) }
        self.init(high: h.high64, low: h.low64)
    }

    /// Streams a file through XXH3 in 256 KiB reads (the fastest chunk size measured here).
    public static func ofFile(_ path: String) throws(FileIOError) -> ContentDigest {
        let file = try RandomAccessFile(path: path)
        guard let state = XXH3_createState() else { fatalError("XXH3_createState: out of memory") }
        defer { _ = XXH3_freeState(state) }
        _ = XXH3_128bits_reset(state)
        let chunk = 256 << 10
        var offset = 0
        while offset < file.size {
            let bytes = try file.read(offset: offset, count: min(chunk, file.size - offset))
            _ = bytes.withUnsafeBytes { XXH3_128bits_update_dispatch(state, $0.baseAddress, $0.count) }
            offset += bytes.count
        }
        let h = XXH3_128bits_digest(state)
        return ContentDigest(high: h.high64, low: h.low64)
    }

    public var description: String { hex(high) + hex(low) }

    /// Parses the 32-hex-digit form.
    public init?(hex text: String) {
        guard text.utf8.count == 32, let high = UInt64(text.prefix(16), radix: 16),
              let low = UInt64(text.suffix(16), radix: 16) else { return nil }
        self.init(high: high, low: low)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = ContentDigest(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a digest: \(text)"))
        }
        self = digest
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    private func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
